"""Base64Parser: base64 text into its content, or content into base64."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Final, Literal

from gp_celery.event import MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

_WHITESPACE: Final = re.compile(rb"[ \t\r\n]+")


class Base64ParserOptions(Options):
    action: Literal["decode", "encode"] = "decode"
    """decode: base64 text to its content; encode: the reverse."""
    source_field: FieldName = "data"
    """Field to read."""
    target_field: FieldName = "data"
    """Field to write."""
    keep_original: bool = False
    """Keep the source field when target_field is another field."""


@register
class Base64Parser(Parser[Base64ParserOptions]):
    """Decode a base64 field into text (or bytes), or encode a field as base64.

    Decode (RFC 4648, standard alphabet) ignores spaces and line breaks, so wrapped
    base64 (MIME, PEM bodies) decodes. Content that is UTF-8 is written as text; other
    content is written as bytes (counted as ``binary``) instead of failing as LumberMill
    did, so binary payloads survive. Characters outside the alphabet or wrong padding tag
    the event, which goes on unchanged.

    Encode writes the base64 of the value's UTF-8 bytes (bytes as they are).

    The source field is removed unless keep_original or it is the target. Values that are
    neither text nor bytes (numbers, None, lists) tag the event. An event without the source
    field goes on untouched. LumberMill took a list for source_field but could only use one
    field; here it is one field.
    """

    aliases = ("parser.Base64",)
    examples = [
        Example(
            options={},
            given=[{"data": "SSBjdXQgZG93biB0cmVlcw=="}],
            expect=[{"data": "I cut down trees"}],
        ),
        Example(
            options={"action": "encode", "source_field": "encodeme", "target_field": "encoded"},
            given=[{"encodeme": "I skip and jump"}],
            expect=[{"encoded": "SSBza2lwIGFuZCBqdW1w", "encodeme": None}],
            note="The source field is removed unless keep_original.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._source = field_path(options.source_field)
        self._target = field_path(options.target_field)
        self._drop = not options.keep_original and options.source_field != options.target_field

    def process(self, events: Batch) -> Batch:
        convert = self._decode if self.options.action == "decode" else self._encode
        for event in events:
            value = self._source.get(event)
            if value is MISSING:
                self.stats.incr("missing_source")
                continue
            result = convert(event, value)
            if result is MISSING:
                continue
            if self._drop:
                self._source.delete(event)
            self._target.set(event, result)
        return events

    def _decode(self, event: Event, value: Any) -> Any:
        if isinstance(value, str):
            try:
                raw = value.encode("ascii")
            except UnicodeEncodeError as error:
                return self._failed(event, f"has a non-ASCII character at {error.start}")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
        else:
            return self._failed(event, f"is {type(value).__name__}, not base64 text")
        try:
            content = base64.b64decode(_WHITESPACE.sub(b"", raw), validate=True)
        except binascii.Error as error:
            return self._failed(event, f"is not valid base64 ({error})")
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            self.stats.incr("binary")
            return content

    def _encode(self, event: Event, value: Any) -> Any:
        if isinstance(value, str):
            try:
                raw = value.encode("utf-8")
            except UnicodeEncodeError as error:
                return self._failed(event, f"cannot be encoded as UTF-8 ({error.reason})")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
        else:
            return self._failed(event, f"is {type(value).__name__}, not text or bytes")
        return base64.b64encode(raw).decode("ascii")

    def _failed(self, event: Event, reason: str) -> Any:
        self.fail(event, f"'{self._source.dotted}' {reason}")
        return MISSING
