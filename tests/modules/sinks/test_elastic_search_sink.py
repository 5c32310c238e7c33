"""ElasticSearchSink against an Elasticsearch: the project's stand-in, or a real cluster when
GP_TEST_ES_URL is set (the ``elasticsearch`` fixture). Tests that need faults on demand use
``es_stand_in``, which is always the stand-in.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_celery.event import EVENT_ID, META, Batch
from gp_celery.modules.base import Failure
from gp_celery.pipeline.sink_writer import SinkWriter
from gp_celery.testing import BuildError, build, run
from tests.conftest import free_port, wait_for
from tests.stand_ins.es_server import EsServer, start_stand_in


def events(count: int, **fields: Any) -> Batch:
    return [
        {"data": f"line {n}", "n": n, **fields, META: {EVENT_ID: f"ev-{n}"}} for n in range(count)
    ]


def sink(server: EsServer, **options: Any) -> Any:
    return build("ElasticSearchSink", server.sink_options(**options))


def write(module: Any, batch: Batch) -> list[Failure]:
    """The sink's own answer for a batch (run() hands back tagged events instead)."""
    failures: list[Failure] = module.write(batch)
    return failures


# -- documents, ids, index names (stand-in or a real cluster) ------------------------------


def test_events_become_documents_whose_id_is_the_event_id(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    assert run(sink(elasticsearch, index_name=index), events(3)) == []
    stored = elasticsearch.documents(index)
    assert set(stored) == {"ev-0", "ev-1", "ev-2"}
    assert stored["ev-1"]["data"] == "line 1"
    assert stored["ev-1"][META][EVENT_ID] == "ev-1"  # the metadata is indexed too


def test_the_same_batch_written_twice_leaves_one_document_per_event(
    elasticsearch: EsServer,
) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index)
    assert run(module, events(50)) == []
    assert run(module, events(50)) == []  # a redelivered batch: same ids
    assert elasticsearch.count(index) == 50


def test_create_of_documents_already_there_counts_as_written(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index, action="create")
    assert run(module, events(5)) == []
    again = events(5)
    again[0]["data"] = "changed"
    assert write(module, again) == []  # 409s: the documents are there
    assert elasticsearch.documents(index)["ev-0"]["data"] == "line 0"  # kept as first written


def test_index_name_gets_the_utc_date_and_event_fields_lower_cased(
    elasticsearch: EsServer,
) -> None:
    stem = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=stem + "-$(host)-%Y.%m.%d")
    before = time.strftime("%Y.%m.%d", time.gmtime())
    batch = [*events(1, host="WEB1"), *events(1, host="db2")]
    batch[1][META][EVENT_ID] = "ev-db"
    assert run(module, batch) == []
    after = time.strftime("%Y.%m.%d", time.gmtime())
    names = {f"{stem}-web1-{day}" for day in (before, after)}
    assert any(elasticsearch.documents(name) for name in names)
    assert set(elasticsearch.documents(f"{stem}-db2-*")) == {"ev-db"}


def test_each_event_goes_to_its_own_index_not_the_first_events(elasticsearch: EsServer) -> None:
    stem = elasticsearch.fresh_index()
    batch = events(4)
    for event in batch:
        event["kind"] = "a" if event["n"] % 2 else "b"
    assert run(sink(elasticsearch, index_name=stem + "-$(kind)"), batch) == []
    assert set(elasticsearch.documents(stem + "-a")) == {"ev-1", "ev-3"}
    assert set(elasticsearch.documents(stem + "-b")) == {"ev-0", "ev-2"}


def test_doc_id_template_names_the_documents(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index, doc_id="$(host)-$(n)")
    assert run(module, events(2, host="web1")) == []
    assert set(elasticsearch.documents(index)) == {"web1-0", "web1-1"}


def test_doc_id_null_lets_elasticsearch_choose_ids(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index, doc_id=None)
    assert run(module, events(2)) == []
    assert run(module, events(2)) == []
    stored = elasticsearch.documents(index)
    assert len(stored) == 4  # no ids: a second write is a second copy
    assert not set(stored) & {"ev-0", "ev-1"}


def test_routing_is_sent_per_event(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index, routing="$(host)")
    assert run(module, events(1, host="web1")) == []
    with elasticsearch.client() as es:
        found = es.get(index=index, id="ev-0", routing="web1")
    assert found["_source"]["host"] == "web1"


