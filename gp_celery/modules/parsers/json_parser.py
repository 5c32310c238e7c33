"""JsonParser: JSON from fields into the event, or fields encoded as JSON."""

from __future__ import annotations

from typing import Any

import orjson

from gp_celery.modules.base import Example
from gp_celery.modules.parsers.codec import CodecOptions, CodecParser, jsonable, loads
from gp_celery.modules.registry import register


class JsonParserOptions(CodecOptions):
    pass


@register
class JsonParser(CodecParser[JsonParserOptions]):
    """Decode JSON from fields into the event, or encode fields as JSON.

    Decode: the value (str or bytes) is parsed strictly with orjson. GambolPutty stripped
    quotes and brackets and turned every ``'`` into ``"``, which broke JSON with apostrophes;
    that rewriting is gone, so Python-repr dicts are now tagged as invalid. A map merges into
    the event (or goes to target_field); a list of maps makes one event per map (copies get
    derived ids); documents back to back (or one per line) decode to such a list, as in
    GambolPutty. More than ``max_fan_out`` maps in one value tags the event instead, so one
    hostile line cannot become millions of events. A value that is not a map needs
    target_field, else the event is tagged. The source field is removed after a successful
    decode unless keep_original.

    Problems tag the event, which goes on unchanged: invalid JSON, invalid UTF-8, NaN,
    numbers beyond a double, nesting deeper than 1024, values that are not text. An event
    without the source field goes on untouched (GambolPutty dropped it in line mode);
    ``missing_source`` counts them. ``mode: stream`` is accepted and behaves like ``line``,
    as in GambolPutty; inputs do the framing.

    Encode: ``{field: value}`` of the present source fields, or the whole event for
    ``source_fields: all``, becomes a JSON string in target_field ('data' when unset;
    GambolPutty wrote it under the key None). Bytes are written as text, other types
    JSON cannot hold as strings; integers beyond 64 bits and over-deep nesting are tagged.
    """

    aliases = ("parser.Json",)
    examples = [
        Example(
            options={"source_fields": ["json_data"]},
            given=[{"json_data": '{"South African": "Fast", "unladen": "swallow"}'}],
            expect=[{"South African": "Fast", "unladen": "swallow"}],
            note="The spec's test, with real JSON: quotes are no longer rewritten.",
        ),
        Example(
            options={"target_field": "doc"},
            given=[{"data": '[{"n": 1}, {"n": 2}]'}],
            expect=[{"doc": {"n": 1}}, {"doc": {"n": 2}}],
            note="A list of maps makes one event per map.",
        ),
        Example(
            options={"action": "encode", "source_fields": ["a", "b"], "target_field": "json"},
            given=[{"a": 1, "b": [True, None]}],
            expect=[{"json": '{"a":1,"b":[true,null]}'}],
        ),
    ]

    def decode(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, bytearray, memoryview)):
            return loads(value, self.options.max_fan_out)
        raise ValueError(f"is {type(value).__name__}, not JSON text")

    def encode(self, value: Any) -> str:
        return orjson.dumps(value, default=jsonable, option=orjson.OPT_NON_STR_KEYS).decode()
