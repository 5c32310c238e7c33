"""Chunking shared by every input: size, age, order, nothing lost or merged."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gp_celery.framing import Chunk, Piece, decode_chunk
from gp_celery.testing import build
from gp_celery_inputs.listener.runner import Chunker
from gp_celery_inputs.tcp_server import TcpServer, TcpServerOptions


class Recorder:
    """The receiving end of a chunker: what a pipeline or publisher would get."""

    def __init__(self, delay: float = 0.0) -> None:
        self.chunks: list[Chunk] = []
        self.delay = delay

    async def __call__(self, chunk: Chunk) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.chunks.append(chunk)

    def data(self) -> list[str]:
        return [event["data"] for chunk in self.chunks for event in decode_chunk(chunk).events]


def lines(start: int, count: int, width: int = 10) -> Piece:
    return Piece("test", b"".join(f"{n:0{width}d}\n".encode() for n in range(start, start + count)))


def expected(count: int, width: int = 10) -> list[str]:
    return [f"{n:0{width}d}" for n in range(count)]


def tcp() -> object:
    return build("TcpServer", {"port": 0})


def test_a_chunk_goes_once_it_holds_chunk_bytes_and_keeps_the_order() -> None:
    recorder = Recorder()
    chunker = Chunker(tcp(), recorder, chunk_bytes=1100, chunk_ms=60_000)  # type: ignore[arg-type]

    async def go() -> None:
        for start in range(0, 250, 25):
            await chunker.emit([lines(start, 25)])  # 275 bytes each
        await chunker.flush()

    asyncio.run(go())
    assert [chunk.size for chunk in recorder.chunks] == [1100, 1100, 550]
    assert recorder.data() == expected(250)
    assert len({chunk.chunk_id for chunk in recorder.chunks}) == 3
    assert chunker.pending == []
    assert chunker.pending_bytes == 0


def test_a_chunk_records_its_input_and_framing() -> None:
    recorder = Recorder()
    module = build("TcpServer", {"port": 0, "simple_separator": "|"}, node_id="tcp")
    chunker = Chunker(module, recorder, chunk_bytes=1 << 20, chunk_ms=60_000)

    async def go() -> None:
        await chunker.emit([Piece("10.0.0.1:5", b"a|b|")])
        await chunker.flush()

    asyncio.run(go())
    (chunk,) = recorder.chunks
    assert (chunk.node, chunk.source_module, chunk.framing.separator) == ("tcp", "TcpServer", "|")
    events = decode_chunk(Chunk.unpack(chunk.pack())).events
    assert [event["data"] for event in events] == ["a", "b"]
    assert events[0]["gambolputty"]["received_from"] == "10.0.0.1:5"


def test_the_age_flush_never_merges_with_or_overtakes_a_delivery_in_progress() -> None:
    recorder = Recorder(delay=0.01)
    chunker = Chunker(tcp(), recorder, chunk_bytes=110, chunk_ms=1)  # type: ignore[arg-type]

    async def go() -> None:
        async def ticker() -> None:
            for _ in range(200):
                await chunker.flush_if_old(asyncio.get_running_loop().time() + 1e6)
                await asyncio.sleep(0.001)

        tick = asyncio.create_task(ticker())
        for start in range(0, 300, 37):
            await chunker.emit([lines(start, min(37, 300 - start))])
        await tick
        await chunker.flush()

    asyncio.run(go())
    assert recorder.data() == expected(300)


def test_undelivered_records_counts_what_a_forced_exit_would_abandon() -> None:
    chunker = Chunker(tcp(), Recorder(), chunk_bytes=1 << 20, chunk_ms=60_000)  # type: ignore[arg-type]

    async def go() -> None:
        await chunker.emit([lines(0, 40), Piece("x", b"partial")])

    asyncio.run(go())
    assert chunker.pending_records() == 41


class MarkedTcp(TcpServer):
    """A TcpServer that records the marks it is told are delivered (as RedisList would
    remove its items)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acknowledged: list[object] = []

    async def delivered(self, mark: object) -> None:
        self.acknowledged.append(mark)


def marked_tcp() -> MarkedTcp:
    return MarkedTcp(TcpServerOptions(port=0), "tcp")


def test_a_mark_is_acknowledged_only_once_the_chunk_holding_its_pieces_is_delivered() -> None:
    module = marked_tcp()
    recorder = Recorder()
    chunker = Chunker(module, recorder, chunk_bytes=600, chunk_ms=60_000)

    async def go() -> list[list[object]]:
        seen = []
        for n in range(4):
            await chunker.emit([lines(n * 25, 25)], mark=n)  # 275 bytes each
            seen.append(list(module.acknowledged))
        await chunker.flush()
        seen.append(list(module.acknowledged))
        return seen

    seen = asyncio.run(go())
    # The third emit fills a chunk (825 bytes >= 600): marks 0-2 go with it, 3 waits.
    assert seen == [[], [], [0, 1, 2], [0, 1, 2], [0, 1, 2, 3]]
    assert recorder.data() == expected(100)


def test_a_mark_without_pieces_waits_for_the_pieces_before_it() -> None:
    module = marked_tcp()
    recorder = Recorder()
    chunker = Chunker(module, recorder, chunk_bytes=1 << 20, chunk_ms=60_000)

    async def go() -> None:
        await chunker.emit([lines(0, 5)], mark="a")
        await chunker.emit([], mark="b")  # e.g. a Redis item that held no record
        assert module.acknowledged == []
        await chunker.flush()

    asyncio.run(go())
    assert module.acknowledged == ["a", "b"]
    assert len(recorder.chunks) == 1


def test_marks_are_not_acknowledged_when_the_delivery_fails() -> None:
    module = marked_tcp()

    async def broken(chunk: Chunk) -> None:
        raise ConnectionError("broker gone")

    chunker = Chunker(module, broken, chunk_bytes=1 << 20, chunk_ms=60_000)

    async def go() -> None:
        await chunker.emit([lines(0, 5)], mark="a")
        with pytest.raises(ConnectionError):
            await chunker.flush()

    asyncio.run(go())
    assert module.acknowledged == []


def test_an_old_mark_alone_is_flushed_by_age() -> None:
    module = marked_tcp()
    chunker = Chunker(module, Recorder(), chunk_bytes=1 << 20, chunk_ms=10)

    async def go() -> None:
        await chunker.emit([], mark="empty item")
        await chunker.flush_if_old(time.monotonic() + 1)

    asyncio.run(go())
    assert module.acknowledged == ["empty item"]
