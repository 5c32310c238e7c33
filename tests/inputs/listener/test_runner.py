"""Batching shared by every input: size, byte cap, age, order, nothing lost or merged."""

from __future__ import annotations

import asyncio

from gp_celery.event import Batch, new_events
from gp_celery_inputs.listener.runner import Batcher


class Recorder:
    """The receiving end of a batcher: what a pipeline or publisher would get."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[Batch] = []
        self.delay = delay

    async def __call__(self, node_id: str, batch: Batch) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.batches.append(batch)

    def data(self) -> list[str]:
        return [event["data"] for batch in self.batches for event in batch]


def payloads(count: int, size: int = 10) -> list[str]:
    return [f"{n:0{size}d}" for n in range(count)]


def test_batches_hold_at_most_batch_size_events_in_order() -> None:
    recorder = Recorder()
    batcher = Batcher("in", recorder, batch_size=100, batch_ms=1000)

    async def go() -> None:
        await batcher.emit(new_events(payloads(250), "Test"))
        await batcher.flush()

    asyncio.run(go())
    assert [len(batch) for batch in recorder.batches] == [100, 100, 50]
    assert recorder.data() == payloads(250)


def test_byte_cap_ends_a_batch_once_its_payloads_reach_the_cap() -> None:
    recorder = Recorder()
    batcher = Batcher("in", recorder, batch_size=1000, batch_ms=1000, batch_bytes=4096)
    events = new_events(payloads(20, size=1000), "Test")
    events.insert(7, new_events(["x" * 10_000], "Test")[0])
    events.insert(8, new_events(["y" * 10_000], "Test")[0])  # first of its batch

    async def go() -> None:
        await batcher.emit(events)
        await batcher.flush()

    asyncio.run(go())
    for batch in recorder.batches[:-1]:
        sizes = [len(event["data"]) for event in batch]
        assert sum(sizes[:-1]) < 4096 <= sum(sizes)  # ends with the event that reached it
    assert [len(batch) for batch in recorder.batches][:3] == [5, 3, 1]  # 'y' goes alone
    assert recorder.data() == [event["data"] for event in events]
    assert batcher.pending_bytes == 0
    assert batcher.sizes == []


def test_the_age_flush_never_merges_with_or_overtakes_a_delivery_in_progress() -> None:
    recorder = Recorder(delay=0.01)
    batcher = Batcher("in", recorder, batch_size=10, batch_ms=1)

    async def go() -> None:
        async def ticker() -> None:
            for _ in range(200):
                await batcher.flush_if_old(asyncio.get_running_loop().time() + 1e6)
                await asyncio.sleep(0.001)

        tick = asyncio.create_task(ticker())
        for start in range(0, 300, 37):
            await batcher.emit(new_events(payloads(300)[start : start + 37], "Test"))
        await tick
        await batcher.flush()

    asyncio.run(go())
    assert max(len(batch) for batch in recorder.batches) <= 10
    assert recorder.data() == payloads(300)
