"""`gp-celery dlq` after an embedded run: a FileSink whose directory is a file (ENOTDIR,
not worth retrying) sends every event to the dead-letter file; after the fix a replay
writes each event once, keeps its id, and empties the file; what fails again is kept."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from gp_celery.broker.letters import FileLetters, Letter
from tests.conftest import free_port
from tests.e2e.conftest import gp, shell

COUNT = 40


def _config(tmp_path: Path, *, second_sink: bool = False, parser: bool = False) -> Path:
    text = f"""- Global:
    dead_letter_file: {tmp_path}/dead.jsonl
    sink_retries: 1
    sink_retry_base_secs: 0.01
- StdIn:
    id: stdin
"""
    if parser:
        text += "- JsonParser:\n    id: parse\n"
    sinks = [("archive", "out")] + ([("copy", "other")] if second_sink else [])
    if second_sink:
        text += "    receivers: [archive, copy]\n"
    for node, directory in sinks:
        text += f"- FileSink:\n    id: {node}\n    file_name: {tmp_path}/{directory}/events.jsonl\n"
        text += "    json_lines: true\n"
    path = tmp_path / "pipeline.yml"
    path.write_text(text)
    return path


def _break(directory: Path) -> None:
    """A file where the sink needs a directory: a person must act, so no retry."""
    directory.write_text("a file, not a directory\n")


def _fix(directory: Path) -> None:
    directory.unlink()
    directory.mkdir()


def _lines(count: int = COUNT) -> bytes:
    return "".join(f"id-{n:04d} message {n}\n" for n in range(count)).encode()


def _written(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(row) for row in path.read_bytes().splitlines()] if path.exists() else []


def _ids(events: list[dict[str, Any]]) -> Counter[int]:
    return Counter(int(re.match(r"id-(\d+)", event["data"]).group(1)) for event in events)  # type: ignore[union-attr]


def _letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dead.jsonl"
    return [orjson.loads(row) for row in path.read_bytes().splitlines()] if path.exists() else []


def _dlq(config: Path, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    result = gp("dlq", *args, "-c", str(config), stdin=stdin, cwd=config.parent)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _failed_run(tmp_path: Path, count: int = COUNT) -> Path:
    config = _config(tmp_path)
    _break(tmp_path / "out")
    result = gp("run", "-c", str(config), stdin=_lines(count), cwd=tmp_path)
    assert result.returncode == 3, result.stderr.decode()[-2000:]
    return config


def test_after_the_fix_a_replay_writes_every_event_once_and_empties_the_dead_letters(
    tmp_path: Path,
) -> None:
    config = _failed_run(tmp_path)
    before = _letters(tmp_path)
    assert len(before) == COUNT
    dead_ids = {letter["events"][0]["gambolputty"]["event_id"] for letter in before}

    code, out, _ = _dlq(config, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path}/dead.jsonl: {COUNT} records, {COUNT} events."
    assert re.match(rf"failed\s+archive\s+{COUNT}\s+{COUNT}\s+[0-9a-f]{{10}}\s", lines[2]), out
    assert "Not a directory" in lines[2]

    _fix(tmp_path / "out")
    raw_before = (tmp_path / "dead.jsonl").read_bytes()
    code, out, _ = _dlq(config, "replay", "--dry-run")
    assert code == 0
    assert out.splitlines()[:2] == [
        f"Would replay {COUNT} records ({COUNT} events) from {tmp_path}/dead.jsonl through "
        f"{config}.",
        f"  enters at archive: {COUNT} records",
    ]
    assert (tmp_path / "dead.jsonl").read_bytes() == raw_before
    assert not (tmp_path / "out/events.jsonl").exists()

    code, out, err = _dlq(config, "replay")
    assert code == 0, err
    assert out.splitlines()[-1] == (
        f"Replayed {COUNT} records ({COUNT} events): written archive {COUNT}; 0 went back to "
        "the dead letters."
    )
    written = _written(tmp_path / "out/events.jsonl")
    assert _ids(written) == Counter(range(COUNT))  # each event once
    assert {event["gambolputty"]["event_id"] for event in written} == dead_ids
    assert all("errors" not in event["gambolputty"] for event in written)
    assert _letters(tmp_path) == []

    code, out, _ = _dlq(config, "replay")  # nothing left: a second replay writes nothing
    assert code == 0
    assert out.startswith("Replaying 0 records (0 events)")
    assert len(_written(tmp_path / "out/events.jsonl")) == COUNT


def test_a_replay_that_fails_again_keeps_every_event_with_only_the_new_error(
    tmp_path: Path,
) -> None:
    config = _failed_run(tmp_path)
    before = _letters(tmp_path)
    code, out, err = _dlq(config, "replay")
    assert code == 3, err
    assert out.splitlines()[-1].endswith(f"{COUNT} went back to the dead letters.")
    after = _letters(tmp_path)
    assert len(after) == COUNT
    assert {orjson.dumps(letter) for letter in after}.isdisjoint(
        orjson.dumps(letter) for letter in before
    )
    events = [letter["events"][0] for letter in after]
    assert _ids(events) == Counter(range(COUNT))
    for event in events:
        [error] = event["gambolputty"]["errors"]  # the old tag came off, the new one is on
        assert error["node"] == "archive"
        assert "Not a directory" in error["reason"]


def test_show_prints_one_record_by_its_id_or_a_prefix_and_a_bad_id_says_why(
    tmp_path: Path,
) -> None:
    config = _failed_run(tmp_path)
    code, out, _ = _dlq(config, "list", "--ids")
    assert code == 0
    rows = out.splitlines()[2:]
    assert len(rows) == COUNT
    first = rows[0].split()[0]
    code, out, _ = _dlq(config, "show", first[:6])
    assert code == 0
    header, body = out.split("\n", 1)
    assert header == f"Record {first} in {tmp_path}/dead.jsonl:"
    record = orjson.loads(body)
    assert (record["kind"], record["node"], record["attempts"]) == ("failed", "archive", 1)
    assert record["events"][0]["data"].startswith("id-")

    code, _, err = _dlq(config, "show", "ffffffffff")
    assert code == 1
    assert "no record has id 'ffffffffff'" in err
    code, _, err = _dlq(config, "show", "ab")
    assert code == 1
    assert "too short" in err


def test_purge_asks_first_and_deletes_only_what_was_selected(tmp_path: Path) -> None:
    config = _config(tmp_path, second_sink=True)
    _break(tmp_path / "out")
    _break(tmp_path / "other")
    assert gp("run", "-c", str(config), stdin=_lines(), cwd=tmp_path).returncode == 3
    assert len(_letters(tmp_path)) == 2 * COUNT

    code, out, _ = _dlq(config, "purge", "--node", "copy", stdin=b"n\n")
    assert code == 1
    assert f"Delete {COUNT} records ({COUNT} events) from {tmp_path}/dead.jsonl?" in out
    assert out.rstrip().endswith("Nothing deleted.")
    assert len(_letters(tmp_path)) == 2 * COUNT
    code, out, _ = _dlq(config, "purge", "--node", "copy")  # no answer at all: no
    assert code == 1
    assert len(_letters(tmp_path)) == 2 * COUNT

    code, out, _ = _dlq(config, "purge", "--node", "copy", stdin=b"y\n")
    assert code == 0
    assert out.rstrip().endswith(
        f"Deleted {COUNT} records ({COUNT} events) from {tmp_path}/dead.jsonl."
    )
    assert {letter["node"] for letter in _letters(tmp_path)} == {"archive"}

    code, out, _ = _dlq(config, "replay", "--since", "2099-01-01", "--dry-run")
    assert out.startswith("Would replay 0 records")
    code, out, _ = _dlq(config, "purge", "--yes")
    assert code == 0
    assert _letters(tmp_path) == []


def test_replay_takes_one_node_and_leaves_the_others(tmp_path: Path) -> None:
    config = _config(tmp_path, second_sink=True)
    _break(tmp_path / "out")
    _break(tmp_path / "other")
    assert gp("run", "-c", str(config), stdin=_lines(), cwd=tmp_path).returncode == 3
    _fix(tmp_path / "out")
    code, out, err = _dlq(config, "replay", "--node", "archive", "--since", "1h")
    assert code == 0, err
    assert f"  enters at archive: {COUNT} records" in out.splitlines()
    assert _ids(_written(tmp_path / "out/events.jsonl")) == Counter(range(COUNT))
    assert [letter["node"] for letter in _letters(tmp_path)] == ["copy"] * COUNT


def test_a_parked_chunk_runs_from_its_node_through_the_rest_of_the_current_config(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, parser=True)
    (tmp_path / "out").mkdir()
    event = {"data": '{"answer": 42}', "gambolputty": {"event_id": "abc-1", "event_type": "x"}}
    poison = {"data": "kills workers", "gambolputty": {"event_id": "abc-2"}}
    FileLetters(str(tmp_path / "dead.jsonl")).send(
        [
            Letter(
                "parked",
                "parse",
                "no worker runs stage 'gp-celery' of config 0ld",
                [event],
                "0ld",
                "gp-celery",
                11,
            ),
            Letter("poison", "stdin", "its worker process died each of the 3 times", [poison]),
            Letter("failed", "gone", "an old sink", [{"data": "for a node since removed"}]),
        ]
    )
    code, out, err = _dlq(config, "replay")
    assert code == 0, err
    assert "  enters at parse: 1 record" in out
    assert re.search(r"left in place: [0-9a-f]{10}: node 'gone' is not in the current config", out)
    assert "enters at stdin" not in out  # poison is replayed only when asked for
    [written] = _written(tmp_path / "out/events.jsonl")
    assert written["answer"] == 42  # parsed by the parser it was parked before
    assert written["gambolputty"]["event_id"] == "abc-1"
    assert sorted(letter["kind"] for letter in _letters(tmp_path)) == ["failed", "poison"]

    code, out, err = _dlq(config, "replay", "--kind", "poison")
    assert code == 0, err
    assert len(_written(tmp_path / "out/events.jsonl")) == 2
    assert [letter["node"] for letter in _letters(tmp_path)] == ["gone"]


def test_bare_event_lines_of_older_dead_letter_files_are_listed_and_replayed(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    (tmp_path / "out").mkdir()
    old = [
        {
            "data": f"id-{n:04d} old",
            "gambolputty": {
                "event_id": f"old-{n}",
                "errors": [{"node": "archive", "reason": "OSError: disk full"}],
            },
        }
        for n in range(3)
    ]
    (tmp_path / "dead.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in old))
    code, out, _ = _dlq(config, "list")
    assert code == 0
    assert re.search(r"failed\s+archive\s+3\s+3\s", out)
    code, _, err = _dlq(config, "replay")
    assert code == 0, err
    assert _ids(_written(tmp_path / "out/events.jsonl")) == Counter(range(3))
    assert _letters(tmp_path) == []


def test_an_unreadable_line_is_listed_and_purgeable_but_never_replayed(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "dead.jsonl").write_bytes(b'{"kind": "failed", "node": "archi\n')
    code, out, _ = _dlq(config, "list")
    assert code == 0
    assert "unreadable record" in out
    code, out, _ = _dlq(config, "replay")
    assert "left in place" in out
    assert "unreadable record" in out
    assert (tmp_path / "dead.jsonl").stat().st_size > 0
    code, _, _ = _dlq(config, "purge", "--yes")
    assert code == 0
    assert (tmp_path / "dead.jsonl").read_bytes() == b""


def test_dlq_help_names_every_action_and_the_exit_statuses() -> None:
    text = " ".join(gp("dlq", "--help").stdout.decode().split())
    for action in ("list", "show", "replay", "purge"):
        assert action in text
    assert "3 replay: events failed again" in text


def test_an_unreachable_redis_is_a_sentence_and_exit_2(tmp_path: Path) -> None:
    config = _config(tmp_path)
    url = f"redis://127.0.0.1:{free_port()}/0"
    code, out, err = _dlq(config, "list", "--broker", url)
    assert code == 2
    assert out == ""
    assert err.startswith(f"gp-celery dlq: cannot reach the broker at {url}")
    assert "Traceback" not in err


def test_list_cut_off_by_head_ends_quietly_like_any_unix_tool(tmp_path: Path) -> None:
    config = _failed_run(tmp_path, 2000)  # a listing longer than a pipe holds
    result = shell(f"set -o pipefail; gp-celery dlq list --ids -c {config} | head -1")
    assert result.returncode == 141, result.stderr
    assert result.stdout == f"{tmp_path}/dead.jsonl: 2000 records, 2000 events.\n"
    assert result.stderr == ""
