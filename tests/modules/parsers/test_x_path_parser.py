from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run

PRODUCTS = (
    '<Items><Item Type="Book"><Title>The Meaning of Liff</Title></Item>'
    '<Item Type="CD"><Title>Spam</Title></Item>'
    '<Item Type="Book"><Title>Flying Circus</Title></Item></Items>'
)
BOOKS = '//Item[@Type="Book"]/Title/text()'
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">'
        for n in range(1, 10)
    )
    + "]><lolz>&lol9;</lolz>"
)


def parser(**options: Any) -> Any:
    return build("XPathParser", {"source_field": "xml", "query": "//a/text()", **options})


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


class Requests(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b'<!ENTITY leaked "FETCHED">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on loopback that records every request path."""
    seen: list[str] = []
    handler = type("Recording", (Requests,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with urllib.request.urlopen(f"{url}/probe", timeout=5) as answer:  # it really serves
        assert answer.status == 200
    assert seen == ["/probe"]
    seen.clear()
    yield url, seen
    server.shutdown()
    server.server_close()


def test_spec_example_writes_the_list_of_book_titles() -> None:
    module = parser(source_field="agora_product_xml", query=BOOKS, target_field="book_title")
    [event] = run(module, [{"agora_product_xml": PRODUCTS}])
    assert event["book_title"] == ["The Meaning of Liff", "Flying Circus"]
    assert errors_of(event) == []


def test_default_target_field_is_gambolputtys() -> None:
    [event] = run(parser(), [{"xml": "<r><a>x</a></r>"}])
    assert event["gambolputty_xpath"] == ["x"]


def test_elements_are_written_as_their_xml_and_attributes_as_text() -> None:
    module = parser(query="//a | //a/@k")
    [event] = run(module, [{"xml": '<r><a k="1">t<b/></a>tail</r>'}])
    assert event["gambolputty_xpath"] == ['<a k="1">t<b/></a>', "1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("count(//a)", 2.0), ("boolean(//a)", True), ("string(//a)", "x")],
)
def test_scalar_results_are_written_as_they_are(query: str, expected: Any) -> None:
    [event] = run(parser(query=query), [{"xml": "<r><a>x</a><a>y</a></r>"}])
    assert event["gambolputty_xpath"] == expected


@pytest.mark.parametrize("query", ["//missing", "string(//missing)"])
def test_an_empty_result_writes_nothing(query: str) -> None:
    [event] = run(parser(query=query), [{"xml": "<r/>"}])
    assert "gambolputty_xpath" not in event
    assert errors_of(event) == []


def test_templated_source_target_and_query() -> None:
    module = parser(source_field="$(kind)_xml", target_field="$(kind)_found", query="//$(tag)")
    out = run(
        module,
        [
            {"kind": "book", "tag": "t", "book_xml": "<r><t>Liff</t></r>"},
            {"kind": "cd", "tag": "n", "cd_xml": "<r><n>7</n></r>"},
        ],
    )
    assert out[0]["book_found"] == ["<t>Liff</t>"]
    assert out[1]["cd_found"] == ["<n>7</n>"]


def test_missing_source_field_or_template_field_leaves_the_event_unchanged() -> None:
    module = parser(source_field="$(kind)_xml")
    out = run(module, [{"other": 1}, {"kind": "x"}])
    assert out[0] == {"other": 1, "gambolputty": out[0]["gambolputty"]}
    assert "gambolputty_xpath" not in out[1]
    assert [errors_of(event) for event in out] == [[], []]


def test_non_ascii_text_survives() -> None:
    """GambolPutty dropped every non-ASCII character before parsing."""
    [event] = run(parser(), [{"xml": "<r><a>Grüße, Ünïcödé</a></r>"}])
    assert event["gambolputty_xpath"] == ["Grüße, Ünïcödé"]


def test_bytes_follow_their_encoding_declaration() -> None:
    document = '<?xml version="1.0" encoding="ISO-8859-1"?><a>Grüße</a>'.encode("latin-1")
    [event] = run(parser(), [{"xml": document}])
    assert event["gambolputty_xpath"] == ["Grüße"]


def test_a_bad_constant_query_is_a_load_error() -> None:
    with pytest.raises(BuildError, match="bad XPath query"):
        parser(query="//a[")


def test_a_templated_query_that_renders_bad_xpath_is_tagged() -> None:
    [event] = run(parser(query="//$(tag)"), [{"tag": "a[", "xml": "<a/>"}])
    assert reasons(event)[0].startswith("'xml' could not be queried with '//a['")


def test_query_with_an_unknown_namespace_prefix_is_tagged() -> None:
    [event] = run(parser(query="//ns:a"), [{"xml": "<a/>"}])
    assert reasons(event)[0].startswith("'xml' could not be queried with '//ns:a'")


def test_a_redis_store_that_names_no_store_node_is_a_config_error() -> None:
    with pytest.raises(BuildError, match="redis_store: unknown store 'cache'"):
        parser(redis_store="cache", redis_key="$(id)", redis_ttl=10)


def test_lumbermill_alias_builds_the_same_module() -> None:
    module = build("parser.XPath", {"source_field": "x", "query": "//a"})
    assert type(module).__name__ == "XPathParser"


def test_billion_laughs_is_refused_not_expanded() -> None:
    [event] = run(parser(query="string(//lolz)"), [{"xml": LAUGHS}])
    [reason] = reasons(event)
    assert "entit" in reason  # libxml2's amplification limit stops it while parsing
    assert "gambolputty_xpath" not in event


def test_an_entity_that_would_be_small_is_refused_too() -> None:
    document = '<!DOCTYPE a [<!ENTITY lol "lol">]><a>&lol;</a>'
    [event] = run(parser(query="string(/a)"), [{"xml": document}])
    assert reasons(event) == [
        "'xml' declares entities (refused: entity expansion can exhaust memory)"
    ]
    assert "gambolputty_xpath" not in event


def test_a_file_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    document = f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>'
    [event] = run(parser(query="string(/a)"), [{"xml": document}])
    assert "declares entities" in reasons(event)[0]
    assert "TOPSECRET" not in repr(event)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ('<!DOCTYPE a [<!ENTITY x SYSTEM "{url}/entity">]><a>&x;</a>', "declares entities"),
        ('<!DOCTYPE a [<!ENTITY % p SYSTEM "{url}/param"> %p;]><a>&leaked;</a>', ""),
        ('<!DOCTYPE a SYSTEM "{url}/dtd"><a>x</a>', "refers to an external DTD"),
        ('<!DOCTYPE a PUBLIC "-//X//Y" "{url}/public"><a>x</a>', "refers to an external DTD"),
        ('<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{url}/xi"/></a>', None),
    ],
)
def test_http_entities_and_dtds_are_never_fetched(
    http_server: tuple[str, list[str]], template: str, reason: str | None
) -> None:
    url, seen = http_server
    [event] = run(parser(query="string(/a)"), [{"xml": template.format(url=url)}])
    assert seen == []
    assert "FETCHED" not in repr(event)
    if reason is None:
        assert errors_of(event) == []
    else:
        assert reasons(event), "the document must be tagged"
        assert reason in reasons(event)[0]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("<r><a>x</a>", "'xml' is not well-formed XML"),
        ("<r><a>x</b></r>", "'xml' is not well-formed XML"),
        ("", "'xml' is not well-formed XML"),
        ("not xml at all", "'xml' is not well-formed XML"),
        (b"<a>\xff\xfe</a>", "'xml' is not well-formed XML"),
        ("<a>\udcff</a>", "'xml' is not well-formed XML"),
        ("<a>\ud800</a>", "'xml' is text with surrogates not allowed"),
        (42, "'xml' is int, not XML text"),
        (None, "'xml' is NoneType, not XML text"),
        (["<a/>"], "'xml' is list, not XML text"),
        ("<a>" + "x" * (4 * 1024 * 1024) + "</a>", "'xml' is over max_document_bytes=4194304"),
        ("<a>" * 300 + "</a>" * 300, "'xml' is not well-formed XML"),
    ],
)
def test_hostile_values_are_tagged_and_the_event_goes_on(value: Any, reason: str) -> None:
    out = run(parser(), [{"xml": value}, {"xml": "<a>ok</a>"}])
    assert len(out) == 2
    assert reasons(out[0])[0].startswith(reason)
    assert "gambolputty_xpath" not in out[0]
    assert out[1]["gambolputty_xpath"] == ["ok"]


def test_max_document_bytes_is_an_option() -> None:
    [event] = run(parser(max_document_bytes=8), [{"xml": "<a>too long</a>"}])
    assert reasons(event) == ["'xml' is over max_document_bytes=8"]


SHARED = parser(query="//*/text()")
"""One parser for the property test."""


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=200),
            st.binary(max_size=200),
            st.text(alphabet="<>/a=\"'&;![]-?xml DOCTYPE ENTITY", max_size=200),
        ),
        max_size=5,
    )
)
def test_random_documents_never_raise_and_every_event_comes_back(values: list[Any]) -> None:
    out = run(SHARED, [{"xml": value} for value in values])
    assert len(out) == len(values)
