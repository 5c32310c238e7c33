from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of, metadata
from gp_celery.testing import BuildError, build, run


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def parser(**options: Any) -> Any:
    return build("UrlParser", {"source_field": "uri", **options})


def test_spec_example_replaces_the_source_with_its_components() -> None:
    [event] = run(parser(), [{"uri": "http://en.wikipedia.org/wiki/Monty_Python/?gambol=putty"}])
    assert event["uri"] == {
        "scheme": "http",
        "netloc": "en.wikipedia.org",
        "hostname": "en.wikipedia.org",
        "port": None,
        "path": "/wiki/Monty_Python/",
        "params": "",
        "query": "gambol=putty",
        "fragment": "",
    }


def test_readme_example_with_target_and_querystring_target() -> None:
    module = parser(
        target_field="uri_parsed", parse_querystring=True, querystring_target_field="params"
    )
    [event] = run(module, [{"uri": "http://x.org/a?spanish=inquisition"}])
    assert event["uri_parsed"]["path"] == "/a"
    assert event["params"] == {"spanish": ["inquisition"]}
    assert event["uri"] == "http://x.org/a?spanish=inquisition"


def test_host_port_user_and_fragment_are_kept() -> None:
    [event] = run(parser(), [{"uri": "https://Me:pw@Example.COM:8443/p;v=1?q#Top%20part"}])
    parts = event["uri"]
    assert (parts["hostname"], parts["port"]) == ("example.com", 8443)
    assert parts["netloc"] == "Me:pw@Example.COM:8443"
    assert (parts["params"], parts["fragment"]) == ("v=1", "Top part")


def test_encoded_ampersand_and_equals_stay_inside_their_value() -> None:
    module = parser(parse_querystring=True, querystring_target_field="q")
    [event] = run(module, [{"uri": "/s?a=1%262%3D3&b=x+y&c=%3Fd%23"}])
    assert event["q"] == {"a": ["1&2=3"], "b": ["x y"], "c": ["?d#"]}
    assert event["uri"]["query"] == "a=1%262%3D3&b=x+y&c=%3Fd%23"


def test_path_is_unquoted_after_splitting() -> None:
    [event] = run(parser(), [{"uri": "/a%3Fb/%C3%A4"}])
    assert event["uri"]["path"] == "/a?b/ä"
    assert event["uri"]["query"] == ""


def test_parameters_merge_into_the_event_with_prefix_and_repeat_as_lists() -> None:
    module = parser(parse_querystring=True, querystring_prefix="qs_")
    [event] = run(module, [{"uri": "/?a=1&a=2&blank="}])
    assert event["qs_a"] == ["1", "2"]
    assert "qs_blank" not in event


def test_a_parameter_named_like_the_metadata_does_not_replace_it() -> None:
    module = parser(parse_querystring=True)
    [event] = run(module, [{"uri": "/?gambolputty=x&lumbermill=y&ok=1"}])
    assert isinstance(metadata(event)["event_id"], str)
    assert event["ok"] == ["1"]
    assert len(reasons(event)) == 2
    assert "would overwrite the event's metadata" in reasons(event)[0]


def test_lumbermill_alias() -> None:
    assert type(build("parser.Url", {"source_field": "u"})).__name__ == "UrlParser"


def test_encode_percent_encodes_utf8_into_the_target() -> None:
    module = parser(action="encode", target_field="enc")
    [event] = run(module, [{"uri": "/a b/ä?x=1&y"}])
    assert event["enc"] == "/a%20b/%C3%A4%3Fx%3D1%26y"
    assert unquote(event["enc"]) == event["uri"]


def test_encode_without_target_replaces_the_source() -> None:
    [event] = run(parser(action="encode"), [{"uri": "a b"}])
    assert event["uri"] == "a%20b"


def test_missing_source_passes_untouched() -> None:
    module = parser()
    [event] = run(module, [{"data": "x"}])
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("http://h:99999/", "Port out of range", id="port-out-of-range"),
        pytest.param("http://h:-1/", "Port could not be cast", id="negative-port"),
        pytest.param("http://h:80a/", "Port could not be cast", id="non-numeric-port"),
        pytest.param("http://[::1/", "Invalid IPv6 URL", id="truncated-ipv6"),
        pytest.param("/%ff%fe", "percent-escapes that are not UTF-8", id="bad-escape-path"),
        pytest.param("/?a=%ff", "percent-escapes that are not UTF-8", id="bad-escape-query"),
        pytest.param("/?" + "a=1&" * 1001, "Max number of fields", id="too-many-params"),
        pytest.param(b"http://h/\xff", "is not valid UTF-8", id="invalid-utf8"),
        pytest.param(80, "'uri' is int, not text", id="int"),
        pytest.param(None, "'uri' is NoneType, not text", id="none"),
        pytest.param(["/a"], "'uri' is list, not text", id="list"),
    ],
)
def test_hostile_values_are_tagged_and_nothing_is_lost(value: Any, reason: str) -> None:
    module = parser(parse_querystring=True, querystring_target_field="q")
    out = run(module, [{"uri": value}, {"uri": "/ok"}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert out[0]["uri"] == value
    assert "q" not in out[0]
    assert out[1]["uri"]["path"] == "/ok"


def test_oversize_url_still_parses() -> None:
    path = "/" + "a" * 5_000_000
    [event] = run(parser(), [{"uri": "http://h" + path}])
    assert event["uri"]["path"] == path


def test_encode_tags_text_that_is_not_unicode() -> None:
    [event] = run(parser(action="encode"), [{"uri": "a\udcff"}])
    assert "cannot be encoded" in reasons(event)[0]
    assert event["uri"] == "a\udcff"


@pytest.mark.parametrize(
    "options",
    [{"action": "split"}, {"max_query_fields": 0}, {"querystring_target_field": "a..b"}],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        parser(**options)


def test_source_field_is_required() -> None:
    with pytest.raises(BuildError, match="source_field"):
        build("UrlParser", {})


MODULE = parser(parse_querystring=True)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_bytes_or_text_never_raise_and_every_event_comes_out(value: Any) -> None:
    out = run(MODULE, [{"uri": value}, {"other": 1}])
    assert len(out) == 2
    assert isinstance(metadata(out[0])["event_id"], str)
