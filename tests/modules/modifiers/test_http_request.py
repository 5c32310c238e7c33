from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run
from tests.conftest import free_port
from tests.modules.services import WebServer


def http(url: str, **options: Any) -> Any:
    return build("HttpRequest", {"url": url, **options})


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_body_of_a_templated_url_goes_to_the_gambolputty_default_field(
    web_server: WebServer,
) -> None:
    out = run(http(f"{web_server.url}/status/$(name)"), [{"name": "db"}, {"name": "web"}])
    assert [event["gambolputty_http_request"] for event in out] == ["db: up", "web: up"]
    assert all(reasons(event) == [] for event in out)


def test_get_metadata_stores_content_status_final_url_and_headers(web_server: WebServer) -> None:
    module = http(f"{web_server.url}/redirect", get_metadata=True, target_field="r")
    [event] = run(module, [{}])
    response = event["r"]
    assert response["content"] == "moved: up"
    assert response["status_code"] == 200
    assert response["url"].endswith("/status/moved")
    assert response["headers"]["Content-Type"] == "text/plain"


def test_lumbermill_spelling_of_get_metadata_and_method(web_server: WebServer) -> None:
    module = build(
        "modifier.HttpRequest",
        {"url": f"{web_server.url}/method", "get_response_header": True, "http_method": "POST"},
    )
    [event] = run(module, [{}])
    assert event["gambolputty_http_request"]["content"] == "POST"


def test_head_of_a_huge_resource_gets_the_headers_without_a_body(web_server: WebServer) -> None:
    module = http(
        f"{web_server.url}/huge", http_method="HEAD", get_metadata=True, max_body_bytes=10
    )
    [event] = run(module, [{}])
    response = event["gambolputty_http_request"]
    assert (response["content"], response["status_code"]) == ("", 200)
    assert response["headers"]["Content-Length"] == str(8 << 20)
    assert reasons(event) == []


@pytest.mark.parametrize(("code", "reason"), [(404, "404 Not Found"), (500, "500"), (302, "")])
def test_status_that_is_not_2xx_is_tagged_and_nothing_stored(
    web_server: WebServer, code: int, reason: str
) -> None:
    module = http(f"{web_server.url}/code/{code}")
    [event] = run(module, [{"x": 1}])
    [tag] = reasons(event)
    assert tag.startswith(f"GET {web_server.url}/code/{code} answered {code}")
    assert reason in tag
    assert "gambolputty_http_request" not in event


def test_connection_refused_is_tagged() -> None:
    url = f"http://127.0.0.1:{free_port()}/x"
    [event] = run(http(url), [{}])
    assert reasons(event) == [f"GET {url} failed: connection refused"]


def test_server_that_does_not_answer_in_time_is_tagged(web_server: WebServer) -> None:
    started = time.monotonic()
    [event] = run(http(f"{web_server.url}/slow", socket_timeout=0.3), [{}])
    assert time.monotonic() - started < 2.5
    [tag] = reasons(event)
    assert "timed out" in tag or "Timeout" in tag
    assert "gambolputty_http_request" not in event


def test_response_dripping_in_longer_than_socket_timeout_is_tagged(web_server: WebServer) -> None:
    started = time.monotonic()
    [event] = run(http(f"{web_server.url}/drip", socket_timeout=0.5), [{}])
    assert time.monotonic() - started < 2  # not the 3 s the whole body takes
    assert reasons(event) == [
        f"GET {web_server.url}/drip: the response took longer than socket_timeout to arrive"
    ]


@pytest.mark.parametrize("path", ["/huge", "/huge-chunked"])
def test_body_over_max_body_bytes_is_tagged_without_reading_it_all(
    web_server: WebServer, path: str
) -> None:
    [event] = run(http(f"{web_server.url}{path}", max_body_bytes=100_000), [{}])
    [tag] = reasons(event)
    assert "is over max_body_bytes=100000" in tag
    assert "gambolputty_http_request" not in event


