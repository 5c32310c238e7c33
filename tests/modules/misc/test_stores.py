"""RedisStore, KeyValueStore and Cache: stand-alone stores other nodes name by id, and the
redis_store/redis_key/redis_ttl cache of XPathParser, HttpRequest and Facet in them."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from gp_celery.config import ConfigError, parse_config
from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import RedisServer
from tests.modules.services import WebServer


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    return str(error.value)


def test_a_store_is_no_receiver_of_the_entry_before_it() -> None:
    config = parse_config("- StdIn\n- RedisStore\n- Noop\n- KeyValueStore\n- DevNullSink\n")
    by_id = {node.id: node for node in config.nodes}
    assert [r.target for r in by_id["StdIn"].receivers or []] == ["Noop"]
    assert [r.target for r in by_id["Noop"].receivers or []] == ["DevNullSink"]
    assert by_id["RedisStore"].receivers == []


def test_a_store_can_neither_receive_nor_send() -> None:
    assert "'RedisStore' is a RedisStore, which other nodes use by id" in problems(
        "- StdIn: {receivers: [RedisStore]}\n- RedisStore\n"
    )
    assert "neither receives nor sends events" in problems(
        "- StdIn\n- Cache: {receivers: [DevNullSink]}\n- DevNullSink\n"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cluster": {"10.0.0.1:6379": "10.0.0.2:6379"}}, "Redis Cluster is not supported"),
        ({"port": 70000}, "port"),
        ({"charset": "klingon"}, "unknown charset 'klingon'"),
        ({"socket_timeout": 0}, "socket_timeout"),
        ({"spam": 1}, "unknown option 'spam'"),
    ],
)
def test_bad_redis_store_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("RedisStore", options)


def test_a_key_value_store_refuses_memcache_and_a_redis_backend_without_server() -> None:
    with pytest.raises(BuildError, match="'MemcacheStore' is not supported"):
        build("KeyValueStore", {"backend": "MemcacheStore", "server": "x"})
    with pytest.raises(BuildError, match="needs 'server' or 'unix_socket_path'"):
        build("Cache", {"backend": "RedisStore"})


def test_redis_store_needs_redis_key_and_a_store_node() -> None:
    xpath = "- XPathParser: {source_field: xml, query: //a, redis_store: %s%s}\n"
    assert "'redis_store' needs 'redis_key'" in problems(
        "- RedisStore\n" + xpath % ("RedisStore", "")
    )
    assert "'Noop' is a Noop, not a store" in problems(
        "- Noop\n" + xpath % ("Noop", ", redis_key: $(id)")
    )


def xpath_config(redis_server: RedisServer, ttl: int = 60) -> str:
    return f"""
- RedisStore: {{server: "127.0.0.1:{redis_server.port}", db: 3}}
- XPathParser:
    source_field: xml
    query: //a/text()
    redis_store: RedisStore
    redis_key: xpath:$(id)
    redis_ttl: {ttl}
"""


def test_xpath_results_are_shared_through_the_store(redis_server: RedisServer) -> None:
    one = pipeline(parse_config(xpath_config(redis_server, ttl=30)))
    [first] = run(one, [{"id": "1", "xml": "<a>cached</a>"}], "XPathParser")
    assert first["gambolputty_xpath"] == ["cached"]
    client = redis.Redis(port=redis_server.port, db=3)
    assert 0 < client.pttl("xpath:1") <= 30_000
    # Another process: the key is found, so its (different) document is not parsed.
    two = pipeline(parse_config(xpath_config(redis_server)))
    out = run(
        two, [{"id": "1", "xml": "<a>new</a>"}, {"id": "2", "xml": "<a>new</a>"}], "XPathParser"
    )
    assert [event["gambolputty_xpath"] for event in out] == [["cached"], ["new"]]
    assert client.exists("xpath:2")


@pytest.mark.parametrize("key", ["\udcff", "x" * 100_000, 7, None])
def test_any_cache_key_value_works(redis_server: RedisServer, key: Any) -> None:
    built = pipeline(parse_config(xpath_config(redis_server)))
    for _ in range(2):  # a miss, then a hit
        [event] = run(built, [{"id": key, "xml": "<a>x</a>"}], "XPathParser")
        assert event["gambolputty_xpath"] == ["x"]
        assert errors_of(event) == []


def test_a_failed_parse_is_not_cached(redis_server: RedisServer) -> None:
    built = pipeline(parse_config(xpath_config(redis_server)))
    [event] = run(built, [{"id": "bad", "xml": "<a>"}], "XPathParser")
    assert event["gambolputty"]["errors"]
    assert not redis.Redis(port=redis_server.port, db=3).exists("xpath:bad")


def test_an_unreachable_store_only_costs_the_cache(caplog: pytest.LogCaptureFixture) -> None:
    from tests.conftest import free_port

    config = f"""
