"""`gp-celery run` on a terminal: a live progress line while a long run lasts, the node table
at its end; on a pipe neither (scripts get the log lines only)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.e2e.conftest import GP, ROOT

SLOW_SPAM = """- Spam:
    event: hello
    sleep: 0.05
    events_count: 60
- DevNullSink
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def in_a_terminal(command: str) -> str:
    """Run ``command`` under a pseudo-terminal (util-linux `script`), as a person would."""
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"COLUMNS": "120", "LINES": "40", "TERM": "xterm", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return ANSI.sub("", done.stdout.replace("\r", "\n"))


def test_a_long_run_on_a_terminal_shows_progress_then_the_node_table(tmp_path: Path) -> None:
    config = tmp_path / "slow.yml"
    config.write_text(SLOW_SPAM)
    screen = in_a_terminal(f"{GP} run -c {config}")
    progress = re.findall(r"slow\.yml: ([\d,]+) events in, ([\d,]+) written or done", screen)
    assert progress, screen
    assert 0 < int(progress[0][0].replace(",", "")) < 60  # drawn while events still came
    row = re.search(r"│ Spam\s+│ input\s+│\s+[\d,]+ │\s+60 │\s+60 │\s+0 │", screen)
    assert row, screen
    assert re.search(r"│ DevNullSink\s+│ sink\s+│\s+[\d,]+ │\s+60 │\s+60 │", screen), screen


def test_on_a_pipe_there_is_no_progress_line_and_no_table(tmp_path: Path) -> None:
    config = tmp_path / "slow.yml"
    config.write_text(SLOW_SPAM)
    done = subprocess.run(
        [GP, "run", "-c", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "events in," not in done.stderr
    assert "┃" not in done.stderr + done.stdout
    assert "Spam: events_in 60, events_out 60." in done.stderr