def test_update_merges_the_event_into_the_document(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    assert run(sink(elasticsearch, index_name=index), events(1, status="open")) == []
    update = sink(elasticsearch, index_name=index, action="update")
    assert run(update, [{"status": "closed", META: {EVENT_ID: "ev-0"}}]) == []
    document = elasticsearch.documents(index)["ev-0"]
    assert (document["status"], document["data"]) == ("closed", "line 0")


def test_update_of_a_missing_document_is_not_retried(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    assert run(sink(elasticsearch, index_name=index), events(1)) == []
    update = sink(elasticsearch, index_name=index, action="update")
    failures = write(
        update, [{"x": 1, META: {EVENT_ID: "ev-0"}}, {"x": 2, META: {EVENT_ID: "new"}}]
    )
    assert [(f.index, f.retriable) for f in failures] == [(1, False)]
    assert failures[0].error.startswith("404 document_missing_exception")


def test_update_with_doc_as_upsert_creates_missing_documents(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    upsert = sink(elasticsearch, index_name=index, action="update", doc_as_upsert=True)
    assert run(upsert, [{"x": 1, META: {EVENT_ID: "new"}}]) == []
    assert elasticsearch.documents(index)["new"]["x"] == 1


def test_mapping_conflict_fails_that_event_only_and_is_not_retried(
    elasticsearch: EsServer,
) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index)
    assert run(module, [{"geo": {"lat": 1.5}, META: {EVENT_ID: "a"}}]) == []
    batch = [
        {"geo": "somewhere", META: {EVENT_ID: "b"}},
        {"geo": {"lat": 2.0}, META: {EVENT_ID: "c"}},
    ]
    failures = write(module, batch)
    assert [(f.index, f.retriable) for f in failures] == [(0, False)]
    assert failures[0].error.startswith("400 ")
    assert set(elasticsearch.documents(index)) == {"a", "c"}


def test_an_index_name_that_elasticsearch_refuses_fails_those_events_only(
    elasticsearch: EsServer,
) -> None:
    stem = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=stem + "-$(site)")
    batch = [*events(1, site="ok"), *events(1, site="a/b")]
    batch[1][META][EVENT_ID] = "ev-bad"
    failures = write(module, batch)
    assert [(f.index, f.retriable) for f in failures] == [(1, False)]
    assert "invalid_index_name_exception" in failures[0].error
    assert set(elasticsearch.documents(stem + "-ok")) == {"ev-0"}


def test_format_renders_the_document_as_json(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index, format='{"line": "$(data)", "n": $(n)d}')
    assert run(module, events(1)) == []
    assert elasticsearch.documents(index)["ev-0"] == {"line": "line 0", "n": 0}


def test_format_that_does_not_render_a_json_object_fails_the_event(
    elasticsearch: EsServer,
) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index, format="$(data)")
    batch = [{"data": '{"ok": 1}', META: {EVENT_ID: "a"}}, {"data": "[1]", META: {EVENT_ID: "b"}}]
    batch.append({"data": "not json", META: {EVENT_ID: "c"}})
    failures = write(module, batch)
    assert [(f.index, f.retriable) for f in failures] == [(1, False), (2, False)]
    assert "not an object" in failures[0].error
    assert "did not render JSON" in failures[1].error
    assert set(elasticsearch.documents(index)) == {"a"}


def test_event_without_a_doc_id_is_dead_lettered_not_sent(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=index, doc_id="$(request_id)")
    batch = [{"request_id": "r1"}, {"data": "no id"}, {"request_id": ""}, {"request_id": "x" * 513}]
    failed = run(module, batch)
    assert [event.get("data") for event in failed] == ["no id", None, None]
    reasons = [event[META]["errors"][0]["reason"] for event in failed]
    assert "empty or names a missing field" in reasons[0]
    assert "longer than 512 bytes" in reasons[2]
    assert set(elasticsearch.documents(index)) == {"r1"}


