"""A WebHDFS stand-in: NOT Hadoop. Just enough of the documented REST protocol to test
WebHdfsSink against real HTTP, since no HDFS installs here.

It follows the WebHDFS REST API (hadoop-hdfs WebHDFS.html): a "namenode" and a "datanode",
two HTTP servers on free loopback ports, with files kept in memory.

- ``PUT /webhdfs/v1/<path>?op=CREATE[&overwrite=true|false]``: the namenode answers
  ``307 Temporary Redirect`` with a datanode ``Location`` and takes no data; the client
  then ``PUT``s the data there: ``201 Created``. Missing parent directories are created.
  An existing file without ``overwrite=true``: ``403 FileAlreadyExistsException``.
- ``POST /webhdfs/v1/<path>?op=APPEND``: ``307`` to the datanode, then ``POST`` the data
  there: ``200 OK``. A missing file: ``404 FileNotFoundException``.
- ``GET ?op=OPEN`` (307, then the data), ``GET ?op=GETFILESTATUS``, ``PUT ?op=MKDIRS``.
- A request without ``user.name``: ``401 SecurityException`` (simple authentication).
- A first step that carries data: ``400`` (the protocol sends data only after the redirect).
- Errors are JSON ``{"RemoteException": {"exception", "javaClassName", "message"}}``.

Faults on demand: ``inject(op, status, exception)`` makes the next request(s) of that op
(on the namenode) fail with that RemoteException; ``reset_next_data()`` makes the next
data step hang up after reading the body, without an answer.

Run it alone with ``python -m tests.stand_ins.webhdfs`` (prints its namenode URL).
"""

from __future__ import annotations

import json
import posixpath
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

PREFIX = "/webhdfs/v1"

JAVA_CLASSES = {
    "FileNotFoundException": "java.io.FileNotFoundException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "SecurityException": "java.lang.SecurityException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
}


@dataclass
class Fault:
    status: int
    exception: str
    times: int


@dataclass
class HdfsState:
    """What the stand-in holds and saw, shared by its two servers."""

    files: dict[str, bytearray] = field(default_factory=dict)
    directories: set[str] = field(default_factory=lambda: {"/"})
    requests: list[tuple[str, str, str, int]] = field(default_factory=list)
    """(server, method, op, body length) per request, in order."""
    faults: dict[str, Fault] = field(default_factory=dict)
    reset_data: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def state(self) -> HdfsState:
        return self.server.state

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def _remote(self, status: int, exception: str, message: str) -> None:
        java = JAVA_CLASSES.get(exception, f"org.apache.hadoop.hdfs.{exception}")
        error = {"exception": exception, "javaClassName": java, "message": message}
        self._reply(status, json.dumps({"RemoteException": error}).encode())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _parse(self) -> tuple[str, dict[str, str]] | None:
        parts = urlsplit(self.path)
        if not parts.path.startswith(PREFIX):
            self._remote(404, "FileNotFoundException", f"not a WebHDFS path: {parts.path}")
            return None
        path = posixpath.normpath("/" + unquote(parts.path[len(PREFIX) :]).lstrip("/"))
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return path, query

    def _handle(self) -> None:
        body = self._body()
        parsed = self._parse()
        if parsed is None:
            return
        path, query = parsed
        op = query.get("op", "").upper()
        with self.state.lock:
            self.state.requests.append((self.server.role, self.command, op, len(body)))
        if "user.name" not in query:
            self._remote(401, "SecurityException", "Failed to obtain user group information")
        elif self.server.role == "namenode":
            self._namenode(self.command, op, path, query, body)
        else:
            self._datanode(self.command, op, path, query, body)

    do_GET = do_PUT = do_POST = _handle  # noqa: N815 - http.server's method names

    def _fault(self, op: str) -> Fault | None:
        with self.state.lock:
            fault = self.state.faults.get(op)
            if fault is None:
                return None
            fault.times -= 1
            if fault.times <= 0:
                del self.state.faults[op]
            return fault

    def _namenode(
        self, method: str, op: str, path: str, query: dict[str, str], body: bytes
    ) -> None:
        if fault := self._fault(op):
            self._remote(fault.status, fault.exception, f"injected {fault.exception}")
            return
        state = self.state
        if op in ("CREATE", "APPEND", "OPEN") and body:
            self._remote(400, "IllegalArgumentException", "data sent before the redirect")
        elif (method, op) == ("PUT", "CREATE"):
            if path in state.files and query.get("overwrite", "false") != "true":
                self._remote(403, "FileAlreadyExistsException", f"{path} already exists")
            elif path in state.directories:
                self._remote(403, "FileAlreadyExistsException", f"{path} is a directory")
            else:
                self._redirect(op, path, query)
        elif (method, op) in (("POST", "APPEND"), ("GET", "OPEN")):
            if path not in state.files:
                self._remote(404, "FileNotFoundException", f"File does not exist: {path}")
            else:
                self._redirect(op, path, query)
        elif (method, op) == ("GET", "GETFILESTATUS"):
            self._file_status(path)
        elif (method, op) == ("PUT", "MKDIRS"):
            with state.lock:
                state.directories.update(_parents(path + "/x"))
            self._reply(200, b'{"boolean": true}')
        else:
            self._remote(400, "IllegalArgumentException", f"Invalid value for op: {op}")

    def _redirect(self, op: str, path: str, query: dict[str, str]) -> None:
        host, port = self.server.datanode_address
        params = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
        location = f"http://{host}:{port}{PREFIX}{quote(path)}?{params}&namenoderpcaddress=nn"
        self._reply(307, b"", {"Location": location})

    def _file_status(self, path: str) -> None:
        state = self.state
        if path in state.files:
            status = {"type": "FILE", "length": len(state.files[path]), "pathSuffix": ""}
        elif path in state.directories:
            status = {"type": "DIRECTORY", "length": 0, "pathSuffix": ""}
        else:
            self._remote(404, "FileNotFoundException", f"File does not exist: {path}")
            return
        self._reply(200, json.dumps({"FileStatus": status}).encode())

    def _datanode(
        self, method: str, op: str, path: str, query: dict[str, str], body: bytes
    ) -> None:
        state = self.state
        with state.lock:
            if op in ("CREATE", "APPEND") and state.reset_data:
                state.reset_data -= 1
                self.close_connection = True
                return  # hang up without an answer
            if (method, op) == ("PUT", "CREATE"):
                state.directories.update(_parents(path))
                state.files[path] = bytearray(body)
                location = f"hdfs://nn{quote(path)}"
                self._reply(201, b"", {"Location": location})
            elif (method, op) == ("POST", "APPEND") and path in state.files:
                state.files[path] += body
                self._reply(200)
            elif (method, op) == ("GET", "OPEN") and path in state.files:
                self._reply(200, bytes(state.files[path]))
            else:
                self._remote(400, "IllegalArgumentException", f"bad datanode request: {op}")


