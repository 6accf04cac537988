"""Returning freed memory to the operating system after large work."""

from __future__ import annotations

import platform
import sys

from maas.services.heap import arrow_on_system_heap, release_free_heap


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
