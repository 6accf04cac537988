"""Giving memory that Python and the libraries freed back to the operating system.

A large request (a 100,000-row batch, a big flush of the prediction log) allocates tens of
megabytes that are freed when it is answered. glibc's ``malloc`` keeps freed memory in its
arenas for later use instead of returning it, so the server's resident memory stays at its
high-water mark — and on a box shared with the MES, that is memory the plant does not get
back. ``malloc_trim(0)`` returns the free pages of every arena. It walks the heap (a few
milliseconds, without the GIL: ctypes releases it), so it is called from a background thread
after large work, never on the prediction path.

Elsewhere (macOS, Windows, musl), there is no ``malloc_trim`` and this does nothing.

Arrow (Arrow IPC and Parquet bodies) brings its own allocator, mimalloc, which keeps freed
memory in per-thread heaps that neither ``malloc_trim`` nor a call from another thread can
empty: 100,000-row Arrow requests left ~20 MiB resident for good. ``arrow_on_system_heap``
points Arrow at the C library's allocator instead, where the trim reaches it (the speed of an
Arrow request did not change: ``benchmarks/serving.py``).

What the trim cannot return is free memory below a chunk still in use. glibc serves a request
of 128 KiB or more from a mapping of its own, returned whole when freed, but raises that
threshold (to up to 32 MiB) each time such a block is freed, so after the first large request
the arrays of the next ones land in the heap among small, longer-lived objects, and pin it:
the benchmark's 100,000-row batches left the server at ~300 MiB instead of ~245 MiB.
``map_large_allocations`` fixes the threshold (``MAAS_LARGE_ALLOCATION_BYTES``, 1 MiB by
default: a 1,000-row request allocates less than that, its cost does not change; a 100,000-row
one maps a few tens of blocks).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["arrow_on_system_heap", "map_large_allocations", "release_free_heap"]


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # musl: no such function
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _malloc_trim()
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, <malloc.h>


def release_free_heap() -> bool:
    """Return the C heap's free pages to the operating system; ``True`` if that was possible
    here (glibc), ``False`` where there is no way to (nothing was done)."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def arrow_on_system_heap() -> bool:
    """Make the C library's allocator Arrow's default from now on, where ``release_free_heap``
    can return what Arrow freed; ``True`` if done (glibc only: elsewhere nothing trims it, and
    Arrow's own allocator is kept)."""
    if _TRIM is None:
        return False
    import pyarrow as pa  # only a server that trims pays for the import here

    pa.set_memory_pool(pa.system_memory_pool())
    return True


def map_large_allocations(threshold: int) -> bool:
    """Serve every block of ``threshold`` bytes or more from a mapping of its own, returned to
    the operating system when it is freed (see the module docstring); ``True`` if done (glibc
    only; ``threshold`` 0 does nothing: glibc's own threshold stays)."""
    if _TRIM is None or threshold <= 0:
        return False
    return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, threshold))
