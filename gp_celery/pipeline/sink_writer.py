"""Write a batch to a sink: retry what can succeed, dead-letter the rest, lose nothing."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from gp_celery.event import Batch, add_error
from gp_celery.modules.base import Failure, OutputClosedError, Sink

log = logging.getLogger(__name__)

DeadLetter = Callable[[str, Batch, int], None]
"""Receives (node id, events already tagged with their error, attempts made)."""


def backoff_delay(attempt: int, base: float, limit: float, draw: float) -> float:
    """Seconds to wait before retry ``attempt + 1`` (``attempt`` counts from 0).

    Exponential (``base`` doubles per retry) up to ``limit``, then jittered by ``draw``
    (a number in [0, 1)) over the upper half of that: writers that failed together (a
    fleet's workers when Elasticsearch answered 429) come back spread out instead of in one
    burst, and none retries sooner than half the backoff."""
    delay = min(limit, base * 2.0 ** min(attempt, 64))
    return delay / 2 + delay / 2 * draw


def failures_of_exception(error: Exception, size: int) -> list[Failure]:
    """A write() that raised failed every item; I/O-ish errors are worth retrying."""
    retriable = isinstance(error, (OSError, TimeoutError, ConnectionError))
    reason = f"{type(error).__name__}: {error}"
    return [Failure(index, reason, retriable) for index in range(size)]


@dataclass
class SinkWriter:
    sink: Sink[object]  # type: ignore[type-var]
    retries: int
    base_delay: float
    dead_letter: DeadLetter
    sleep: Callable[[float], None] = time.sleep
    stop_on_closed_output: bool = False
    """Embedded mode: a closed stdout ends the run (``OutputClosedError`` goes up) instead
    of dead-lettering everything after it."""
    max_delay: float = 30.0
    """The longest wait between two tries (Global: sink_retry_max_secs)."""
    draw: Callable[[], float] = random.random
    """Jitter source, a number in [0, 1) per retry; tests pass a fixed one."""

    def write(self, events: Batch) -> tuple[int, int]:
        """Write events; return (written, dead-lettered)."""
        pending, dead = events, 0
        for attempt in range(self.retries + 1):
            failures = self._attempt(pending)
            if not failures:
                break
            last = attempt == self.retries
            retry = [] if last else [f for f in failures if f.retriable]
            given_up = [f for f in failures if last or not f.retriable]
            dead += self._dead_letter(pending, given_up, attempt + 1)
            if not retry:
                break
            delay = backoff_delay(attempt, self.base_delay, self.max_delay, self.draw())
            log.warning(
                "%s: %d of %d events failed to write (%s); retry %d/%d in %.1fs.",
                self.sink.label,
                len(retry),
                len(pending),
                retry[0].error,
                attempt + 1,
                self.retries,
                delay,
            )
            pending = [pending[f.index] for f in retry]
            self.sleep(delay)
        return len(events) - dead, dead

    def _attempt(self, events: Batch) -> list[Failure]:
        try:
            return self.sink.write(events)
        except OutputClosedError as error:
            if self.stop_on_closed_output:
                raise
            return failures_of_exception(error, len(events))
        except Exception as error:
            log.exception(
                "%s: write() raised on a batch of %d events.", self.sink.label, len(events)
            )
            return failures_of_exception(error, len(events))

    def _dead_letter(self, events: Batch, failures: list[Failure], attempts: int) -> int:
        if not failures:
            return 0
        letters = []
        for failure in failures:
            event = events[failure.index]
            add_error(event, self.sink.node_id, failure.error)
            letters.append(event)
        self.dead_letter(self.sink.node_id, letters, attempts)
        return len(letters)
