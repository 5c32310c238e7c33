"""The stand-in's HTTP side: routes, authentication, the bulk endpoint and its faults."""

from __future__ import annotations

import base64
import fnmatch
import secrets
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.stand_ins.elasticsearch.pit import Pit, keep_alive_secs, live_pit, new_pit_id, pit_search
from tests.stand_ins.elasticsearch.store import SHARDS, Faults, Store, index_problem
from tests.stand_ins.elasticsearch.wire import (
    ERROR_TYPES,
    RequestError,
    dumps,
    loads,
    parse_bulk,
    response_type,
)

BROKEN_JSON = b'{"took": 1, "errors": false, "items": [{"index": {"_index'


def _not_found(what: str) -> RequestError:
    return RequestError(404, "index_not_found_exception", f"no such index [{what}]")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Elasticsearch
    server: StandInServer
    content_type = "application/json"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY the second waits for
        # the client's delayed ACK (40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
        payload = raw if raw is not None else b"" if body is None else dumps(body)
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(part) for part in url.path.split("/") if part]
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.content_type = "application/json"
        try:
            if parts[:1] == ["_stand_in"]:
                self._control(method, parts[1:], body)
                return
            store = self.server.store
            with store.lock:
                store.last_headers = {key.lower(): value for key, value in self.headers.items()}
                store.last_path = self.path
            self._check_auth()
            self.content_type = response_type(
                self.server.major,
                self.headers.get("Accept", ""),
                self.headers.get("Content-Type", "") if body else "",
            )
            self._route(method, parts, query, body)
        except RequestError as error:
            self._send(error.status, error.body())

    def _check_auth(self) -> None:
        wanted = self.server.credentials
        given = self.headers.get("Authorization", "")
        if wanted and given not in wanted:
            problem = (
                "unable to authenticate user" if given else "missing authentication credentials"
            )
            reason = f"{problem} for REST request [{self.path}]"
            raise RequestError(401, "security_exception", reason)

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: bytes) -> None:
        last = parts[-1] if parts else ""
        target = parts[0] if len(parts) == 2 else "_all"
        if not parts and method in ("GET", "HEAD"):
            self._send(200, self.server.root_info())
        elif last == "_bulk" and len(parts) <= 2 and method in ("PUT", "POST"):
            self._bulk(parts[0] if len(parts) == 2 else None, body)
        elif parts == ["_cluster", "health"] and method == "GET":
            self._send(200, {"cluster_name": "gp", "status": "green", "number_of_nodes": 1})
        elif last == "_pit" and len(parts) == 2 and method == "POST":
            self._open_pit(parts[0], query)
        elif parts == ["_pit"] and method == "DELETE":
            self._close_pit(body)
        elif last in ("_count", "_search", "_refresh") and len(parts) <= 2:
            self._read(last, target, query, body, with_index=len(parts) == 2)
        elif len(parts) == 3 and parts[1] == "_doc" and method in ("GET", "HEAD"):
            self._get_doc(parts[0], parts[2])
        elif len(parts) == 1 and not parts[0].startswith("_"):
            self._index_admin(method, parts[0], query)
        else:
            reason = f"no handler found for uri [{self.path}] and method [{method}]"
            raise RequestError(404, "resource_not_found_exception", reason)

    # -- indices and documents -----------------------------------------------------------

    def _index_admin(self, method: str, name: str, query: dict[str, str]) -> None:
        store = self.server.store
        with store.lock:
            exists = name in store.indices
            if method == "GET":
                names = self._targets(name, query)
                self._send(
                    200, {one: {"aliases": {}, "mappings": {}, "settings": {}} for one in names}
                )
            elif method == "HEAD":
                self._send(200 if exists else 404)
            elif method == "PUT":
                if exists:
                    reason = f"index [{name}/{secrets.token_hex(11)}] already exists"
                    raise RequestError(400, "resource_already_exists_exception", reason)
                if problem := index_problem(name):
                    raise RequestError(400, "invalid_index_name_exception", problem)
                store.indices[name], store.kinds[name] = {}, {}
                self._send(200, {"acknowledged": True, "shards_acknowledged": True, "index": name})
            elif method == "DELETE":
                names = name.split(",")
                if missing := [one for one in names if one not in store.indices]:
                    raise _not_found(missing[0])
                for one in names:
                    del store.indices[one]
                    store.kinds.pop(one, None)
                self._send(200, {"acknowledged": True})
            else:
                reason = f"no handler found for uri [{self.path}] and method [{method}]"
                raise RequestError(405, "method_not_allowed", reason)

    def _targets(self, target: str, query: dict[str, str]) -> list[str]:
        """Index names a target (comma list, wildcards, _all) stands for; the lock held."""
        names = self.server.store.indices
        skip_missing = query.get("ignore_unavailable") == "true"
        found: list[str] = []
        for one in target.split(","):
            if one in ("_all", "*"):
                found += sorted(names)
            elif any(char in one for char in "*?"):
                found += sorted(name for name in names if fnmatch.fnmatchcase(name, one))
            elif one in names:
                found.append(one)
            elif not skip_missing:
                raise _not_found(one)
        return list(dict.fromkeys(found))

    def _read(
        self, what: str, target: str, query: dict[str, str], body: bytes, with_index: bool
    ) -> None:
        store = self.server.store
        request = loads(body) if body else {}
        if what == "_search" and isinstance(request, dict) and "pit" in request:
            self._search_pit(request, with_index)
            return
        with store.lock:
            names = self._targets(target, query)
            docs = [
                (name, key, doc.source)
                for name in names
                for key, doc in store.indices[name].items()
            ]
        if what == "_refresh":
            self._send(200, {"_shards": SHARDS})
            return
        if what == "_count":
            self._send(200, {"count": len(docs), "_shards": SHARDS})
            return
        ids = ((request.get("query") or {}).get("ids") or {}).get("values")
        if ids is not None:
            docs = [entry for entry in docs if entry[1] in set(ids)]
        size = int(query.get("size", request.get("size", 10)))
        start = int(query.get("from", request.get("from", 0)))
        hits = [
            {"_index": name, "_id": key, "_score": 1.0, "_source": source}
            for name, key, source in docs[start : start + size]
        ]
        total = {"value": len(docs), "relation": "eq"}
        found = {"total": total, "max_score": 1.0, "hits": hits}
        self._send(200, {"took": 1, "timed_out": False, "_shards": SHARDS, "hits": found})

    # -- points in time (pit.py) ---------------------------------------------------------

    def _open_pit(self, target: str, query: dict[str, str]) -> None:
        keep_alive = keep_alive_secs(query.get("keep_alive"))
        store = self.server.store
        with store.lock:
            names = self._targets(target, query)
            hits = [
                (name, key, doc.source, doc.seq_no)
                for name in names
                for key, doc in store.indices[name].items()
            ]
            pit_id = new_pit_id()
            store.pits[pit_id] = Pit(hits, time.monotonic() + keep_alive)
        shards = {"total": len(names), "successful": len(names), "skipped": 0, "failed": 0}
        self._send(200, {"id": pit_id, "_shards": shards})

    def _close_pit(self, body: bytes) -> None:
        request = loads(body) if body else {}
        pit_id = request.get("id") if isinstance(request, dict) else None
        if not isinstance(pit_id, str):
            reason = "Validation Failed: 1: point-in-time id is not specified;"
            raise RequestError(400, "action_request_validation_exception", reason)
        store = self.server.store
        with store.lock:
            freed = store.pits.pop(pit_id, None) is not None
        self._send(200 if freed else 404, {"succeeded": True, "num_freed": int(freed)})

    def _search_pit(self, request: dict[str, Any], with_index: bool) -> None:
        if with_index:
            reason = (
                "Validation Failed: 1: [indices] cannot be used with point in time. Do not "
                "specify any index with point in time.;"
            )
            raise RequestError(400, "action_request_validation_exception", reason)
        ids = ((request.get("query") or {}).get("ids") or {}).get("values")
        store = self.server.store
        with store.lock:
            pit_id, pit = live_pit(store.pits, request["pit"])
        self._send(200, pit_search(pit_id, pit, request, ids))

    def _get_doc(self, name: str, key: str) -> None:
        store = self.server.store
        with store.lock:
            if name not in store.indices:
                raise _not_found(name)
            doc = store.indices[name].get(key)
        if doc is None:
            self._send(404, {"_index": name, "_id": key, "found": False})
            return
        found = {"_version": doc.version, "_seq_no": doc.seq_no, "_primary_term": 1}
        self._send(200, {"_index": name, "_id": key, **found, "found": True, "_source": doc.source})

    # -- bulk, with the faults asked for -------------------------------------------------

    def _bulk(self, path_index: str | None, body: bytes) -> None:
        store = self.server.store
        with store.lock:
            store.bulk_requests += 1
            fault = store.faults.requests.popleft() if store.faults.requests else None
        if isinstance(fault, dict) and "delay" in fault:
            time.sleep(float(fault["delay"]))
        if isinstance(fault, int):
            kind = ERROR_TYPES.get(fault, "exception")
            raise RequestError(fault, kind, f"injected by the stand-in: {kind}")
        actions = parse_bulk(body, path_index)
        started = time.monotonic()
        if fault == "reset":
            with store.lock:
                for action in actions[: len(actions) // 2]:
                    store.apply(action)
            self._reset()
            return
        with store.lock:
            store.bulk_items += len(actions)
            items = [store.apply(action) for action in actions]
        if isinstance(fault, dict) and "stall_after_store" in fault:
            self._stall(float(fault["stall_after_store"]))
        if fault == "malformed":
            self._send(200, raw=BROKEN_JSON)
            return
        errors = any("error" in result for item in items for result in item.values())
        took = int((time.monotonic() - started) * 1000)
        self._send(200, {"took": took, "errors": errors, "items": items})

    def _stall(self, seconds: float) -> None:
        store = self.server.store
        with store.lock:
            store.stalled += 1
        try:
            time.sleep(seconds)
        finally:
            with store.lock:
                store.stalled -= 1

    def _reset(self) -> None:
        """Close the connection with a TCP reset and no answer: 'connection reset by peer'."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _control(self, method: str, parts: list[str], body: bytes) -> None:
        store = self.server.store
        if parts == ["faults"] and method == "POST":
            asked = loads(body) if body else {}
            with store.lock:
                store.faults.items.extend(int(status) for status in asked.get("items", ()))
                store.faults.ids.update({str(k): int(v) for k, v in asked.get("ids", {}).items()})
                store.faults.requests.extend(asked.get("requests", ()))
        elif parts == ["faults"] and method == "DELETE":
            with store.lock:
                store.faults = Faults()
        elif parts == ["reset"] and method == "POST":
            store.reset()
        elif parts == ["stats"] and method == "GET":
            self._send(200, store.stats())
            return
        else:
            raise RequestError(404, "resource_not_found_exception", f"no stand-in route {parts}")
        self._send(200, {"acknowledged": True})


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, version: str, users: list[str], api_keys: list[str]) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.version = version
        self.major = int(version.split(".", maxsplit=1)[0])
        self.store = Store()
        self.uuid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        self.credentials = {
            "Basic " + base64.b64encode(user.encode()).decode() for user in users
        } | {"ApiKey " + base64.b64encode(key.encode()).decode() for key in api_keys}

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client gone mid-answer (a killed worker, a reset fault) is no news here

    def root_info(self) -> dict[str, Any]:
        previous = self.major - 1
        return {
            "name": "stand-in",
            "cluster_name": "gp",
            "cluster_uuid": self.uuid,
            "version": {
                "number": self.version,
                "build_flavor": "default",
                "build_type": "tar",
                "build_hash": "0" * 40,
                "build_date": "2025-01-01T00:00:00.000Z",
                "build_snapshot": False,
                "lucene_version": "9.12.0",
                "minimum_wire_compatibility_version": f"{previous}.18.0",
                "minimum_index_compatibility_version": f"{previous}.0.0",
            },
            "tagline": "You Know, for Search",
        }
