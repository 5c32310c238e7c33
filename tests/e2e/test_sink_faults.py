"""Sink faults in `gp-celery run` (embedded mode), end to end: an Elasticsearch (the
project's stand-in, tests/stand_ins/elasticsearch/) that is down for a while, answers 429
to every item, answers garbage or resets the connection mid-bulk, or stays down past the
retry limit; and a FileSink whose disk is full. Every event is written once (documents are
counted by their ``_id``, which is the event id), retried, or kept in the dead letters
from where `gp-celery dlq replay` writes it once; nothing is lost and the process lives.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from tests.conftest import ROOT, free_port, wait_for
from tests.e2e.conftest import GP, gp
from tests.stand_ins.es_server import EsServer, start_stand_in

INDEX = "faults"
LINE = re.compile(r"^id-(\d+)")


def _line(number: int, width: int = 0) -> str:
    text = f"id-{number:06d} message {number}"
    return text + " x" * max(0, (width - len(text)) // 2)


def _lines(count: int, width: int = 0) -> bytes:
    return "".join(f"{_line(n, width)}\n" for n in range(count)).encode()


def _config(
    tmp_path: Path, es: EsServer | str, source: str, retries: int, base: float, limit: float
) -> Path:
    address = es.address if isinstance(es, EsServer) else es
    path = tmp_path / "pipeline.yml"
    path.write_text(
        f"""- Global:
   dead_letter_file: {tmp_path}/dead.jsonl
   sink_retries: {retries}
   sink_retry_base_secs: {base}
   sink_retry_max_secs: {limit}
{source}- ElasticSearchSink:
   id: es
   nodes: [{address}]
   index_name: {INDEX}
"""
    )
    return path


STDIN = "- StdIn:\n   id: stdin\n"
TCP = "- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n"


def _documents(es: EsServer) -> dict[str, dict[str, Any]]:
    """_id -> source of every document of the test's index (all of them, not a page)."""
    with es.client(request_timeout=60) as client:
        client.indices.refresh(index=INDEX, ignore_unavailable=True)
        found = client.search(index=INDEX, size=1_000_000, ignore_unavailable=True)
    return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}


def _exactly_once(es: EsServer, count: int) -> None:
    """Every test line is one document, under one id: none lost, none twice."""
    documents = _documents(es)
    lines = Counter(int(LINE.match(doc["data"]).group(1)) for doc in documents.values())  # type: ignore[union-attr]
    assert len(documents) == count
    assert lines == Counter(range(count))


def _letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dead.jsonl"
    return [orjson.loads(row) for row in path.read_bytes().splitlines()] if path.exists() else []


@pytest.fixture
def restartable_es(tmp_path: Path) -> Iterator[list[EsServer]]:
    """A stand-in of its own (a test stops and restarts it on the same port): the list
    holds the one running now, last."""
    servers = [start_stand_in(tmp_path)]
    yield servers
    for server in servers:
        server.stop()


def _restart(servers: list[EsServer], tmp_path: Path) -> EsServer:
    port = int(servers[-1].url.rsplit(":", 1)[1])
    server = start_stand_in(tmp_path, port=port)
    servers.append(server)
    return server


# -- 1. down for a while: the sender is held back, memory stays bounded -------------------


