"""One config for every host: `gp-celery config push` stores versions in Redis; a listener
and a worker started with --from-broker follow them, and every chunk runs on the version it
was made for, even when it waited in the queue while a new version was pushed."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    sink_events,
    wait_for_ids,
    write_config,
)
from tests.e2e.conftest import gp

NAME = "fleet"
STATS_ENV = {**WORKER_ENV, "GP_STATS_SECS": "0.5"}


def version_config(directory: Path, out: Path, version: str) -> Path:
    """TcpServer -> RegexParser (adds version: <version>) -> FileSink."""
    return write_config(
        directory,
        f"""{FAST_BATCHES}- TcpServer:
   interface: 127.0.0.1
   port: 0
- RegexParser:
   field_extraction_patterns:
    - test_line: '^id-(?P<number>\\d+) '
   add_fields: {{version: {version}}}
- FileSink:
   file_name: {out}
   json_lines: true
""",
        name=f"{version}.yml",
    )


def config_command(*args: str, url: str) -> tuple[int, str]:
    done = gp("config", *args, "--broker", url)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def test_a_pushed_version_is_followed_and_each_chunk_runs_on_its_own_version(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out.jsonl"
    one, two = version_config(tmp_path, out, "one"), version_config(tmp_path, out, "two")
    url = redis_server.url
    code, said = config_command("push", "-c", str(one), "--name", NAME, url=url)
    assert (code, said.strip()) == (0, f"{NAME}: version 1 is current (from {one}).")

    broken = tmp_path / "broken.yml"
    broken.write_text("- TcpServer:\n   port: 0\n- NoSuchParser\n- DevNullSink\n")
    code, said = config_command("push", "-c", str(broken), "--name", NAME, url=url)
    assert code == 1
    assert "NoSuchParser" in said
    assert "is refused; nothing was stored" in said

    # No worker yet: the listener's version 1 chunks wait in the queue.
    listener = start_listener(one, url, env=STATS_ENV, extra_args=["--from-broker", NAME])
    broker = redis_server.client()
    send_lines(listener.port, (line(n) for n in range(300)))
    wait_for(lambda: broker.llen("gp-celery") >= 1, 20, "version 1 chunks queued")

    code, said = config_command("push", "-c", str(two), "--name", NAME, url=url)
    assert (code, said.strip()) == (0, f"{NAME}: version 2 is current (from {two}).")
    wait_for(
        lambda: f"now publishing for version 2 of '{NAME}'" in listener.output(),
        20,
        "the listener to switch",
    )
    queued = broker.llen("gp-celery")
    send_lines(listener.port, (line(n) for n in range(300, 600)))
    wait_for(lambda: broker.llen("gp-celery") > queued, 20, "version 2 chunks queued")

    # The worker loads the current version (2), and runs what was made for 1 on 1.
    worker = start_worker(one, url, env=STATS_ENV, extra_args=["--gp-from-broker", NAME])
    counts = wait_for_ids(out, range(600), timeout=60)
    assert set(counts.values()) == {1}
    versions = {int(e["number"]): e["version"] for e in sink_events(out)}
    assert {versions[n] for n in range(300)} == {"one"}
    assert {versions[n] for n in range(300, 600)} == {"two"}
    assert "running version 1 of 'fleet' too" in worker.output()

    def status() -> str:
        return config_command("status", "--name", NAME, url=url)[1]

    wait_for(
        lambda: len(re.findall(r"worker \S+ \(alive\) runs version", status())) == 2,
        20,
        "both of the worker's versions in the status",
    )
    shown = status()
    assert re.search(r"^version 1: pushed .* from .*one\.yml", shown, re.MULTILINE), shown
    assert re.search(r"^version 2 \(current\): pushed .* from .*two\.yml", shown, re.MULTILINE)
    assert re.search(r"worker \S+ \(alive\) runs version 1$", shown, re.MULTILINE), shown
    assert re.search(r"worker \S+ \(alive\) runs version 2$", shown, re.MULTILINE), shown
    assert re.search(r"listener \S+ \(alive\) runs version 2$", shown, re.MULTILINE), shown
    table = gp("stats", "-c", str(two), "--name", NAME, "--broker", url, "--once")
    assert table.returncode == 0, table.stderr
    assert b"version 1: gp-celery" in table.stdout
    assert b"version 2: gp-celery" in table.stdout
    assert listener.terminate() == 0


def test_a_listener_keeps_its_version_when_a_push_changes_its_inputs(
    tmp_path: Path, redis_server: RedisServer, start_listener: StartListener
) -> None:
    out = tmp_path / "out.jsonl"
    one = version_config(tmp_path, out, "one")
    other_port = write_config(
        tmp_path,
        one.read_text().replace("interface: 127.0.0.1", "interface: 127.0.0.2"),
        name="moved.yml",
    )
    url = redis_server.url
    assert config_command("push", "-c", str(one), "--name", NAME, url=url)[0] == 0
    listener = start_listener(one, url, extra_args=["--from-broker", NAME])
    assert config_command("push", "-c", str(other_port), "--name", NAME, url=url)[0] == 0
    wait_for(
        lambda: (
            "version 2 of 'fleet' changes the inputs; this listener keeps version 1"
            in listener.output()
        ),
        20,
        "the listener to refuse the switch",
    )
    assert listener.terminate() == 0
