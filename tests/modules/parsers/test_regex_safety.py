"""RegexParser's backtracking safety net: the shape check, RE2, max_input_bytes, warnings."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of, event_type
from gp_celery.modules.parsers.grok import expand, load_library
from gp_celery.modules.parsers.regex_parser.re2_engine import NotForRe2, Re2Regex, to_re2
from gp_celery.modules.parsers.regex_parser.safety import find_risks
from gp_celery.testing import BuildError, build, run
from tests.e2e.conftest import gp

REDOS_LINE = "a" * 40 + "!"
COMBINED = (
    r'^(?P<remote_ip>\S+) (?P<identd>\S+) (?P<user>\S+) \[(?P<datetime>[^\]]+)\] "(?P<method>'
    r'[A-Z]+) (?P<url>[^ "]+) (?P<http_version>HTTP/[0-9.]+)" (?P<http_status>\d{3}) '
    r'(?P<bytes_send>\d+|-) "(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)"'
)
SEED_PATTERNS = [  # the seed README's RegexParser patterns, and benchmark p1's
    r"(?P<remote_ip>\d+\.\d+\.\d+\.\d+)\s+(?P<identd>\w+|-)\s+(?P<user>\w+|-)\s+\[(?P<datetime>"
    r"\d+\/\w+\/\d+:\d+:\d+:\d+\s.\d+)\]\s+\"(?P<url>.*)\"\s+(?P<http_status>\d+)\s+"
    r"(?P<bytes_send>\d+)",
    r"(?P<remote_ip>\d+\.\d+\.\d+\.\d+)\s(?P<x_forwarded_for>\d+\.\d+\.\d+\.\d+)\s(?P<identd>"
    r"\w+|-)\s(?P<user>\w+|-)\s\[(?P<datetime>\d+\/\w+\/\d+:\d+:\d+:\d+\s.\d+)\]\s\"(?P<url>"
    r".*)\"\s(?P<http_status>\d+)\s(?P<bytes_send>\d+)",
    r"(?P<syslog_prival>\<\d+\>)(?P<log_timestamp>\w+\s+\d+\s+\d+:\d+:\d+)\s+(?P<host>"
    r"[\w\-\._]+)\s+kernel:.*?\ iptables\ (?P<iptables_action>.*?)\ :\ IN=(?P<iptables_in_int>"
    r".*?)\ OUT=(?P<iptables_out_int>.*?)\ SRC=(?P<iptables_src>.*?)\ DST=(?P<iptables_dst>"
    r".*?)\ LEN=(?P<iptables_len>.*?)\ .*?PROTO=(?P<iptables_proto>.*?)\ SPT=(?P<iptables_spt>"
    r".*?)\ DPT=(?P<iptables_dpt>.*?)\ WINDOW=.*",
    COMBINED,
]
ACCESS_LINE = (
    '203.0.113.7 - - [10/Mar/2024:00:00:00 +0100] "GET /p?q=1 HTTP/1.1" 200 5120 '
    '"https://ref/" "Mozilla/5.0 (X11)"'
)


def parser(patterns: Any, **options: Any) -> Any:
    return build("RegexParser", {"field_extraction_patterns": patterns, **options})


@pytest.mark.parametrize(
    ("pattern", "kind", "where"),
    [
        (r"^(a+)+$", "nested quantifier", "(a+)+"),
        (r"(a*)*b", "nested quantifier", "(a*)*"),
        (r"(.*)*x", "nested quantifier", "(.*)*"),
        (r"^(\w+\s?)+$", "nested quantifier", r"(\w+\s?)+"),
        (r"(.+ )+!", "nested quantifier", "(.+ )+"),
        (r"(?:\s*\S+)*$", "nested quantifier", r"(?:\s*\S+)*"),
        (r"(a+){1,50}$", "nested quantifier", "(a+){1,50}"),
        (r"(a|a)*b", "overlapping alternation", None),
        (r"(\s|.)*b", "overlapping alternation", None),
        (r"(?:x|\w\w)+;", "overlapping alternation", None),
    ],
)
def test_catastrophic_shapes_are_found(pattern: str, kind: str, where: str | None) -> None:
    [risk] = find_risks(pattern)
    assert risk.kind == kind
    if where is not None:
        assert risk.where == where


@pytest.mark.parametrize(
    "pattern",
    [
        r"(\w+ )+",
        r"(?:/[^/]*)+",
        r"(?:\.[a-z]{0,62})*",
        r"(?>a+)+$",
        r"(a++)+$",
        r"(?:ab|ac)*",
        r"(a|b)*",
        r"(\w+\.\w+)+",
        r".*a.*a.*a",
        r"(?:[0-9A-Fa-f]{1,4}:){7}",
        r"(\w|\d)+",  # re folds it into one class, [\w\d]: nothing to backtrack over
    ],
)
def test_unambiguous_repeats_are_not_reported(pattern: str) -> None:
    assert find_risks(pattern) == []


@pytest.mark.parametrize("pattern", SEED_PATTERNS)
def test_seed_patterns_are_not_reported(pattern: str) -> None:
    assert find_risks(pattern) == []


@pytest.mark.parametrize("name", sorted(load_library()))
def test_bundled_grok_patterns_are_not_reported(name: str) -> None:
    assert find_risks(expand(f"%{{{name}}}").regex) == []


SAMPLES = [
    ACCESS_LINE,
    "héllo wörld 中文 ٣٤ x_1",
    "tab\there\u2003em space\u00a0nbsp",
    "line one\nline two\n",
    "",
    "\ud800 lone surrogate",
    "a" * 16 + "!",  # short: re itself takes 2**16 steps on it
]
SAME_AS_RE = [
    COMBINED,
    r"(?P<w>\w+)\s+(?P<d>\d+)?",
    r"(?P<s>\S+)(?P<sp>\s*)",
    r"(?i)(?P<h>HELLO|Line)\s(?P<rest>.*)$",
    r"(?m)^(?P<first>\w+) (?P<second>\w+)$",
    r"(?s)(?P<all>line.*two)",
    r"(?P<x>[^\d]+)",
    r"^(?P<a>(?:a+)+)$",
    r"(?P<lazy>.*?)(?P<rest>o.*)",
    r"(?P<cls>[\d\s_-]+)",
    r"\A(?P<start>.)",
    r"(?P<z>x_1)\Z",
    r"(?P<u>[^\n\t]+)",
]


@pytest.mark.parametrize("pattern", SAME_AS_RE)
def test_re2_translation_extracts_what_re_extracts(pattern: str) -> None:
    python, fast = re.compile(pattern), Re2Regex(to_re2(pattern))
    for text in SAMPLES:
        expected = python.search(text.replace("\ud800", "?"))
        got = fast.search(text)
        assert (got is None) == (expected is None), (pattern, text)
        if got is not None and expected is not None:
            assert got.groupdict() == expected.groupdict(), (pattern, text)
            assert got.start() == expected.start()


# Cn: code points this Python's Unicode database does not know; RE2's may (documented).
@given(st.text(alphabet=st.characters(exclude_categories=["Cs", "Cn"]), max_size=60))
@settings(max_examples=300, deadline=None)
def test_re2_translation_agrees_with_re_on_random_text(text: str) -> None:
    for pattern in (r"(?P<w>\w+)(?P<s>\s*)(?P<d>\d*)", r"(?P<ns>\S+)\s(?P<x>[a-z]+)?"):
        expected = re.search(pattern, text)
        got = Re2Regex(to_re2(pattern)).search(text)
        assert (got.groupdict() if got else None) == (expected.groupdict() if expected else None)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(?P<a>x)(?P=a)", "backreference"),
        (r"a(?=b)", "lookahead"),
        (r"(?<!x)a", "lookbehind"),
        (r"(?>a+)b", "atomic group"),
        (r"a++b", "possessive"),
        (r"\bword\b", "word boundary"),
        (r"(?P<x>a$)", "$ before the end"),
        (r"a{1,2000}", "repeat count"),
        (r"(?ai)k", "IGNORECASE with ASCII"),
        (r"[\Wx]", r"\W, \S or \D beside"),
    ],
)
def test_patterns_re2_cannot_run_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(NotForRe2, match=re.escape(reason)):
        to_re2(pattern)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("engine", ["auto", "re2"])
def test_redos_line_finishes_on_re2_and_is_unmatched(engine: str) -> None:
    module = parser([{"redos": r"^(?P<run>a+)+$"}], engine=engine)
    events = [{"data": REDOS_LINE}, {"data": "a" * 60000 + "!"}, {"data": "aaa"}]
    out = run(module, events)
    assert len(out) == len(events)
    assert [event_type(event) for event in out] == ["Unknown", "Unknown", "redos"]
    assert out[2]["run"] == "aaa"
    assert all(errors_of(event) == [] for event in out)


@pytest.mark.timeout(10)
def test_findall_on_re2_matches_re() -> None:
    patterns = [{"pairs": [r"(?P<k>\w+)=(?P<v>[^ ]*)", None, "findall"]}]
    line = "a=1 b= ü=ö c=3"
    fast, slow = parser(patterns, engine="re2"), parser(patterns, engine="re")
    [by_re2], [by_re] = run(fast, [{"data": line}]), run(slow, [{"data": line}])
    assert by_re2["k"] == by_re["k"] == ["a", "b", "ü", "c"]
    assert by_re2["v"] == by_re["v"] == ["1", "", "ö", "3"]


def test_engine_re2_refuses_a_pattern_that_needs_re() -> None:
    with pytest.raises(BuildError, match=r"engine re2: pattern 'look' needs re: a lookahead"):
        parser([{"ok": "(?P<a>x+)"}, {"look": "(?P<b>y)(?=z)"}], engine="re2")


def test_engine_must_be_auto_re_or_re2() -> None:
    with pytest.raises(BuildError, match="engine"):
        parser([{"ok": "(?P<a>x+)"}], engine="pcre")


@pytest.mark.parametrize(
    ("text", "limit", "tagged"),
    [
        ("x" * 100, 100, False),
        ("x" * 101, 100, True),
        ("中" * 34, 100, True),  # 34 characters, 102 bytes of UTF-8
        ("中" * 33, 100, False),
        ("x" * 200_000, 0, False),  # 0: no limit
    ],
)
@pytest.mark.parametrize("engine", ["auto", "re", "re2"])
def test_source_text_over_max_input_bytes_is_tagged_not_matched(
    text: str, limit: int, tagged: bool, engine: str
) -> None:
    module = parser([{"any": r"(?P<first>.)"}], max_input_bytes=limit, engine=engine)
    [event] = run(module, [{"data": text}])
    if tagged:
        [error] = errors_of(event)
        assert "over max_input_bytes" in error["reason"]
        assert "first" not in event
        assert event_type(event) == "Unknown"  # untouched, not 'mark_unmatched_as'
    else:
        assert errors_of(event) == []
        assert event["first"] == text[0]


HOSTILE: list[tuple[Any, str | None]] = [
    (b"\xff\xfe aaa", "not valid UTF-8"),
    (b"aaa\xc3", "not valid UTF-8"),  # truncated multi-byte character
    ("a" * 70_000, "over max_input_bytes"),
    (42, "is int, not text"),
    (None, "is NoneType, not text"),
    (["a"], "is list, not text"),
    ({"a": 1}, "is dict, not text"),
    ("\ud800aaa", None),  # lone surrogate: matched as '?' on RE2, as itself on re
    ("", None),
    (REDOS_LINE, None),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("value", "tag"), HOSTILE)
def test_hostile_source_values_are_tagged_and_nothing_is_lost(value: Any, tag: str | None) -> None:
    module = parser([{"redos": r"^(?P<run>a+)+$"}, {"tail": r"(?P<tail>a{3})$"}])
    events = [{"data": value}, {"data": "aaa"}]
    out = run(module, events)
    assert len(out) == len(events)
    assert event_type(out[1]) == "redos"
    if tag is None:
        assert errors_of(out[0]) == []
    else:
        [error] = errors_of(out[0])
        assert tag in error["reason"]


@pytest.mark.timeout(60)
@given(value=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
@settings(max_examples=200, deadline=None)
def test_random_source_never_raises_and_keeps_every_event(value: Any) -> None:
    module = _hypothesis_parser()
    events = [{"data": value}, {"data": ACCESS_LINE}, {"data": REDOS_LINE}]
    out = run(module, events)
    assert len(out) == len(events)
    assert event_type(out[1]) == "access"


# The guard is a thread: pytest-timeout's signal method holds ITIMER_REAL, and the budget
# stands aside for a timer it does not own.
@pytest.mark.timeout(20, method="thread")
def test_risky_pattern_left_on_re_is_stopped_after_its_budget_and_tagged() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    module = parser(
        [{"looky": r"^(?P<w>\w+\s?)+(?=x)"}, {"bang": r"(?P<bang>!)$"}],
        match_budget_secs=0.2,
        hot_rules_first=False,
    )
    events = [{"data": REDOS_LINE}, {"data": "ab x"}]
    out = run(module, events)
    assert len(out) == len(events)
    [error] = errors_of(out[0])
    assert error["reason"] == "pattern 'looky' took over 0.2 s on this text; stopped"
    assert (event_type(out[0]), out[0]["bang"]) == ("bang", "!")  # the next pattern was tried
    assert (event_type(out[1]), out[1]["w"], errors_of(out[1])) == ("looky", "ab ", [])
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.timeout(20, method="thread")
def test_findall_of_a_risky_pattern_on_re_is_stopped_after_its_budget() -> None:
    pattern = [r"(?P<w>(?:a+)+)(?=b)", None, "findall"]  # lookahead: stays on re
    module = parser([{"words": pattern}], match_budget_secs=0.2)
    [event] = run(module, [{"data": "ab" + "a" * 30 + "c"}])  # first match fast, then not
    [error] = errors_of(event)
    assert "took over 0.2 s" in error["reason"]
    assert event_type(event) == "words"
    assert "w" not in event


_built: list[Any] = []


def _hypothesis_parser() -> Any:
    if not _built:
        _built.append(
            parser(
                [{"access": COMBINED}, {"redos": r"^(?P<x>\w+\s?)+$"}],
                max_input_bytes=200,
                hot_rules_first=False,
            )
        )
    return _built[0]


def test_check_warns_about_a_risky_pattern_at_its_line_and_exits_0(tmp_path: Path) -> None:
    config = tmp_path / "risky.yml"
    config.write_text(
        "- StdIn\n"
        "- RegexParser:\n"
        "    id: parse\n"
        "    field_extraction_patterns:\n"
        "     - ok: '^(?P<code>\\d{3})$'\n"
        "     - redos: '^(?P<word>a+)+$'\n"
        "     - looky: '^(?P<w>\\w+\\s?)+(?=x)'\n"
        "- StdOutSink\n",
        encoding="utf-8",
    )
    result = gp("check", "-c", str(config))
    assert result.returncode == 0
    out = result.stdout.decode()
    assert out.startswith(f"{config}: OK: 3 modules\n")
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f"{config}:6: RegexParser 'parse': field_extraction_patterns: warning: pattern 'redos' "
        "may backtrack catastrophically (nested quantifier in '(a+)+'); it runs on RE2"
    )
    assert warnings[1].startswith(f"{config}:7: RegexParser 'parse': field_extraction_patterns:")
    assert "RE2 cannot (a lookahead or lookbehind)" in warnings[1]
    assert "over match_budget_secs (1) is stopped and its event tagged" in warnings[1]


def test_without_a_budget_the_warning_says_only_max_input_bytes_bounds_it() -> None:
    module = parser([{"looky": r"^(?P<w>\w+\s?)+(?=x)"}], match_budget_secs=0)
    [warning] = type(module).option_warnings(module.options)
    assert warning.path == ("field_extraction_patterns", 0, "looky")
    assert "one hostile line can hold a worker, bounded only by max_input_bytes (65536)" in (
        warning.message
    )


@pytest.mark.parametrize(
    "config", ["conf/example-stdin.yml", "conf/example-tcp.yml", "conf/example-full.yml"]
)
def test_check_has_no_warning_for_the_shipped_configs(config: str) -> None:
    result = gp("check", "-c", config)
    assert result.returncode == 0
    assert "warning:" not in result.stdout.decode()


@pytest.mark.timeout(30)
def test_run_logs_one_warning_per_risky_pattern_and_parses_on_re2(tmp_path: Path) -> None:
    config = tmp_path / "risky.yml"
    config.write_text(
        "- StdIn\n"
        "- RegexParser:\n"
        "    field_extraction_patterns:\n"
        "     - redos: '^(?P<word>a+)+$'\n"
        "- StdOutSink:\n"
        "    format: '$(gambolputty.event_type) $(word)'\n",
        encoding="utf-8",
    )
    result = gp("run", "-c", str(config), stdin=f"{REDOS_LINE}\naaaa\n".encode(), timeout=25)
    assert result.returncode == 0, result.stderr.decode()
    logged = [line for line in result.stderr.decode().splitlines() if "WARNING" in line]
    assert len(logged) == 1
    assert f"{config}:4: RegexParser: field_extraction_patterns: warning:" in logged[0]
    assert result.stdout.decode().splitlines()[-1] == "redos aaaa"
