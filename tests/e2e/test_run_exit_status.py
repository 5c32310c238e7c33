"""`gp-celery run` exits 3, and says so last, when events went to the dead letters."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.e2e.conftest import gp


def _config(tmp_path: Path, events: str) -> Path:
    """Spam -> FileSink whose path takes a field: '..' in it is refused, not retried."""
    config = tmp_path / "pipeline.yml"
    config.write_text(
        f"- Global:\n    dead_letter_file: {tmp_path}/dead.jsonl\n"
        f"- Spam:\n    event: {events}\n    events_count: 4\n"
        f"- FileSink:\n    file_name: {tmp_path}/out/$(dir)/events.log\n"
    )
    return config


def test_dead_lettered_events_make_run_exit_3_and_say_where_they_are(tmp_path: Path) -> None:
    config = _config(tmp_path, "[{data: ok, dir: a}, {data: bad, dir: '../../etc'}]")
    result = gp("run", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 3, result.stderr.decode()[-2000:]
    last = result.stderr.decode().splitlines()[-1]
    assert last.endswith(
        f"2 events went to the dead letters (FileSink: 2); they are kept in "
        f"{tmp_path}/dead.jsonl. Exit status 3."
    )
    letters = [orjson.loads(line) for line in (tmp_path / "dead.jsonl").read_bytes().splitlines()]
    assert [letter["kind"] for letter in letters] == ["failed", "failed"]
    assert [event["data"] for letter in letters for event in letter["events"]] == ["bad", "bad"]
    assert (tmp_path / "out/a/events.log").read_text() == "ok\nok\n"


def test_run_without_dead_letters_exits_0(tmp_path: Path) -> None:
    config = _config(tmp_path, "{data: ok, dir: a}")
    result = gp("run", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "dead letters" not in result.stderr.decode()
    assert not (tmp_path / "dead.jsonl").exists()


def test_run_help_documents_exit_status_3() -> None:
    text = " ".join(gp("run", "--help").stdout.decode().split())
    assert "3 events went to the dead letters" in text
