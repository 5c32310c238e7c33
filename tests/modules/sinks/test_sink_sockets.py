"""What the socket sinks share: which errors to retry, addresses, payloads, reopening."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery import expressions
from gp_celery.modules.sinks.payloads import event_payloads, parse_address
from gp_celery.modules.sinks.sockets import Link, is_retriable, open_inet, peer_closed


@pytest.mark.parametrize(
    "code",
    [
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENOBUFS,
        errno.EAGAIN,
        errno.ENOENT,
    ],
)
def test_connection_trouble_is_retriable(code: int) -> None:
    assert is_retriable(OSError(code, "x"))


@pytest.mark.parametrize("code", [errno.EMSGSIZE, errno.EACCES, errno.EPROTOTYPE, errno.EINVAL])
def test_errors_that_need_a_person_are_not_retriable(code: int) -> None:
    assert not is_retriable(OSError(code, "x"))


def test_socket_timeout_is_retriable() -> None:
    assert is_retriable(TimeoutError("timed out"))


def test_temporary_resolver_failure_is_retriable_and_an_unknown_name_is_not() -> None:
    assert is_retriable(socket.gaierror(socket.EAI_AGAIN, "try again"))
    assert not is_retriable(socket.gaierror(socket.EAI_NONAME, "unknown"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:514", ("localhost", 514)),
        ("192.0.2.1:2003", ("192.0.2.1", 2003)),
        ("[2001:db8::1]:514", ("2001:db8::1", 514)),
        ("[2001:db8::1]", ("2001:db8::1", 99)),
        ("carbon", ("carbon", 99)),
    ],
)
def test_addresses_are_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text, 99) == expected


@pytest.mark.parametrize("text", ["localhost", ":514", "host:0", "host:70000", "host:x", "[::1]x"])
def test_bad_addresses_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match=r"host|port"):
        parse_address(text)


def test_payloads_fail_unencodable_and_oversize_events_alone() -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    events = [{"data": "ok"}, loop, {"data": "x" * 100}, {"n": 10**5000}]
    good, failures = event_payloads(events, None, 50, "max_event_bytes")
    assert [index for index, _ in good] == [0]
    assert {failure.index for failure in failures} == {1, 2, 3}
    assert not any(failure.retriable for failure in failures)
    reasons = {failure.index: failure.error for failure in failures}
    assert "more than max_event_bytes (50)" in reasons[2]
    assert "cannot encode" in reasons[1]


def test_template_payloads_count_the_overhead_and_keep_surrogate_escaped_bytes() -> None:
    template = expressions.compile_template("$(data)")
    good, failures = event_payloads(
        [{"data": "ab\udcff"}, {"data": "abcd"}], template, 5, "limit", overhead=2
    )
    assert good == [(0, b"ab\xff")]
    assert failures[0].index == 1
    assert "is 6 bytes" in failures[0].error


def test_a_link_notices_the_peer_hung_up_and_reopens_before_sending() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    link = Link(lambda: open_inet("127.0.0.1", port, socket.SOCK_STREAM, 5))
    link.send_stream(b"first\n")
    first, _ = server.accept()
    assert first.recv(100) == b"first\n"
    first.close()  # the receiver restarts
    sock = link.socket()
    assert peer_closed(sock) is False  # already a new socket
    link.send_stream(b"second\n")
    second, _ = server.accept()
    assert second.recv(100) == b"second\n"
    second.close()
    server.close()
    link.close()


def test_sending_to_nobody_is_a_retriable_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    link = Link(lambda: open_inet("127.0.0.1", port, socket.SOCK_STREAM, 5))
    with pytest.raises(ConnectionRefusedError) as raised:
        link.send_stream(b"x")
    assert is_retriable(raised.value)


VALUES = st.recursive(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True),
        st.none(),
        st.booleans(),
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(st.lists(st.dictionaries(st.text(max_size=8), VALUES, max_size=5), max_size=8))
@settings(max_examples=100, deadline=None)
def test_payloads_account_for_every_event_whatever_it_holds(events: list[dict[str, Any]]) -> None:
    for template in (None, expressions.compile_template("$(data) $(x)")):
        good, failures = event_payloads(events, template, 300, "limit")
        indexes = sorted([index for index, _ in good] + [f.index for f in failures])
        assert indexes == list(range(len(events)))
        assert all(len(payload) <= 300 for _, payload in good)