def _parents(path: str) -> set[str]:
    parents, parent = set(), posixpath.dirname(path)
    while parent not in ("", "/"):
        parents.add(parent)
        parent = posixpath.dirname(parent)
    return parents | {"/"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, role: str, state: HdfsState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.role = role
        self.state = state
        self.datanode_address: tuple[str, int] = ("127.0.0.1", 0)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up is a test doing it on purpose


class WebHdfsStandIn:
    """The stand-in's two servers, started in threads; ``url`` is the namenode's."""

    def __init__(self) -> None:
        self.state = HdfsState()
        self._namenode = _Server("namenode", self.state)
        self._datanode = _Server("datanode", self.state)
        self._namenode.datanode_address = ("127.0.0.1", self._datanode.server_address[1])
        self._threads = [
            threading.Thread(target=server.serve_forever, name=f"webhdfs-{server.role}")
            for server in (self._namenode, self._datanode)
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @property
    def port(self) -> int:
        return int(self._namenode.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def read(self, path: str) -> bytes:
        with self.state.lock:
            return bytes(self.state.files[path])

    def files(self) -> dict[str, bytes]:
        with self.state.lock:
            return {path: bytes(data) for path, data in self.state.files.items()}

    def inject(self, op: str, status: int, exception: str, times: int = 1) -> None:
        """The next ``times`` namenode requests of ``op`` fail with this RemoteException."""
        with self.state.lock:
            self.state.faults[op] = Fault(status, exception, times)

    def reset_next_data(self, times: int = 1) -> None:
        """The next ``times`` data steps hang up without an answer."""
        with self.state.lock:
            self.state.reset_data = times

    def stop(self) -> None:
        for server in (self._namenode, self._datanode):
            server.shutdown()
            server.server_close()


@contextmanager
def webhdfs_stand_in() -> Iterator[WebHdfsStandIn]:
    stand_in = WebHdfsStandIn()
    try:
        yield stand_in
    finally:
        stand_in.stop()


if __name__ == "__main__":
    import time

    with webhdfs_stand_in() as running:
        print(running.url, flush=True)
        while True:
            time.sleep(3600)
