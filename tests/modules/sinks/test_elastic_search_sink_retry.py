"""ElasticSearchSink's pure decisions: which answers are failures, which are worth a retry."""

from __future__ import annotations

from typing import Any

import pytest

from gp_celery.modules.sinks.elastic_search_sink.retry import (
    bulk_outcomes,
    is_retriable,
    item_outcome,
)


@pytest.mark.parametrize(
    ("status", "retriable"),
    [
        (429, True),  # rejected execution: Elasticsearch pushes back
        (500, True),
        (502, True),
        (503, True),  # unavailable shards
        (504, True),
        (408, True),
        (400, False),  # mapping conflict, bad index name: needs a person
        (401, False),  # bad credentials
        (403, False),
        (404, False),  # update of a missing document, missing index with auto-create off
        (409, False),
        (413, False),  # request too large: the same request stays too large
    ],
)
def test_is_retriable_passes_pushback_and_server_trouble_only(status: int, retriable: bool) -> None:
    assert is_retriable(status) is retriable


def item(op: str, status: Any, error: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = {"_index": "i", "_id": "1"}
    if status is not None:
        result["status"] = status
    if error is not None:
        result["error"] = error
    return {op: result}


@pytest.mark.parametrize("status", [200, 201])
def test_success_items_are_no_failure(status: int) -> None:
    assert item_outcome("index", item("index", status)) is None


def test_create_that_finds_its_document_there_already_counts_as_written() -> None:
    conflict = item("create", 409, {"type": "version_conflict_engine_exception", "reason": "x"})
    assert item_outcome("create", conflict) is None


def test_update_that_lost_a_race_is_retried_and_index_conflict_is_not() -> None:
    conflict = {"type": "version_conflict_engine_exception", "reason": "x"}
    assert item_outcome("update", item("update", 409, conflict)) == (
        "409 version_conflict_engine_exception: x",
        True,
    )
    outcome = item_outcome("index", item("index", 409, conflict))
    assert outcome is not None
    assert outcome[1] is False


def test_failed_item_reason_names_status_type_and_reason() -> None:
    error = {"type": "document_parsing_exception", "reason": "failed to parse field [a]"}
    assert item_outcome("index", item("index", 400, error)) == (
        "400 document_parsing_exception: failed to parse field [a]",
        False,
    )


@pytest.mark.parametrize(
    "odd",
    [None, {}, [], "text", {"index": None}, {"index": "x"}],
    ids=["none", "empty", "list", "text", "null-result", "text-result"],
)
def test_malformed_item_is_a_retriable_failure(odd: Any) -> None:
    outcome = item_outcome("index", odd)
    assert outcome is not None
    assert outcome[1] is True


@pytest.mark.parametrize("status", [None, "201", 2.5])
def test_item_without_an_integer_status_counts_as_500_as_in_the_official_helpers(
    status: Any,
) -> None:
    assert item_outcome("index", item("index", status)) == ("status 500", True)


def test_bulk_outcomes_give_positions_of_the_failed_items_only() -> None:
    body = {
        "errors": True,
        "items": [
            item("index", 201),
            item("index", 429, {"type": "es_rejected_execution_exception", "reason": "full"}),
            item("index", 200),
            item("index", 400, {"type": "document_parsing_exception", "reason": "bad"}),
        ],
    }
    assert bulk_outcomes("index", body, 4) == [
        (1, "429 es_rejected_execution_exception: full", True),
        (3, "400 document_parsing_exception: bad", False),
    ]


def test_bulk_outcomes_trust_errors_false() -> None:
    body = {"errors": False, "items": [item("index", 201), item("index", 200)]}
    assert bulk_outcomes("index", body, 2) == []


@pytest.mark.parametrize(
    "body",
    [
        None,
        "<html>proxy error</html>",
        {"took": 1},
        {"errors": False, "items": []},
        {"errors": True, "items": [item("index", 201)]},
        {"errors": True, "items": "none"},
    ],
    ids=["none", "html", "no-items", "no-item-for-the-actions", "too-few", "not-a-list"],
)
def test_response_without_one_item_per_action_fails_every_action_retriably(body: Any) -> None:
    outcomes = bulk_outcomes("index", body, 2)
    assert [(position, retriable) for position, _, retriable in outcomes] == [
        (0, True),
        (1, True),
    ]
    assert all(reason.startswith("malformed bulk response") for _, reason, _ in outcomes)
