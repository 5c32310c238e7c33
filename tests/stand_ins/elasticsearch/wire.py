"""What the stand-in reads and writes on the wire: JSON, media types, bulk bodies, errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

try:
    import orjson

    def loads(raw: bytes) -> Any:
        return orjson.loads(raw)

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # the stand-in also runs without the project's dependencies

    def loads(raw: bytes) -> Any:
        return json.loads(raw)

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


OPS: Final = ("index", "create", "update", "delete")
META_KEYS: Final = frozenset(
    {
        "_index", "_id", "routing", "pipeline", "require_alias", "require_data_stream",
        "if_seq_no", "if_primary_term", "version", "version_type", "retry_on_conflict",
        "dynamic_templates", "_source", "list_executed_pipelines",
    }
)  # fmt: skip
"""What an action line may hold in Elasticsearch 8 (``_type`` and ``_routing`` are gone)."""
COMPAT: Final = re.compile(
    r"application/vnd\.elasticsearch\+(json|x-ndjson)\s*;\s*compatible-with\s*=\s*(\d+)"
)
PLAIN_TYPES: Final = ("application/json", "application/x-ndjson")
MAX_ID_BYTES: Final = 512
ERROR_TYPES: Final = {
    400: "document_parsing_exception",
    401: "security_exception",
    403: "security_exception",
    404: "index_not_found_exception",
    409: "version_conflict_engine_exception",
    413: "request_entity_too_large_exception",
    429: "es_rejected_execution_exception",
    500: "exception",
    502: "bad_gateway_exception",
    503: "unavailable_shards_exception",
    504: "timeout_exception",
}
"""The error type a real server reports with each status, for injected faults."""


class RequestError(Exception):
    """A whole request fails: status, error type and reason, as Elasticsearch reports them."""

    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason = status, kind, reason

    def body(self) -> dict[str, Any]:
        cause = {"type": self.kind, "reason": self.reason}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def _media_error(reason: str) -> RequestError:
    return RequestError(400, "media_type_header_exception", reason)


def response_type(major: int, accept: str, content_type: str) -> str:
    """The Content-Type to answer with; RequestError for headers a server of major version
    ``major`` refuses. ``content_type`` is '' for a request without a body."""
    asked = {
        header: int(match.group(2))
        for header, value in (("Accept", accept), ("Content-Type", content_type))
        if (match := COMPAT.search(value))
    }
    if not asked:
        if content_type and not content_type.startswith(PLAIN_TYPES):
            reason = f"Content-Type header [{content_type}] is not supported"
            raise RequestError(406, "media_type_header_exception", reason)
        return "application/json"
    for version in asked.values():
        if version not in (major, major - 1):
            raise _media_error(
                "Invalid media-type value on headers [Accept, Content-Type]; Accept version "
                f"must be either version {major} or {major - 1}, but found {version}. "
                f"Accept={accept}"
            )
    one_sided = bool(content_type) and len(asked) == 1
    if one_sided or len(set(asked.values())) > 1:
        raise _media_error(
            "A compatible version is required on both Content-Type and Accept headers if "
            "either one has requested a compatible version. "
            f"Accept={accept}, Content-Type={content_type}"
        )
    return f"application/vnd.elasticsearch+json;compatible-with={major}"


@dataclass
class Action:
    op: str
    index: str
    id: str | None
    source: dict[str, Any] | None
    """The source line as an object; None when it was not one (a per-item 400)."""


def _bad(number: int, reason: str) -> RequestError:
    return RequestError(
        400, "illegal_argument_exception", f"Action/metadata line [{number}] {reason}"
    )


def _invalid(reason: str) -> RequestError:
    return RequestError(
        400, "action_request_validation_exception", f"Validation Failed: 1: {reason};"
    )


def parse_bulk(body: bytes, path_index: str | None) -> list[Action]:
    """The actions of a bulk body, or the RequestError a real server answers for it."""
    if not body.strip():
        raise _invalid("no requests added")
    if not body.endswith(b"\n"):
        reason = "The bulk request must be terminated by a newline [\\n]"
        raise RequestError(400, "illegal_argument_exception", reason)
    lines = body.split(b"\n")[:-1]
    actions, at = [], 0
    while at < len(lines):
        number, line = at + 1, lines[at]
        at += 1
        if not line.strip():
            continue
        op, meta = _action_line(number, line)
        index = meta.get("_index", path_index)
        if not index:
            raise _invalid("index is missing")
        doc_id = None if meta.get("_id") is None else str(meta["_id"])
        if doc_id is None and op in ("update", "delete"):
            raise _invalid("id is missing")
        if doc_id is not None and len(doc_id.encode()) > MAX_ID_BYTES:
            size = len(doc_id.encode())
            raise _invalid(
                f"id [{doc_id}] is too long, must be no longer than 512 bytes but was: {size}"
            )
        source = None
        if op != "delete":
            if at >= len(lines):
                raise _bad(number, "is missing its source line")
            try:
                parsed = loads(lines[at])
            except ValueError:
                parsed = None
            source = parsed if isinstance(parsed, dict) else None
            at += 1
        actions.append(Action(op, str(index), doc_id, source))
    return actions


def _action_line(number: int, line: bytes) -> tuple[str, dict[str, Any]]:
    try:
        header = loads(line)
    except ValueError:
        reason = f"[{number}:1] Unexpected character in action line"
        raise RequestError(400, "x_content_parse_exception", reason) from None
    if not isinstance(header, dict) or len(header) != 1:
        raise _bad(number, "is malformed: expected one action")
    op, meta = next(iter(header.items()))
    if op not in OPS:
        reason = f"expected one of [create, delete, index, update] but found [{op}]"
        raise RequestError(
            400,
            "illegal_argument_exception",
            f"Malformed action/metadata line [{number}], {reason}",
        )
    meta = meta if isinstance(meta, dict) else {}
    for key in meta:
        if key not in META_KEYS:
            raise _bad(number, f"contains an unknown parameter [{key}]")
    return op, meta
