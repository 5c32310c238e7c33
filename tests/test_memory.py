"""settle_memory in a fresh interpreter: start-up objects frozen, a lazy young generation,
and glibc keeping multi-MiB buffers in the heap instead of a fresh mmap each (glibc's own
count of mmapped chunks, mallinfo2, says which)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import ctypes, gc, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
if sys.argv[1] == 'settled':
    from gp_celery.memory import settle_memory
    settle_memory()
    print(gc.get_freeze_count() > 0, gc.get_threshold())
before = mallinfo2().hblks
buffers = [bytearray(4 << 20) for _ in range(4)]
print(mallinfo2().hblks - before)
"""


def probe(mode: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.split("\n")


def test_large_buffers_come_from_the_heap_once_memory_is_settled() -> None:
    assert int(probe("default")[0]) == 4  # glibc's default: a fresh mmap per 4 MiB buffer
    settled, new_mappings = probe("settled")[:2]
    assert settled == "True (100000, 50, 100)"  # start-up objects frozen; a lazy young gen
    assert int(new_mappings) == 0  # from the heap instead