HOSTILE: list[Any] = [
    pytest.param({"data": "\udcff\udcfe invalid UTF-8 kept as surrogate escapes"}, id="surrogates"),
    pytest.param({"data": b"\xff\x00bytes"}, id="bytes"),
    pytest.param({"data": None}, id="none"),
    pytest.param({"data": [1, "two", None]}, id="list"),
    pytest.param({"data": 10**30}, id="huge-int"),
    pytest.param({"data": {1, 2}}, id="set"),
    pytest.param({"data": "x" * 2_000_000}, id="oversize"),
    pytest.param({"host": 42, "data": "int where the index expects text"}, id="int-host"),
    pytest.param({"host": None, "data": "None where the index expects text"}, id="none-host"),
    pytest.param({"host": "\udcff", "data": "surrogate in the index name"}, id="surrogate-host"),
]


@pytest.mark.parametrize("event", HOSTILE)
def test_hostile_events_are_stored_or_tagged_never_lost(
    elasticsearch: EsServer, event: dict[str, Any]
) -> None:
    stem = elasticsearch.fresh_index()
    module = sink(elasticsearch, index_name=stem + "-$(host)")
    batch = [{**event, META: {EVENT_ID: "hostile"}}, *events(2, host="web")]
    failures = write(module, batch)
    assert all(not failure.retriable for failure in failures)
    stored = elasticsearch.count(stem + "*")
    assert stored + len(failures) == len(batch)
    assert stored >= 2  # the ordinary events of the batch


def test_an_event_that_contains_itself_fails_alone(elasticsearch: EsServer) -> None:
    index = elasticsearch.fresh_index()
    loop: dict[str, Any] = {META: {EVENT_ID: "loop"}}
    loop["self"] = loop
    failures = write(sink(elasticsearch, index_name=index), [loop, *events(1)])
    assert [(f.index, f.retriable) for f in failures] == [(0, False)]
    assert "cannot encode" in failures[0].error
    assert set(elasticsearch.documents(index)) == {"ev-0"}


# -- faults on demand (stand-in only) ------------------------------------------------------


def test_batch_size_splits_a_batch_into_bulk_requests(es_stand_in: EsServer) -> None:
    module = sink(es_stand_in, index_name="split", batch_size=40)
    assert run(module, events(100)) == []
    stats = es_stand_in.stats()
    assert (stats["bulk_requests"], stats["bulk_items"]) == (3, 100)
    assert es_stand_in.count("split") == 100


def test_429_and_5xx_items_are_retriable_and_400_and_404_are_not(es_stand_in: EsServer) -> None:
    es_stand_in.inject(items=[0, 429, 500, 503, 400, 404])
    failures = write(sink(es_stand_in, index_name="items"), events(7))
    assert [(f.index, f.retriable) for f in failures] == [
        (1, True),
        (2, True),
        (3, True),
        (4, False),
        (5, False),
    ]
    assert failures[0].error.startswith("429 es_rejected_execution_exception")
    assert set(es_stand_in.documents("items")) == {"ev-0", "ev-6"}


def writer(module: Any, dead: list[tuple[str, Batch, int]]) -> SinkWriter:
    """The runner's sink writer, with no waiting between tries."""
    return SinkWriter(module, 5, 0.01, lambda *letter: dead.append(letter), sleep=lambda _: None)


def test_the_runner_retries_pushed_back_items_and_dead_letters_bad_ones(
    es_stand_in: EsServer,
) -> None:
    es_stand_in.inject(items=[429, 429, 400, 0, 503], requests=[503])
    dead: list[tuple[str, Batch, int]] = []
    written, dead_count = writer(sink(es_stand_in, index_name="retry"), dead).write(events(20))
    assert (written, dead_count) == (19, 1)
    ((_, letters, _),) = dead
    assert [event[META][EVENT_ID] for event in letters] == ["ev-2"]
    assert "400 document_parsing_exception" in letters[0][META]["errors"][0]["reason"]
    assert es_stand_in.count("retry") == 19
    assert es_stand_in.stats()["bulk_requests"] >= 3  # the 503 request, then two retries


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (503, "503"),
        (429, "429"),
        (500, "500"),
        ("malformed", "SerializationError"),
        ("reset", "ConnectionError"),
    ],
)
def test_a_failed_request_is_retried_and_the_retry_stores_no_duplicate(
    es_stand_in: EsServer, fault: Any, expected: str
) -> None:
    es_stand_in.inject(requests=[fault])
    module = sink(es_stand_in, index_name="whole")
    failures = write(module, events(10))
    assert len(failures) == 10
    assert all(failure.retriable for failure in failures)
    assert expected in failures[0].error
    assert write(module, events(10)) == []  # what the runner does next
    assert es_stand_in.count("whole") == 10


