"""Keep large buffers in the heap, so a pipeline's chunk-sized allocations are reused.

glibc serves allocations above its mmap threshold (128 KiB at first) with a fresh mmap and
gives them back with munmap, so every chunk of a MiB that passes through a listener or a
worker (read buffers, the packed chunk, the decoded text, the JSON a sink writes) is
page-faulted in again: measured on p1, 230,000 page faults and 0.78 s of system time per
million lines in a listener; with the threshold raised, 14,000 and 0.24 s. Only glibc
(Linux) is tuned; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import gc
import logging
from typing import Final

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD_BYTES: Final = 32 << 20
"""Allocations below this come from the heap (the most glibc accepts on 64-bit)."""
TRIM_THRESHOLD_BYTES: Final = 128 << 20
"""Free heap memory kept for reuse before it is returned to the system."""

_done: list[bool] = []


def settle_memory() -> None:
    """After start-up: the objects made so far live until exit, so the garbage collector
    stops scanning them; events hold no reference cycles, so the young generation is
    collected every 100,000 allocations instead of every 700; large buffers stay in the
    heap. For a process about to run millions of events (embedded mode, a worker).

    No full collection first: start-up leaves no garbage cycles (measured: a collection
    then finds none) and one costs 15-25 ms of every run's start."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    keep_large_buffers()


def keep_large_buffers() -> None:
    """Raise glibc's mmap and trim thresholds once per process (no-op elsewhere)."""
    if _done:
        return
    _done.append(True)
    try:
        # The process's own symbols, libc's among them: ctypes.util.find_library("c")
        # would run ldconfig, about 25 ms of every start.
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not (
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    ):
        log.debug("mallopt refused the thresholds; the allocator keeps its defaults.")
