"""`gp-celery dlq` against a fleet: dead letters and parked chunks in a real Redis, written
there by real workers; listed, shown, replayed through the current config, purged."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import orjson

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    ids_of,
    line,
    send_lines,
    sink_events,
    write_config,
)
from tests.e2e.conftest import gp

DEAD_LETTERS = "gp-celery:dead-letters"
PARKED = "gp-celery:parked"


def _dlq(
    config: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> tuple[int, str, str]:
    result = gp("dlq", *args, "-c", str(config), env=env, stdin=stdin, cwd=config.parent)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def test_dead_letters_in_redis_are_listed_shown_replayed_once_and_purged(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out"
    out.write_text("a file where the sink needs a directory\n")
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}   sink_retries: 0
- TcpServer:
   interface: 127.0.0.1
   port: 0
- FileSink:
   id: archive
   file_name: {out}/events.jsonl
   json_lines: true
""",
    )
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 200
    send_lines(listener.port, (line(n) for n in range(count)))
    broker = redis_server.client()
    wait_for(lambda: broker.llen(DEAD_LETTERS) >= count, 30, f"{count} dead letters")
    url = redis_server.url

    code, listed, err = _dlq(config, "list", "--broker", url)
    assert code == 0, err
    where = f"Redis lists '{DEAD_LETTERS}' and '{PARKED}' at 127.0.0.1:{redis_server.port}"
    assert listed.splitlines()[0] == f"{where}: {count} records, {count} events."
    assert re.search(
        rf"failed\s+archive\s+{count}\s+{count}\s+([0-9a-f]{{10}})\s.*Not a directory", listed
    )

    # The same settings a worker reads: GP_BROKER_URL instead of --broker.
    code, ids, err = _dlq(config, "list", "--ids", env={"GP_BROKER_URL": url})
    assert code == 0, err
    first = ids.splitlines()[2].split()[0]
    code, shown, _ = _dlq(config, "show", first, "--broker", url)
    assert code == 0
    record = orjson.loads(shown.split("\n", 1)[1])
    assert (record["kind"], record["node"], record["digest"] != "") == ("failed", "archive", True)
    assert orjson.dumps(record) in {
        orjson.dumps(orjson.loads(raw)) for raw in broker.lrange(DEAD_LETTERS, 0, -1)
    }

    out.unlink()
    out.mkdir()
    code, replayed, err = _dlq(config, "replay", "--broker", url)
    assert code == 0, err
    assert replayed.splitlines()[-1] == (
        f"Replayed {count} records ({count} events): written archive {count}; 0 went back to "
        "the dead letters."
    )
    assert ids_of(sink_events(out / "events.jsonl")) == Counter(range(count))
    assert broker.llen(DEAD_LETTERS) == 0

    # Broken again: the next events are dead-lettered, then purged after a confirmation.
    (out / "events.jsonl").rename(tmp_path / "replayed.jsonl")
    out.rmdir()
    out.write_text("broken again\n")
    send_lines(listener.port, (line(n) for n in range(count, count + 20)))
    wait_for(lambda: broker.llen(DEAD_LETTERS) >= 20, 30, "20 more dead letters")
    code, said, _ = _dlq(config, "purge", "--broker", url, stdin=b"no\n")
    assert code == 1
    assert "Nothing deleted." in said
    assert broker.llen(DEAD_LETTERS) == 20
    code, said, _ = _dlq(config, "purge", "--broker", url, "--yes")
    assert code == 0
    assert said.strip() == f"Deleted 20 records (20 events) from {where}."
    assert broker.llen(DEAD_LETTERS) == 0


def test_chunks_parked_for_an_old_config_are_replayed_through_the_current_one(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out.jsonl"
    tcp = "- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n"
    sink = f"- FileSink:\n   file_name: {out}\n   json_lines: true\n"
    old = write_config(tmp_path, FAST_BATCHES + tcp + sink, "old.yml")
    new = write_config(
        tmp_path,
        FAST_BATCHES + tcp + "- AddDateTime:\n   target_field: stamped\n" + sink,
        "new.yml",
    )
    start_worker(new, redis_server.url, env={**WORKER_ENV, "GP_VERSION_RETRIES": "0"})
    listener = start_listener(old, redis_server.url)
    count = 100
    send_lines(listener.port, (line(n) for n in range(count)))
    broker = redis_server.client()

    def parked() -> int:
        return sum(len(orjson.loads(raw)["events"]) for raw in broker.lrange(PARKED, 0, -1))

    wait_for(lambda: parked() >= count, 30, f"{count} events parked")
    assert not out.exists()

    code, listed, err = _dlq(new, "list", "--kind", "parked", "--broker", redis_server.url)
    assert code == 0, err
    assert re.search(r"parked\s+TcpServer\s+\d+\s+" + str(count) + r"\s", listed), listed
    code, said, err = _dlq(new, "replay", "--broker", redis_server.url)
    assert code == 0, err
    assert "enters at TcpServer" in said
    events = sink_events(out)
    assert ids_of(events) == Counter(range(count))
    assert all("stamped" in event for event in events)  # the current config's step ran
    assert broker.llen(PARKED) == 0


def test_run_with_workers_keeps_its_dead_letters_in_the_file_when_its_redis_goes(
    tmp_path: Path,
) -> None:
    (tmp_path / "out").write_text("a file where the sink needs a directory\n")
    config = write_config(
        tmp_path,
        f"""- Global:
    workers: 2
    dead_letter_file: {tmp_path}/dead.jsonl
    sink_retries: 0
- StdIn
- FileSink:
    id: archive
    file_name: {tmp_path}/out/events.jsonl
""",
    )
    lines = "".join(line(n) + "\n" for n in range(30)).encode()
    result = gp("run", "-c", str(config), stdin=lines, cwd=tmp_path, timeout=120)
    assert result.returncode == 3, result.stderr.decode()[-3000:]
    assert (
        result.stderr.decode()
        .splitlines()[-1]
        .endswith(
            f"30 events went to the dead letters (the workers: 30); they are kept in "
            f"{tmp_path}/dead.jsonl. Exit status 3."
        )
    )
    code, listed, _ = _dlq(config, "list")
    assert code == 0
    assert re.search(r"failed\s+archive\s+30\s+30\s", listed), listed
