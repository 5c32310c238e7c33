"""A module whose state must see every event in one process: `check` refuses a fleet
config that would spread its events over many processes (with how to fix it), a worker
refuses to serve it with a pool, and `gp-celery run --workers 2` serves its queue with one
process of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.distributed.conftest import GP, line, sink_events, write_config

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def config(tmp_path: Path, queue: str = "", workers: int = 1, input_queue: str = "") -> Path:
    """StdIn -> CountInOrder -> FileSink; the input shares CountInOrder's queue unless
    ``input_queue`` says otherwise."""
    own_queue = f"\n   queue: {queue}" if queue else ""
    input_queue = input_queue or queue
    stdin = f"StdIn:\n   queue: {input_queue}" if input_queue else "StdIn"
    return write_config(
        tmp_path,
        f"""- Global:
   workers: {workers}
   plugins: [tests.plugins.single]
- {stdin}
- CountInOrder:{own_queue or " {}"}
- FileSink:
   file_name: {tmp_path / "out.jsonl"}
   json_lines: true
""",
    )


def gp(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GP, *args],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_check_refuses_a_fleet_config_that_would_split_the_state_and_says_how_to_fix_it(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, workers=2)
    result = gp("check", "-c", str(path))
    assert result.returncode == 1
    assert f"{path}:5: CountInOrder: queue: keeps state that must see every event in one" in (
        result.stdout
    )
    assert "give it a queue of its own (queue: NAME)" in result.stdout
    assert "-Q NAME --concurrency 1" in result.stdout


def test_check_passes_it_in_one_process_and_flags_it_for_a_fleet(tmp_path: Path) -> None:
    path = config(tmp_path)
    assert gp("check", "-c", str(path)).returncode == 0
    assert gp("check", "--fleet", "-c", str(path)).returncode == 1
    assert gp("check", "--fleet", "-c", str(config(tmp_path, queue="ordered"))).returncode == 0


def test_check_refuses_it_when_a_parallel_stage_before_it_could_reorder_its_stream(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, queue="ordered", input_queue="gp-celery", workers=2)
    result = gp("check", "-c", str(path))
    assert result.returncode == 1
    assert f"{path}:6: CountInOrder: queue: keeps state that must see its stream in order" in (
        result.stdout
    )
    assert "StdIn before it run in stages that many processes serve" in result.stdout
    assert "give its input(s) and every node before it queue: ordered too" in result.stdout


def test_listen_refuses_it_without_a_queue_of_its_own(tmp_path: Path) -> None:
    result = gp("listen", "-c", str(config(tmp_path)))
    assert result.returncode == 1
    assert "keeps state that must see every event in one process" in result.stderr


def test_run_with_workers_serves_its_queue_with_one_process(tmp_path: Path) -> None:
    count = 3000
    stdin = "".join(f"{line(n)}\n" for n in range(count)).encode()
    path = config(tmp_path, queue="ordered", workers=2)
    result = gp("run", "-c", str(path), stdin=stdin)
    assert result.returncode == 0, result.stderr[-3000:]
    events = sink_events(tmp_path / "out.jsonl")
    # One process numbered every event: 1..count, each once.
    assert sorted(event["seen"] for event in events) == list(range(1, count + 1))
