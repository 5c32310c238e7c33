"""`gp-celery run --workers 2` (private redis-server, listener, prefork worker) writes what
embedded `gp-celery run` writes."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ROOT, wait_for
from tests.distributed.conftest import GP, ids_of, line, sink_events, write_config


def without_event_id(events: list[dict[str, Any]]) -> list[bytes]:
    """Events as sorted canonical JSON, minus the per-run random event id."""
    for event in events:
        del event["gambolputty"]["event_id"]
    return sorted(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) for event in events)


def run(config: Path, stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [GP, "run", "-c", str(config), *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "GP_BROKER_URL": "redis://127.0.0.1:1/0"},  # must not be used
        timeout=60,
        check=False,
    )


def test_workers_2_writes_the_same_events_as_embedded_mode(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""- Global:
   batch_size: 50
   batch_ms: 50
- StdIn: {{}}
- RegexParser:
   field_extraction_patterns:
    - test_line: '^id-(?P<number>\\d+) message (?P<again>\\d+)'
- ModifyFields:
   filter: re.match('.*7$', $(data))
   action: cast_to_int
   source_fields: [number]
   add_fields: {{sevens: yes}}
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    count = 5000
    stdin = "".join(f"{line(n)}\n" for n in range(count)).encode()

    embedded = run(config, stdin)
    assert embedded.returncode == 0, embedded.stderr.decode()[-3000:]
    embedded_events = sink_events(out)
    out.unlink()

    cluster = run(config, stdin, "--workers", "2")
    assert cluster.returncode == 0, cluster.stderr.decode()[-3000:]
    cluster_events = sink_events(out)
    # It really went through the broker: the listener counted what it published.
    assert "Listener: published " in cluster.stderr.decode()
    assert "Listener:" not in embedded.stderr.decode()

    assert set(ids_of(cluster_events).values()) == {1}
    assert sorted(ids_of(cluster_events)) == list(range(count))
    assert len({e["gambolputty"]["event_id"] for e in cluster_events}) == count
    assert sum(1 for e in cluster_events if e.get("sevens")) == count // 10
    assert without_event_id(cluster_events) == without_event_id(embedded_events)


def slow_stdin_config(tmp_path: Path, extra: str = "") -> Path:
    return write_config(
        tmp_path,
        f"""- Global:
   batch_ms: 50
{extra}- StdIn: {{}}
- FileSink:
   file_name: {tmp_path / "out.jsonl"}
   json_lines: true
""",
    )


def start_run(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [GP, "run", "-c", str(config), "--workers", "2"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )


@pytest.mark.parametrize(
    ("victim", "reason"),
    [
        ("-m celery", "the worker 'gp-local-"),
        ("redis-server", "the private redis-server exited with code -9"),
    ],
    ids=["worker", "redis"],
)
def test_a_worker_or_redis_that_dies_mid_run_stops_the_run_with_the_reason(
    tmp_path: Path, victim: str, reason: str
) -> None:
    import psutil

    process = start_run(slow_stdin_config(tmp_path))
    assert process.stdin is not None
    out = tmp_path / "out.jsonl"
    process.stdin.write(b"".join(f"{line(n)}\n".encode() for n in range(100)))
    process.stdin.flush()
    wait_for(lambda: len(sink_events(out)) >= 100, 60, "the first events through the fleet")
    tree = psutil.Process(process.pid).children(recursive=True)
    next(child for child in tree if victim in _command_line(child)).kill()
    started = time.monotonic()
    assert process.stderr is not None
    try:
        wait_for(lambda: process.poll() is not None, 40, "the run to stop")  # stdin stays open
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
    stderr = process.stderr.read().decode()
    assert process.returncode == 2, stderr[-2000:]
    assert time.monotonic() - started < 30  # the spool's grace period at most, not forever
    assert reason in stderr
    assert "exited with code -9" in stderr
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == [], "the run left processes behind"


def _command_line(process: Any) -> str:
    """A process's command line; '' for one that has just ended (a zombie, or gone)."""
    import psutil

    try:
        return " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def test_a_killed_run_leaves_no_redis_server_or_worker_behind(tmp_path: Path) -> None:
    import psutil

    process = start_run(slow_stdin_config(tmp_path))
    assert process.stdin is not None
    process.stdin.write(b"".join(f"{line(n)}\n".encode() for n in range(10)))
    process.stdin.flush()
    out = tmp_path / "out.jsonl"
    wait_for(lambda: len(sink_events(out)) >= 10, 60, "the first events through the fleet")
    tree = psutil.Process(process.pid).children(recursive=True)
    names = " ".join(_command_line(child) for child in tree)
    assert "redis-server" in names
    assert "-m celery" in names
    process.kill()
    process.wait()
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == [], f"left behind: {[_command_line(child) for child in alive]}"


def test_a_worker_that_cannot_start_stops_the_run_with_the_reason(tmp_path: Path) -> None:
    config = slow_stdin_config(tmp_path, "   plugins: [tests.plugins.broken_in_workers]\n")
    process = start_run(config)
    try:
        _, stderr = process.communicate(timeout=90)  # stdin open: never ends by itself
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
    text = stderr.decode()
    assert process.returncode == 2, text[-2000:]
    assert re.search(r"the worker 'gp-local-\d' exited with code 78", text)
    assert "not installed on the worker hosts" in text


def test_a_redis_call_that_fails_names_the_child_that_died_or_says_redis_is_silent() -> None:
    """A killed redis-server refuses connections a moment before it can be reaped: the
    failed call waits for the dead child and names it, as the watch would have."""
    import redis

    from gp_celery.local_cluster import Child, LocalClusterError, why_redis_failed
    from tests.conftest import free_port

    silent = redis.Redis(port=free_port(), retry=None)
    dying = Child("private redis-server", subprocess.Popen(["sleep", "0.3"]))
    expected = pytest.raises(LocalClusterError, match="private redis-server exited with code 0")
    with expected, why_redis_failed([dying]):
        silent.ping()
    alive = Child("worker 'w'", subprocess.Popen(["sleep", "30"]))
    try:
        silence = pytest.raises(LocalClusterError, match="the private Redis does not answer")
        with silence, why_redis_failed([alive], grace=0.3):
            silent.ping()
    finally:
        alive.process.kill()
        alive.process.wait()
