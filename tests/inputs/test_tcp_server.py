from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from gp_celery.event import META, RECEIVED_FROM, SOURCE_MODULE, TLS_CLIENT_CN
from gp_celery.framing import INVALID_UTF8
from gp_celery.testing import BuildError, build
from tests.inputs.conftest import EmitRecorder, ServeFactory, errors

LOCAL = {"interface": "127.0.0.1", "port": 0}


def send(port: int, payload: bytes) -> str:
    """Send, close the write side, wait for the server to close; return our 'ip:port'."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
        host, client_port = sock.getsockname()
        return f"{host}:{client_port}"


def test_line_mode_with_the_nc_client(serve_input: ServeFactory, tmp_path: Path) -> None:
    serving = serve_input("TcpServer", LOCAL)
    log = tmp_path / "lines.log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(1000)))
    with log.open("rb") as stdin:
        subprocess.run(
            ["nc", "-N", "127.0.0.1", str(serving.port)], stdin=stdin, timeout=10, check=True
        )
    events = serving.emit.wait_for(1000)
    assert [event["data"] for event in events] == [f"line {n}" for n in range(1000)]
    assert events[0][META][SOURCE_MODULE] == "TcpServer"
    assert events[0][META][RECEIVED_FROM].startswith("127.0.0.1:")


def test_lines_are_stripped_and_the_last_partial_line_is_sent(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", LOCAL)
    peer = send(serving.port, b"  one \r\ntwo\n\n   \nthree")
    events = serving.emit.wait_for(3)
    assert serving.emit.data == ["one", "two", "three"]
    assert {event[META][RECEIVED_FROM] for event in events} == {peer}


def test_fifty_concurrent_clients_lose_nothing(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", LOCAL)
    port, sent = serving.port, {}
    barrier = threading.Barrier(50)

    def client(number: int) -> None:
        lines = [f"client {number} line {n} {'z' * (n % 50)}." for n in range(200)]
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            barrier.wait()
            payload = "".join(line + "\n" for line in lines).encode()
            for start in range(0, len(payload), 997):  # writes that cut lines anywhere
                sock.sendall(payload[start : start + 997])
            host, client_port = sock.getsockname()
            sent[f"{host}:{client_port}"] = lines
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(4096):
                pass

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    events = serving.emit.wait_for(10_000)
    assert len(serving.emit.settle()) == 10_000
    received = defaultdict(list)
    for event in events:
        received[event[META][RECEIVED_FROM]].append(event["data"])
    assert received == sent


def test_stream_mode_events_are_chunks_that_give_back_the_bytes(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", {**LOCAL, "mode": "stream", "chunksize": 1000})
    documents = [{"n": n, "blob": bytes(range(256)), "text": "é\n"} for n in range(100)]
    payload = b"".join(msgpack.packb(document) for document in documents)
    send(serving.port, payload)
    events = serving.emit.settle()
    chunks = [event["data"].encode("utf-8", "surrogateescape") for event in events]
    assert all(len(chunk) <= 1000 for chunk in chunks)
    assert not any(errors(event) for event in events)  # binary is expected in stream mode
    assert b"".join(chunks) == payload
    unpacker = msgpack.Unpacker()
    unpacker.feed(b"".join(chunks))
    assert list(unpacker) == documents


def test_regex_separator_splits_lines(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", {**LOCAL, "regex_separator": r"[;|]\s*"})
    send(serving.port, b"a; b|c;d")
    serving.emit.wait_for(4)
    assert serving.emit.data == ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS test needs the openssl command line tool; install openssl")
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


def test_tls_clients_are_served(serve_input: ServeFactory, certificate: tuple[Path, Path]) -> None:
    key, cert = certificate
    serving = serve_input("TcpServer", {**LOCAL, "tls": True, "key": str(key), "cert": str(cert)})
    context = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(("127.0.0.1", serving.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(b"secret one\nsecret two\n")
        events = serving.emit.wait_for(2)
    assert serving.emit.data == ["secret one", "secret two"]
    assert TLS_CLIENT_CN not in events[0][META]  # no client certificate asked for


def test_tls_server_refuses_plain_text(
    serve_input: ServeFactory, certificate: tuple[Path, Path]
) -> None:
    key, cert = certificate
    serving = serve_input("TcpServer", {**LOCAL, "tls": True, "key": str(key), "cert": str(cert)})
    send(serving.port, b"not tls\n")
    assert serving.emit.settle() == []


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def client_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a client certificate it signed, and one it did not."""
    directory = tmp_path_factory.mktemp("ca")
    paths = {name: directory / f"{name}.pem" for name in ("ca", "ca-key", "key", "csr", "cert")}
    openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test ca"),
        *("-keyout", str(paths["ca-key"]), "-out", str(paths["ca"])),
    )
    openssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client"),
        *("-keyout", str(paths["key"]), "-out", str(paths["csr"])),
    )
    openssl(
        *("x509", "-req", "-in", str(paths["csr"]), "-CA", str(paths["ca"])),
        *("-CAkey", str(paths["ca-key"]), "-CAcreateserial", "-days", "1"),
        *("-out", str(paths["cert"])),
    )
    paths["stranger-key"], paths["stranger"] = directory / "s-key.pem", directory / "s.pem"
    openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=client"),
        *("-keyout", str(paths["stranger-key"]), "-out", str(paths["stranger"])),
    )
    return paths


