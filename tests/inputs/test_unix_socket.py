from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gp_celery.event import META, RECEIVED_FROM, SOURCE_MODULE
from gp_celery.framing import INVALID_UTF8
from gp_celery.testing import BuildError, build
from tests.inputs.conftest import EmitRecorder, ServeFactory, Serving, errors


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def listening(
    serve_input: ServeFactory, options: dict[str, Any], gate: threading.Event | None = None
) -> Serving:
    serving = serve_input("UnixSocket", options, gate=gate)

    def ready() -> bool:
        if serving.error is not None:
            raise serving.error
        return bool(serving.module.listening)

    wait_until(ready, 5)
    return serving


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} (Debian {package}) is needed; scripts/test installs it"
    return path


def test_stream_lines_from_nc(serve_input: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "in.sock"
    serving = listening(serve_input, {"path_to_socket": str(path)})
    lines = b"".join(
        b"http://en.wikipedia.org/wiki/Monty_Python/?gambol=%d\r\n" % n for n in range(5000)
    )
    subprocess.run(
        [tool("nc", "netcat-openbsd"), "-N", "-U", str(path)], input=lines, timeout=20, check=True
    )
    events = serving.emit.wait_for(5000)
    assert serving.emit.data == [
        f"http://en.wikipedia.org/wiki/Monty_Python/?gambol={n}" for n in range(5000)
    ]
    assert {event[META][RECEIVED_FROM] for event in events} == {str(path)}
    assert events[0][META][SOURCE_MODULE] == "UnixSocket"


def test_datagrams_from_logger(serve_input: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "dev-log"
    serving = listening(serve_input, {"path_to_socket": str(path), "socket_type": "datagram"})
    logger = tool("logger", "bsdutils")
    for number in range(3):
        subprocess.run(
            [logger, "-u", str(path), "--socket-errors=on", "-t", "app", f"message {number}"],
            timeout=10,
            check=True,
        )
    events = serving.emit.wait_for(3)
    assert [event["data"].endswith(f"app: message {n}") for n, event in enumerate(events)] == [
        True
    ] * 3
    assert events[0]["data"].startswith("<13>")
    assert {event[META][RECEIVED_FROM] for event in events} == {str(path)}


def test_socket_mode_is_set_and_the_file_removed_at_stop(
    serve_input: ServeFactory, tmp_path: Path
) -> None:
    path = tmp_path / "in.sock"
    serving = listening(serve_input, {"path_to_socket": str(path), "socket_mode": "0660"})
    status = path.stat()
    assert stat.S_ISSOCK(status.st_mode)
    assert stat.S_IMODE(status.st_mode) == 0o660
    serving.stop()
    assert not path.exists()


def test_a_stale_socket_file_is_replaced(serve_input: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "in.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(str(path))  # closed without removing its file: stale
    serving = listening(serve_input, {"path_to_socket": str(path)})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(path))
        client.sendall(b"after the stale one\n")
    assert serving.emit.wait_for(1)[0]["data"] == "after the stale one"


@pytest.mark.parametrize("occupant", ["live socket", "regular file"])
def test_a_path_in_use_is_left_alone_and_the_input_fails(tmp_path: Path, occupant: str) -> None:
    path = tmp_path / "in.sock"
    with contextlib.ExitStack() as stack:
        if occupant == "live socket":
            live = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            live.bind(str(path))
            live.listen()
        else:
            path.write_text("precious")
        module = build("UnixSocket", {"path_to_socket": str(path)})
        with pytest.raises(OSError, match=f"cannot listen on {path}"):
            asyncio.run(module.serve(EmitRecorder()))
        assert path.exists()
    if occupant == "regular file":
        assert path.read_text() == "precious"


HOSTILE = {
    "invalid UTF-8": (b"ok\n\xff\xfe bad\n", ["ok", "\ufffd\ufffd bad"], [[], [INVALID_UTF8]]),
    "NULs and binary": (b"a\x00b\n\x00\x80\n", ["a\x00b", "\x00\ufffd"], [[], [INVALID_UTF8]]),
    "oversize line": (
        b"x" * 3000 + b"\nnext",
        ["x" * 1000, "next"],
        [["line of 3000 bytes exceeds max_line_bytes=1000; truncated"], []],
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_streams_are_tagged_not_lost(
    serve_input: ServeFactory, tmp_path: Path, case: str
) -> None:
    raw, expected, tags = HOSTILE[case]
    path = tmp_path / "in.sock"
    serving = listening(serve_input, {"path_to_socket": str(path), "max_line_bytes": 1000})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(path))
        client.sendall(raw)
    events = serving.emit.wait_for(len(expected))
    assert serving.emit.settle() == events
    assert serving.emit.data == expected
    assert [errors(event) for event in events] == tags


def test_hostile_datagrams_are_tagged_not_lost(serve_input: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "dgram.sock"
    options = {"path_to_socket": str(path), "socket_type": "datagram", "max_datagram_bytes": 100}
    serving = listening(serve_input, options)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        for datagram in (b"y" * 5000, b"\xff\xfe", b"", b"  fine \n"):
            client.sendto(datagram, str(path))
    events = serving.emit.wait_for(4)
    assert serving.emit.data == ["y" * 100, "\ufffd\ufffd", "", "fine"]
    assert [errors(event) for event in events] == [
        ["datagram of 101 bytes exceeds max_datagram_bytes=100; truncated"],
        [INVALID_UTF8],
        [],
        [],
    ]


def test_a_slow_pipeline_makes_datagram_senders_wait_and_loses_nothing(
    serve_input: ServeFactory, tmp_path: Path
) -> None:
    path = tmp_path / "dgram.sock"
    gate = threading.Event()
    options = {"path_to_socket": str(path), "socket_type": "datagram"}
    serving = listening(serve_input, options, gate=gate)
    sent = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.connect(str(path))
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # the kernel holds the sender back
            while sent < 100_000:
                client.send(b"datagram %d" % sent)
                sent += 1
        assert sent < 100_000
        gate.set()
        client.setblocking(True)
        for number in range(sent, sent + 100):
            client.send(b"datagram %d" % number)
    events = serving.emit.wait_for(sent + 100)
    assert serving.emit.data == [f"datagram {n}" for n in range(sent + 100)]
    assert len(serving.emit.settle(0.1)) == len(events)


def test_stream_clients_beyond_max_connections_are_refused_and_counted(
    serve_input: ServeFactory, tmp_path: Path
) -> None:
    path = str(tmp_path / "in.sock")
    serving = listening(serve_input, {"path_to_socket": path, "max_connections": 3})
    held = []
    for number in range(3):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        sock.sendall(b"held %d\n" % number)
        held.append(sock)
    serving.emit.wait_for(3)
    for _ in range(20):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as extra:
            extra.connect(path)
            with contextlib.suppress(ConnectionResetError):
                assert extra.recv(10) == b""
    assert serving.module.stats.counts["refused_connections"] == 20
    for sock in held:
        sock.sendall(b"still served\n")
        sock.close()
    serving.emit.wait_for(6)
    assert serving.emit.data.count("still served") == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "path_to_socket"),
        ({"path_to_socket": "/tmp/x.sock", "socket_mode": 432}, "quote the mode"),
        ({"path_to_socket": "/tmp/x.sock", "socket_mode": "rw-"}, "octal mode"),
        ({"path_to_socket": "/" + "d" * 120}, "at most 107 bytes"),
        (
            {"path_to_socket": "/tmp/x.sock", "socket_type": "datagram", "mode": "syslog"},
            "'mode' applies to 'socket_type: stream' only",
        ),
    ],
)
def test_bad_options_are_refused_clearly(options: dict[str, object], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("UnixSocket", options)


def test_lumbermill_name_and_options_are_accepted(tmp_path: Path) -> None:
    module = build("input.UnixSocket", {"path_to_socket": str(tmp_path / "s")})
    assert module.name == "UnixSocket"
    assert os.fspath(module.options.path_to_socket).endswith("/s")
