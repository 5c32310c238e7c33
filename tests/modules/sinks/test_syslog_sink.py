"""SyslogSink: exact RFC 3164/5424 bytes, and a real syslog-ng receiving them over
octet-counted TCP, newline-framed TCP, UDP and a unix datagram socket."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from gp_celery.event import HOSTNAME
from gp_celery.modules.sinks.syslog_sink.frames import frame, header, priority
from gp_celery.testing import BuildError, build, run
from tests.modules.sinks.servers import SyslogNg

NOW = 1_764_586_740.25  # 2025-12-01T10:59:00.25Z


def test_priority_is_facility_times_eight_plus_severity() -> None:
    assert priority(1, 6) == b"<14>"
    assert priority(23, 0) == b"<184>"


def test_rfc3164_header_is_local_time_host_and_tag_with_pid() -> None:
    local = time.localtime(NOW)
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    month = months[local.tm_mon - 1]
    clock = time.strftime("%H:%M:%S", local)
    expected = f"<14>{month} {local.tm_mday:2d} {clock} web1 app[42]: "
    assert header(3164, b"<14>", NOW, hostname="web1", app_name="app", pid=42) == expected.encode()


def test_rfc5424_header_is_utc_with_microseconds_and_no_structured_data() -> None:
    assert header(5424, b"<14>", NOW, hostname="web1", app_name="app", pid=42) == (
        b"<14>1 2025-12-01T10:59:00.250000Z web1 app 42 - - "
    )


def test_framing_counts_octets_or_ends_with_a_newline() -> None:
    assert frame("héllo\nx".encode(), "octet_counting") == b"8 h\xc3\xa9llo\nx"
    assert frame(b"hello", "newline") == b"hello\n"


def sink(server: SyslogNg, **options: Any) -> Any:
    options.setdefault("address", f"127.0.0.1:{server.tcp_port}")
    options.setdefault("format", "$(data)")
    return build("SyslogSink", options)


def test_tcp_octet_counted_rfc3164_reaches_syslog_ng_whole(syslog_ng: SyslogNg) -> None:
    events = [{"data": "first"}, {"data": "two\nlines"}, {"data": "third"}]
    assert run(sink(syslog_ng, facility="local3", severity="warning"), events) == []
    records = syslog_ng.wait_for_records(3)
    assert [r.message for r in records] == ["first", "two\nlines", "third"]
    first = records[0]
    assert (first.facility, first.level, first.program) == ("local3", "warning", "gp-celery")
    assert first.host == HOSTNAME
    assert first.pid == str(os.getpid())


def test_tcp_octet_counted_rfc5424_reaches_syslog_ng(syslog_ng: SyslogNg) -> None:
    module = sink(syslog_ng, rfc=5424, hostname="web1", app_name="nginx", format="$(a) $(b)")
    assert run(module, [{"a": "GET", "b": "/x"}]) == []
    (record,) = syslog_ng.wait_for_records(1)
    assert (record.host, record.program, record.message) == ("web1", "nginx", "GET /x")
    assert (record.facility, record.level) == ("user", "info")


def test_udp_sends_one_datagram_per_message(syslog_ng: SyslogNg) -> None:
    module = sink(syslog_ng, address=f"127.0.0.1:{syslog_ng.udp_port}", proto="udp", rfc=5424)
    assert run(module, [{"data": "u1"}, {"data": "u2"}]) == []
    assert sorted(r.message for r in syslog_ng.wait_for_records(2)) == ["u1", "u2"]


def test_unix_datagram_socket_path(syslog_ng: SyslogNg) -> None:
    module = sink(syslog_ng, address=syslog_ng.unix_path)
    assert run(module, [{"data": "via unix"}]) == []
    (record,) = syslog_ng.wait_for_records(1)
    assert (record.message, record.program) == ("via unix", "gp-celery")


def test_unix_stream_socket_with_newline_framing(syslog_ng: SyslogNg) -> None:
    module = sink(syslog_ng, address=syslog_ng.unix_stream_path, framing="newline")
    assert run(module, [{"data": "s1"}, {"data": "s2"}]) == []
    assert [r.message for r in syslog_ng.wait_for_records(2)] == ["s1", "s2"]


def test_newline_framing_fails_messages_with_a_newline_only(syslog_ng: SyslogNg) -> None:
    module = sink(syslog_ng, address=f"127.0.0.1:{syslog_ng.text_port}", framing="newline")
    failed = run(module, [{"data": "a\nb"}, {"data": "plain"}])
    assert len(failed) == 1
    assert "newline" in failed[0]["gambolputty"]["errors"][0]["reason"]
    assert [r.message for r in syslog_ng.wait_for_records(1)] == ["plain"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"data": "x" * 5000}, "more than max_message_bytes (1000)"),
        ({"data": 10**5000}, "cannot encode"),
    ],
)
def test_hostile_events_fail_alone(syslog_ng: SyslogNg, event: dict[str, Any], reason: str) -> None:
    failed = run(sink(syslog_ng, max_message_bytes=1000), [event, {"data": "ok"}])
    assert len(failed) == 1
    assert reason in failed[0]["gambolputty"]["errors"][0]["reason"]
    assert [r.message for r in syslog_ng.wait_for_records(1)] == ["ok"]


def test_udp_caps_messages_at_the_datagram_maximum(syslog_ng: SyslogNg) -> None:
    module = sink(syslog_ng, address=f"127.0.0.1:{syslog_ng.udp_port}", proto="udp")
    failures = module.write([{"data": "x" * 70_000}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False)]
    assert "(65507)" in failures[0].error


def test_receiver_down_is_retriable_and_a_restart_heals(syslog_ng: SyslogNg) -> None:
    module = sink(syslog_ng, timeout_secs=2)
    assert module.write([{"data": "before"}]) == []
    syslog_ng.wait_for_records(1)
    syslog_ng.stop()
    failures = module.write([{"data": "during"}, {"data": "during"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, True), (1, True)]
    syslog_ng.start()
    assert module.write([{"data": "after"}]) == []  # the closed connection is noticed
    assert [r.message for r in syslog_ng.wait_for_records(2)] == ["before", "after"]


def test_a_missing_unix_socket_is_retriable(tmp_path: Any) -> None:
    module = build("SyslogSink", {"format": "$(data)", "address": str(tmp_path / "none.sock")})
    failures = module.write([{"data": "x"}])
    assert [f.retriable for f in failures] == [True]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"facility": "nosuch"}, "unknown facility"),
        ({"severity": "loud"}, "unknown severity"),
        ({"rfc": 3339}, "rfc"),
        ({"app_name": "two words"}, "app_name"),
        ({"address": "host:0"}, "port"),
        ({"proto": "sctp"}, "proto"),
    ],
)
def test_options_are_checked_at_load(options: dict[str, Any], words: str) -> None:
    with pytest.raises(BuildError, match=words):
        build("SyslogSink", {"format": "$(data)", **options})


def test_format_is_required_and_the_lumbermill_name_works() -> None:
    with pytest.raises(BuildError, match="format"):
        build("SyslogSink", {})
    assert build("output.Syslog", {"format": "x"}).name == "SyslogSink"


def test_rfc3164_without_hostname_is_the_local_socket_form() -> None:
    assert header(3164, b"<14>", NOW, hostname=None, app_name="app", pid=7).endswith(b" app[7]: ")
    assert b" - app 7 - - " in header(5424, b"<14>", NOW, hostname=None, app_name="app", pid=7)
