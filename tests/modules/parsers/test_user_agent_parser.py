from __future__ import annotations

from typing import Any

import pytest
import user_agents
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run

FIREFOX = "Mozilla/5.0 (Windows NT 6.0; rv:33.0) Gecko/20100101 Firefox/33.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ANDROID = (
    "Mozilla/5.0 (Linux; U; Android 2.3.5; en-us; HTC Vision Build/GRI40) AppleWebKit/533.1 "
    "(KHTML, like Gecko) Version/4.0 Mobile Safari/533.1"
)
# Agents of every class, most of them from the test suite of the `user-agents` package.
AGENTS = [
    FIREFOX,
    GOOGLEBOT,
    ANDROID,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 5_1 like Mac OS X) AppleWebKit/534.46 (KHTML, like "
    "Gecko) Version/5.1 Mobile/9B179 Safari/7534.48.3",
    "Mozilla/5.0(iPad; U; CPU iPhone OS 3_2 like Mac OS X; en-us) AppleWebKit/531.21.10 (KHTML, "
    "like Gecko) Version/4.0.4 Mobile/7B314 Safari/531.21.10",
    "Mozilla/5.0 (Linux; U; Android 2.2; en-us; SCH-I800 Build/FROYO) AppleWebKit/533.1 (KHTML, "
    "like Gecko) Version/4.0 Mobile Safari/533.1",
    "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_6_3; en-us; Silk/1.1.0-80) AppleWebKit/533.16 "
    "(KHTML, like Gecko) Version/5.0 Safari/533.16 Silk-Accelerated=true",
    "Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.0.1; en-US) AppleWebKit/535.8+ (KHTML, like "
    "Gecko) Version/7.2.0.1 Safari/535.8+",
    "Mozilla/5.0 (Linux; Android 4.1.1; Nexus 7 Build/JRO03D) AppleWebKit/535.19 (KHTML, like "
    "Gecko) Chrome/18.0.1025.166  Safari/535.19",
    "Mozilla/5.0 (compatible; MSIE 9.0; Windows Phone OS 7.5; Trident/5.0; IEMobile/9.0; "
    "SAMSUNG; SGH-i917)",
    "Mozilla/5.0 (BlackBerry; U; BlackBerry 9800; zh-TW) AppleWebKit/534.8+ (KHTML, like Gecko) "
    "Version/6.0.0.448 Mobile Safari/534.8+",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; ARM; Trident/6.0)",
    "Mozilla/5.0 (X11; Ubuntu; Linux i686; rv:15.0) Gecko/20100101 Firefox/15.0.1",
    "Mozilla/5.0 (SymbianOS/9.4; Series60/5.0 NokiaN97-1/12.0.024; Profile/MIDP-2.1 "
    "Configuration/CLDC-1.1; en-us) AppleWebKit/525 (KHTML, like Gecko) BrowserNG/7.1.12344",
    "Mozilla/5.0 (Android; Mobile; rv:27.0) Gecko/27.0 Firefox/27.0",
    "Mozilla/5.0 (X11; CrOS i686 0.12.433) AppleWebKit/534.30 (KHTML, like Gecko) "
    "Chrome/12.0.742.77 Safari/534.30",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/7.88.1",
    "python-requests/2.31.0",
]


def parser(**options: Any) -> Any:
    return build("UserAgentParser", {"source_fields": "user_agent", **options})


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_spec_example_firefox_family_and_major() -> None:
    [event] = run(parser(), [{"user_agent": FIREFOX}])
    info = event["user_agent_info"]
    assert (info["user_agent"]["family"], info["user_agent"]["major"]) == ("Firefox", "33")
    assert errors_of(event) == []


def test_spec_example_android_docstring_shape() -> None:
    [event] = run(parser(), [{"user_agent": ANDROID}])
    info = event["user_agent_info"]
    assert info["os"] == {
        "family": "Android",
        "major": "2",
        "minor": "3",
        "patch": "5",
        "patch_minor": None,
    }
    assert info["user_agent"] == {"family": "Android", "major": "2", "minor": "3", "patch": "5"}
    assert info["device"]["family"] == "HTC Vision"
    assert info["device_class"] == "mobile"


def test_result_has_the_benchmark_baselines_shape_plus_device_class() -> None:
    [event] = run(parser(), [{"user_agent": FIREFOX}])
    info = event["user_agent_info"]
    assert list(info) == ["user_agent", "os", "device", "device_class"]
    assert list(info["user_agent"]) == ["family", "major", "minor", "patch"]
    assert list(info["os"]) == ["family", "major", "minor", "patch", "patch_minor"]
    assert list(info["device"]) == ["family", "brand", "model"]


def test_missing_source_fields_are_skipped_and_target_field_is_honoured() -> None:
    module = parser(source_fields=["user_agent_missing", "user_agent"], target_field="http_ua")
    [event] = run(module, [{"user_agent": GOOGLEBOT}])
    assert event["http_ua"]["device"]["family"] == "Spider"
    assert event["http_ua"]["device_class"] == "bot"
    assert "user_agent_info" not in event


