"""UrlParser: a URL into its components (and query parameters), or percent-encoding."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlparse

from pydantic import Field

from gp_celery.event import Batch, Event, FieldPath, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.text import merge_fields, text_of
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName


class UrlParserOptions(Options):
    action: Literal["decode", "encode"] = "decode"
    """decode: split the URL into components; encode: percent-encode the value."""
    source_field: FieldName
    """Required. Field holding the URL."""
    target_field: FieldName | None = None
    """Where the components (or the encoded text) go; None replaces the source field."""
    parse_querystring: bool = False
    """Also split the query string into parameters (decode only)."""
    querystring_target_field: FieldName | None = None
    """Where the parameter map goes; None merges the parameters into the event."""
    querystring_prefix: str | None = None
    """Prefix for every parameter name."""
    max_query_fields: int = Field(default=1000, gt=0)
    """Most query parameters read; a URL with more tags the event."""


@register
class UrlParser(Parser[UrlParserOptions]):
    """Split a URL into scheme, host, port, path, query, ...; or percent-encode a field.

    Decode writes a map to target_field (the source field when unset): ``scheme``,
    ``netloc``, ``hostname`` (lower case, None without one), ``port`` (an integer, or
    None), ``path``, ``params``, ``query`` and ``fragment``. With ``parse_querystring`` the
    query becomes ``{name: [value, ...]}`` (blank values left out, as in GambolPutty), in
    querystring_target_field or merged into the event, names prefixed with
    querystring_prefix.

    Differences from GambolPutty, which unquoted the whole URL first and kept only
    scheme, path, params and query: the URL is split first and each part is unquoted on
    its own, so an encoded ``&``, ``=``, ``?`` or ``#`` stays inside its value; ``query``
    is kept as sent (still percent-encoded) so it can be parsed again, and its parameters
    decode ``+`` as a space, as browsers send forms; netloc, hostname, port and fragment
    are added (the host was lost before). A port that is not a number in 0..65535,
    percent-escapes that are not UTF-8, more than max_query_fields parameters, a value that
    is not text or invalid UTF-8 tag the event, which goes on unchanged. A parameter named
    'gambolputty' or 'lumbermill' is not merged over the metadata (tagged). An event
    without the source field goes on untouched.

    Encode (a no-op in GambolPutty, which threw the result away) writes the value
    percent-encoded as UTF-8 to target_field (the source field when unset); letters,
    digits, ``_.-~`` and ``/`` stay as they are.
    """

    aliases = ("parser.Url",)
    examples = [
        Example(
            options={"source_field": "uri"},
            given=[{"uri": "http://en.wikipedia.org/wiki/Monty_Python/?gambol=putty"}],
            expect=[
                {
                    "uri": {
                        "scheme": "http",
                        "netloc": "en.wikipedia.org",
                        "hostname": "en.wikipedia.org",
                        "port": None,
                        "path": "/wiki/Monty_Python/",
                        "params": "",
                        "query": "gambol=putty",
                        "fragment": "",
                    }
                }
            ],
        ),
        Example(
            options={
                "source_field": "uri",
                "target_field": "uri_parsed",
                "parse_querystring": True,
                "querystring_target_field": "params",
            },
            given=[{"uri": "/search?spanish=inquisition&q=a%26b"}],
            expect=[{"params": {"spanish": ["inquisition"], "q": ["a&b"]}}],
            note="An encoded & stays inside its value.",
        ),
        Example(
            options={"action": "encode", "source_field": "path", "target_field": "encoded"},
            given=[{"path": "/a b/ä"}],
            expect=[{"encoded": "/a%20b/%C3%A4"}],
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._source = field_path(options.source_field)
        self._target = field_path(options.target_field or options.source_field)
        self._params = (
            field_path(options.querystring_target_field)
            if options.querystring_target_field
            else None
        )

    def process(self, events: Batch) -> Batch:
        encode = self.options.action == "encode"
        for event in events:
            text = text_of(self, event, self._source)
            if text is None:
                continue
            if encode:
                self._encode(event, text)
            else:
                self._decode(event, text)
        return events

    def _encode(self, event: Event, text: str) -> None:
        try:
            self._target.set(event, quote(text))
        except UnicodeEncodeError as error:
            self.fail(event, f"'{self._source.dotted}' cannot be encoded: {error.reason}")

    def _decode(self, event: Event, text: str) -> None:
        where = f"'{self._source.dotted}'"
        try:
            parts = urlparse(text)
            port = parts.port
            components = {
                "scheme": parts.scheme,
                "netloc": unquote(parts.netloc, errors="strict"),
                "hostname": unquote(parts.hostname, errors="strict") if parts.hostname else None,
                "port": port,
                "path": unquote(parts.path, errors="strict"),
                "params": unquote(parts.params, errors="strict"),
                "query": parts.query,
                "fragment": unquote(parts.fragment, errors="strict"),
            }
            params = self._query(parts.query) if self.options.parse_querystring else None
        except UnicodeDecodeError as error:
            self.fail(event, f"{where} has percent-escapes that are not UTF-8 ({error.reason})")
            return
        except ValueError as error:
            self.fail(event, f"{where} is not a valid URL: {error}")
            return
        self._target.set(event, components)
        if params is not None:
            self._place(event, params, self._params)

    def _query(self, query: str) -> dict[str, list[str]]:
        params = parse_qs(query, errors="strict", max_num_fields=self.options.max_query_fields)
        prefix = self.options.querystring_prefix
        return {f"{prefix}{name}": values for name, values in params.items()} if prefix else params

    def _place(self, event: Event, params: dict[str, Any], target: FieldPath | None) -> None:
        if target is not None:
            target.set(event, params)
        else:
            merge_fields(self, event, params)
