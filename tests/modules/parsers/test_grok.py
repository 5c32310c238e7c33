from __future__ import annotations

import ipaddress
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gp_celery.modules.parsers.grok import (
    GrokError,
    compile_grok,
    expand,
    load_library,
    optional_groups,
    parse_library,
)

GENERATOR = Path("/work/shared/bench/gen_access_log.py")
COMBINED_REGEX = Path("/work/shared/bench/combined_regex.txt")

BASE_SET = """
    USERNAME USER INT BASE10NUM NUMBER BASE16NUM POSINT NONNEGINT WORD NOTSPACE SPACE DATA
    GREEDYDATA QUOTEDSTRING QS UUID MAC IPV6 IPV4 IP HOSTNAME IPORHOST HOSTPORT PATH UNIXPATH
    URIPROTO URIHOST URIPATH URIPARAM URIPATHPARAM URI MONTH MONTHNUM MONTHDAY DAY YEAR HOUR
    MINUTE SECOND TIME DATE_US DATE_EU ISO8601_TIMEZONE TIMESTAMP_ISO8601 DATE DATESTAMP TZ
    HTTPDATE SYSLOGTIMESTAMP PROG SYSLOGPROG SYSLOGHOST SYSLOGFACILITY SYSLOGBASE LOGLEVEL
    COMMONAPACHELOG COMBINEDAPACHELOG HTTPMETHOD HTTPVERSION
""".split()  # noqa: SIM905 a block of names reads better than 60 list lines


def grok(pattern: str) -> re.Pattern[str]:
    return re.compile(expand(pattern).regex)


def test_library_ships_the_logstash_base_set_and_gambolputty_extras() -> None:
    assert set(BASE_SET) <= set(load_library())


@pytest.mark.parametrize("name", sorted(load_library()))
def test_every_shipped_pattern_compiles_on_its_own(name: str) -> None:
    regex = re.compile(expand(f"%{{{name}}}").regex)
    assert regex.groups >= 0


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("INT", "-42"),
        ("NUMBER", "3.14"),
        ("NUMBER", "-.5"),
        ("BASE16NUM", "0x1F"),
        ("POSINT", "17"),
        ("WORD", "hello_1"),
        ("QUOTEDSTRING", r'"say \"hi\""'),
        ("QUOTEDSTRING", "'single'"),
        ("UUID", "123e4567-e89b-12d3-a456-426614174000"),
        ("MAC", "00:1a:2B:3c:4d:5e"),
        ("MAC", "001a.2b3c.4d5e"),
        ("MAC", "00-1a-2b-3c-4d-5e"),
        ("IPV4", "192.168.2.20"),
        ("HOSTNAME", "www.example.com"),
        ("HOSTPORT", "db-1.internal:5432"),
        ("UNIXPATH", "/var/log/nginx/access.log"),
        ("PATH", r"C:\Windows\System32"),
        ("URI", "https://user:pw@example.com:8443/a/b.php?x=1&y=%20"),
        ("URIPATHPARAM", "/search?q=bike+travel&lang=fr"),
        ("HTTPDATE", "28/Jul/2006:10:27:10 -0300"),
        ("SYSLOGTIMESTAMP", "Mar  9 07:01:02"),
        ("TIMESTAMP_ISO8601", "2024-03-10T00:00:00.123+01:00"),
        ("TIMESTAMP_ISO8601", "2024-03-10 00:00:00Z"),
        ("DATE", "03/10/2024"),
        ("DATE", "10.03.2024"),
        ("DATESTAMP", "10.03.2024 12:13:14"),
        ("LOGLEVEL", "WARNING"),
        ("LOGLEVEL", "err"),
        ("HTTPMETHOD", "PATCH"),
        ("HTTPVERSION", "HTTP/1.1"),
        ("HTTPVERSION", "HTTP/2"),
    ],
)
def test_patterns_match_their_whole_example(name: str, text: str) -> None:
    assert grok(f"^%{{{name}}}$").match(text)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("IPV4", "256.1.1.1"),
        ("IPV4", "1.2.3"),
        ("IPV6", "1:2:3:4:5:6:7:8:9"),
        ("IPV6", "1::2::3"),
        ("POSINT", "0"),
        ("MONTH", "Foo"),
        ("HTTPMETHOD", "FETCH"),
    ],
)
def test_patterns_reject_lookalikes(name: str, text: str) -> None:
    assert not grok(f"^%{{{name}}}$").match(text)


def _ipv6_samples(count: int) -> list[str]:
    rng = random.Random(7)
    samples = []
    for _ in range(count):
        groups = [rng.getrandbits(16) for _ in range(8)]
        start = rng.randrange(8)
        for k in range(start, start + rng.randrange(0, 9 - start)):
            groups[k] = 0
        address = ipaddress.IPv6Address(sum(g << (16 * k) for k, g in enumerate(groups)))
        samples += [address.compressed, address.exploded, address.compressed.upper()]
    return [*samples, "::", "::1", "1::", "fe80::1%eth0", "::ffff:192.0.2.1", "64:ff9b::1.2.3.4"]


def test_ip_takes_the_whole_address_even_unanchored() -> None:
    """Alternatives are ordered longest first, so a plain match is never cut short."""
    ip = grok("%{IP}")
    for text in [*_ipv6_samples(3000), "10.0.0.1", "255.255.255.255"]:
        match = ip.match(text)
        assert match is not None
        assert match.group() == text


