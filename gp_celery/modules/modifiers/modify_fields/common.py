"""What every ModifyFields action shares: its signature, how it reports, safe field writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from gp_celery.event import Event, FieldPath
from gp_celery.modules.base import ModuleStats

Action = Callable[[Event], None]
"""One action compiled from the options, applied to one event in place."""


class Reporter(Protocol):
    """The part of the module an action talks to (the module itself)."""

    stats: ModuleStats

    def fail(self, event: Event, reason: str) -> None: ...


def describe(value: Any) -> str:
    """A short, payload-free description of a value for a tag: its type and size."""
    kind = type(value).__name__
    if isinstance(value, (str, bytes, list, dict, tuple)):
        return f"{kind} of length {len(value)}"
    return kind


def set_field(path: FieldPath, event: Event, value: Any) -> str | None:
    """Write a value; on a path that runs into a list index that does not exist, say why."""
    try:
        path.set(event, value)
    except (TypeError, ValueError, IndexError) as error:
        return f"cannot set {path.dotted!r}: {error}"
    return None


def missing(reporter: Reporter) -> None:
    """A source field is absent: GambolPutty ignores that silently; we count it."""
    reporter.stats.incr("missing_source")
