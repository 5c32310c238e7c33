"""TcpServer ``mode: syslog`` on a real socket: RFC 6587 frames from real clients."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess

import pytest

from gp_celery.framing.syslog import BAD_LENGTH
from tests.inputs.conftest import ServeFactory, errors

SYSLOG = {"interface": "127.0.0.1", "port": 0, "mode": "syslog"}


def counted(text: str) -> bytes:
    body = text.encode()
    return str(len(body)).encode() + b" " + body


def send(port: int, *parts: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for part in parts:
            sock.sendall(part)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass


def test_logger_octet_counted_frames_keep_their_newlines(serve_input: ServeFactory) -> None:
    logger = shutil.which("logger")
    assert logger, "logger (Debian bsdutils) is needed; scripts/test installs it"
    serving = serve_input("TcpServer", SYSLOG)
    subprocess.run(
        [
            logger,
            "--rfc5424",
            "--octet-count",
            "-T",
            "-n",
            "127.0.0.1",
            "-P",
            str(serving.port),
            "-t",
            "app",
            "two\nlines",
        ],
        check=True,
        timeout=30,
    )
    [event] = serving.emit.wait_for(1)
    assert event["data"].startswith("<13>1 ")
    assert event["data"].endswith(' app - - [timeQuality tzKnown="1" isSynced="0"] two\nlines')
    assert errors(event) == []


def test_a_bad_length_is_tagged_warned_and_the_stream_goes_on(
    serve_input: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    serving = serve_input("TcpServer", SYSLOG)
    with caplog.at_level(logging.WARNING):
        send(serving.port, b"12x <13>no length\n", counted("<13>1 - - - - - - fine"))
        events = serving.emit.wait_for(2)
    assert serving.emit.data == ["12x <13>no length", "<13>1 - - - - - - fine"]
    assert errors(events[0]) == [f"syslog frame {BAD_LENGTH}"]
    assert errors(events[1]) == []
    assert "TcpServer: client 127.0.0.1:" in caplog.text
    assert "a syslog frame starts with a digit but has no valid octet count" in caplog.text


def test_a_length_above_max_line_bytes_is_truncated_and_tagged(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", {**SYSLOG, "max_line_bytes": 1000})
    big = "<13>1 - - - - - - " + "x" * 200_000
    send(serving.port, counted(big)[:70_000], counted(big)[70_000:], counted("<13>after"))
    events = serving.emit.wait_for(2)
    assert serving.emit.data == [big[:1000], "<13>after"]
    assert errors(events[0]) == [
        f"syslog frame of {len(big)} bytes exceeds max_line_bytes=1000; truncated"
    ]
