"""Where the network sinks' documented examples really write, and how to read it back, for
tests/modules/test_examples.py: the example's server options point at a real receiver that
the test starts, and what arrived comes back as events (JSON payloads as their object, any
other message as ``{"data": message}``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from gp_celery.event import Event
from tests.modules.sink_receivers import RECEIVERS
from tests.modules.sinks.servers import DatagramReceiver, LineCollector, start_syslog_ng


@dataclass
class Target:
    options: dict[str, Any]
    received: Callable[[], list[Event]]


def _events(messages: list[bytes], json: bool) -> list[Event]:
    if json:
        return [orjson.loads(message) for message in messages]
    return [{"data": message.decode("utf-8")} for message in messages]


def _redis(name: str, options: dict[str, Any], request: pytest.FixtureRequest) -> Target:
    server = request.getfixturevalue("redis_server")
    options = {**options, "server": "127.0.0.1", "port": server.port}
    client = server.client()
    json = options.get("format") is None
    if name == "RedisListSink":

        def pushed() -> list[Event]:
            keys = sorted(client.keys("*"))
            return _events([item for key in keys for item in client.lrange(key, 0, -1)], json)

        return Target(options, pushed)
    pubsub = client.pubsub()
    pubsub.psubscribe("*")
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    request.addfinalizer(pubsub.close)
    request.addfinalizer(client.close)  # a client freed early would close the pubsub's socket

    def published() -> list[Event]:
        messages = []
        while (message := pubsub.get_message(timeout=1)) is not None:
            if message["type"] == "pmessage":
                messages.append(message["data"])
        return _events(messages, json)

    return Target(options, published)


def _udp(options: dict[str, Any], request: pytest.FixtureRequest) -> Target:
    receiver = DatagramReceiver()
    request.addfinalizer(receiver.close)
    json = options.get("format") is None
    return Target(
        {**options, "address": receiver.address},
        lambda: _events([d.removesuffix(b"\n") for d in receiver.receive(100)], json),
    )


def _syslog(options: dict[str, Any], request: pytest.FixtureRequest) -> Target:
    server = start_syslog_ng(request.getfixturevalue("tmp_path_factory").mktemp("syslog-ng"))
    request.addfinalizer(server.stop)
    port = server.tcp_port if options.get("proto", "tcp") == "tcp" else server.udp_port
    return Target(
        {**options, "address": f"127.0.0.1:{port}"},
        lambda: [{"data": record.message} for record in server.wait_for_records(1)],
    )


def _graphite(options: dict[str, Any], request: pytest.FixtureRequest) -> Target:
    collector = LineCollector()
    request.addfinalizer(collector.close)

    def lines() -> list[Event]:
        return [{"data": line.rsplit(" ", 1)[0]} for line in collector.wait_for_lines(1)]

    return Target({**options, "server": "127.0.0.1", "port": collector.port}, lines)


def _logger(options: dict[str, Any], request: pytest.FixtureRequest) -> Target:
    caplog: pytest.LogCaptureFixture = request.getfixturevalue("caplog")
    caplog.set_level(logging.DEBUG, logger="gp_celery.sink.LoggerSink")
    return Target(
        options,
        lambda: [
            {"data": record.getMessage()}
            for record in caplog.records
            if record.name == "gp_celery.sink.LoggerSink"
        ],
    )


def _from_receiver(
    name: str, options: dict[str, Any], request: pytest.FixtureRequest, expected: int
) -> Target:
    """A receiver of tests/modules/sink_receivers.py (a context manager that waits for a
    count), kept open until the test ends."""
    stack = ExitStack()
    request.addfinalizer(stack.close)
    options, received = stack.enter_context(RECEIVERS[name](options))
    return Target(options, lambda: received(expected))


def sink_target(
    name: str, options: dict[str, Any], request: pytest.FixtureRequest, expected: int
) -> Target | None:
    """The receiver for a network sink's example (which should get ``expected`` events), or
    None for sinks that write files/stdout."""
    if name in ("RedisListSink", "RedisChannelSink"):
        return _redis(name, options, request)
    if name in RECEIVERS:
        return _from_receiver(name, options, request, expected)
    makers = {
        "UdpSink": _udp,
        "SyslogSink": _syslog,
        "GraphiteSink": _graphite,
        "LoggerSink": _logger,
    }
    maker = makers.get(name)
    return maker(options, request) if maker is not None else None
