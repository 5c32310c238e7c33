"""What came out of a case against what it expects: the differences, ready to print."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from gp_celery.event import MISSING, errors_of, field_path
from gp_celery.tools.pipeline_tests.harness import Arrival
from gp_celery.tools.pipeline_tests.schema import Case, Expected

SHOWN_CHARS: Final = 200
"""A value longer than this is cut in a diff line."""


@dataclass
class Difference:
    """One event's differences: ``rows`` are (what, expected, got) as text."""

    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)


def show(value: Any) -> str:
    """A value as a diff line shows it: JSON-like, so 200 and '200' look different."""
    if value is MISSING:
        return "<missing>"
    try:
        text = orjson.dumps(value, default=repr, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def same(expected: Any, got: Any) -> bool:
    """Equal, and of the same type: 200 is not '200', true is not 1; 1 is 1.0."""
    if got is MISSING:
        return False
    numbers = (int, float)
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, numbers) and isinstance(got, numbers):
        return bool(expected == got)
    return type(expected) is type(got) and bool(expected == got)


def _tag_rows(expected: Expected, event: dict[str, Any]) -> list[tuple[str, str, str]]:
    if expected.tagged is None:
        return []
    errors = errors_of(event)
    nodes = sorted({str(error.get("node")) for error in errors})
    got = "tagged by " + ", ".join(nodes) if nodes else "not tagged"
    if expected.tagged is True and not errors:
        return [("tags", "tagged", got)]
    if expected.tagged is False and errors:
        reasons = "; ".join(f"{error.get('node')}: {error.get('reason')}" for error in errors)
        return [("tags", "not tagged", show(reasons))]
    if isinstance(expected.tagged, str) and expected.tagged not in nodes:
        return [("tags", f"tagged by {expected.tagged}", got)]
    return []


def compare_event(expected: Expected, arrival: Arrival) -> list[tuple[str, str, str]]:
    """(what, expected, got) for every named thing that differs."""
    rows = []
    if expected.reaches is not None and expected.reaches != arrival.node:
        rows.append(("reaches", expected.reaches, arrival.node))
    for name, value in expected.fields.items():
        got = field_path(name).get(arrival.event)
        if not same(value, got):
            rows.append((name, show(value), show(got)))
    for path in expected.absent:
        got = path.get(arrival.event)
        if got is not MISSING:
            rows.append((path.dotted, "<missing>", show(got)))
    return rows + _tag_rows(expected, arrival.event)


def compare(case: Case, arrivals: list[Arrival]) -> list[Difference]:
    """Every difference; none means the case passed."""
    expected = [] if case.dropped else list(case.expect or [])
    found: list[Difference] = []
    if len(arrivals) != len(expected):
        reached = ", ".join(f"{arrival.node}" for arrival in arrivals) or "nothing"
        found.append(
            Difference(
                "number of events out",
                [("events", str(len(expected)), f"{len(arrivals)} (reached: {reached})")],
            )
        )
    for number, (want, arrival) in enumerate(zip(expected, arrivals, strict=False), start=1):
        rows = compare_event(want, arrival)
        if rows:
            found.append(Difference(f"event {number} (reached {arrival.node})", rows))
    for number, arrival in enumerate(arrivals[len(expected) :], start=len(expected) + 1):
        found.append(
            Difference(
                f"event {number} (reached {arrival.node}) was not expected",
                [("event", "<none>", show(arrival.event))],
            )
        )
    for number in range(len(arrivals) + 1, len(expected) + 1):
        found.append(Difference(f"event {number} never came out"))
    return found
