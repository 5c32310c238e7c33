"""ZmqSink against real ZeroMQ sockets (PULL and SUB peers in the test): msgpack or text,
topics, bind and connect, a full queue or no peer retried, nothing lost."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_celery.config import parse_config
from gp_celery.event import errors_of
from gp_celery.modules.sinks.zmq_sink import is_retriable
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import free_port


@pytest.fixture
def context() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def bound(context: zmq.Context[Any], kind: int = zmq.PULL) -> tuple[Any, int]:
    socket = context.socket(kind)
    socket.bind("tcp://127.0.0.1:0")
    port = int(socket.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1])
    return socket, port


def receive(socket: Any, count: int, timeout_ms: int = 10_000) -> list[bytes]:
    messages = []
    while len(messages) < count and socket.poll(timeout_ms):
        messages.append(socket.recv())
    return messages


BUILT: list[Any] = []


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    """Close every sink a test built: a ZeroMQ context left open can block at exit."""
    yield
    while BUILT:
        BUILT.pop().close()


def sink(port: int, **options: Any) -> Any:
    module = build("ZmqSink", {"server": f"127.0.0.1:{port}", **options})
    BUILT.append(module)
    return module


def test_each_event_arrives_at_a_pull_peer_as_msgpack(context: zmq.Context[Any]) -> None:
    pull, port = bound(context)
    events = [{"data": f"line {i}", "n": i} for i in range(100)]
    assert run(sink(port), events) == []
    got = [msgpack.unpackb(m, raw=False) for m in receive(pull, 100)]
    assert [event["n"] for event in got] == list(range(100))
    assert "event_id" in got[0]["gambolputty"]


def test_format_sends_the_rendered_template_as_text(context: zmq.Context[Any]) -> None:
    pull, port = bound(context)
    assert run(sink(port, format="$(host): $(data)"), [{"host": "a", "data": "ü"}, {}]) == []
    assert receive(pull, 2) == ["a: ü".encode(), b": "]


def test_topic_prefixes_each_message_so_sub_peers_can_filter(context: zmq.Context[Any]) -> None:
    sub, port = bound(context, zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"logs ")
    module = sink(port, pattern="pub", topic="logs", format="$(data)")
    # A SUB peer sees only what is published after its subscription reached the publisher.
    for _ in range(100):
        run(module, [{"data": "probe"}])
        if sub.poll(100):
            break
    while sub.poll(200):
        sub.recv()
    other = sink(port, pattern="pub", topic="metrics", format="$(data)")
    run(other, [{"data": "not for this subscriber"}])
    assert run(module, [{"data": "one"}, {"data": "two"}]) == []
    assert receive(sub, 2, 5000) == [b"logs one", b"logs two"]
    assert not sub.poll(300)


def test_bind_mode_serves_a_peer_that_connects(context: zmq.Context[Any]) -> None:
    port = free_port()
    module = build("ZmqSink", {"server": f"127.0.0.1:{port}", "mode": "bind"})
    BUILT.append(module)
    pull = context.socket(zmq.PULL)
    pull.connect(f"tcp://127.0.0.1:{port}")
    events = [{"data": "x"}]
    for _ in range(100):  # until the peer's connection is up, a PUSH that binds has no peer
        if run(module, events) == []:
            break
        pull.poll(50)
    assert msgpack.unpackb(receive(pull, 1)[0], raw=False)["data"] == "x"


def test_no_peer_at_all_is_a_retriable_failure_of_every_event() -> None:
    module = build("ZmqSink", {"server": f"127.0.0.1:{free_port()}", "mode": "bind"})
    BUILT.append(module)
    failed = run(module, [{"data": str(i)} for i in range(5)])
    assert [event["data"] for event in failed] == [str(i) for i in range(5)]
    assert all("no peer" in errors_of(event)[0]["reason"] for event in failed)


def test_full_queue_fails_the_unsent_rest_retriably_and_a_retry_delivers_it(
    context: zmq.Context[Any],
) -> None:
    port = free_port()  # nobody listens yet: messages queue up to the high-water mark
    module = sink(port, hwm=10, format="$(data)")
    events = [{"data": str(i)} for i in range(50)]
    failures = module.write(events)
    first = failures[0].index
    assert 0 < first < 50
    assert [f.index for f in failures] == list(range(first, 50))
    assert all(f.retriable for f in failures)
    pull = context.socket(zmq.PULL)
    pull.bind(f"tcp://127.0.0.1:{port}")
    retry = [events[f.index] for f in failures]
    got: list[bytes] = []
    for _ in range(200):  # what the runner does: retry the failed items after a pause
        failures = module.write(retry)
        retry = [retry[f.index] for f in failures]
        while pull.poll(50):  # a slow reader: sends fail while it has not caught up
            got.append(pull.recv())
        if not retry:
            break
    got += receive(pull, 50 - len(got), 2000)
    assert sorted(int(m) for m in got) == list(range(50))


def test_event_msgpack_cannot_hold_fails_alone(context: zmq.Context[Any]) -> None:
    pull, port = bound(context)
    loop: dict[str, Any] = {"data": "loop"}
    loop["self"] = loop  # deeper than msgpack's nesting limit
    failures = sink(port, format=None).write([{"data": "a"}, loop, {"data": "c"}])
    assert [(f.index, f.retriable) for f in failures] == [(1, False)]
    assert "cannot encode" in failures[0].error
    got = [msgpack.unpackb(m, raw=False)["data"] for m in receive(pull, 2)]
    assert got == ["a", "c"]


def test_odd_values_are_converted_not_failed(context: zmq.Context[Any]) -> None:
    pull, port = bound(context)
    event = {"data": b"\xff\x00raw", "tags": {"x"}, "text": "caf\udce9", "big": 2**70, "no": None}
    assert run(sink(port), [event]) == []
    got = msgpack.unpackb(receive(pull, 1)[0], raw=False, unicode_errors="surrogateescape")
    assert got["data"] == b"\xff\x00raw"
    assert got["tags"] == ["x"]
    assert got["text"] == "caf\udce9"
    assert got["big"] == str(2**70)  # beyond 64 bits: its decimal text
    assert got["no"] is None


@pytest.mark.parametrize(
    ("number", "retriable"),
    [
        (errno.EAGAIN, True),
        (errno.EINTR, True),
        (errno.EHOSTUNREACH, True),
        (zmq.ETERM, False),
        (errno.ENOTSUP, False),
        (zmq.EFSM, False),
        (errno.ENOTSOCK, False),
    ],
)
def test_only_send_errors_that_clear_by_themselves_are_retriable(
    number: int, retriable: bool
) -> None:
    assert is_retriable(number) is retriable


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"server": "localhost"}, "expected 'host:port'"),
        ({"server": "localhost:99999"}, "expected 'host:port'"),
        ({"pattern": "pair"}, "pattern"),
        ({"mode": "listen"}, "mode"),
        ({"hwm": -1}, "hwm"),
        ({"format": ["a"]}, "format"),
        ({"servers": "x:1"}, "servers"),
    ],
)
def test_bad_options_are_load_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("ZmqSink", options)


def test_gambolputty_buffer_options_are_accepted(context: zmq.Context[Any]) -> None:
    pull, port = bound(context)
    module = sink(port, store_interval_in_secs=1, batch_size=10, backlog_size=20)
    assert run(module, [{"data": "x"}]) == []
    assert len(receive(pull, 1)) == 1


def test_runs_in_a_pipeline_with_the_lumbermill_name(context: zmq.Context[Any]) -> None:
    pull, port = bound(context)
    config = f"- output.Zmq:\n    server: 127.0.0.1:{port}\n    format: $(data)\n"
    built = pipeline(parse_config(config))
    run(built, [{"data": "through the pipeline"}])
    assert receive(pull, 1) == [b"through the pipeline"]


VALUES = st.recursive(
    st.one_of(st.none(), st.text(), st.binary(), st.integers(), st.floats(), st.booleans()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(VALUES, min_size=1, max_size=20))
def test_any_event_is_sent_or_failed_never_lost(
    context: zmq.Context[Any], values: list[Any]
) -> None:
    pull, port = bound(context)
    module = sink(port)
    events = [{"data": value, "n": n} for n, value in enumerate(values)]
    failed = {failure.index for failure in module.write(events)}
    got = [msgpack.unpackb(m, raw=False)["n"] for m in receive(pull, len(values) - len(failed))]
    assert sorted(got + sorted(failed)) == list(range(len(values)))
    pull.close(linger=0)
