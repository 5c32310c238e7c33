from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def parser(**options: Any) -> Any:
    return build("DomainNameParser", {"source_field": "host", **options})


def info(value: str, **options: Any) -> dict[str, str]:
    [event] = run(parser(**options), [{"host": value}])
    assert errors_of(event) == []
    return dict(event["domain_name_info"])


def test_lumbermill_test_with_source_and_target() -> None:
    module = build("parser.DomainName", {"source_field": "url", "target_field": "url_tld_data"})
    [event] = run(module, [{"url": "http://the.sheep.co.uk"}])
    assert event["url_tld_data"] == {
        "domain": "sheep",
        "subdomain": "the",
        "suffix": "co.uk",
        "tld": "co.uk",
        "registered_domain": "sheep.co.uk",
    }


@pytest.mark.parametrize(
    ("value", "registered", "subdomain"),
    [
        ("some.subdomain.google.co.uk", "google.co.uk", "some.subdomain"),
        ("WWW.Example.COM.", "example.com", "www"),
        ("https://user:pw@mail.example.org:8443/inbox?x=1", "example.org", "mail"),
        ("ftp.example.org:21", "example.org", "ftp"),
        ("example.com", "example.com", ""),
        ("a.b.c.example.com.au", "example.com.au", "a.b.c"),
        ("bücher.de", "bücher.de", ""),
        ("host.internal", "host.internal", ""),
    ],
)
def test_host_names_and_urls_split_by_the_public_suffix_list(
    value: str, registered: str, subdomain: str
) -> None:
    parts = info(value)
    assert (parts["registered_domain"], parts["subdomain"]) == (registered, subdomain)
    assert registered == f"{parts['domain']}.{parts['suffix']}"


def test_private_suffixes_count_unless_switched_off() -> None:
    assert info("me.github.io")["suffix"] == "github.io"
    assert info("me.github.io", private_suffixes=False)["registered_domain"] == "github.io"


def test_the_list_is_read_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building and parsing with every name lookup failing shows nothing is fetched."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network lookup {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert info("a.example.co.jp")["suffix"] == "co.jp"


def test_results_are_cached_up_to_cache_size() -> None:
    module = parser(cache_size=2)
    events = [{"host": name} for name in ["a.x.com", "a.x.com", "b.x.com", "c.x.com", "a.x.com"]]
    out = run(module, events)
    assert [event["domain_name_info"]["subdomain"] for event in out] == ["a", "a", "b", "c", "a"]
    cache = module._parts.cache_info()
    assert (cache.hits, cache.misses, cache.currsize) == (1, 4, 2)


def test_events_do_not_share_the_cached_map() -> None:
    out = run(parser(), [{"host": "a.x.com"}, {"host": "a.x.com"}])
    out[0]["domain_name_info"]["domain"] = "changed"
    assert out[1]["domain_name_info"]["domain"] == "x"


def test_missing_source_passes_untouched() -> None:
    module = parser()
    [event] = run(module, [{"other": 1}])
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("localhost", "has no registered domain", id="single-label"),
        pytest.param("co.uk", "has no registered domain", id="public-suffix"),
        pytest.param("192.168.1.1", "is an IP address", id="ipv4"),
        pytest.param("http://[2001:db8::1]:80/", "is an IP address", id="ipv6-url"),
        pytest.param("a..example.com", "is not a valid host name", id="empty-label"),
        pytest.param("bad host.com", "is not a valid host name", id="space"),
        pytest.param("http://[::1", "has no host name", id="truncated-url"),
        pytest.param("", "has no host name", id="empty"),
        pytest.param("a" * 10_000 + ".com", "over 253 characters", id="oversize"),
        pytest.param(b"\xffexample.com", "is not valid UTF-8", id="invalid-utf8"),
        pytest.param("ex\udcffample.com", "is not a valid host name", id="lone-surrogate"),
        pytest.param(5, "'host' is int, not text", id="int"),
        pytest.param(None, "'host' is NoneType, not text", id="none"),
        pytest.param(["example.com"], "'host' is list, not text", id="list"),
    ],
)
def test_hostile_values_are_tagged_and_nothing_is_lost(value: Any, reason: str) -> None:
    out = run(parser(), [{"host": value}, {"host": "ok.example.com"}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert "domain_name_info" not in out[0]
    assert out[0]["host"] == value
    assert out[1]["domain_name_info"]["subdomain"] == "ok"


@pytest.mark.parametrize(
    ("options", "message"),
    [({"cache_size": -1}, "cache_size"), ({"target_field": ""}, "invalid field path")],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        parser(**options)


def test_source_field_is_required() -> None:
    with pytest.raises(BuildError, match="source_field"):
        build("DomainNameParser", {})


MODULE = parser(cache_size=16)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=100), st.text(max_size=100)))
def test_any_bytes_or_text_never_raise_and_every_event_comes_out(value: Any) -> None:
    out = run(MODULE, [{"host": value}, {"other": 1}])
    assert len(out) == 2
    assert ("domain_name_info" in out[0]) != bool(errors_of(out[0]))
