"""Which records a dlq command acts on: ids (or unique prefixes), node, kind, age."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from gp_celery.broker.letters import Stored

MIN_ID_PREFIX: Final = 4
"""Shortest id prefix accepted, so a typo does not pick a record by accident."""
_DURATION: Final = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SelectionError(ValueError):
    """An id that matches no record or several, or a --since that is not a time."""


def parse_since(text: str, now: float | None = None) -> float:
    """A Unix time from ``--since``: an age (``90s``, ``30m``, ``2h``, ``1d``, ``1w``) or an
    ISO 8601 time (``2026-12-01T10:00``; without a zone it is UTC, as the records are)."""
    now = time.time() if now is None else now
    if match := _DURATION.match(text.strip()):
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SelectionError(
            f"--since {text!r} is neither an age (30m, 2h, 1d) nor an ISO 8601 time "
            "(2026-12-01T10:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass
class Selection:
    ids: Sequence[str] = ()
    """Ids or unique prefixes; empty: every record the other criteria allow."""
    node: str | None = None
    since: float | None = None
    kinds: set[str] = field(default_factory=set)
    """Empty: every kind."""

    def pick(self, records: list[Stored]) -> list[Stored]:
        """The records selected, in stored order; raises SelectionError for an id that
        matches none or several records (several copies of one record count as one)."""
        chosen = records
        if self.ids:
            wanted = {resolve_id(given, records) for given in self.ids}
            chosen = [record for record in chosen if record.id in wanted]
        return [record for record in chosen if self._matches(record)]

    def _matches(self, record: Stored) -> bool:
        letter = record.letter
        if letter is None:  # unreadable: only an id or no criterion at all picks it
            return self.node is None and self.since is None and not self.kinds
        return (
            (self.node is None or letter.node == self.node)
            and (self.since is None or letter.time >= self.since)
            and (not self.kinds or letter.kind in self.kinds)
        )


def resolve_id(given: str, records: list[Stored]) -> str:
    """The full id ``given`` (an id or a prefix of at least MIN_ID_PREFIX characters) names."""
    given = given.strip().lower()
    if len(given) < MIN_ID_PREFIX:
        raise SelectionError(f"id {given!r} is too short: give at least {MIN_ID_PREFIX} characters")
    found = {record.id for record in records if record.id.startswith(given)}
    if not found:
        raise SelectionError(f"no record has id {given!r}")
    if len(found) > 1:
        raise SelectionError(f"id {given!r} is ambiguous: {', '.join(sorted(found))}")
    return found.pop()
