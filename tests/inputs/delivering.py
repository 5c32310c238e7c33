"""An input served by the real InputRunner and Chunker (as embedded mode runs it), so an
input that acknowledges its source (``delivered(mark)``) is told only what was delivered."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from gp_celery.event import Event
from gp_celery.framing import Chunk, decode_chunk
from gp_celery_inputs.listener.runner import InputRunner

CRASHED: list[asyncio.AbstractEventLoop] = []


class Running:
    """An input served by an InputRunner on its own thread and loop. Delivered chunks
    become events here; while ``gate`` is clear, a delivery waits (nothing is delivered)."""

    def __init__(self, module: Any, gate: threading.Event | None = None) -> None:
        self.module = module
        self.gate = gate
        self.events: list[Event] = []
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.runner = InputRunner({module.node_id: module}, self._deliver, lambda _m: 1 << 16, 20)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    async def _deliver(self, chunk: Chunk) -> None:
        while self.gate is not None and not self.gate.is_set():
            await asyncio.sleep(0.01)
        events = decode_chunk(chunk).events
        with self._changed:
            self.events += events
            self._changed.notify_all()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.runner.run())
        except RuntimeError as error:  # the loop was stopped: a simulated crash
            if "stopped" not in str(error):
                self.error = error
        except BaseException as error:
            self.error = error

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count or self.error, timeout)
        assert self.error is None, self.error
        assert len(self.events) >= count, f"expected {count} events, got {len(self.events)}"
        return [event["data"] for event in self.events]

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the runner to end by itself (an input that failed)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive()

    def stop(self) -> None:
        """SIGTERM's way: stop reading, deliver what is pending, then close."""
        if self.gate is not None:
            self.gate.set()
        self.loop.call_soon_threadsafe(self.runner.request_stop)
        self._thread.join(10)
        assert not self._thread.is_alive()
        self.module.close()

    def crash(self) -> None:
        """Stop the loop where it stands: nothing pending is delivered or acknowledged."""
        CRASHED.append(self.loop)  # never collected: its tasks must not run their finally
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive()
        self.module.close()