def test_later_source_field_overwrites_an_earlier_one() -> None:
    module = parser(source_fields=["a", "b"])
    [event] = run(module, [{"a": FIREFOX, "b": GOOGLEBOT}])
    assert event["user_agent_info"]["user_agent"]["family"] == "Googlebot"


def test_event_without_any_source_field_passes_untouched() -> None:
    [event] = run(parser(), [{"other": 1}])
    assert "user_agent_info" not in event
    assert errors_of(event) == []


def test_lumbermill_alias_builds_the_same_module() -> None:
    module = build("parser.UserAgent", {"source_fields": "ua"})
    assert type(module).__name__ == "UserAgentParser"


def test_source_fields_are_required() -> None:
    with pytest.raises(BuildError, match="source_fields"):
        build("UserAgentParser", {})


@pytest.mark.parametrize("agent", AGENTS)
def test_device_class_agrees_with_the_user_agents_package(agent: str) -> None:
    theirs = user_agents.parse(agent)
    expected = next(
        name
        for name, holds in [
            ("bot", theirs.is_bot),
            ("tablet", theirs.is_tablet),
            ("mobile", theirs.is_mobile),
            ("pc", theirs.is_pc),
            ("other", True),
        ]
        if holds
    )
    [event] = run(parser(), [{"user_agent": agent}])
    info = event["user_agent_info"]
    assert info["device_class"] == expected
    assert info["device"]["family"] == theirs.device.family
    assert info["os"]["family"] == theirs.os.family


def test_events_sharing_an_agent_get_their_own_dicts() -> None:
    first, second = run(parser(), [{"user_agent": FIREFOX}, {"user_agent": FIREFOX}])
    first["user_agent_info"]["os"]["family"] = "changed"
    first["user_agent_info"]["user_agent"]["major"] = "0"
    assert second["user_agent_info"]["os"]["family"] == "Windows"
    [third] = run(parser(), [{"user_agent": FIREFOX}])
    assert third["user_agent_info"]["user_agent"]["major"] == "33"


def test_a_repeated_agent_is_answered_from_the_cache() -> None:
    module = parser()
    run(module, [{"user_agent": FIREFOX}] * 3)
    info = module._parsed.cache_info()
    assert (info.misses, info.hits, info.maxsize) == (1, 2, 8192)


def test_the_cache_is_bounded_by_cache_size() -> None:
    module = parser(cache_size=2)
    run(module, [{"user_agent": agent} for agent in AGENTS[:5]])
    assert module._parsed.cache_info().currsize == 2


def test_cache_size_zero_parses_every_time_with_the_same_result() -> None:
    out = run(parser(cache_size=0), [{"user_agent": FIREFOX}] * 2)
    assert out[0]["user_agent_info"] == out[1]["user_agent_info"]


def test_utf8_bytes_are_parsed_like_text() -> None:
    [event] = run(parser(), [{"user_agent": FIREFOX.encode()}])
    assert event["user_agent_info"]["user_agent"]["family"] == "Firefox"


def test_empty_agent_is_parsed_as_other() -> None:
    [event] = run(parser(), [{"user_agent": ""}])
    assert event["user_agent_info"]["user_agent"]["family"] == "Other"
    assert event["user_agent_info"]["device_class"] == "other"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (42, "'user_agent' is int, not text"),
        (None, "'user_agent' is NoneType, not text"),
        ([FIREFOX], "'user_agent' is list, not text"),
        ({"a": 1}, "'user_agent' is dict, not text"),
        (b"Mozilla/5.0 \xff\xfe", "'user_agent' is not valid UTF-8"),
        ("Mozilla/5.0 \udcff", "'user_agent' holds lone surrogates"),
        ("M" * 4097, "'user_agent' is over max_agent_chars=4096"),
        ("Mozilla/5.0 (" * 1000, "'user_agent' is over max_agent_chars=4096"),
    ],
)
def test_hostile_values_are_tagged_and_the_event_goes_on(value: Any, reason: str) -> None:
    out = run(parser(), [{"user_agent": value}, {"user_agent": FIREFOX}])
    assert len(out) == 2
    assert reasons(out[0])[0].startswith(reason)
    assert "user_agent_info" not in out[0]
    assert out[1]["user_agent_info"]["user_agent"]["family"] == "Firefox"


def test_truncated_agent_is_parsed_as_far_as_it_goes() -> None:
    [event] = run(parser(), [{"user_agent": FIREFOX[:30]}])
    assert errors_of(event) == []
    assert event["user_agent_info"]["user_agent"]["family"] == "Other"


def test_max_agent_chars_is_an_option() -> None:
    [event] = run(parser(max_agent_chars=10), [{"user_agent": FIREFOX}])
    assert reasons(event) == ["'user_agent' is over max_agent_chars=10"]


SHARED = parser()
"""One parser for the property test (building one compiles every pattern: ~0.3 s)."""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), max_size=5))
def test_any_text_or_bytes_never_raises_and_every_event_comes_back(values: list[Any]) -> None:
    out = run(SHARED, [{"user_agent": value} for value in values])
    assert len(out) == len(values)
    for event in out:
        assert ("user_agent_info" in event) != bool(errors_of(event))
