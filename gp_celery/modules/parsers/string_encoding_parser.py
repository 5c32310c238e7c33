"""StringEncodingParser: bytes in a named encoding into text, or text into bytes."""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, model_validator

from gp_celery.event import MISSING, Batch, Event, FieldPath, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldNames


def _text_encoding(name: str) -> str:
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None
    # codecs has no public test for bytes-to-bytes codecs (base64, zlib, rot13) but this.
    if not info._is_text_encoding:
        raise ValueError(f"{name!r} is not a text encoding (use Base64Parser for base64)")
    return name


class StringEncodingParserOptions(Options):
    action: Literal["decode", "encode"] = "decode"
    """decode: bytes to text; encode: text to bytes."""
    encoding: Annotated[str, AfterValidator(_text_encoding)] = "utf-8"
    """A Python codec name: 'utf-8', 'latin-1', 'cp1252', 'utf-16', ..."""
    source_fields: FieldNames = ("data",)
    """Field or list of fields to convert."""
    target_fields: FieldNames = ("data",)
    """Field or list of fields to write, one per source field."""
    keep_original: bool = False
    """Keep a source field whose target is another field."""

    @model_validator(mode="after")
    def _pairs(self) -> StringEncodingParserOptions:
        if len(self.target_fields) != len(self.source_fields):
            raise ValueError("give as many 'target_fields' as 'source_fields'")
        return self


@register
class StringEncodingParser(Parser[StringEncodingParserOptions]):
    """Decode bytes in a given encoding (latin-1, cp1252, ...) to text, or encode text.

    Decode turns bytes into text with ``encoding``. Text an input made of bytes that were
    not UTF-8 (stream mode keeps them as escapes) is turned back into its bytes first, so a
    latin-1 stream can be decoded here; other text is already decoded and is left as it is
    (counted as ``already_text``). Encode turns text into bytes with ``encoding``.

    Bytes the encoding cannot decode, text it cannot encode, and values that are not
    text or bytes tag the event, which goes on unchanged (LumberMill raised). Each source
    field goes to the target field at the same position; the source is removed unless
    keep_original or it is its own target. Missing source fields are skipped.
    """

    aliases = ("parser.Encoding", "parser.StringEncoding")
    examples = [
        Example(
            options={"encoding": "latin-1", "target_fields": "text"},
            given=[{"data": b"caf\xe9"}],
            expect=[{"text": "café"}],
        ),
        Example(
            options={"action": "encode", "encoding": "utf-16-le"},
            given=[{"data": "ok"}],
            expect=[{"data": b"o\x00k\x00"}],
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._pairs = [
            (field_path(source), field_path(target))
            for source, target in zip(options.source_fields, options.target_fields, strict=True)
        ]

    def process(self, events: Batch) -> Batch:
        decode = self.options.action == "decode"
        keep = self.options.keep_original
        for event in events:
            for source, target in self._pairs:
                value = source.get(event)
                if value is MISSING:
                    self.stats.incr("missing_source")
                    continue
                result = (
                    self._decode(event, source, value)
                    if decode
                    else self._encode(event, source, value)
                )
                if result is MISSING:
                    continue
                if not keep and source.dotted != target.dotted:
                    source.delete(event)
                target.set(event, result)
        return events

    def _decode(self, event: Event, source: FieldPath, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                value = value.encode("utf-8", "surrogateescape")
            else:
                self.stats.incr("already_text")
                return MISSING
        if not isinstance(value, (bytes, bytearray, memoryview)):
            return self._failed(event, source, f"is {type(value).__name__}, not bytes")
        try:
            return bytes(value).decode(self.options.encoding)
        except UnicodeDecodeError as error:
            where = f"{error.reason} at byte {error.start}"
            return self._failed(event, source, f"is not valid {self.options.encoding} ({where})")

    def _encode(self, event: Event, source: FieldPath, value: Any) -> Any:
        if not isinstance(value, str):
            return self._failed(event, source, f"is {type(value).__name__}, not text")
        try:
            return value.encode(self.options.encoding)
        except UnicodeEncodeError as error:
            where = f"{error.reason} at character {error.start}"
            return self._failed(event, source, f"cannot be encoded as {error.encoding} ({where})")

    def _failed(self, event: Event, source: FieldPath, reason: str) -> Any:
        self.fail(event, f"'{source.dotted}' {reason}")
        return MISSING