def tls_send(port: int, context: ssl.SSLContext, payload: bytes) -> None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass


def client_context(
    server_cert: Path, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server_cert))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_cacert_serves_only_clients_with_a_certificate_the_ca_signed(
    serve_input: ServeFactory, certificate: tuple[Path, Path], client_ca: dict[str, Path]
) -> None:
    key, cert = certificate
    options = {**LOCAL, "tls": True, "key": str(key), "cert": str(cert)}
    serving = serve_input("TcpServer", {**options, "cacert": str(client_ca["ca"])})
    signed = client_context(cert, client_ca["cert"], client_ca["key"])
    tls_send(serving.port, signed, b"with a signed certificate\n")
    assert serving.emit.wait_for(1)[0][META][TLS_CLIENT_CN] == "client"
    for refused in (
        client_context(cert),  # no certificate
        client_context(cert, client_ca["stranger"], client_ca["stranger-key"]),
    ):
        # Under TLS 1.3 the client may finish its side before the server's alert arrives,
        # so whether the client sees an error varies; what the server accepts does not.
        with contextlib.suppress(OSError):
            tls_send(serving.port, refused, b"without\n")
    serving.emit.settle()
    assert serving.emit.data == ["with a signed certificate"]


def test_tls_proto_is_the_oldest_version_accepted(
    serve_input: ServeFactory, certificate: tuple[Path, Path]
) -> None:
    key, cert = certificate
    options = {**LOCAL, "tls": True, "key": str(key), "cert": str(cert), "tls_proto": "TLSv1_3"}
    serving = serve_input("TcpServer", options)
    old = client_context(cert)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):  # the server ends the handshake
        tls_send(serving.port, old, b"over TLS 1.2\n")
    tls_send(serving.port, client_context(cert), b"over TLS 1.3\n")
    serving.emit.wait_for(1)
    serving.emit.settle()
    assert serving.emit.data == ["over TLS 1.3"]


