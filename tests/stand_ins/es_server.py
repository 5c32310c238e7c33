"""An Elasticsearch for a test: the project's stand-in (a subprocess on a free port), or a
real cluster named by ``GP_TEST_ES_URL`` (e.g. ``https://elastic:secret@127.0.0.1:9200``,
with ``GP_TEST_ES_CA_CERTS`` for its CA when it is not the system's).

Tests that can run against a real cluster use the ``elasticsearch`` fixture; tests that
need faults on demand use ``es_stand_in``, which is always the stand-in. Never a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import urllib3

from tests.conftest import ROOT, free_port, wait_for

REAL_CLUSTER_ENV = "GP_TEST_ES_URL"


@dataclass
class EsServer:
    url: str
    """Base URL, without credentials."""
    stand_in: bool
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    sink_auth: dict[str, Any] = field(default_factory=dict)
    """Options an ElasticSearchSink needs to log in (http_auth, ca_certs, ...)."""
    indices: list[str] = field(default_factory=list)
    """Indices a test made through ``fresh_index``: deleted by ``forget``."""
    ca_certs: str | None = None
    """The CA of a stand-in on HTTPS, for its controls."""

    @property
    def address(self) -> str:
        """'host:port', as a GambolPutty config names a node."""
        return self.url.split("://", 1)[1]

    def sink_options(self, **options: Any) -> dict[str, Any]:
        """ElasticSearchSink options that reach this server, plus ``options``."""
        return {"nodes": [self.url], **self.sink_auth, **options}

    def client(self, **settings: Any) -> Any:
        from elasticsearch import Elasticsearch

        auth: dict[str, Any] = {}
        if "http_auth" in self.sink_auth:
            user, _, password = self.sink_auth["http_auth"].partition(":")
            auth["basic_auth"] = (user, password)
        if "ca_certs" in self.sink_auth:
            auth["ca_certs"] = self.sink_auth["ca_certs"]
        return Elasticsearch(self.url, **{**auth, **settings})

    def fresh_index(self, stem: str = "gp-test") -> str:
        """A new index name for one test (several tests share a cluster)."""
        name = f"{stem}-{uuid.uuid4().hex[:10]}"
        self.indices.append(name)
        return name

    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        """id -> source of every document of ``index`` (a name or pattern)."""
        with self.client() as es:
            es.indices.refresh(index=index, ignore_unavailable=True)
            found = es.search(index=index, size=10000, ignore_unavailable=True)
        return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}

    def count(self, index: str) -> int:
        with self.client() as es:
            es.indices.refresh(index=index, ignore_unavailable=True)
            return int(es.count(index=index, ignore_unavailable=True)["count"])

    def forget(self) -> None:
        """Delete the indices tests made (a real cluster keeps them otherwise)."""
        if not self.indices:
            return
        with self.client() as es:
            for name in self.indices:
                made = list(es.indices.get(index=f"{name}*", ignore_unavailable=True).body)
                if made:  # real clusters refuse to delete by wildcard
                    es.indices.delete(index=",".join(made))
        self.indices.clear()

    # -- the stand-in's own controls -----------------------------------------------------

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        if not self.stand_in:
            pytest.fail("faults on demand need the stand-in (use the es_stand_in fixture)")
        http = urllib3.PoolManager(ca_certs=self.ca_certs)
        response = http.request(
            method,
            f"{self.url}/_stand_in/{path}",
            body=None if body is None else orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status == 200, response.data
        return orjson.loads(response.data)

    def inject(self, **faults: Any) -> None:
        """``items=[429, 400]``, ``ids={"id": 400}``, ``requests=[503, "reset"]``."""
        self._control("POST", "faults", faults)

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._control("GET", "stats")
        return result

    def reset(self) -> None:
        self._control("POST", "reset")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_stand_in(workdir: Path, *args: str, port: int | None = None) -> EsServer:
    """The stand-in as a subprocess on a free loopback port (or ``port``: a restart where
    the one stopped listened); fails loudly if it does not answer. ``args`` go to its
    command line (--user, --api-key, --certfile ...)."""
    port = port or free_port()
    log = workdir / f"es-stand-in-{port}.log"
    scheme = "https" if "--certfile" in args else "http"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.stand_ins.elasticsearch", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    server = EsServer(f"{scheme}://127.0.0.1:{port}", True, process, log)
    try:
        wait_for(
            lambda: process.poll() is not None or b"listening on" in log.read_bytes(),
            20,
            "the Elasticsearch stand-in",
        )
    finally:
        if process.poll() is not None:
            pytest.fail(f"the Elasticsearch stand-in did not start: {log.read_text()[-2000:]}")
    return server


def real_cluster() -> EsServer | None:
    """The cluster GP_TEST_ES_URL names, or None when it is unset."""
    url = os.environ.get(REAL_CLUSTER_ENV)
    if not url:
        return None
    parts = urlsplit(url)
    auth: dict[str, Any] = {}
    if parts.username:
        auth["http_auth"] = f"{parts.username}:{parts.password or ''}"
    if ca := os.environ.get("GP_TEST_ES_CA_CERTS"):
        auth["ca_certs"] = ca
    host = parts.hostname or "localhost"
    base = f"{parts.scheme}://{host}:{parts.port or 9200}"
    server = EsServer(base, False, sink_auth=auth)
    try:
        with server.client(request_timeout=10) as es:
            es.info()
    except Exception as error:
        pytest.fail(f"{REAL_CLUSTER_ENV}={base}: the cluster does not answer ({error})")
    return server
