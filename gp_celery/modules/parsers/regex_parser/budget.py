"""A time budget per match for a risky pattern that must stay on ``re``.

``re`` cannot be stopped from another thread, but its matching loop checks for signals: a
``SIGALRM`` from ``setitimer`` runs a handler that raises, and the match ends there. That
works only in the main thread (where Python runs signal handlers), which is where Celery's
prefork workers and the embedded runner process batches. Elsewhere, or when another part of
the process has its own ``ITIMER_REAL`` running, the match runs without a budget.

Two system calls per match: used only for the few patterns ``check`` warns about, never on
the hot path of a safe pattern.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

T = TypeVar("T")


class OverBudgetError(Exception):
    """A match took longer than its budget and was stopped."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise OverBudgetError


class BudgetedRegex:
    """``re.Pattern``'s search and finditer, each call stopped after ``seconds``."""

    def __init__(self, regex: re.Pattern[str], seconds: float) -> None:
        self._regex, self.seconds = regex, seconds
        self.groupindex = regex.groupindex

    def _within_budget(self) -> bool:
        """Can this call be timed (main thread, no other interval timer running)?"""
        if threading.current_thread() is not threading.main_thread():
            return False
        return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)

    def _timed(self, call: Callable[[], T]) -> T:
        if not self._within_budget():
            return call()
        previous = signal.signal(signal.SIGALRM, _stop)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return call()
        finally:
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
            finally:  # even if the alarm went off just now: never leave our handler behind
                signal.signal(signal.SIGALRM, previous)

    def search(self, text: str) -> re.Match[str] | None:
        """As ``re.Pattern.search``; raises OverBudgetError when it takes too long."""
        return self._timed(lambda: self._regex.search(text))

    def finditer(self, text: str, pos: int = 0) -> Iterator[re.Match[str]]:
        """Every match, found at once within one budget (raises OverBudgetError)."""
        return iter(self._timed(lambda: list(self._regex.finditer(text, pos))))
