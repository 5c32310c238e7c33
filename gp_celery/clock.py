"""The runner's monotonic clock and the wall clock that every host of a fleet shares."""

from __future__ import annotations

import time


def wall_clock(monotonic: float) -> float:
    """A monotonic time on the wall clock, which every host of a fleet shares (to within
    NTP's accuracy): so that every process cuts the same intervals, and a worker can read
    the times another one stored."""
    return monotonic + time.time() - time.monotonic()


def monotonic_clock(wall: float) -> float:
    """A wall-clock time (another process's, say) on this process's monotonic clock."""
    return wall - time.time() + time.monotonic()
