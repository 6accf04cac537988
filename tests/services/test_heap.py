"""Returning freed memory to the operating system after large work."""

from __future__ import annotations

import platform
import sys

from maas.services.heap import release_free_heap


def test_release_free_heap_trims_on_glibc_and_is_harmless_elsewhere() -> None:
    blob = [bytearray(64 * 1024) for _ in range(2_000)]  # ~128 MiB, then freed
    del blob
    released = release_free_heap()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert released is True
    else:
        assert released is False
