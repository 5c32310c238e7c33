"""Any command piped into `head` ends quietly: no traceback, no "Exception ignored".

`| true` is a reader that is gone before gp-celery writes anything, so every command hits
the closed pipe on its first write, whatever the pipe buffer would have absorbed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, shell

READERS = ["head -1", "true"]


def _assert_quiet(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert "BrokenPipeError" not in stderr


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    "command",
    [
        "gp-celery modules",
        "gp-celery modules ModifyFields",
        "gp-celery check -c conf/example-full.yml",
    ],
)
def test_command_into_a_closed_pipe_ends_quietly(command: str, reader: str) -> None:
    result = shell(f"{command} | {reader}; exit ${{PIPESTATUS[0]}}")
    _assert_quiet(result.stderr)
    if reader == "true":
        assert result.returncode == 141, result.stderr  # as a shell reports `cat | true`
    else:  # head may have read everything before it exited
        assert result.returncode in (0, 141), result.stderr
        assert len(result.stdout.splitlines()) == 1


def test_help_into_a_closed_pipe_ends_quietly() -> None:
    result = shell("gp-celery run --help | true; exit ${PIPESTATUS[0]}")
    _assert_quiet(result.stderr)
    assert result.returncode in (0, 141)


def test_modules_into_head_prints_the_first_line() -> None:
    result = shell("gp-celery modules | head -1")
    first = shell("gp-celery modules").stdout.splitlines()[0]
    assert result.stdout == f"{first}\n"
    assert first.split()[:2] == ["ElasticSearch", "input"]
    _assert_quiet(result.stderr)


@pytest.mark.parametrize("reader", READERS)
def test_run_with_stdout_sink_into_a_closed_pipe_ends_quietly(reader: str, tmp_path: Path) -> None:
    sample = (ROOT / "conf/samples/access.log").read_bytes()
    big = tmp_path / "access.log"
    big.write_bytes(sample * 500)  # far more than a pipe buffer holds
    result = shell(
        f"gp-celery run -c {ROOT}/conf/example-stdin.yml < {big} | {reader}; "
        "exit ${PIPESTATUS[0]}",
        cwd=tmp_path,
    )
    _assert_quiet(result.stderr)
    if reader == "head -1":
        assert result.stdout == "{'bytes_send': '3395',\n"
    # Like `grep ... | head`: the run stops where its reader went away, quietly, with the
    # status a shell gives a command ended by SIGPIPE, and nothing goes to the dead letters.
    assert result.returncode == 141, result.stderr[-2000:]
    assert "Standard output was closed by its reader; the run stops." in result.stderr
    assert "dead letters" not in result.stderr
    assert not (tmp_path / "gp-celery-dead-letters.jsonl").exists()
