"""Returning freed memory to the operating system after large work."""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import sys

import pytest

from maas.services.heap import arrow_on_system_heap, map_large_allocations, release_free_heap

_GLIBC_MALLINFO2 = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallinfo2")


def test_release_free_heap_trims_on_glibc_and_is_harmless_elsewhere() -> None:
    blob = [bytearray(64 * 1024) for _ in range(2_000)]  # ~128 MiB, then freed
    del blob
    released = release_free_heap()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert released is True
    else:
        assert released is False


def test_arrow_on_system_heap_where_the_heap_is_trimmed() -> None:
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        moved = arrow_on_system_heap()
        assert moved is release_free_heap()  # both need glibc's malloc_trim
        expected = "system" if moved else before.backend_name
        assert pa.default_memory_pool().backend_name == expected
        assert pa.array([1.0, 2.0]).sum().as_py() == 3.0  # Arrow still allocates
    finally:
        pa.set_memory_pool(before)


_AFTER_A_LARGE_FREE = """
import ctypes, sys
from maas.services.heap import map_large_allocations

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Mallinfo2
done = map_large_allocations(1 << 20) if sys.argv[1] == "1" else False
large = bytearray(16 << 20)  # mapped; freeing it raises glibc's own threshold above 4 MiB
del large
mapped = mallinfo2().hblks
block = bytearray(4 << 20)
print(done, mallinfo2().hblks - mapped)
"""


@pytest.mark.skipif(not _GLIBC_MALLINFO2, reason="needs glibc >= 2.33 (mallinfo2)")
@pytest.mark.parametrize("fixed", [False, True])
def test_map_large_allocations_keeps_large_blocks_out_of_the_heap(fixed: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", _AFTER_A_LARGE_FREE, "1" if fixed else "0"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.split()  # fmt: skip
    assert out == (["True", "1"] if fixed else ["False", "0"])


def test_map_large_allocations_zero_leaves_the_c_library_alone() -> None:
    assert map_large_allocations(0) is False
