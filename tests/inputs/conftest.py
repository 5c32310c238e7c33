"""Helpers for input tests: a recording emit, and serve() running on its own loop and thread.

pytest-asyncio is not used: inputs run as they do in production, in an asyncio task that is
cancelled to stop them, while the test thread talks to them through real sockets and pipes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gp_celery.event import ERRORS, META, Event
from gp_celery.framing import Chunk, Piece, decode_chunk
from gp_celery.testing import build


class EmitRecorder:
    """An ``emit`` that turns every call's pieces into events with the shared decoder (as a
    pipeline would), records them, then (like a chunker delivering a full chunk) waits while
    ``gate`` is given and clear: that is backpressure."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.events: list[Event] = []
        self.batches: list[int] = []
        self.pieces: list[Piece] = []
        self.marks: list[object] = []
        """Marks emitted so far. The recorder never calls ``module.delivered``: tests of
        acknowledgement use a real ``Chunker``."""
        self.gate = gate
        self.module: Any = None
        self._changed = threading.Condition()

    async def __call__(self, pieces: list[Piece], mark: object = None) -> None:
        module = self.module
        if mark is not None:
            self.marks.append(mark)
        chunk = Chunk(module.node_id, module.name, module.framing, pieces)
        events = decode_chunk(chunk).events
        with self._changed:
            self.pieces.extend(pieces)
            self.events.extend(events)
            self.batches.append(len(events))
            self._changed.notify_all()
        while self.gate is not None and not self.gate.is_set():
            await asyncio.sleep(0.01)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Event]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count, timeout)
        assert len(self.events) >= count, f"expected {count} events, got {len(self.events)}"
        return self.events

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> list[Event]:
        """Wait until no event arrived for ``quiet`` seconds (to prove nothing more comes)."""
        deadline = time.monotonic() + timeout
        seen = -1
        while len(self.events) != seen and time.monotonic() < deadline:
            seen = len(self.events)
            time.sleep(quiet)
        return self.events

    @property
    def data(self) -> list[Any]:
        return [event["data"] for event in self.events]


def errors(event: Event) -> list[str]:
    return [error["reason"] for error in event[META].get(ERRORS, [])]


class Serving:
    """``module.serve(emit)`` in an asyncio task on a background thread with its own loop."""

    def __init__(self, module: Any, emit: EmitRecorder) -> None:
        self.module = module
        self.emit = emit
        emit.module = module
        self.error: BaseException | None = None
        self.loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serve", daemon=True)
        self._thread.start()
        self._started.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._task = self.loop.create_task(self.module.serve(self.emit))
        self._started.set()
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as error:
            self.error = error
        finally:
            self.loop.close()

    @property
    def port(self) -> int:
        """The bound port, once the input listens (raises if serve() failed first)."""
        deadline = time.monotonic() + 5
        while self.module.bound_port is None:
            if self.error is not None:
                raise self.error
            assert time.monotonic() < deadline, "the input did not start listening"
            time.sleep(0.01)
        return int(self.module.bound_port)

    def cancel(self) -> None:
        """Cancel serve() as the runner does (without waiting)."""
        if self._thread.is_alive() and self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel serve() and wait for it to finish."""
        self.cancel()
        self.join(timeout)

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "serve() did not finish"
        if self.error is not None:
            raise self.error


ServeFactory = Callable[..., Serving]


@pytest.fixture
def serve_input() -> Iterator[ServeFactory]:
    """``serve_input("TcpServer", {...}, gate=None)``: build and serve; stopped at teardown."""
    started: list[Serving] = []

    def start(name: str, options: dict[str, Any], gate: threading.Event | None = None) -> Serving:
        serving = Serving(build(name, options), EmitRecorder(gate))
        started.append(serving)
        return serving

    yield start
    for serving in started:
        if serving.emit.gate is not None:
            serving.emit.gate.set()
        serving.stop()


def run_to_end(module: Any, timeout: float = 30.0) -> EmitRecorder:
    """Run an input that ends by itself (StdIn, Spam) and return what it emitted."""
    recorder = EmitRecorder()
    recorder.module = module

    async def main() -> None:
        await asyncio.wait_for(module.serve(recorder), timeout)

    asyncio.run(main())
    return recorder