def test_a_slow_server_times_out_retriably(es_stand_in: EsServer) -> None:
    es_stand_in.inject(requests=[{"delay": 2}])
    failures = write(sink(es_stand_in, index_name="slow", timeout_secs=0.3), events(3))
    assert [f.retriable for f in failures] == [True, True, True]
    assert "ConnectionTimeout" in failures[0].error
    # The stand-in still handles the request after its delay; let it end before the next
    # test empties the stand-in (a retry would overwrite these documents).
    wait_for(lambda: es_stand_in.count("slow") == 3, 10, "the slow request to end")


def test_an_unreachable_node_is_retriable() -> None:
    module = build("ElasticSearchSink", {"nodes": [f"127.0.0.1:{free_port()}"]})
    failures = write(module, events(2))
    assert [f.retriable for f in failures] == [True, True]
    assert "ConnectionError" in failures[0].error


def test_a_second_node_takes_over_when_the_first_is_down(es_stand_in: EsServer) -> None:
    nodes = [f"127.0.0.1:{free_port()}", es_stand_in.address]
    module = build("ElasticSearchSink", {"nodes": nodes, "index_name": "failover"})
    for _ in range(3):  # whichever node the client picks first
        assert write(module, events(2)) == []
    assert es_stand_in.count("failover") == 2


def test_a_server_that_is_not_elasticsearch_is_not_retried(tmp_path: Path) -> None:
    import http.server
    import threading

    class Plain(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"took": 1, "errors": false, "items": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        module = build("ElasticSearchSink", {"nodes": [f"127.0.0.1:{server.server_port}"]})
        failures = write(module, events(1))
    finally:
        server.shutdown()
    assert [f.retriable for f in failures] == [False]
    assert "not Elasticsearch" in failures[0].error


@pytest.mark.parametrize(
    ("consistency", "query"),
    [("all", "wait_for_active_shards=all"), ("one", "wait_for_active_shards=1"), ("quorum", "")],
)
def test_consistency_is_sent_as_wait_for_active_shards(
    es_stand_in: EsServer, consistency: str, query: str
) -> None:
    assert write(sink(es_stand_in, index_name="c", consistency=consistency), events(1)) == []
    path = es_stand_in.stats()["last_path"]
    assert path.startswith("/_bulk")
    assert (query in path) if query else ("wait_for_active_shards" not in path)
    assert es_stand_in.count("c") == 1


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=8),
            st.one_of(st.text(max_size=20), st.binary(max_size=20), st.integers(), st.none()),
            max_size=4,
        ),
        max_size=6,
    )
)
def test_random_events_are_stored_or_tagged_and_write_never_raises(
    es_stand_in: EsServer, batch: list[dict[str, Any]]
) -> None:
    es_stand_in.reset()
    module = sink(es_stand_in, index_name="random-$(host)", doc_id=None)
    failures = write(module, [dict(event) for event in batch])
    assert all(not failure.retriable for failure in failures)
    assert es_stand_in.count("random*") + len(failures) == len(batch)