needs_bench = pytest.mark.skipif(not GENERATOR.exists(), reason="no /work/shared/bench")


@pytest.fixture(scope="module")
def access_lines() -> list[str]:
    out = subprocess.run(
        [sys.executable, str(GENERATOR), "3000"], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


@needs_bench
def test_combinedapachelog_parses_the_benchmark_log_with_logstash_field_names(
    access_lines: list[str],
) -> None:
    combined = grok("^%{COMBINEDAPACHELOG}$")
    reference = re.compile(COMBINED_REGEX.read_text().strip())
    pairs = {
        "clientip": "remote_ip",
        "ident": "identd",
        "auth": "user",
        "timestamp": "datetime",
        "verb": "method",
        "request": "url",
        "response": "http_status",
    }
    for line in access_lines:
        match, expected = combined.match(line), reference.match(line)
        assert match is not None, line
        assert expected is not None
        fields, want = match.groupdict(), expected.groupdict()
        for ours, theirs in pairs.items():
            assert fields[ours] == want[theirs], (ours, line)
        assert fields["bytes"] == (None if want["bytes_send"] == "-" else want["bytes_send"])
        assert "HTTP/" + fields["httpversion"] == want["http_version"]
        assert fields["referrer"] == f'"{want["referer"]}"'  # logstash keeps the quotes
        assert fields["agent"] == f'"{want["user_agent"]}"'


def test_commonapachelog_fields_of_one_line() -> None:
    line = '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395'
    match = grok("^%{COMMONAPACHELOG}$").match(line)
    assert match is not None
    assert {k: v for k, v in match.groupdict().items() if v is not None} == {
        "clientip": "192.168.2.20",
        "ident": "-",
        "auth": "-",
        "timestamp": "28/Jul/2006:10:27:10 -0300",
        "verb": "GET",
        "request": "/cgi-bin/try/",
        "httpversion": "1.0",
        "response": "200",
        "bytes": "3395",
    }


def test_syslogbase_names_program_pid_and_host() -> None:
    line = "Mar  9 07:01:02 gateway sshd[4242]: Accepted publickey for root"
    match = grok("^%{SYSLOGBASE} %{GREEDYDATA:message}$").match(line)
    assert match is not None
    assert match["timestamp"] == "Mar  9 07:01:02"
    assert match["logsource"] == "gateway"
    assert (match["program"], match["pid"]) == ("sshd", "4242")
    assert match["message"] == "Accepted publickey for root"


def test_reference_with_field_becomes_a_named_group() -> None:
    assert expand("%{INT:n}").regex == "(?P<n>(?:[+-]?(?:[0-9]+)))"


def test_reference_without_field_is_grouped_so_alternation_stays_inside() -> None:
    library = {"AB": "a|b"}
    assert re.fullmatch(expand("x%{AB}y", library).regex, "xby")
    assert not re.fullmatch(expand("x%{AB}y", library).regex, "b")


def test_type_suffix_is_recorded_as_a_conversion() -> None:
    pattern = expand("%{NUMBER:bytes:int} %{NUMBER:took:float} %{WORD:w}")
    assert dict(pattern.conversions) == {"bytes": "int", "took": "float"}


def test_pattern_without_references_is_returned_as_is() -> None:
    assert expand(r"(?P<a>\d+)").regex == r"(?P<a>\d+)"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("%{NOSUCHTHING}", "unknown grok pattern %{NOSUCHTHING}"),
        ("%{IP:client:bool}", "unknown grok type 'bool'"),
        ("%{IP:client.ip}", "grok field 'client.ip'"),
        ("%{IP:}", "grok field ''"),
    ],
)
def test_bad_references_are_errors_naming_them(pattern: str, message: str) -> None:
    with pytest.raises(GrokError, match=re.escape(message)):
        expand(pattern)


def test_patterns_referring_to_each_other_are_an_error() -> None:
    with pytest.raises(GrokError, match="A -> B -> A"):
        expand("%{A}", {"A": "x%{B}", "B": "%{A}"})


def test_library_lines_must_be_name_and_regex() -> None:
    text = "# comment\n\nGOOD \\d+\nBAD\n"
    with pytest.raises(GrokError, match=r"extra:4: expected 'NAME regex'"):
        parse_library(text, "extra")
    assert parse_library("# c\nGOOD  \\d+  \n") == {"GOOD": "\\d+"}


@pytest.mark.parametrize(
    ("pattern", "optional"),
    [
        (r"(?P<a>x)(?P<b>y|z)", ()),
        (r"(?P<a>x)|(?P<b>y)", ("a", "b")),
        (r"(?P<a>x)?(?P<b>y){0,3}(?P<c>z){2}(?P<d>w)+", ("a", "b")),
        (r"(?=(?P<a>x))(?!(?P<b>y))x", ("b",)),
        (r"(?P<a>a)?(?(a)(?P<b>b)|(?P<c>c))", ("a", "b", "c")),
        (r"(?>(?P<a>x))(?P<b>k)*?", ("b",)),
    ],
)
def test_optional_groups_are_those_a_match_can_leave_out(
    pattern: str, optional: tuple[str, ...]
) -> None:
    assert optional_groups(re.compile(pattern)) == optional


def test_compile_grok_keeps_the_re_error_detail() -> None:
    with pytest.raises(ValueError, match="missing \\), unterminated subpattern at position 0"):
        compile_grok("(?P<a>x")
