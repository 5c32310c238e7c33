"""NmapScanner with Debian's real nmap, scanning only this host's loopback address."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from gp_celery.event import EVENT_TYPE, META, RECEIVED_FROM
from gp_celery.testing import BuildError, build
from gp_celery_inputs.nmap_scanner import PORT_FIELDS, hosts_of
from tests.conftest import wait_for
from tests.inputs.conftest import ServeFactory, run_to_end

REPORT = Path(__file__).parent / "data" / "nmap-os-detection.xml"
"""What nmap 7.93 reported for `nmap -oX - -O --osscan-limit -p 44033,1 127.0.0.1/32`
as root, with a server on port 44033 (OS detection takes ~13 s, too slow to run here)."""
FAST = {"network": "127.0.0.1", "netmask": "/32", "arguments": "-sT -Pn"}


@pytest.fixture
def open_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # free again once closed


def test_a_scan_of_this_host_finds_the_port_the_test_opened(open_port: int) -> None:
    closed = closed_port()
    options = {**FAST, "ports": f"{open_port},{closed}", "scans": 1}
    recorder = run_to_end(build("NmapScanner", options))
    (event,) = recorder.events
    assert event[META][EVENT_TYPE] == "nmap_scan"
    assert event[META][RECEIVED_FROM] == "127.0.0.1/32"
    assert event["addresses"] == {"ipv4": "127.0.0.1"}
    assert event["status"]["state"] == "up"
    assert event["tcp"][str(open_port)]["state"] == "open"
    assert event["tcp"][str(closed)]["state"] == "closed"


def test_a_syn_scan_as_root_finds_it_too(open_port: int) -> None:
    options = {**FAST, "arguments": "-sS -Pn", "ports": str(open_port), "scans": 1}
    (event,) = run_to_end(build("NmapScanner", options)).events
    found = event["tcp"][str(open_port)]
    assert (found["state"], found["reason"]) == ("open", "syn-ack")
    # The service is what nmap's table says of the port number, '' if it knows none.
    assert set(found) == {"state", "reason", *PORT_FIELDS}


def test_scans_repeat_every_interval(open_port: int) -> None:
    options = {**FAST, "ports": str(open_port), "scans": 3, "interval": 0.3}
    started = time.monotonic()
    recorder = run_to_end(build("NmapScanner", options))
    assert len(recorder.events) == 3
    assert time.monotonic() - started >= 0.6  # two intervals between three scans
    assert len({event[META]["event_id"] for event in recorder.events}) == 3


def test_os_detection_report_gives_the_most_accurate_match_and_the_uptime() -> None:
    (host,) = hosts_of(REPORT.read_bytes())
    assert host["detected_os"] == "Linux 5.0 - 5.2"  # accuracy 97, the highest
    assert host["uptime"] == {"seconds": "1", "lastboot": "Tue Dec  1 13:12:25 2026"}
    assert host["status"] == {"state": "up", "reason": "localhost-response"}
    assert host["hostnames"] == [{"name": "localhost", "type": "PTR"}]
    assert host["tcp"]["1"]["name"] == "tcpmux"
    assert host["tcp"]["44033"]["state"] == "open"
    assert "osmatch" not in host
    assert "portused" not in host


HOSTILE_REPORTS = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><nmaprun>&lol2;</nmaprun>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM '
    b'"file:///etc/passwd">]><nmaprun><host><hostnames><hostname name="&x;"/></hostnames>'
    b"</host></nmaprun>",
    "truncated": REPORT.read_bytes()[:700],
    "not nmap": b"<html><body>hello</body></html>",
    "garbage": b"\x00\xff\xfe garbage",
    "empty": b"",
}


@pytest.mark.parametrize("case", HOSTILE_REPORTS, ids=list(HOSTILE_REPORTS))
def test_a_hostile_or_broken_report_is_refused_never_expanded(case: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the parser's
        hosts_of(HOSTILE_REPORTS[case])


def test_a_failing_nmap_is_logged_counted_and_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = {**FAST, "arguments": "--no-such-option", "scans": 2, "interval": 0.1}
    module = build("NmapScanner", options)
    recorder = run_to_end(module)
    assert recorder.events == []
    assert module.stats.counts["failed_scans"] == 2
    assert module.stats.counts["scans"] == 2
    assert "nmap failed (exit status 255: " in caplog.text
    assert "no-such-option" in caplog.text


def test_stopping_during_a_scan_stops_nmap(serve_input: ServeFactory) -> None:
    options = {**FAST, "ports": "1-5", "arguments": "-sT -Pn --scan-delay 5s"}

    def scanning() -> list[psutil.Process]:
        return [child for child in psutil.Process().children() if child.name() == "nmap"]

    serving = serve_input("NmapScanner", options)
    wait_for(lambda: bool(scanning()), 10, "nmap to start")
    (nmap,) = scanning()
    serving.stop()
    assert not nmap.is_running() or nmap.status() == psutil.STATUS_ZOMBIE
    assert serving.emit.events == []


def test_lumbermill_options_are_accepted_as_written() -> None:
    module = build(
        "input.NmapScanner",
        {
            "network": "192.168.1.0",
            "netmask": "/24",
            "ports": None,
            "arguments": "-O -F --osscan-limit",
            "interval": 900,
        },
    )
    assert module.command() == [
        *("nmap", "-oX", "-", "-O", "-F", "--osscan-limit", "192.168.1.0/24"),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"network": "-iL /etc/passwd"}, "expected one address"),
        ({"network": "10.0.0.0; rm -rf /"}, "expected one address"),
        ({"network": "10.0.0.0", "netmask": "255.255.255.0"}, "prefix length"),
        ({"network": "10.0.0.0", "ports": "-oN /tmp/x"}, "port list"),
        ({"network": "10.0.0.0", "ports": "22"}, "set 'ports' or '-F'"),
        ({"network": "10.0.0.0", "arguments": "-sT 'unclosed"}, "cannot split"),
        ({"network": "10.0.0.0", "interval": 0}, "greater than 0"),
        ({}, "network"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, object], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("NmapScanner", options)


def test_a_missing_nmap_is_a_clear_error_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuildError, match=r"nmap is not installed \(Debian: apt-get install nmap\)"):
        build("NmapScanner", {"network": "127.0.0.1"})


def test_a_report_without_hosts_makes_no_events() -> None:
    assert hosts_of(b"<nmaprun><runstats/></nmaprun>") == []
