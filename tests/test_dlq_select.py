"""Which records `gp-celery dlq` acts on: ids and prefixes, node, kind, --since."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gp_celery.broker.letters import Letter, Stored
from gp_celery.dlq.select import Selection, SelectionError, parse_since, resolve_id

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - 90),
        ("30m", NOW - 1800),
        ("2h", NOW - 7200),
        ("1.5d", NOW - 1.5 * 86400),
        ("1w", NOW - 7 * 86400),
        ("2026-12-01T10:00", NOW - 7200),  # no zone: UTC, as the records' times
        ("2026-12-01T11:00:00+01:00", NOW - 7200),
        ("2026-12-01T10:00Z", NOW - 7200),
    ],
)
def test_since_takes_an_age_or_an_iso_time(text: str, expected: float) -> None:
    assert parse_since(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "5 parsecs", "", "-3h", "2026-13-01"])
def test_since_that_is_not_a_time_is_refused_with_the_forms_it_takes(text: str) -> None:
    with pytest.raises(SelectionError, match="neither an age"):
        parse_since(text, NOW)


def _stored(node: str, kind: str, when: float) -> Stored:
    letter = Letter(kind, node, "e", [{"data": node}], time=when)  # type: ignore[arg-type]
    return Stored.of(letter.to_json())


RECORDS = [
    _stored("archive", "failed", NOW - 7200),
    _stored("archive", "failed", NOW - 60),
    _stored("es", "failed", NOW - 60),
    _stored("parse", "parked", NOW - 60),
    Stored.of(b"{not json"),
]


def test_criteria_combine_and_an_unreadable_record_is_picked_only_without_them() -> None:
    assert Selection().pick(RECORDS) == RECORDS
    assert Selection(node="archive").pick(RECORDS) == RECORDS[:2]
    assert Selection(node="archive", since=NOW - 600).pick(RECORDS) == RECORDS[1:2]
    assert Selection(kinds={"parked"}).pick(RECORDS) == RECORDS[3:4]
    assert Selection(ids=[RECORDS[4].id]).pick(RECORDS) == RECORDS[4:]


def test_an_id_prefix_names_one_record_and_a_bad_one_says_why() -> None:
    target = RECORDS[2]
    assert resolve_id(target.id[:8].upper(), RECORDS) == target.id
    with pytest.raises(SelectionError, match="too short"):
        resolve_id(target.id[:3], RECORDS)
    with pytest.raises(SelectionError, match="no record has id"):
        resolve_id("zzzzzzzz", RECORDS)
    first, second = _two_records_sharing_an_id_prefix()
    with pytest.raises(SelectionError, match="ambiguous"):
        resolve_id(first.id[:4], [first, second])


def _two_records_sharing_an_id_prefix() -> tuple[Stored, Stored]:
    """Found by counting: among a few hundred records two ids share 4 hex characters."""
    seen: dict[str, Stored] = {}
    for n in range(100_000):
        record = Stored(str(n).encode())
        if (other := seen.get(record.id[:4])) is not None:
            return other, record
        seen[record.id[:4]] = record
    raise AssertionError("no two ids share a prefix")
