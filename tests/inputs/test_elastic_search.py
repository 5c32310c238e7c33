"""ElasticSearch input against the Elasticsearch stand-in (tests/stand_ins/elasticsearch/),
with documents indexed by the official client."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from gp_celery.event import EVENT_ID, META, RECEIVED_FROM
from gp_celery.framing import Chunk, decode_chunk
from gp_celery.testing import BuildError, build
from tests.conftest import wait_for
from tests.inputs.conftest import ServeFactory, errors, run_to_end
from tests.stand_ins.es_server import EsServer


def index(server: EsServer, name: str, documents: list[dict[str, Any]]) -> None:
    from elasticsearch import helpers

    with server.client() as es:
        actions = [
            {"_index": name, "_id": str(n), "_source": doc} for n, doc in enumerate(documents)
        ]
        assert helpers.bulk(es, actions) == (len(documents), [])


def read_once(server: EsServer, **options: Any) -> list[dict[str, Any]]:
    module = build("ElasticSearch", {"nodes": server.url, "query_interval_in_secs": 0, **options})
    return run_to_end(module).events


def test_documents_are_read_back_once_in_order_over_several_pages(es_stand_in: EsServer) -> None:
    index(es_stand_in, "logs", [{"data": f"line {n}", "n": n} for n in range(1200)])
    events = read_once(es_stand_in, index_name="logs", batch_size=500)
    assert [event["data"] for event in events] == [f"line {n}" for n in range(1200)]
    assert [event["n"] for event in events] == list(range(1200))
    assert {event[META][RECEIVED_FROM] for event in events} == {"logs"}
    assert len({event[META][EVENT_ID] for event in events}) == 1200


def test_a_query_selects_and_sorts_the_documents(es_stand_in: EsServer) -> None:
    index(es_stand_in, "logs", [{"data": f"line {n}", "n": n} for n in range(50)])
    query = '{"query": {"ids": {"values": ["3", "30", "7"]}}, "sort": [{"n": "desc"}]}'
    events = read_once(es_stand_in, index_name="logs", query=query, batch_size=2)
    assert [event["data"] for event in events] == ["line 30", "line 7", "line 3"]


DOCUMENT = {"message": "GET /", "http": {"status": 200, "bytes": 512}, "host": "web1"}


@pytest.mark.parametrize(
    ("mappings", "expected"),
    [
        ("all", {"data": "", **DOCUMENT}),
        (["message", "http.status"], {"data": "", "message": "GET /", "http": {"status": 200}}),
        (
            {"message": "data", "http.status": "status", "_id": "doc_id", "missing": "gone"},
            {"data": "GET /", "status": 200, "doc_id": "0"},
        ),
    ],
    ids=["all", "list", "dict"],
)
def test_field_mappings_pick_and_rename_fields(
    es_stand_in: EsServer, mappings: Any, expected: dict[str, Any]
) -> None:
    index(es_stand_in, "web", [DOCUMENT])
    (event,) = read_once(es_stand_in, index_name="web", field_mappings=mappings)
    assert {key: value for key, value in event.items() if key != META} == expected


def test_odd_documents_become_events_and_nothing_is_lost(es_stand_in: EsServer) -> None:
    odd: list[dict[str, Any]] = [
        {},
        {"data": "", "nested": {"list": [1, None, "x"]}},
        {"gambolputty": {"event_id": "forged", "event_type": "replayed"}},
        {"data": "\u0000 nul and \u2028 separator", "n": 1.5},
        {"data": "x" * 300_000},
    ]
    index(es_stand_in, "odd", odd)
    events = read_once(es_stand_in, index_name="odd")
    assert [event["data"] for event in events] == [
        "",
        "",
        "",
        "\u0000 nul and \u2028 separator",
        "x" * 300_000,
    ]
    assert events[1]["nested"] == {"list": [1, None, "x"]}
    assert events[2][META]["event_type"] == "replayed"
    assert events[2][META][EVENT_ID] != "forged"
    assert all(errors(event) == [] for event in events)


def test_a_document_msgpack_cannot_carry_arrives_as_tagged_json_text() -> None:
    module = build("ElasticSearch", {"nodes": "localhost"})
    hits = [
        {"_index": "big", "_id": "1", "_source": {"n": 2**70}},
        {"_index": "big", "_id": "2", "_source": {"data": "fine"}},
    ]
    chunk = Chunk(module.node_id, module.name, module.framing, module._pieces(hits))
    big, fine = decode_chunk(chunk).events
    assert big["data"] == '{"n": 1180591620717411303424}'
    assert errors(big)[0].startswith("document not encodable")
    assert fine["data"] == "fine"
    assert errors(fine) == []
    assert module.stats.counts["unencodable_documents"] == 1


def test_an_index_that_does_not_exist_is_logged_and_searched_again(
    es_stand_in: EsServer, serve_input: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    options = {"nodes": es_stand_in.url, "index_name": "later", "query_interval_in_secs": 0.2}
    serving = serve_input("ElasticSearch", options)
    wait_for(lambda: "no such index [later]" in caplog.text, 10, "the warning")
    assert "searching 'later' failed after 0 documents (404" in caplog.text
    index(es_stand_in, "later", [{"data": "finally"}])
    (event, *_) = serving.emit.wait_for(1)
    serving.stop()
    assert event["data"] == "finally"


def test_gambolputty_and_lumbermill_options_are_accepted() -> None:
    module = build(
        "input.ElasticSearch",
        {
            "query": '{"query":{"match_all":{}},"sort":["_doc"]}',
            "search_type": "scroll",
            "batch_size": 500,
            "field_mappings": ["data", "@timestamp"],
            "nodes": ["es1:9200", "es2"],
            "connection_type": "urllib3",
            "http_auth": "elastic:secret",
            "use_ssl": True,
            "index_name": "lumbermill-%Y.%m.%d",
            "sniff_on_start": False,
            "sniff_on_connection_fail": False,
            "query_interval_in_secs": 5,
            "read_timeout": 10,
        },
    )
    assert module.options.urls() == ["https://es1:9200", "https://es2:9200"]
    assert module.options.query == {"query": {"match_all": {}}, "sort": ["_doc"]}


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"nodes": "es", "query": "{not json"},
        {"nodes": "es", "query": '["a list"]'},
        {"nodes": "es", "query": {"pit": {"id": "x"}}},
        {"nodes": "es", "batch_size": 0},
        {"nodes": "es", "http_auth": "no-password"},
        {"nodes": "es", "field_mappings": "some"},
    ],
)
def test_bad_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        build("ElasticSearch", bad)


def test_unreachable_nodes_are_logged_and_the_input_keeps_trying(
    serve_input: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    options = {"nodes": f"127.0.0.1:{port}", "index_name": "x", "query_interval_in_secs": 0.1}
    serving = serve_input("ElasticSearch", options)
    wait_for(lambda: "Connection refused" in caplog.text, 15, "a warning about the nodes")
    assert serving.error is None
    serving.stop()
    assert serving.emit.events == []