# -- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "nodes"),
        ({"nodes": []}, "expected a node"),
        ({"nodes": ["ftp://x"]}, "bad node"),
        ({"nodes": ["http://u:p@x:9200"]}, "give credentials in 'http_auth'"),
        ({"nodes": "x:99999"}, "bad node"),
        ({"nodes": "x", "index_name": "a/b-%Y"}, "refuses '/'"),
        ({"nodes": "x", "index_name": "_a"}, "must not start"),
        ({"nodes": "x", "index_name": "$(x"}, "index_name"),
        ({"nodes": "x", "action": "delete"}, "action"),
        ({"nodes": "x", "action": "update", "doc_id": None}, "needs a 'doc_id'"),
        ({"nodes": "x", "doc_as_upsert": True}, "goes with action 'update'"),
        ({"nodes": "x", "http_auth": "nocolon"}, "user:password"),
        ({"nodes": "x", "http_auth": "a:b", "api_key": "k"}, "not both"),
        ({"nodes": "x", "client_key": "k.pem"}, "needs 'client_cert'"),
        ({"nodes": "x", "ca_certs": "ca.pem"}, "'ca_certs' needs HTTPS"),
        ({"nodes": "x", "connection_type": "thrift"}, "thrift"),
        ({"nodes": "x", "batch_size": 0}, "batch_size"),
        ({"nodes": "x", "consistency": "most"}, "consistency"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("ElasticSearchSink", options)


@pytest.mark.parametrize(
    ("nodes", "use_ssl", "urls"),
    [
        ("localhost", False, ["http://localhost:9200"]),
        (["es1:9201", "es2"], True, ["https://es1:9201", "https://es2:9200"]),
        ("http://es:80/prefix/", False, ["http://es:80/prefix"]),
        ("[::1]:9200", False, ["http://[::1]:9200"]),
    ],
)
def test_nodes_become_urls(nodes: Any, use_ssl: bool, urls: list[str]) -> None:
    module = build("ElasticSearchSink", {"nodes": nodes, "use_ssl": use_ssl})
    assert module.options.urls() == urls


def test_gambolputty_and_lumbermill_options_are_accepted() -> None:
    module = build(
        "output.ElasticSearch",
        {
            "nodes": ["localhost"],
            "ttl": "1d",
            "doc_type": "$(lumbermill.event_type)",
            "sniff_on_start": False,
            "consistency": "one",
            "store_interval_in_secs": 5,
            "backlog_size": 500,
            "connection_type": "urllib3",
        },
    )
    warnings = type(module).option_warnings(module.options)
    assert [warning.path for warning in warnings] == [("ttl",), ("doc_type",)]


# -- TLS and authentication (a stand-in of its own, with a certificate and users) ----------


@pytest.fixture(scope="module")
def secure_es(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EsServer, Path]]:
    """A stand-in on HTTPS (a self-signed certificate for 127.0.0.1) that wants a user
    (elastic:secret) or an API key (kid:ksecret)."""
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed; scripts/test installs it"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = start_stand_in(
        workdir,
        *("--certfile", str(cert), "--keyfile", str(key)),
        *("--user", "elastic:secret", "--api-key", "kid:ksecret"),
    )
    server.ca_certs = str(cert)
    yield server, cert
    server.stop()


def test_https_with_the_ca_and_basic_auth_writes(secure_es: tuple[EsServer, Path]) -> None:
    server, cert = secure_es
    options = {"nodes": [server.address], "use_ssl": True, "ca_certs": str(cert)}
    module = build("ElasticSearchSink", {**options, "http_auth": "elastic:secret"})
    assert write(module, events(2)) == []
    expected = "Basic " + base64.b64encode(b"elastic:secret").decode()
    assert server.stats()["last_headers"]["authorization"] == expected


@pytest.mark.parametrize("api_key", ["kid:ksecret", base64.b64encode(b"kid:ksecret").decode()])
def test_https_with_an_api_key_writes(secure_es: tuple[EsServer, Path], api_key: str) -> None:
    server, cert = secure_es
    options = {"nodes": [server.url], "ca_certs": str(cert), "api_key": api_key}
    assert write(build("ElasticSearchSink", options), events(1)) == []
    expected = "ApiKey " + base64.b64encode(b"kid:ksecret").decode()
    assert server.stats()["last_headers"]["authorization"] == expected


def test_a_wrong_password_goes_to_the_dead_letters(secure_es: tuple[EsServer, Path]) -> None:
    server, cert = secure_es
    options = {"nodes": [server.url], "ca_certs": str(cert), "http_auth": "elastic:wrong"}
    failures = write(build("ElasticSearchSink", options), events(2))
    assert [f.retriable for f in failures] == [False, False]
    assert failures[0].error.startswith("401 ")


def test_a_certificate_from_an_unknown_ca_goes_to_the_dead_letters(
    secure_es: tuple[EsServer, Path],
) -> None:
    server, _ = secure_es
    options = {"nodes": [server.url], "http_auth": "elastic:secret"}
    failures = write(build("ElasticSearchSink", options), events(1))
    assert [f.retriable for f in failures] == [False]
    assert failures[0].error.startswith("TLS")


def test_verify_certs_false_accepts_any_certificate(secure_es: tuple[EsServer, Path]) -> None:
    server, _ = secure_es
    options = {"nodes": [server.url], "http_auth": "elastic:secret", "verify_certs": False}
    assert write(build("ElasticSearchSink", options), events(1)) == []