def test_elasticsearch_down_for_a_while_blocks_the_tcp_sender_and_every_event_lands_once(
    tmp_path: Path, restartable_es: list[EsServer]
) -> None:
    """Down 15 s, while the retries (30, 0.5 s doubling to at most 2 s, jittered: at least
    28 s) outlast it. A client sends 50 MB meanwhile: the embedded pipeline stops reading
    (the sink's retry loop holds it), the socket buffers fill and the client blocks, and
    the gp-celery process' memory does not grow with what was sent."""
    es = restartable_es[-1]
    config = _config(tmp_path, es, TCP, retries=30, base=0.5, limit=2)
    count, width = 25_000, 2000  # 50 MB
    log = tmp_path / "run.log"
    with log.open("wb") as stderr:
        run = subprocess.Popen([GP, "run", "-c", str(config)], cwd=ROOT, stderr=stderr)
    try:
        wait_for(lambda: b"listening on" in log.read_bytes() or run.poll() is not None, 30, "run")
        assert run.poll() is None, log.read_text()[-2000:]
        match = re.search(rb"TcpServer: listening on \S+ \(port (\d+)\)", log.read_bytes())
        assert match, log.read_text()
        port = int(match.group(1))
        process = psutil.Process(run.pid)
        rss_before = process.memory_info().rss
        es.stop()
        payload = _lines(count, width)
        sent = [0]

        def send() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=120) as client:
                step = 1 << 16
                for start in range(0, len(payload), step):
                    client.sendall(payload[start : start + step])
                    sent[0] = start + step
                client.shutdown(socket.SHUT_WR)
                assert client.recv(1) == b""

        sender = threading.Thread(target=send, daemon=True)
        down_since = time.monotonic()
        sender.start()

        def sender_blocked() -> bool:
            before = sent[0]
            time.sleep(0.5)
            return sent[0] == before

        wait_for(sender_blocked, 10, "the sender to block")
        peak = rss_before
        while time.monotonic() - down_since < 15:
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.2)
        stalled_at = sent[0]
        assert stalled_at < len(payload) // 2, "the sender was not held back"
        assert peak - rss_before < 25 << 20, (rss_before, peak)
        assert "retry" in log.read_text()

        es = _restart(restartable_es, tmp_path)
        sender.join(timeout=60)
        assert not sender.is_alive()
        wait_for(lambda: es.stats()["documents"] >= count, 60, "every event in Elasticsearch")
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0, log.read_text()[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    _exactly_once(es, count)
    assert _letters(tmp_path) == []


# -- 2. and 3. 429 storms, garbage answers, resets: retried, no duplicates ---------------


def test_a_429_storm_is_retried_until_it_ends_and_nothing_is_lost_or_written_twice(
    tmp_path: Path, es_stand_in: EsServer
) -> None:
    count = 2000
    # A storm counted in items, not seconds (a slow start would see a timed one end first):
    # the first 5,000 items sent are refused, so every event is refused at least twice.
    es_stand_in.inject(items=[429] * 5000)
    config = _config(tmp_path, es_stand_in, STDIN, retries=20, base=0.2, limit=1)
    result = gp("run", "-c", str(config), stdin=_lines(count), cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 0, err[-2000:]
    assert "429" in err  # it was retried
    assert es_stand_in.stats()["bulk_items"] >= count + 5000  # refused items went again
    _exactly_once(es_stand_in, count)
    assert _letters(tmp_path) == []


@pytest.mark.parametrize(
    "faults",
    [
        ["malformed", "malformed"],
        ["reset", "reset"],
        ["malformed", "reset", 500, "reset", "malformed"],
    ],
    ids=["malformed answers", "connection resets mid-bulk", "a mix"],
)
def test_malformed_answers_and_resets_mid_bulk_are_retried_without_duplicates(
    tmp_path: Path, es_stand_in: EsServer, faults: list[Any]
) -> None:
    """A malformed answer comes after every document was stored, a reset after half: the
    retry writes them again under the same ids, so the count stays right."""
    count = 1500
    es_stand_in.inject(requests=faults)
    config = _config(tmp_path, es_stand_in, STDIN, retries=10, base=0.05, limit=0.5)
    result = gp("run", "-c", str(config), stdin=_lines(count), cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 0, err[-2000:]
    # Every fault took a request of its own, and each was tried again (500 per bulk).
    assert es_stand_in.stats()["bulk_requests"] >= len(faults) + count // 500
    assert "retry 1/10" in err
    _exactly_once(es_stand_in, count)
    assert _letters(tmp_path) == []


# -- 4. down past the retry limit: dead letters, list, replay once ------------------------


def test_a_server_down_past_the_retry_limit_dead_letters_and_a_replay_writes_them_once(
    tmp_path: Path,
) -> None:
    count = 300
    port = free_port()  # nothing listens there yet
    config = _config(tmp_path, f"127.0.0.1:{port}", STDIN, retries=2, base=0.05, limit=0.1)
    result = gp("run", "-c", str(config), stdin=_lines(count), cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 3, err[-2000:]  # 3: events went to the dead letters
    letters = _letters(tmp_path)
    assert sum(len(letter["events"]) for letter in letters) == count
    assert {letter["attempts"] for letter in letters} == {3}
    assert {letter["node"] for letter in letters} == {"es"}

    listed = gp("dlq", "list", "-c", str(config), cwd=tmp_path)
    out = listed.stdout.decode()
    assert listed.returncode == 0, listed.stderr.decode()
    assert out.splitlines()[0].endswith(f"{len(letters)} records, {count} events."), out
    assert re.search(rf"failed\s+es\s+\d+\s+{count}\s", out), out

    es = start_stand_in(tmp_path, port=port)
    try:
        replay = gp("dlq", "replay", "-c", str(config), cwd=tmp_path)
        assert replay.returncode == 0, replay.stderr.decode()[-2000:]
        assert (
            replay.stdout.decode()
            .splitlines()[-1]
            .endswith(f"written es {count}; 0 went back to the dead letters.")
        ), replay.stdout.decode()
        _exactly_once(es, count)
        ids = {
            letter_event["gambolputty"]["event_id"]
            for letter in letters
            for letter_event in letter["events"]
        }
        assert set(_documents(es)) == ids  # the document ids are the event ids
        assert _letters(tmp_path) == []
    finally:
        es.stop()


# -- 5. disk full for FileSink --------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (the tests run as root; mount refused is a failure, not a skip)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"cannot mount a tmpfs: {done.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_retried_then_dead_lettered_and_a_replay_after_freeing_space_writes_them(
    tmp_path: Path, small_disk: Path
) -> None:
    """ENOSPC is retriable (encoding.RETRIABLE_ERRNOS): tried again, then kept in the dead
    letters (outside the full disk); the process ends normally with exit status 3; what
    was written is whole lines, each once. After a filler file is deleted, a replay writes
    the rest, so every line is in the file exactly once."""
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (192 << 10))  # 64 KiB left
    out = small_disk / "events.jsonl"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        f"""- Global:
   dead_letter_file: {tmp_path}/dead.jsonl
   sink_retries: 2
   sink_retry_base_secs: 0.05
   sink_retry_max_secs: 0.1
{STDIN}- FileSink:
   id: archive
   file_name: {out}
   json_lines: true
"""
    )
    count = 1000  # about 165 KiB of JSON lines: more than is left, less than the disk
    result = gp("run", "-c", str(config), stdin=_lines(count), cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 3, err[-2000:]
    assert "No space left on device" in err
    letters = _letters(tmp_path)
    dead = sum(len(letter["events"]) for letter in letters)
    assert {letter["attempts"] for letter in letters} == {3}  # retried twice first
    written = [orjson.loads(row) for row in out.read_bytes().splitlines()]
    first = Counter(int(LINE.match(event["data"]).group(1)) for event in written)  # type: ignore[union-attr]
    assert set(first.values()) <= {1}
    assert len(written) + dead == count  # nothing lost
    assert dead > 0

    filler.unlink()  # space is freed
    replay = gp("dlq", "replay", "-c", str(config), cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr.decode()[-2000:]
    events = [orjson.loads(row) for row in out.read_bytes().splitlines()]
    lines = Counter(int(LINE.match(event["data"]).group(1)) for event in events)  # type: ignore[union-attr]
    assert lines == Counter(range(count))
    assert (
        replay.stdout.decode()
        .splitlines()[-1]
        .endswith(f"written archive {dead}; 0 went back to the dead letters.")
    ), replay.stdout.decode()
    assert _letters(tmp_path) == []