def test_encoding_decodes_the_clients_text(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", {**LOCAL, "encoding": "latin-1"})
    send(serving.port, "café\nnaïve £5\n".encode("latin-1"))
    events = serving.emit.wait_for(2)
    assert serving.emit.data == ["café", "naïve £5"]
    assert not any(errors(event) for event in events)


def test_an_idle_client_is_closed_and_its_partial_line_sent(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", {**LOCAL, "timeout": 0.3})
    with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as sock:
        sock.sendall(b"whole\nhalf")
        started = time.monotonic()
        assert sock.recv(10) == b""  # the server closed the connection
        assert 0.2 < time.monotonic() - started < 5
    serving.emit.wait_for(2)
    assert serving.emit.data == ["whole", "half"]


def test_stopping_flushes_each_client_and_closes_it(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", LOCAL)
    clients = [socket.create_connection(("127.0.0.1", serving.port), timeout=10) for _ in range(3)]
    for number, sock in enumerate(clients):
        sock.sendall(b"done %d\npending %d" % (number, number))
    serving.emit.wait_for(3)
    serving.stop()
    assert sorted(serving.emit.data) == [
        "done 0",
        "done 1",
        "done 2",
        "pending 0",
        "pending 1",
        "pending 2",
    ]
    for sock in clients:
        assert sock.recv(10) == b""
        sock.close()


def test_a_slow_emit_stops_reading_from_the_client(serve_input: ServeFactory) -> None:
    gate = threading.Event()
    serving = serve_input("TcpServer", LOCAL, gate=gate)
    line = b"x" * 99 + b"\n"
    block, pending, total = line * 1000, b"", 0
    with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as sock:
        sock.setblocking(False)
        blocked_since = time.monotonic()
        while time.monotonic() - blocked_since < 0.5:
            try:
                sent = sock.send(pending or block)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            pending, total = (pending or block)[sent:], total + sent
            blocked_since = time.monotonic()
        assert total < 64 << 20  # TCP flow control held the client back
        gate.set()
        sock.setblocking(True)
        sock.sendall(pending)
        total += len(pending)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
    lines = total // len(line)
    assert len(serving.emit.wait_for(lines, timeout=30)) == lines
    assert len(serving.emit.settle()) == lines


HOSTILE = {
    "invalid UTF-8": (b"ok\n\xff\xfe bad\nok\n", ["ok", "\ufffd\ufffd bad", "ok"], [1]),
    "NULs and binary": (b"a\x00b\n\x00\x01\x02\x80\n", ["a\x00b", "\x00\x01\x02\ufffd"], [1]),
    "empty lines": (b"\n\n \r\n\t\nx\n", ["x"], []),
    "half a line then close": (b"complete\nhalf a li", ["complete", "half a li"], []),
    "connect and disconnect": (b"", [], []),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_input_is_data_and_tagged_not_lost(serve_input: ServeFactory, case: str) -> None:
    raw, expected, tagged = HOSTILE[case]
    serving = serve_input("TcpServer", LOCAL)
    send(serving.port, raw)
    events = serving.emit.settle()
    assert [event["data"] for event in events] == expected
    assert [i for i, event in enumerate(events) if errors(event)] == tagged
    assert all(errors(events[i]) == [INVALID_UTF8] for i in tagged)
    assert serving.error is None


def test_a_huge_line_is_one_truncated_event_in_bounded_memory(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", LOCAL)
    piece = b"g" * (64 << 10)
    tracemalloc.start()
    try:
        with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as sock:
            for _ in range(80):  # 5 MiB without a newline
                sock.sendall(piece)
            sock.sendall(b"\nnext")
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(4096):
                pass
        events = serving.emit.wait_for(2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [len(event["data"]) for event in events] == [1 << 20, 4]
    assert errors(events[0]) == [
        f"line of {80 << 16} bytes exceeds max_line_bytes=1048576; truncated"
    ]
    assert peak < 6 << 20


def test_bind_failure_names_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        module = build("TcpServer", {"interface": "127.0.0.1", "port": port})
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            asyncio.run(module.serve(EmitRecorder()))


def test_gambolputty_options_are_accepted_as_written() -> None:
    options = {
        "interface": "", "port": 5151, "timeout": None, "tls": False, "key": False,
        "cert": False, "mode": "line", "simple_separator": "\n", "regex_separator": None,
        "chunksize": 16384, "max_buffer_size": 10240,
    }  # fmt: skip
    assert build("input.Tcp", options).options.line_limit() == 10240 * 10240


@pytest.mark.parametrize(
    ("options", "limit"),
    [
        ({}, 1 << 20),
        ({"max_buffer_size": 2}, 20480),
        ({"max_buffer_size": 2, "max_line_bytes": 5}, 5),
    ],
)
def test_line_limit_comes_from_max_line_bytes_or_max_buffer_size(
    options: dict[str, int], limit: int
) -> None:
    assert build("TcpServer", options).options.line_limit() == limit


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tls": True, "key": "k.pem"}, "set 'key' and 'cert' when 'tls' is true"),
        ({"regex_separator": "("}, "bad regular expression"),
        ({"regex_separator": "x*"}, "must not match the empty string"),
        ({"simple_separator": ""}, "simple_separator"),
        ({"mode": "chunk"}, "mode"),
    ],
)
def test_bad_options_are_refused_clearly(options: dict[str, object], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("TcpServer", options)


def peer_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def test_interface_empty_is_one_socket_for_ipv4_and_ipv6(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", {"interface": "", "port": 0})
    peers = []
    for host in ("127.0.0.1", "::1"):
        with socket.create_connection((host, serving.port), timeout=10) as sock:
            sock.sendall(f"over {host}\n".encode())
            peers.append(peer_of(sock))
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(10) == b""
    events = serving.emit.wait_for(2)
    assert serving.emit.data == ["over 127.0.0.1", "over ::1"]
    assert [event[META][RECEIVED_FROM] for event in events] == peers
    assert peers[0].startswith("127.0.0.1:")
    assert peers[1].startswith("[::1]:")


def test_an_ipv6_address_listens_on_ipv6_alone(serve_input: ServeFactory) -> None:
    serving = serve_input("TcpServer", {"interface": "::1", "port": 0})
    with socket.create_connection(("::1", serving.port), timeout=10) as sock:
        sock.sendall(b"six\n")
    assert serving.emit.wait_for(1)[0]["data"] == "six"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", serving.port), timeout=10).close()


def test_refused_client_certificates_are_counted(
    serve_input: ServeFactory, certificate: tuple[Path, Path], client_ca: dict[str, Path]
) -> None:
    key, cert = certificate
    options = {**LOCAL, "tls": True, "key": str(key), "cert": str(cert)}
    serving = serve_input("TcpServer", {**options, "cacert": str(client_ca["ca"])})
    module = serving.module
    for refused in (
        client_context(cert),
        client_context(cert, client_ca["stranger"], client_ca["stranger-key"]),
    ):
        with contextlib.suppress(OSError):
            tls_send(serving.port, refused, b"refused\n")
    wait_until(lambda: module.stats.counts["tls_refused"] == 2)
    command = [
        *("openssl", "s_client", "-connect", f"127.0.0.1:{serving.port}", "-quiet"),
        *("-CAfile", str(cert), "-cert", str(client_ca["cert"]), "-key", str(client_ca["key"])),
    ]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL) as client:
        assert client.stdin is not None
        client.stdin.write(b"from openssl s_client\n")
        client.stdin.flush()
        event = serving.emit.wait_for(1)[0]
        client.kill()
    assert serving.emit.data == ["from openssl s_client"]
    assert event[META][TLS_CLIENT_CN] == "client"
    assert module.stats.counts["tls_refused"] == 2


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_tls_handshake_garbage_is_counted_and_the_port_serves_on(
    serve_input: ServeFactory, certificate: tuple[Path, Path]
) -> None:
    key, cert = certificate
    serving = serve_input("TcpServer", {**LOCAL, "tls": True, "key": str(key), "cert": str(cert)})
    garbage = [b"\x16\x03\x01\xff\xff" + bytes(range(256)) * 40, b"GET / HTTP/1.0\r\n\r\n"]
    for payload in garbage:
        with contextlib.suppress(OSError):
            send(serving.port, payload)
    wait_until(lambda: serving.module.stats.counts["tls_refused"] == 2)
    tls_send(serving.port, client_context(cert), b"still served\n")
    serving.emit.wait_for(1)
    assert serving.emit.data == ["still served"]
    assert serving.error is None


def test_a_silent_tls_client_is_closed_after_timeout_and_counted(
    serve_input: ServeFactory, certificate: tuple[Path, Path]
) -> None:
    key, cert = certificate
    options = {**LOCAL, "tls": True, "key": str(key), "cert": str(cert), "timeout": 0.3}
    serving = serve_input("TcpServer", options)
    with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as sock:
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""  # no handshake: the server gave up on it
        assert time.monotonic() - started < 5
    wait_until(lambda: serving.module.stats.counts["tls_refused"] == 1)
    assert serving.emit.events == []


def test_a_flood_beyond_max_connections_is_refused_and_counted(
    serve_input: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gp_celery")
    serving = serve_input("TcpServer", {**LOCAL, "max_connections": 10})
    module, port = serving.module, serving.port
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(10)]
    for number, sock in enumerate(held):
        sock.sendall(b"held %d\n" % number)
    serving.emit.wait_for(10)
    flood = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(200)]
    wait_until(lambda: module.stats.counts["refused_connections"] == 200)
    for sock in flood:
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""  # closed by the server, nothing read
        sock.close()
    assert len(module._clients) == 10
    for number, sock in enumerate(held):  # the clients already connected are served on
        sock.sendall(b"again %d\n" % number)
        sock.close()
    serving.emit.wait_for(20)
    send(port, b"after the flood\n")
    serving.emit.wait_for(21)
    assert sorted(serving.emit.data) == sorted(
        [f"held {n}" for n in range(10)] + [f"again {n}" for n in range(10)] + ["after the flood"]
    )
    serving.stop()
    assert "stopped listening on 127.0.0.1:0 (refused_connections 200)." in caplog.text


def test_half_open_clients_are_closed_after_timeout_and_free_their_place(
    serve_input: ServeFactory,
) -> None:
    serving = serve_input("TcpServer", {**LOCAL, "timeout": 0.5, "max_connections": 2})
    module, port = serving.module, serving.port
    # Clients that vanished without a FIN: they hold their connection and send nothing.
    vanished = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    for sock in vanished:
        sock.sendall(b"last words without a newline")
    wait_until(lambda: len(module._clients) == 2)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as third,
        contextlib.suppress(ConnectionResetError),
    ):
        assert third.recv(10) == b""
    assert module.stats.counts["refused_connections"] == 1
    wait_until(lambda: module.stats.counts["idle_closed"] == 2)
    send(port, b"served once they are gone\n")
    serving.emit.wait_for(3)
    assert sorted(serving.emit.data) == [
        "last words without a newline",
        "last words without a newline",
        "served once they are gone",
    ]
    for sock in vanished:
        sock.close()


def test_clients_are_probed_with_tcp_keepalive(serve_input: ServeFactory) -> None:
    ss = shutil.which("ss")
    assert ss, "ss (Debian iproute2) is needed; scripts/test installs it"
    serving = serve_input("TcpServer", LOCAL)
    with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as sock:
        sock.sendall(b"hello\n")
        serving.emit.wait_for(1)
        filter_ = f"( sport = :{serving.port} )"
        shown = subprocess.run(
            [ss, "-tnoH", "state", "established", filter_],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    assert "timer:(keepalive," in shown, shown
