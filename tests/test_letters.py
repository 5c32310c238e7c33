"""Dead-letter records: one shape read back from any version, stable short ids, and a file
store whose removals never lose a letter sent at the same time."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from gp_celery.broker.letters import FileLetters, Letter, Stored, letter_id


def _letter(n: int, node: str = "archive") -> Letter:
    return Letter("failed", node, "Not a directory", [{"data": f"event {n}"}], "d1", "", 1, n)


def test_a_record_round_trips_with_every_field() -> None:
    letter = _letter(1)
    assert Letter.from_json(letter.to_json()) == letter


def test_a_record_from_before_a_field_existed_gets_its_default_and_unknown_fields_are_ignored() -> (
    None
):
    raw = orjson.dumps(
        {"kind": "parked", "node": "parse", "error": "x", "events": [{"data": "a"}], "later": 1}
    )
    letter = Letter.from_json(raw)
    assert (letter.kind, letter.node, letter.attempts, letter.digest) == ("parked", "parse", 1, "")


def test_a_bare_event_line_of_the_first_dead_letter_files_is_a_failed_letter_of_its_node() -> None:
    event = {
        "data": "x",
        "gambolputty": {
            "event_id": "e1",
            "errors": [
                {"node": "parse", "reason": "bad json"},
                {"node": "archive", "reason": "disk full"},
            ],
        },
    }
    letter = Letter.from_json(orjson.dumps(event))
    assert (letter.kind, letter.node, letter.error) == ("failed", "archive", "disk full")
    assert letter.events == [event]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind": "failed", "node": "a"',
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe",
        b'{"kind": "lost", "node": "a", "error": "", "events": []}',
        b'{"kind": "failed", "node": "a", "error": "", "events": 3}',
        b'{"kind": "failed", "events": []}',
        b'{"kind": "failed", "node": "a", "error": "", "events": ["text", null]}',
    ],
    ids=[
        "truncated",
        "list",
        "string",
        "not-utf8",
        "unknown-kind",
        "events-not-a-list",
        "no-node",
        "event-not-an-object",
    ],
)
def test_an_unreadable_record_is_kept_with_its_problem_not_fatal(raw: bytes) -> None:
    stored = Stored.of(raw)
    assert stored.letter is None
    assert stored.problem.startswith("unreadable record")
    assert stored.id == letter_id(raw)


def test_an_id_is_short_and_the_same_for_the_same_record() -> None:
    raw = _letter(1).to_json()
    assert letter_id(raw) == Stored.of(raw).id
    assert len(letter_id(raw)) == 10
    assert letter_id(raw) != letter_id(_letter(2).to_json())


def test_removing_records_from_the_file_keeps_the_others_in_order(tmp_path: Path) -> None:
    box = FileLetters(str(tmp_path / "dead.jsonl"))
    box.send([_letter(n) for n in range(5)])
    records = box.read()
    assert box.remove([records[1], records[3]]) == 2
    assert [r.letter.events[0]["data"] for r in box.read() if r.letter] == [
        "event 0",
        "event 2",
        "event 4",
    ]
    assert box.remove([records[1]]) == 0  # already gone


def test_removing_takes_one_copy_of_identical_records(tmp_path: Path) -> None:
    box = FileLetters(str(tmp_path / "dead.jsonl"))
    box.send([_letter(1), _letter(1)])
    [first, _second] = box.read()
    assert box.remove([first]) == 1
    assert len(box.read()) == 1


def test_letters_sent_while_records_are_removed_are_all_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "dead.jsonl")
    FileLetters(path).send([_letter(n) for n in range(100)])
    old = FileLetters(path).read()
    writer = FileLetters(path)  # another process's box: its own lock object, same file

    def send_more() -> None:
        for n in range(100, 300):
            writer.send([_letter(n)])

    thread = threading.Thread(target=send_more)
    thread.start()
    remover = FileLetters(path)
    for start in range(0, 100, 10):
        assert remover.remove(old[start : start + 10]) == 10
    thread.join()
    kept = [r.letter.events[0]["data"] for r in FileLetters(path).read() if r.letter]
    assert kept == [f"event {n}" for n in range(100, 300)]
