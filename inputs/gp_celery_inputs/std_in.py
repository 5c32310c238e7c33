"""StdIn: read standard input (a file, a pipe or a terminal) until it ends."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import CancelledError as FutureCancelled
from typing import BinaryIO, Final, Literal

from gp_celery.event import HOSTNAME
from gp_celery.framing import Framing
from gp_celery.framing.options import StreamFramingOptions
from gp_celery.modules.base import Emit, Example, Input
from gp_celery.modules.registry import register

READ_BYTES: Final = 1 << 20
QUEUED_CHUNKS: Final = 4
"""Reads queued ahead of the cutter; bounds memory while emit() applies backpressure."""


class StdInOptions(StreamFramingOptions):
    multiline: bool = False
    """Join lines into one event per block (ended by stream_end_signal or end of input)."""
    stream_end_signal: str | Literal[False] = False
    """With multiline: the line that ends a block, e.g. "END\\n" (not part of the event)."""


@register
class StdIn(Input[StdInOptions]):
    """Read standard input; each line (newline kept) or multiline block is an event.

    ``data`` keeps the line's newline, exactly as GambolPutty's readline() did. Difference:
    ``received_from`` ("stdin://<hostname>") is in the metadata like every other input's,
    not at the top level of the event (a GambolPutty quirk). A line longer than
    ``max_line_bytes`` becomes one truncated, tagged event; invalid UTF-8 is replaced and
    tagged. At the end of input the last partial line is sent and the run ends, as in
    GambolPutty. ``multiline`` joins lines into blocks (at most ``max_line_bytes``; lines
    beyond are dropped and the block tagged). The shared stream framing options work too:
    ``mode: stream`` with ``decoding: msgpack`` reads a msgpack stream, one event per object.
    """

    aliases = ("input.StdIn",)
    ends_pipeline = True
    stream: BinaryIO | None = None
    """Any binary file object to read instead of standard input (tests pass a pipe)."""
    examples = [
        Example(
            options={},
            given=[{"data": "first line\nsecond line\n"}],
            expect=[{"data": "first line\n"}, {"data": "second line\n"}],
            note="What arrives on standard input: one event per line, newline kept.",
        ),
    ]

    def default_framing(self) -> Framing:
        options = self.options
        if options.multiline:
            return Framing(
                kind="multiline",
                keep_separator=True,
                max_record_bytes=options.line_limit(),
                end_signal=options.stream_end_signal or None,
            )
        return options.framing(keep_separator=True)

    async def serve(self, emit: Emit) -> None:
        # Reading happens in a daemon thread (1 MiB at a time), not with asyncio.to_thread:
        # a read blocked on a terminal cannot be interrupted, and the default executor would
        # make the process wait for it at exit.
        stream = self.stream if self.stream is not None else sys.stdin.buffer
        cutter = self.cutter(f"stdin://{HOSTNAME}")
        async for chunk in self._chunks(stream):
            feed = self.feed_bytes
            for start in range(0, len(chunk), feed):
                if pieces := cutter.feed(
                    chunk[start : start + feed] if feed < len(chunk) else chunk
                ):
                    await emit(pieces)
        if pieces := cutter.close():
            await emit(pieces)
        self.log.info("%s: end of input.", self.label)

    async def _chunks(self, stream: BinaryIO) -> AsyncIterator[bytes]:
        """Chunks read by a daemon thread, ending at EOF; a read error is raised here."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | Exception] = asyncio.Queue(QUEUED_CHUNKS)
        stopped = threading.Event()
        read = _reader(stream)

        def hand_over(item: bytes | Exception) -> bool:
            try:
                done = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            except RuntimeError:  # the loop is closed: nobody is reading any more
                return False
            while not stopped.is_set():
                try:
                    done.result(timeout=0.5)
                except TimeoutError:
                    continue
                except FutureCancelled:
                    return False
                return True
            done.cancel()
            return False

        def pump() -> None:
            item: bytes | Exception = b"start"
            while item and not isinstance(item, Exception):
                try:
                    item = read(READ_BYTES)
                except (OSError, ValueError) as error:
                    item = error
                if not hand_over(item):
                    return

        threading.Thread(target=pump, name=f"{self.label} reader", daemon=True).start()
        try:
            while item := await queue.get():
                if isinstance(item, Exception):
                    raise OSError(f"{self.label}: cannot read input: {item}") from item
                yield item
        finally:
            stopped.set()


def _reader(stream: BinaryIO) -> Callable[[int], bytes]:
    """``os.read`` on a real descriptor (no Python-level lock a daemon thread could hold at
    interpreter exit); ``read1``/``read`` for in-memory streams."""
    try:
        fd = stream.fileno()
    except (OSError, io.UnsupportedOperation):
        read1 = getattr(stream, "read1", None)
        return read1 if callable(read1) else stream.read
    return lambda size: os.read(fd, size)
