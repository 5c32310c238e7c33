"""KeyValueParser: 'key=value' pairs (logfmt, iptables, ...) into fields."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import Field, model_validator

from gp_celery.event import Batch, Event, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.text import merge_fields, text_of
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

QUOTES: Final = "\"'"
_QUOTED: Final = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
_ESCAPED: Final = re.compile(r"\\(.)", re.DOTALL)
_SEGMENT: Final = re.compile(_QUOTED + r"|[^\"']+", re.DOTALL)


def _chars(text: str) -> str:
    """A set of characters as the inside of a regex character class."""
    return "".join(re.escape(char) for char in text)


class KeyValueParserOptions(Options):
    source_field: FieldName = "data"
    """Field holding the pairs."""
    target_field: FieldName | None = None
    """Field for the map of pairs; None writes them at the top level of the event."""
    field_split: str = Field(default=" ", min_length=1)
    """Characters that separate pairs; any of them does, runs of them count once."""
    value_split: str = Field(default="=", min_length=1)
    """Characters that separate a key from its value; the first one in a pair does."""
    prefix: str = ""
    """Prepended to every key."""
    include_keys: tuple[str, ...] = ()
    """Keep only these keys (before prefixing); empty keeps all."""
    exclude_keys: tuple[str, ...] = ()
    """Leave out these keys (before prefixing)."""
    trim_value: str = ""
    """Characters stripped from both ends of each value, e.g. ',;' or '[]'."""
    accept_standalone_key: bool = True
    """A word without a value (a flag such as iptables' DF) becomes key: true; False drops it."""
    keep_empty: bool = True
    """Keep pairs with an empty value ('OUT=') as ''; False leaves them out."""
    keep_original: bool = True
    """Keep the source field after a successful parse."""
    max_pairs: int = Field(default=1000, gt=0)
    """Most pairs one value may hold; more tags the event and writes none."""

    @model_validator(mode="after")
    def _separators(self) -> KeyValueParserOptions:
        for name in ("field_split", "value_split"):
            special = set(getattr(self, name)) & set(QUOTES + "\\")
            if special:
                raise ValueError(f"'{name}' cannot hold quotes or backslashes")
        if set(self.field_split) & set(self.value_split):
            raise ValueError("'field_split' and 'value_split' must not share characters")
        return self


@register
class KeyValueParser(Parser[KeyValueParserOptions]):
    """Parse 'key=value' pairs (logfmt, iptables, ...) into fields.

    Pairs are separated by any character of ``field_split`` (a space by default; runs
    count once) and a key from its value by the first character of ``value_split``, so
    ``a=b=c`` gives ``a: 'b=c'``. Keys and values may be quoted with double or single
    quotes; inside quotes a backslash makes the next character literal, so ``msg="a \\"b\\""``
    gives ``msg: 'a "b"'``. Outside quotes a backslash is an ordinary character. Values are
    strings, trimmed of ``trim_value`` characters.

    A word without a value separator (iptables' ``DF``, logfmt's ``debug``) is a flag: it
    becomes ``key: true`` as in Vector's parse_key_value (accept_standalone_key: false
    leaves it out, as Logstash's kv does). An empty value (``OUT=``) is kept as '' unless
    keep_empty is false; an empty key (``=x``) is left out. A key given several times
    collects its values in a list, in order, as both Logstash and Vector do.

    Without target_field the pairs are written at the top level; keys are literal (a dot
    is part of the name). A key that would replace the metadata ('gambolputty',
    'lumbermill') is left out and the event tagged. Unterminated quotes, more than
    max_pairs pairs, a source that is not text or invalid UTF-8 tag the event, which goes
    on without any of its pairs. An event without the source field goes on untouched.
    """

    examples = [
        Example(
            options={},
            given=[{"data": "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 DF PROTO=TCP"}],
            expect=[
                {
                    "IN": "eth0",
                    "OUT": "",
                    "SRC": "10.0.0.1",
                    "DST": "10.0.0.2",
                    "LEN": "60",
                    "DF": True,
                    "PROTO": "TCP",
                }
            ],
            note="An iptables line: DF is a flag.",
        ),
        Example(
            options={"target_field": "kv", "keep_original": False},
            given=[{"data": 'level=info msg="disk \\"sda\\" full" user=\'m p\''}],
            expect=[{"kv": {"level": "info", "msg": 'disk "sda" full', "user": "m p"}}],
            note="logfmt with quoted values.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        fields, values = _chars(options.field_split), _chars(options.value_split)
        key = rf"(?:{_QUOTED}|[^{fields}{values}\"'])+"
        value = rf"(?:{_QUOTED}|[^{fields}\"'])*"
        pair = rf"(?P<key>{key})?(?:[{values}](?P<value>{value}))?"
        self._pair = re.compile(pair, re.DOTALL)
        self._gaps = frozenset(options.field_split)
        self._source = field_path(options.source_field)
        self._target = field_path(options.target_field) if options.target_field else None
        self._include = frozenset(options.include_keys)
        self._exclude = frozenset(options.exclude_keys)

    def process(self, events: Batch) -> Batch:
        for event in events:
            text = text_of(self, event, self._source)
            if text is None:
                continue
            pairs = self._pairs(event, text)
            if pairs is None:
                continue
            if not self.options.keep_original:
                self._source.delete(event)
            if self._target is not None:
                self._target.set(event, pairs)
            else:
                merge_fields(self, event, pairs)
        return events

    def _pairs(self, event: Event, text: str) -> dict[str, Any] | None:
        """The pairs of ``text``, or None after tagging the event."""
        options, gaps, pair = self.options, self._gaps, self._pair.match
        found: dict[str, Any] = {}
        count, index, end = 0, 0, len(text)
        while True:
            while index < end and text[index] in gaps:
                index += 1
            if index >= end:
                return found
            match = pair(text, index)
            if match is None or match.end() == index or _stops_inside_quote(text, match.end()):
                self.fail(event, f"'{self._source.dotted}' has an unterminated quote")
                return None
            index = match.end()
            count += 1
            if count > options.max_pairs:
                self.fail(event, f"'{self._source.dotted}' holds over {options.max_pairs} pairs")
                return None
            raw_key, raw_value = match.group("key"), match.group("value")
            if raw_key is None:
                self.stats.incr("empty_keys")
                continue
            key = _unquoted(raw_key)
            if not key or (self._include and key not in self._include) or key in self._exclude:
                continue
            value: Any
            if raw_value is None:
                if not options.accept_standalone_key:
                    continue
                value = True
            else:
                value = _unquoted(raw_value).strip(options.trim_value) if raw_value else ""
                if value == "" and not options.keep_empty:
                    continue
            _add(found, options.prefix + key, value)


def _stops_inside_quote(text: str, index: int) -> bool:
    """A pair that ends at a quote ends there because the quote is never closed."""
    return index < len(text) and text[index] in QUOTES


def _unquoted(token: str) -> str:
    if "'" not in token and '"' not in token:
        return token
    return "".join(
        _ESCAPED.sub(r"\1", part[1:-1]) if part[0] in QUOTES else part
        for part in _SEGMENT.findall(token)
    )


def _add(found: dict[str, Any], key: str, value: Any) -> None:
    if key not in found:
        found[key] = value
    elif isinstance(found[key], list):
        found[key].append(value)
    else:
        found[key] = [found[key], value]
