from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
import zmq

from gp_celery.config import parse_config
from gp_celery.event import META, RECEIVED_FROM, SOURCE_MODULE
from gp_celery.framing import INVALID_UTF8
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import wait_for
from tests.inputs.conftest import EmitRecorder, ServeFactory, Serving, errors

LOCAL = {"address": "127.0.0.1:0"}


@pytest.fixture
def context() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def peer(context: zmq.Context[Any], kind: int, port: int) -> zmq.Socket[Any]:
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(f"tcp://127.0.0.1:{port}")
    return sock


def subscribed(serving: Serving, send_probe: Callable[[], object]) -> None:
    """PUB drops messages until the subscription has arrived: probe until one gets through,
    then forget the probes."""

    def probe_arrived() -> bool:
        send_probe()
        return bool(serving.emit.events)

    wait_for(probe_arrived, 10, "the subscription to reach the publisher")
    serving.emit.settle(quiet=0.2)
    serving.emit.events.clear()


def test_messages_pushed_by_a_real_peer_are_events_in_order(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    serving = serve_input("Zmq", LOCAL)
    push = peer(context, zmq.PUSH, serving.port)
    for number in range(2000):
        push.send(b"message %d" % number)
    events = serving.emit.wait_for(2000)
    assert len(serving.emit.settle(quiet=0.2)) == 2000
    assert [event["data"] for event in events] == [f"message {n}" for n in range(2000)]
    assert {event[META][RECEIVED_FROM] for event in events} == {"127.0.0.1"}
    assert events[0][META][SOURCE_MODULE] == "Zmq"
    assert max(serving.emit.batches) > 1, "messages that wait are taken in batches"


def test_client_mode_connects_to_a_peer_that_binds(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    push = context.socket(zmq.PUSH)
    port = push.bind_to_random_port("tcp://127.0.0.1")
    serving = serve_input("Zmq", {"mode": "client", "address": f"127.0.0.1:{port}"})
    push.send(b"to the client")
    (event,) = serving.emit.wait_for(1)
    assert event["data"] == "to the client"


def test_sub_strips_the_topic_and_gets_only_what_it_subscribed_to(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    serving = serve_input("Zmq", {**LOCAL, "pattern": "sub", "topic": "Test"})
    publisher = peer(context, zmq.PUB, serving.port)
    subscribed(serving, lambda: publisher.send(b"Test probe"))
    publisher.send(b"Other not for us")
    publisher.send(b"Test A comfy chair is not an effective method of torture!")
    publisher.send_multipart([b"Test", b"topic in ", b"a frame of its own"])
    publisher.send(b"Testno space")
    serving.emit.wait_for(3)
    assert [event["data"] for event in serving.emit.settle(quiet=0.3)] == [
        "A comfy chair is not an effective method of torture!",
        "topic in a frame of its own",
        "no space",
    ]


def test_sub_to_every_topic_gets_messages_whole(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    serving = serve_input("Zmq", {**LOCAL, "pattern": "sub"})
    publisher = peer(context, zmq.PUB, serving.port)
    subscribed(serving, lambda: publisher.send(b"probe"))
    publisher.send(b"alpha one")
    publisher.send_multipart([b"beta", b" two"])
    serving.emit.wait_for(2)
    assert serving.emit.data == ["alpha one", " two"]


def test_zmq_tornado_splits_the_topic_off_at_its_separator(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    serving = serve_input("ZmqTornado", {**LOCAL, "pattern": "sub", "separator": "|"})
    assert serving.module.name == "Zmq"
    publisher = peer(context, zmq.PUB, serving.port)
    subscribed(serving, lambda: publisher.send(b"probe"))
    publisher.send(b"web|GET / 200|extra")
    publisher.send(b"no separator here")
    serving.emit.wait_for(2)
    assert serving.emit.data == ["GET / 200|extra", "no separator here"]


def test_pull_joins_the_frames_of_a_multipart_message(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    serving = serve_input("Zmq", LOCAL)
    peer(context, zmq.PUSH, serving.port).send_multipart([b"one ", b"event"])
    (event,) = serving.emit.wait_for(1)
    assert event["data"] == "one event"


def test_zmq_sink_events_arrive_as_the_events_they_were(
    serve_input: ServeFactory,
) -> None:
    serving = serve_input("Zmq", {**LOCAL, "decoding": "msgpack"})
    sink = build("ZmqSink", {"server": f"127.0.0.1:{serving.port}"})
    sink.setup()
    sent = [{"data": f"GET /{n} 200", "status": 200, "tags": ["a", n]} for n in range(50)]
    assert run(sink, sent) == []
    sink.close()
    events = serving.emit.wait_for(50)
    assert [{key: event[key] for key in ("data", "status", "tags")} for event in events] == sent
    assert all(errors(event) == [] for event in events)


def test_zmq_sink_events_reach_a_msgpack_parser_whole_as_in_gambolputty(
    context: zmq.Context[Any],
) -> None:
    """GambolPutty's shape: ZmqSink's msgpack -> Zmq -> MsgPackParser. The messages reach
    the parser as the bytes that were sent, not as text with invalid UTF-8 replaced."""
    config = parse_config(
        "", "<test>", data=[{"Zmq": {"address": "127.0.0.1:0"}}, {"MsgPackParser": {}}]
    )
    built = pipeline(config)
    module = built.nodes[config.nodes[0].id].module
    assert module.framing.kind == "stream"
    serving = Serving(module, EmitRecorder())
    try:
        sink = build("ZmqSink", {"server": f"127.0.0.1:{serving.port}"})
        sink.setup()
        sent = [{"data": "caf\u00e9", "bytes": b"\xff\x00", "n": 2**40}]
        assert run(sink, sent) == []
        sink.close()
        arrived = serving.emit.wait_for(1)
    finally:
        serving.stop()
    assert errors(arrived[0]) == []
    (parsed,) = run(build("MsgPackParser"), arrived)
    assert {key: parsed[key] for key in ("data", "bytes", "n")} == sent[0]
    assert errors(parsed) == []


def test_zmq_sink_text_with_a_topic_round_trips_over_pub_sub(
    serve_input: ServeFactory,
) -> None:
    serving = serve_input("Zmq", {**LOCAL, "pattern": "sub", "topic": "web"})
    sink = build(
        "ZmqSink",
        {
            "server": f"127.0.0.1:{serving.port}",
            "pattern": "pub",
            "topic": "web",
            "format": "$(data)",
        },
    )
    sink.setup()
    subscribed(serving, lambda: run(sink, [{"data": "probe"}]))
    assert run(sink, [{"data": "GET / 200"}, {"data": "GET /x 404"}]) == []
    sink.close()
    serving.emit.wait_for(2)
    assert serving.emit.data == ["GET / 200", "GET /x 404"]


HOSTILE: dict[str, tuple[dict[str, Any], bytes, Any, list[str]]] = {
    "invalid UTF-8": ({}, b"bad \xff\xfe", "bad \ufffd\ufffd", [INVALID_UTF8]),
    "binary frames": ({}, b"\x00\x01\x80\x00", "\x00\x01\ufffd\x00", [INVALID_UTF8]),
    "empty message": ({}, b"", "", []),
    "oversize": (
        {"max_message_bytes": 1000},
        b"x" * 5000,
        "x" * 1000,
        ["datagram of 5000 bytes exceeds max_message_bytes=1000; truncated"],
    ),
    "not msgpack": (
        {"decoding": "msgpack"},
        b"\xc1 not msgpack",
        "\udcc1 not msgpack",
        ["msgpack object not decoded"],
    ),
    "msgpack with trailing bytes": (
        {"decoding": "msgpack"},
        msgpack.packb("x") + b"\x01",
        "\udca1x\x01",
        ["msgpack object not decoded"],
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_messages_are_tagged_not_lost(
    serve_input: ServeFactory, context: zmq.Context[Any], case: str
) -> None:
    options, raw, expected, reasons = HOSTILE[case]
    serving = serve_input("Zmq", {**LOCAL, **options})
    push = peer(context, zmq.PUSH, serving.port)
    push.send(raw)
    push.send(msgpack.packb({"data": "next"}) if options.get("decoding") else b"next")
    events = serving.emit.wait_for(2)
    assert len(serving.emit.settle(quiet=0.2)) == 2
    assert [event["data"] for event in events] == [expected, "next"]
    found = errors(events[0])
    assert len(found) == len(reasons)
    assert all(got.startswith(want) for got, want in zip(found, reasons, strict=True)), found
    assert errors(events[1]) == []


def test_a_peer_sending_more_than_the_pipeline_takes_waits_and_loses_nothing(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    gate = threading.Event()
    serving = serve_input("Zmq", {**LOCAL, "hwm": 100}, gate=gate)
    push = peer(context, zmq.PUSH, serving.port)
    push.setsockopt(zmq.SNDHWM, 100)
    sent = 0
    refused = False
    while not refused and sent < 100_000:
        try:
            push.send(b"%d" % sent, zmq.NOBLOCK)
            sent += 1
        except zmq.Again:  # the peer is told to wait: nothing is dropped
            refused = True
    assert refused
    gate.set()
    serving.emit.wait_for(sent)
    assert serving.emit.data == [str(n) for n in range(sent)]


def test_stopping_sends_on_what_was_already_received(
    serve_input: ServeFactory, context: zmq.Context[Any]
) -> None:
    gate = threading.Event()
    serving = serve_input("Zmq", LOCAL, gate=gate)
    push = peer(context, zmq.PUSH, serving.port)
    push.send(b"first")
    serving.emit.wait_for(1)  # emit() now waits for the gate: the rest waits in ZeroMQ
    for number in range(300):
        push.send(b"queued %d" % number)
    # Nothing to wait for that shows they crossed: libzmq's I/O threads move them.
    threading.Event().wait(0.5)
    serving.cancel()
    serving.emit.wait_for(301)
    gate.set()
    serving.join()
    assert serving.emit.data == ["first", *(f"queued {n}" for n in range(300))]


def test_a_taken_address_is_a_clear_error(context: zmq.Context[Any]) -> None:
    taken = context.socket(zmq.PULL)
    port = taken.bind_to_random_port("tcp://127.0.0.1")
    serving = Serving(build("Zmq", {"address": f"127.0.0.1:{port}"}), EmitRecorder())
    with pytest.raises(OSError, match=f"cannot bind tcp://127.0.0.1:{port}"):
        serving.join()


def test_lumbermill_names_and_options_are_accepted() -> None:
    module = build(
        "input.ZeroMQ",
        {"mode": "client", "address": "localhost:5570", "pattern": "sub", "topic": "", "hwm": None},
    )
    assert module.name == "Zmq"
    assert module.framing.kind == "datagram"


@pytest.mark.parametrize(
    "options",
    [
        {"address": "nohost"},
        {"pattern": "push"},
        {"mode": "bind"},
        {"hwm": -1},
        {"port": 1},
        {"separator": ""},
    ],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(BuildError):
        build("Zmq", options)