- RedisStore: {{server: 127.0.0.1, port: {free_port()}, socket_timeout: 1}}
- XPathParser: {{source_field: xml, query: //a/text(), redis_store: RedisStore, redis_key: $(id)}}
"""
    [event] = run(pipeline(parse_config(config)), [{"id": "1", "xml": "<a>x</a>"}], "XPathParser")
    assert event["gambolputty_xpath"] == ["x"]
    assert "cannot read the cache" in caplog.text


def http_config(redis_server: RedisServer, url: str) -> str:
    return f"""
- Cache: {{backend: RedisStore, server: 127.0.0.1, port: {redis_server.port}}}
- HttpRequest:
    url: {url}/status/$(service)
    target_field: status
    redis_store: Cache
    redis_key: http:$(service)
"""


def test_http_responses_are_shared_through_the_store(
    redis_server: RedisServer, web_server: WebServer
) -> None:
    before = web_server.hits("/status/db")
    for _ in range(2):  # two processes, each with its own in-process cache
        built = pipeline(parse_config(http_config(redis_server, web_server.url)))
        [event] = run(built, [{"service": "db"}], "HttpRequest")
        assert event["status"]
    assert web_server.hits("/status/db") - before == 1
    assert redis.Redis(port=redis_server.port).exists("http:db")


def test_facets_are_kept_in_the_named_store_even_in_one_process(redis_server: RedisServer) -> None:
    config = f"""
- RedisStore: {{server: 127.0.0.1, port: {redis_server.port}}}
- Facet:
    {{source_field: url, group_by: $(ip), interval: 60, redis_store: RedisStore, redis_ttl: 500}}
"""
    built = pipeline(parse_config(config))
    run(built, [{"url": "/a", "ip": "10.0.0.1"}], "Facet")
    built.tick(0.0)
    client = redis.Redis(port=redis_server.port)
    keys = client.keys("gp-celery:facet:Facet:*")
    assert keys
    assert all(client.ttl(key) > 300 for key in keys)  # redis_ttl reaches the module now


def test_a_dict_store_keeps_keys_in_process_and_bounded() -> None:
    from gp_celery.modules.key_values import DictKeyValues

    store = DictKeyValues(max_entries=2)
    store.set_many({"a": b"1", "b": b"2", "c": b"3"}, ttl=60)
    assert store.get_many(["a", "b", "c"]) == [None, b"2", b"3"]
    assert store.evicted == 1
    assert store.add_counts({"n": 2}, ttl=60) == {"n": 2}
    assert store.add_counts({"n": 3}, ttl=60) == {"n": 5}


def test_a_stores_options_count_in_the_digest_of_the_stages_using_it_in_every_role() -> None:
    def digests(db: int, role: Any) -> dict[str, str]:
        text = f"""
- RedisStore: {{server: localhost, db: {db}}}
- TcpServer: {{port: 0}}
- Throttle: {{key: $(a), backend: RedisStore}}
- DevNullSink
"""
        return parse_config(text, role=role).digests

    assert digests(1, "all") == digests(1, "listener") == digests(1, "worker")
    assert digests(1, "worker") != digests(2, "worker")


def test_a_dict_store_caches_in_process() -> None:
    config = """
- KeyValueStore: {id: local, max_entries: 5}
- XPathParser: {source_field: xml, query: //a/text(), redis_store: local, redis_key: $(id)}
"""
    built = pipeline(parse_config(config))
    run(built, [{"id": "1", "xml": "<a>first</a>"}], "XPathParser")
    [event] = run(built, [{"id": "1", "xml": "<a>second</a>"}], "XPathParser")
    assert event["gambolputty_xpath"] == ["first"]
