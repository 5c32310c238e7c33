"""The Elasticsearch stand-in passes the official client: info(), ping(), the bulk helpers,
index admin calls; and it answers the wire as shared/spec/ELASTICSEARCH-WIRE.md says."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import urllib3
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError, helpers
from elasticsearch.helpers import BulkIndexError

from tests.stand_ins.es_server import EsServer

COMPAT_JSON = "application/vnd.elasticsearch+json; compatible-with={}"
COMPAT_NDJSON = "application/vnd.elasticsearch+x-ndjson; compatible-with={}"


def raw(
    server: EsServer, method: str, path: str, body: bytes | None = None, **headers: str
) -> urllib3.BaseHTTPResponse:
    return urllib3.request(method, server.url + path, body=body, headers=headers, timeout=10)


def test_info_and_ping_pass_the_official_clients_product_check(es_stand_in: EsServer) -> None:
    with es_stand_in.client() as es:
        info = es.info()
        assert info["tagline"] == "You Know, for Search"
        assert info["version"]["build_flavor"] == "default"
        assert info["version"]["number"].startswith("8.")
        assert es.ping() is True


def test_every_answer_carries_the_product_header_even_errors(es_stand_in: EsServer) -> None:
    for method, path in [("GET", "/"), ("HEAD", "/"), ("GET", "/nothing/_doc/1"), ("GET", "/_x")]:
        response = raw(es_stand_in, method, path)
        assert response.headers["X-Elastic-Product"] == "Elasticsearch", (method, path)
    head = raw(es_stand_in, "HEAD", "/")
    assert (head.status, head.data) == (200, b"")


def test_helpers_bulk_sends_chunks_and_stores_every_document(es_stand_in: EsServer) -> None:
    docs = ({"_index": "bulk", "_id": str(n), "n": n} for n in range(2000))
    with es_stand_in.client() as es:
        written, errors = helpers.bulk(es, docs, chunk_size=500)
        assert (written, errors) == (2000, [])
        assert es.count(index="bulk")["count"] == 2000
        assert es.get(index="bulk", id="1999")["_source"] == {"n": 1999}
    assert es_stand_in.stats()["bulk_requests"] == 4


def test_one_failed_item_makes_helpers_bulk_raise(es_stand_in: EsServer) -> None:
    es_stand_in.inject(items=[0, 400])
    with es_stand_in.client() as es, pytest.raises(BulkIndexError, match="1 document"):
        helpers.bulk(es, [{"_index": "x", "_id": str(n), "n": n} for n in range(3)])


def test_streaming_bulk_retries_a_429_item_only_without_raise_on_error(
    es_stand_in: EsServer,
) -> None:
    es_stand_in.inject(items=[0, 429])
    docs = [{"_index": "r", "_id": str(n)} for n in range(3)]
    with es_stand_in.client() as es:
        results = list(
            helpers.streaming_bulk(
                es, docs, max_retries=2, initial_backoff=0.01, raise_on_error=False
            )
        )
        assert [ok for ok, _ in results] == [True, True, True]
        assert es.count(index="r")["count"] == 3
    assert es_stand_in.stats()["bulk_requests"] == 2  # the 429 item went again, alone


def test_streaming_bulk_reports_a_400_item_as_failed(es_stand_in: EsServer) -> None:
    es_stand_in.inject(items=[400])
    with es_stand_in.client() as es:
        results = list(
            helpers.streaming_bulk(es, [{"_index": "f", "_id": "1"}], raise_on_error=False)
        )
    ((ok, item),) = results
    assert not ok
    assert item["index"]["status"] == 400
    assert item["index"]["error"]["type"] == "document_parsing_exception"


def test_bulk_answers_one_item_per_action_in_order(es_stand_in: EsServer) -> None:
    body = (
        b'{"index":{"_index":"o","_id":"a"}}\n{"x":1}\n'
        b'{"create":{"_index":"o","_id":"a"}}\n{"x":2}\n'
        b'{"update":{"_index":"o","_id":"a"}}\n{"doc":{"y":3}}\n'
        b'{"update":{"_index":"o","_id":"missing"}}\n{"doc":{"y":3}}\n'
        b'{"delete":{"_index":"o","_id":"a"}}\n'
        b'{"index":{"_index":"o"}}\n{"auto":true}\n'
    )
    for method in ("PUT", "POST"):
        es_stand_in.reset()
        response = raw(
            es_stand_in, method, "/_bulk", body, **{"Content-Type": "application/x-ndjson"}
        )
        answer = orjson.loads(response.data)
        statuses = [
            (op, result["status"]) for item in answer["items"] for op, result in item.items()
        ]
        assert statuses == [
            ("index", 201),
            ("create", 409),
            ("update", 200),
            ("update", 404),
            ("delete", 200),
            ("index", 201),
        ]
        assert answer["errors"] is True
        assert len(answer["items"][5]["index"]["_id"]) == 20  # an id made by the server


def test_bulk_on_an_index_path_uses_it_for_actions_without_index(es_stand_in: EsServer) -> None:
    with es_stand_in.client() as es:
        answer = es.bulk(index="path", operations=[{"index": {"_id": "1"}}, {"a": 1}])
        assert answer["items"][0]["index"]["_index"] == "path"
        assert es.count(index="path")["count"] == 1


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"index":{"_index":"x"}}\n{"a":1}', "illegal_argument_exception"),  # no final newline
        (b'{"index":{"_index":"x","_type":"doc"}}\n{"a":1}\n', "illegal_argument_exception"),
        (b'{"upsert":{"_index":"x"}}\n{"a":1}\n', "illegal_argument_exception"),
        (b"not json\n", "x_content_parse_exception"),
        (b'{"index":{}}\n{"a":1}\n', "action_request_validation_exception"),
        (
            b'{"index":{"_index":"x","_id":"' + b"i" * 513 + b'"}}\n{}\n',
            "action_request_validation_exception",
        ),
    ],
    ids=["no-final-newline", "type", "unknown-op", "not-json", "no-index", "long-id"],
)
def test_a_malformed_bulk_body_fails_the_whole_request_with_400(
    es_stand_in: EsServer, body: bytes, kind: str
) -> None:
    response = raw(es_stand_in, "POST", "/_bulk", body, **{"Content-Type": "application/x-ndjson"})
    assert response.status == 400
    assert orjson.loads(response.data)["error"]["type"] == kind


def test_index_admin_calls(es_stand_in: EsServer) -> None:
    with es_stand_in.client() as es:
        assert not es.indices.exists(index="admin")
        created = es.indices.create(index="admin")
        assert created["acknowledged"] is True
        assert es.indices.exists(index="admin")
        assert es.cluster.health()["status"] == "green"
        es.indices.delete(index="admin")
        assert not es.indices.exists(index="admin")
        with pytest.raises(NotFoundError):
            es.get(index="admin", id="1")


@pytest.mark.parametrize("version", [8, 7])
def test_compatible_with_n_and_n_minus_1_are_accepted(es_stand_in: EsServer, version: int) -> None:
    body = b'{"index":{"_index":"m","_id":"1"}}\n{"a":1}\n'
    headers = {"Accept": COMPAT_JSON.format(version), "Content-Type": COMPAT_NDJSON.format(version)}
    response = raw(es_stand_in, "PUT", "/_bulk", body, **headers)
    assert response.status == 200
    assert response.headers["Content-Type"] == COMPAT_JSON.format(8).replace(" ", "")


def test_compatible_with_a_newer_major_is_refused_as_a_real_8_server_does(
    es_stand_in: EsServer,
) -> None:
    response = raw(es_stand_in, "GET", "/", Accept=COMPAT_JSON.format(9))
    assert response.status == 400
    error = orjson.loads(response.data)["error"]
    assert error["type"] == "media_type_header_exception"
    assert "must be either version 8 or 7, but found 9" in error["reason"]


def test_compat_on_one_header_only_is_refused(es_stand_in: EsServer) -> None:
    body = b'{"index":{"_index":"m"}}\n{"a":1}\n'
    headers = {"Accept": COMPAT_JSON.format(8), "Content-Type": "application/x-ndjson"}
    response = raw(es_stand_in, "PUT", "/_bulk", body, **headers)
    assert response.status == 400
    assert "required on both Content-Type and Accept" in response.data.decode()


def test_plain_json_clients_are_served(es_stand_in: EsServer) -> None:
    response = raw(es_stand_in, "GET", "/", Accept="application/json")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert orjson.loads(response.data)["cluster_name"] == "gp"


def test_keep_alive_serves_many_requests_on_one_connection(es_stand_in: EsServer) -> None:
    pool = urllib3.HTTPConnectionPool(
        "127.0.0.1", int(es_stand_in.url.rsplit(":", 1)[1]), maxsize=1
    )
    for _ in range(5):
        assert pool.request("GET", "/").status == 200
    assert pool.num_connections == 1


def test_injected_whole_request_faults(es_stand_in: EsServer) -> None:
    es_stand_in.inject(requests=[503, "malformed"])
    body: Any = [{"index": {"_index": "f", "_id": "1"}}, {"a": 1}]
    es = Elasticsearch(es_stand_in.url, max_retries=0, retry_on_status=())
    with es:
        with pytest.raises(Exception, match="503"):
            es.bulk(operations=body)
        with pytest.raises(Exception, match="Unable to deserialize"):
            es.bulk(operations=body)
        assert es.bulk(operations=body)["errors"] is False


def test_a_point_in_time_pages_with_search_after_through_the_official_client(
    es_stand_in: EsServer,
) -> None:
    docs = [{"_index": "pit", "_id": str(n), "group": n % 3, "n": n} for n in range(25)]
    with es_stand_in.client() as es:
        helpers.bulk(es, docs)
        pit = es.open_point_in_time(index="pit", keep_alive="1m")
        helpers.bulk(es, [{"_index": "pit", "_id": "late", "group": 0, "n": 99}])  # not in the view
        seen, after = [], None
        while True:
            page = es.search(
                pit={"id": pit["id"], "keep_alive": "1m"},
                size=10,
                sort=[{"group": "desc"}],
                **({"search_after": after} if after else {}),
            )
            hits = page["hits"]["hits"]
            if not hits:
                break
            assert page["pit_id"]
            seen += [hit["_source"]["n"] for hit in hits]
            after = hits[-1]["sort"]
            assert len(after) == 2  # the sort value and the implicit _shard_doc tiebreaker
        expected = sorted(range(25), key=lambda n: (-(n % 3), n))
        assert seen == expected
        assert es.close_point_in_time(id=pit["id"]) == {"succeeded": True, "num_freed": 1}
        with pytest.raises(NotFoundError, match="search_context_missing_exception"):
            es.search(pit={"id": pit["id"]})


def test_point_in_time_mistakes_are_answered_as_elasticsearch_does(es_stand_in: EsServer) -> None:
    with es_stand_in.client() as es:
        helpers.bulk(es, [{"_index": "pit", "n": 1}])
        with pytest.raises(NotFoundError, match="index_not_found_exception"):
            es.open_point_in_time(index="missing", keep_alive="1m")
        pit = es.open_point_in_time(index="pit", keep_alive="1m")["id"]
        with pytest.raises(BadRequestError, match="cannot be used with point in time"):
            es.search(index="pit", pit={"id": pit})
        with pytest.raises(BadRequestError, match="search_after has 1 value"):
            es.search(pit={"id": pit}, sort=["n"], search_after=[1])
    response = raw(
        es_stand_in, "DELETE", "/_pit", b'{"id": "unknown"}', **{"Content-Type": "application/json"}
    )
    assert (response.status, orjson.loads(response.data)) == (
        404,
        {"succeeded": True, "num_freed": 0},
    )