def test_server_hanging_up_without_an_answer_is_tagged(web_server: WebServer) -> None:
    started = time.monotonic()
    [event] = run(http(f"{web_server.url}/reset", socket_timeout=5), [{}])
    assert time.monotonic() - started < 4
    [tag] = reasons(event)
    assert tag.startswith(f"GET {web_server.url}/reset failed: ")
    assert "gambolputty_http_request" not in event


def test_body_is_decoded_with_the_charset_the_response_names(web_server: WebServer) -> None:
    [event] = run(http(f"{web_server.url}/latin1"), [{}])
    assert event["gambolputty_http_request"] == "café"


def test_invalid_utf8_body_is_stored_with_replacement_characters(web_server: WebServer) -> None:
    [event] = run(http(f"{web_server.url}/bad-utf8"), [{}])
    assert event["gambolputty_http_request"] == "ok \ufffd\ufffd end"
    assert reasons(event) == []


def test_event_lacking_a_url_field_is_left_alone(web_server: WebServer) -> None:
    module = http(f"{web_server.url}/status/$(name)")
    [event] = run(module, [{"other": 1}])
    assert "gambolputty_http_request" not in event
    assert reasons(event) == []
    assert module.stats.counts["missing_fields"] == 1


@pytest.mark.parametrize(
    "value", [None, 17, ["a", "b"], b"bytes", "../../etc/passwd", "a b\x00c", "\udcff", "x" * 9000]
)
def test_any_field_value_in_the_url_gives_an_answer_or_a_tag(
    web_server: WebServer, value: Any
) -> None:
    [event] = run(http(f"{web_server.url}/status/$(name)"), [{"name": value}])
    stored = "gambolputty_http_request" in event
    assert stored != bool(reasons(event))  # exactly one of the two
    assert event["name"] == value


def test_url_field_that_is_not_http_is_tagged() -> None:
    [event] = run(http("$(url)"), [{"url": "file:///etc/passwd"}])
    assert reasons(event) == ["'file:///etc/passwd' is not an http:// or https:// URL"]


def test_distinct_urls_are_requested_once_per_batch_and_cached(web_server: WebServer) -> None:
    module = http(f"{web_server.url}/status/$(name)")
    before = web_server.hits("/status/cached")
    run(module, [{"name": "cached"}] * 5)
    run(module, [{"name": "cached"}] * 5)
    assert web_server.hits("/status/cached") - before == 1
    assert module.stats.counts["cache_hits"] == 1


def test_cache_size_zero_asks_every_batch(web_server: WebServer) -> None:
    module = http(f"{web_server.url}/status/uncached", cache_size=0)
    before = web_server.hits("/status/uncached")
    run(module, [{}])
    run(module, [{}])
    assert web_server.hits("/status/uncached") - before == 2


def test_slow_urls_of_a_batch_are_requested_concurrently(web_server: WebServer) -> None:
    module = http(f"{web_server.url}/slow?$(n)", socket_timeout=1, max_concurrency=6)
    started = time.monotonic()
    out = run(module, [{"n": n} for n in range(6)])
    assert time.monotonic() - started < 4  # one after the other: 6 s
    assert len(out) == 6
    assert all(reasons(event) for event in out)


def test_url_that_is_not_http_is_refused_at_load() -> None:
    with pytest.raises(BuildError, match="is not an http:// or https:// URL"):
        http("ftp://example.com/x")
    with pytest.raises(BuildError, match="url"):
        build("HttpRequest", {})


def test_a_redis_store_that_names_no_store_node_is_a_config_error() -> None:
    with pytest.raises(BuildError, match="redis_store: unknown store 'Cache'"):
        http("http://127.0.0.1:9/status/r", redis_store="Cache", redis_key="k", redis_ttl=5)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(st.text(max_size=30), st.binary(max_size=10), st.integers(), st.none()),
        max_size=8,
    )
)
def test_any_value_never_raises_and_no_event_is_lost(
    web_server: WebServer, values: list[Any]
) -> None:
    module = http(f"{web_server.url}/status/$(v)", socket_timeout=2)
    out = run(module, [{"v": value} for value in values])
    assert [event["v"] for event in out] == values
