"""MergeEvent in a real fleet: its queue, which its input shares, is served by one worker
process, which cuts the stream into events in order, so multi-line events spread over many
chunks come out whole and in order; the last buffer is handed on when the worker stops."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    WORKER_ENV,
    StartListener,
    send_lines,
    sink_events,
    write_config,
)

FRAMES = 4


def trace(number: int) -> list[str]:
    return [f"id-{number:06d} Traceback", *(f"at frame {frame}" for frame in range(FRAMES))]


def merge_config(tmp_path: Path) -> tuple[Path, Path]:
    """TcpServer and MergeEvent on a queue of their own (small chunks: traces straddle
    them), merged events to a JSON-lines file; the config and that file."""
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""- Global:
   chunk_bytes: 1024
- TcpServer:
   interface: 127.0.0.1
   port: 0
   queue: merge
- MergeEvent:
   queue: merge
   pattern: '^id-'
   glue: '|'
   flush_interval_in_secs: 3600
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    return config, out


def test_multi_line_events_spread_over_many_chunks_are_merged_whole_and_in_order(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    config, out = merge_config(tmp_path)
    worker = start_worker(config, redis_server.url, queues="merge", env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 5000
    rows = [row for number in range(count) for row in trace(number)]
    assert sum(len(row) + 1 for row in rows) > 256 * 1024  # many chunks: traces straddle them
    send_lines(listener.port, rows)
    wait_for(lambda: len(sink_events(out)) >= count - 1, 60, f"{count - 1} events in {out}")
    worker.stop()  # the last trace is still buffered: a stopping worker hands it on
    assert listener.terminate() == 0
    assert listener.published_chunks() >= 4
    assert [event["data"] for event in sink_events(out)] == [
        "|".join(trace(number)) for number in range(count)
    ]
    assert "Traceback (most recent" not in worker.output()


def buffered_events(redis_server: RedisServer) -> int:
    """Events in the MergeEvent node's buffers, as its hash in Redis holds them."""
    from gp_celery.codec import unpack

    stored = redis_server.client().hvals("gp-celery:merge-event:MergeEvent")
    return sum(len(unpack(raw)[1]) for raw in stored)


def test_a_worker_killed_with_a_trace_buffered_loses_none_of_it(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    config, out = merge_config(tmp_path)
    first = start_worker(config, redis_server.url, queues="merge", env=WORKER_ENV, name="a")
    listener = start_listener(config, redis_server.url)
    count = 300
    send_lines(listener.port, [row for number in range(count) for row in trace(number)])
    wait_for(lambda: len(sink_events(out)) >= count - 1, 60, f"{count - 1} events in {out}")
    wait_for(lambda: buffered_events(redis_server) == FRAMES + 1, 30, "the last trace saved")
    first.kill()  # SIGKILL: no hand-over; only Redis knows the last trace now
    second = start_worker(config, redis_server.url, queues="merge", env=WORKER_ENV, name="b")
    send_lines(listener.port, trace(count))  # another connection: a buffer of its own
    wait_for(lambda: buffered_events(redis_server) == 2 * (FRAMES + 1), 30, "both buffers")
    second.stop()  # a stopping worker hands on every buffer, the one it restored too
    assert listener.terminate() == 0
    assert buffered_events(redis_server) == 0
    assert [event["data"] for event in sink_events(out)] == [
        "|".join(trace(number)) for number in range(count + 1)
    ]
