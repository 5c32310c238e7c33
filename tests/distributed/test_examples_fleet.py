"""Every parser's and modifier's documented examples (the ones tests/modules/test_examples.py
runs in one process) give the same events through a real Celery worker: each example's
batch crosses the broker as msgpack, runs in a prefork pool process and is written by a
FileSink, whose JSON lines are compared with the example's ``expect``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from gp_celery.app import make_app
from gp_celery.broker.messages import Outbox
from gp_celery.broker.settings import BrokerSettings
from gp_celery.broker.store import ChunkStore
from gp_celery.config import load_config
from gp_celery.event import event_type
from gp_celery.modules.base import Example, Modifier, Parser
from gp_celery.modules.registry import all_modules
from gp_celery.modules.sinks.encoding import json_line
from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import sink_events, write_config
from tests.modules.services import served

QUEUE = "examples"

CASES: list[tuple[str, str, Example]] = [
    (f"case_{number}", name, example)
    for number, (name, example) in enumerate(
        (name, example)
        for name, cls in sorted(all_modules().items())
        if issubclass(cls, (Parser, Modifier))
        and cls.state == "any"
        and cls.__module__.startswith("gp_celery.")
        for example in cls.examples
    )
]


def fleet_config(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An input the worker never hears from, then per example its module (an entry of the
    'examples' stage, with the real resources it names: ``served``) sending to its own
    FileSink."""
    nodes = ["- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n   receivers: []\n"]
    for case, name, example in CASES:
        options = {
            **served(example.options, request),
            "id": case,
            "queue": QUEUE,
            "receivers": [f"{case}_out"],
        }
        nodes.append(f"- {name}: {yaml.safe_dump(options, default_flow_style=True, width=2**30)}")
        out = tmp_path / f"{case}.jsonl"
        nodes.append(f"- FileSink: {{id: {case}_out, file_name: '{out}', json_lines: true}}\n")
    return "".join(nodes)


def as_written(value: Any) -> Any:
    """A value as FileSink's JSON lines hold it (bytes as text, tuples as lists, ...)."""
    return orjson.loads(json_line({"value": value}))["value"]


def test_every_parser_and_modifier_example_gives_the_same_events_in_a_fleet(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    request: pytest.FixtureRequest,
) -> None:
    assert len(CASES) >= 10
    config_path = write_config(tmp_path, fleet_config(tmp_path, request))
    config = load_config(config_path)
    # An app of its own: the module's app keeps the pools of the broker it first used.
    app = make_app(BrokerSettings(broker_url=redis_server.url, store_url=redis_server.url))
    outbox = Outbox(app, ChunkStore(redis_server.client(), ttl_secs=3600))
    start_worker(config_path, redis_server.url, queues=QUEUE, concurrency=2)
    digest = config.digests[QUEUE]
    for case, _, example in CASES:
        outbox.send_batch([dict(event) for event in example.given], case, QUEUE, digest)

    def written(case: str) -> list[dict[str, Any]]:
        return sink_events(tmp_path / f"{case}.jsonl")

    def all_written() -> bool:
        return all(len(written(case)) >= len(example.expect) for case, _, example in CASES)

    wait_for(all_written, 120, "every example's events in its FileSink")
    for case, name, example in CASES:
        got = written(case)
        assert len(got) == len(example.expect), (name, example.note)
        for event, expected in zip(got, example.expect, strict=True):
            assert {key: event.get(key) for key in expected} == as_written(expected), name
            if example.event_type is not None:
                assert event_type(event) == example.event_type, name
