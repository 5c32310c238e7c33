"""Delivery with real faults: TCP -> `gp-celery listen` -> Redis -> `celery worker` ->
FileSink, with SIGKILLed workers, a restarted broker and a SIGTERMed listener.

Every line carries its own id, and the tests count arrivals per id: "exactly once" means
every id once, "at least once" means every id, with the duplicates counted and bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from tests.conftest import RedisServer, StartWorker, Worker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    SWEEPING,
    WORKER_ENV,
    StartListener,
    duplicates,
    line,
    send_lines,
    settle,
    sink_events,
    wait_for_ids,
    write_config,
)

SLOW_STEP = """\
- RegexParser:
   # A repeated-word search: quadratic in the line length, so a batch of long lines of
   # distinct words keeps a worker process busy for about half a second.
   field_extraction_patterns:
    - repeated_word: '\\b(?P<word>\\w+)\\b.*\\b(?P=word)\\b'
"""


def tcp_to_file(tmp_path: Path, settings: str = FAST_BATCHES, steps: str = "") -> tuple[Path, Path]:
    """A config TcpServer (on a free port) -> ``steps`` -> FileSink (JSON lines)."""
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"{settings}- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n{steps}"
        f"- FileSink:\n   file_name: {out}\n   json_lines: true\n",
    )
    return config, out


def slow_line(number: int) -> str:
    """About 2 KB of distinct words: the repeated-word search scans all of it."""
    return f"id-{number:06d} " + " ".join(f"w{number}x{k}" for k in range(300))


def busy_pool_child(worker: Worker) -> int:
    """The pid of a pool process that is running a batch now (its CPU time grows)."""
    found: list[int] = []

    def one_is_busy() -> bool:
        children = [psutil.Process(pid) for pid in worker.pool_children()]
        before = [sum(child.cpu_times()[:2]) for child in children]
        time.sleep(0.3)
        after = [sum(child.cpu_times()[:2]) for child in children]
        # A fifth of a core: an idle process uses none, a busy one gets at least that even
        # when other processes load the machine (half a core was missed under load).
        found[:] = [c.pid for c, b, a in zip(children, before, after, strict=True) if a - b > 0.06]
        return bool(found)

    wait_for(one_is_busy, 20, "a pool process busy with a batch")
    return found[0]


def test_every_tcp_line_arrives_exactly_once(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    config, out = tcp_to_file(tmp_path)
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 5000
    send_lines(listener.port, (line(n, width=80) for n in range(count)))
    counts = wait_for_ids(out, range(count), timeout=30)
    events = settle(out, quiet=0.5)
    assert len(events) == count, f"{duplicates(counts)} duplicates"
    assert set(counts.values()) == {1}
    assert len({event["gambolputty"]["event_id"] for event in events}) == count
    assert listener.terminate() == 0
    assert listener.published_chunks() >= 1


def test_sigkill_of_a_pool_child_and_of_the_whole_worker_loses_no_event(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    # Chunks of ~100 slow lines (~2.6 KB each), so many are in flight at once.
    config, out = tcp_to_file(
        tmp_path, "- Global:\n   chunk_bytes: 262144\n   batch_ms: 50\n", SLOW_STEP
    )
    batch_size = 100
    broker = redis_server.client()
    # A batch that runs longer than the visibility timeout is handed out again while it
    # runs (at-least-once, by design); on a loaded machine these batches take seconds, so
    # give them room: only the kills may make copies here.
    env = {"GP_VISIBILITY_TIMEOUT": "15"}
    first = start_worker(config, redis_server.url, concurrency=2, env=env, name="first")
    listener = start_listener(config, redis_server.url)
    count = 2000  # 20 batches of ~0.5 s each
    sender = threading.Thread(
        target=send_lines, args=(listener.port, [slow_line(n) for n in range(count)])
    )
    sender.start()

    # 1. A pool process dies in the middle of a batch: the worker rejects the batch back
    # to the queue at once (task_reject_on_worker_lost) and forks a new process.
    wait_for(lambda: len(sink_events(out)) >= 2 * batch_size, 30, "the first batches written")
    os.kill(busy_pool_child(first), signal.SIGKILL)
    wait_for(lambda: "WorkerLostError" in first.output(), 30, "the worker to notice")
    assert "Job:" in first.output()  # a batch was in flight in the killed process

    # 2. The whole worker dies with batches in flight: they stay in Redis, unacknowledged,
    # until the visibility timeout (GP_VISIBILITY_TIMEOUT) passes; then a new worker runs them.
    wait_for(lambda: len(sink_events(out)) >= 8 * batch_size, 30, "more batches written")
    busy_pool_child(first)
    first.kill()
    in_flight = broker.hlen("unacked")
    assert in_flight >= 1, "no batch was in flight when the worker was killed"
    killed_at = time.monotonic()
    start_worker(config, redis_server.url, concurrency=2, env=env, name="second")
    sender.join(timeout=60)
    counts = wait_for_ids(out, range(count), timeout=90)
    redelivered_after = time.monotonic() - killed_at
    settle(out, quiet=1.0)
    counts = wait_for_ids(out, range(count), timeout=1)
    dup = duplicates(counts)
    print(
        f"\nSIGKILL test: {count} events, {in_flight} batches unacked at the worker kill, "
        f"all arrived {redelivered_after:.1f}s after it; {dup} duplicates"
    )
    # Only a chunk written but not yet acknowledged runs twice: at most the killed
    # process's one and the killed worker's in-flight ones. An event's id is its chunk's id
    # and its position there, so the output says how large each chunk was.
    event_ids = {event["gambolputty"]["event_id"] for event in sink_events(out)}
    chunk_sizes = Counter(event_id.rsplit("-", 1)[0] for event_id in event_ids)
    largest = sorted(chunk_sizes.values(), reverse=True)
    assert len(event_ids) == count  # a chunk that ran twice made the same ids again
    assert dup <= sum(largest[: 1 + in_flight])
    wait_for(lambda: broker.hlen("unacked") == 0, 10, "every batch acknowledged")
    assert listener.terminate() == 0


def test_broker_restarts_mid_stream_lose_no_event(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    """Redis (AOF on) stops and comes back three times under steady traffic: the listener
    waits and resumes, the worker reconnects, and every event arrives.

    kombu's Redis transport takes a message with BRPOP, then records it as unacknowledged
    with a second command; a message popped in the instant the broker stops is in neither
    place. Its chunk is still stored, and the sweep sends it again."""
    config, out = tcp_to_file(tmp_path)
    worker = start_worker(config, redis_server.url, env=SWEEPING)
    listener = start_listener(config, redis_server.url)
    count, step = 30_000, 200

    def stream() -> None:  # ~8 s of steady traffic, across the broker's downtimes
        with socket.create_connection(("127.0.0.1", listener.port), timeout=60) as client:
            for start in range(0, count, step):
                chunk = "".join(f"{line(n)}\n" for n in range(start, start + step))
                client.sendall(chunk.encode())
                time.sleep(0.05)
            client.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""

    sender = threading.Thread(target=stream)
    sender.start()
    for restart in range(3):
        wait_for(
            lambda done=restart: len(sink_events(out)) >= 1000 * (done + 1), 30, "events flowing"
        )
        redis_server.stop()
        time.sleep(1.5)
        redis_server.start()  # same port and directory: the AOF brings the queue back
    sender.join(timeout=90)
    assert not sender.is_alive()
    assert listener.terminate() == 0
    assert listener.published_chunks() >= 1
    assert "retrying in" in listener.output()  # it noticed the broker was gone, and waited

    counts = wait_for_ids(out, range(count), timeout=90)
    broker = redis_server.client()
    wait_for(lambda: broker.zcard("gp-celery:stored") == 0, 60, "every stored chunk done")
    dup = duplicates(counts)
    swept = worker.output().count("Sweep: ")
    print(f"\nbroker restarts: {count} events, {dup} duplicates, none lost; {swept} swept")
    assert len(counts) == count
    assert worker.process.poll() is None  # the worker reconnected instead of exiting


def test_sigterm_of_the_listener_mid_stream_flushes_what_it_read(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    """What the listener "read", precisely: every line of a TCP client that finished (the
    listener closed the connection after reading it to its end), and whatever the
    connection of a client still streaming delivered, in order. With batch_ms at its
    maximum (60 s), a partial batch goes out only because of the SIGTERM."""
    batch_size = 1000
    config, out = tcp_to_file(
        tmp_path, f"- Global:\n   batch_size: {batch_size}\n   batch_ms: 60000\n"
    )
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    stop_streaming = threading.Event()
    streamed = [0]

    def stream() -> None:  # a client still sending when the SIGTERM arrives
        with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as client:
            try:
                while not stop_streaming.is_set():
                    number = streamed[0]
                    client.sendall(f"stream-{number:06d} still sending\n".encode())
                    streamed[0] = number + 1
                    time.sleep(0.0005)
            except OSError:
                pass  # the listener closed the connection

    streamer = threading.Thread(target=stream)
    streamer.start()
    wait_for(lambda: streamed[0] > 100, 10, "the streaming client to send")
    before = len(settle(out, quiet=0.5))  # full batches only: batch_ms is 60 s
    finished = 2500  # the last of them are still in a partial batch at the SIGTERM
    send_lines(listener.port, (line(n) for n in range(finished)))  # read to its end

    assert listener.terminate() == 0
    stop_streaming.set()
    streamer.join(timeout=10)

    def finished_arrived() -> bool:
        data = [event["data"] for event in sink_events(out)]
        return {int(d[3:9]) for d in data if d.startswith("id-")} >= set(range(finished))

    wait_for(finished_arrived, 20, f"the {finished} lines of the finished client")
    events = settle(out, quiet=1.0)
    assert len(events) >= before + finished
    finished_ids = sorted(int(e["data"][3:9]) for e in events if e["data"].startswith("id-"))
    assert finished_ids == list(range(finished))
    # The streaming client's lines arrive in order with no gap; its last line may be cut
    # where the listener stopped reading (the framer sends a partial last line as an event).
    stream_lines = [e["data"] for e in events if not e["data"].startswith("id-")]
    assert stream_lines, "nothing of the streaming client arrived"
    complete = [f"stream-{n:06d} still sending" for n in range(len(stream_lines))]
    assert stream_lines[:-1] == complete[:-1]
    assert complete[-1].startswith(stream_lines[-1])
