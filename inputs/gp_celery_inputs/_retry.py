"""Patient retrying for inputs whose source can go away (Redis, SQS): a growing backoff."""

from __future__ import annotations

from typing import Final

FIRST_BACKOFF_SECS: Final = 0.1
MAX_BACKOFF_SECS: Final = 5.0


class Backoff:
    """Seconds to wait before the next try: doubling from 0.1 s to 5 s, reset on success."""

    def __init__(self) -> None:
        self.delay = 0.0

    def next(self) -> float:
        self.delay = min(MAX_BACKOFF_SECS, max(FIRST_BACKOFF_SECS, self.delay * 2))
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0
