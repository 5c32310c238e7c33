"""A batch of events as one bulk request body (NDJSON): an action line and a source line
per event. Events that cannot be sent (no id, an id too long, not encodable) are left out
and reported, so one odd event never fails the request of the others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from gp_celery import expressions
from gp_celery.event import Event
from gp_celery.modules.sinks.elastic_search_sink.options import ElasticSearchSinkOptions
from gp_celery.modules.sinks.encoding import json_line
from gp_celery.modules.sinks.timed_template import TimedTemplate

MAX_ID_BYTES: Final = 512
"""Elasticsearch refuses longer ids, and fails the whole bulk request for one of them."""


@dataclass
class Body:
    """One bulk request: its payload, which events it carries, which it could not."""

    payload: bytearray = field(default_factory=bytearray)
    sent: list[int] = field(default_factory=list)
    """Index in the batch of the event behind each action, in order."""
    refused: list[tuple[int, str]] = field(default_factory=list)
    """(index in the batch, reason) of the events left out: not worth retrying."""


class BodyBuilder:
    """Builds bulk bodies for one sink's options."""

    def __init__(self, options: ElasticSearchSinkOptions) -> None:
        self.action = options.action
        self._index = TimedTemplate(options.index_name)
        self._routing = TimedTemplate(options.routing) if options.routing else None
        self._doc_id = options.doc_id
        self._format = options.format
        self._upsert = options.doc_as_upsert

    def build(self, events: Sequence[Event], now: float) -> Body:
        index = self._index.at(now)
        constant = index.render({}).lower() if index.is_constant else None
        routing = self._routing.at(now) if self._routing is not None else None
        body = Body()
        for at, event in enumerate(events):
            meta: dict[str, Any] = {"_index": constant or index.render(event).lower()}
            try:
                if problem := self._add_id(meta, event):
                    body.refused.append((at, problem))
                    continue
                if routing is not None and (key := routing.render(event)):
                    meta["routing"] = key
                source = self._source(event)
                header = orjson.dumps({self.action: meta})
            except (TypeError, ValueError, RecursionError) as error:
                body.refused.append((at, f"cannot encode the document: {error}"))
                continue
            body.payload += header + b"\n" + source + b"\n"
            body.sent.append(at)
        return body

    def _add_id(self, meta: dict[str, Any], event: Event) -> str | None:
        """Put the document id into the action; or say why the event cannot have one."""
        if self._doc_id is None:
            return None
        doc_id = self._doc_id.try_render(event)
        if not doc_id:
            return f"doc_id '{self._doc_id.source}' is empty or names a missing field"
        if len(doc_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
            return f"doc_id is longer than {MAX_ID_BYTES} bytes"
        meta["_id"] = doc_id
        return None

    def _source(self, event: Event) -> bytes:
        """The document as JSON: the event, or the rendered format; wrapped for update."""
        template = self._format
        document = json_line(event) if template is None else _json_object(template, event)
        if self.action != "update":
            return document
        upsert = b',"doc_as_upsert":true' if self._upsert else b""
        return b'{"doc":' + document + upsert + b"}"


def _json_object(template: expressions.Template, event: Event) -> bytes:
    text = template.render(event)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"format did not render JSON ({error})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"format rendered JSON {type(parsed).__name__}, not an object")
    return orjson.dumps(parsed)
