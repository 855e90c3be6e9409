"""Process memory for the node: resident set size, and handing freed heap back to the OS.

A rejected 8000x6000 rgb8 image is a 144 MB buffer that DDS, rclpy and Python each allocate
and free. glibc keeps freed heap pages in its arenas for reuse, so without a trim the node's
RSS stays at the high-water mark of the largest message it ever refused. ``release_memory``
asks glibc (``malloc_trim(0)``) to return them; on another C library it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

from parse_vos_ros.bench.stats import rss_kb


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None when the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_memory() -> bool:
    """Return freed heap memory to the OS (glibc ``malloc_trim(0)``); True when something was released."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


def rss_bytes() -> int:
    """Resident set size of this process in bytes (``bench.stats.rss_kb``; 0 where ``/proc`` is not
    available, so diagnostics never fail on it)."""
    try:
        return round(rss_kb() * 1024)
    except (OSError, IndexError, ValueError):
        return 0
