"""The stand-in's documents, the faults asked for, and what one bulk action does to them."""

from __future__ import annotations

import base64
import copy
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from tests.stand_ins.elasticsearch.pit import Pit
from tests.stand_ins.elasticsearch.wire import ERROR_TYPES, Action

SHARDS: Final = {"total": 2, "successful": 1, "failed": 0}
METADATA_FIELDS: Final = frozenset(
    {
        "_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term",
        "_ignored", "_field_names", "_doc_count", "_tier", "_data_stream_timestamp",
    }
)  # fmt: skip
INVALID_INDEX_CHARS: Final = re.compile(r'[\\/*?"<>| ,#:]')


@dataclass
class Doc:
    source: dict[str, Any]
    version: int
    seq_no: int


@dataclass
class Faults:
    items: deque[int] = field(default_factory=deque)
    ids: dict[str, int] = field(default_factory=dict)
    requests: deque[Any] = field(default_factory=deque)


def index_problem(name: str) -> str | None:
    """Why Elasticsearch would refuse this index name, or None."""
    invalid = f"Invalid index name [{name}], "
    if name != name.lower():
        return invalid + "must be lowercase"
    if not name or name in (".", ".."):
        return invalid + "must not be '.' or '..' or empty"
    if name[0] in "-_+":
        return invalid + "must not start with '_', '-', or '+'"
    if INVALID_INDEX_CHARS.search(name):
        return (
            invalid
            + 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]'
        )
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        return invalid + "index name is too long"
    return None


def field_kinds(source: Any, prefix: str = "") -> dict[str, str]:
    """Each dotted path of a document: 'object' for objects, 'value' for anything else.
    Dots in names are paths too: ``{"a.b": 1}`` makes ``a`` an object, as in Elasticsearch."""
    found: dict[str, str] = {}
    if not isinstance(source, dict):
        return found
    for key, value in source.items():
        path = prefix + str(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                found[path] = "object"
                found.update(field_kinds(item, path + "."))
            elif item is not None:
                found.setdefault(path, "value")
    for path in list(found):
        parts = path.split(".")
        for end in range(1, len(parts)):
            found.setdefault(".".join(parts[:end]), "object")
    return found


def mapping_problem(source: dict[str, Any], kinds: dict[str, str]) -> str | None:
    """Why this document does not fit what the index holds (``kinds``), or None; when it
    fits, its fields are added to ``kinds``, as dynamic mapping does."""
    for key in source:
        if key in METADATA_FIELDS:
            return (
                f"[1:2] Field [{key}] is a metadata field and cannot be added inside a "
                "document. Use the index API request parameters."
            )
        if not str(key).strip("."):
            return "[1:2] field name cannot be an empty string"
    found = field_kinds(source)
    for path, kind in found.items():
        known = kinds.get(path)
        if known is not None and known != kind:
            if known == "object":
                return (
                    f"[1:2] object mapping for [{path}] tried to parse field [{path}] as "
                    "object, but found a concrete value"
                )
            return f"[1:2] failed to parse field [{path}] of type [text] in document"
    kinds.update(found)
    return None


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def failed(op: str, head: dict[str, Any], status: int, kind: str, reason: str) -> dict[str, Any]:
    error = {"type": kind, "reason": reason, "index": head["_index"]}
    return {op: {**head, "status": status, "error": error}}


@dataclass
class Store:
    """Everything the stand-in holds; one lock, as requests arrive on many threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    indices: dict[str, dict[str, Doc]] = field(default_factory=dict)
    kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per index, dotted field path -> 'object' or 'value': the mapping, as far as it matters."""
    faults: Faults = field(default_factory=Faults)
    pits: dict[str, Pit] = field(default_factory=dict)
    """Open points in time, by id (see pit.py)."""
    seq_no: int = 0
    bulk_requests: int = 0
    bulk_items: int = 0
    stalled: int = 0
    last_headers: dict[str, str] = field(default_factory=dict)
    last_path: str = ""

    def reset(self) -> None:
        with self.lock:
            self.indices.clear()
            self.kinds.clear()
            self.faults = Faults()
            self.pits.clear()
            self.bulk_requests = self.bulk_items = self.stalled = 0

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "bulk_requests": self.bulk_requests,
                "bulk_items": self.bulk_items,
                "stalled": self.stalled,
                "documents": sum(len(docs) for docs in self.indices.values()),
                "last_headers": self.last_headers,
                "last_path": self.last_path,
            }

    def apply(self, action: Action) -> dict[str, Any]:
        """One bulk action (the lock held); the item a real server answers for it."""
        op, name = action.op, action.index
        head: dict[str, Any] = {"_index": name, "_id": action.id}
        injected = self.faults.items.popleft() if self.faults.items else 0
        injected = injected or self.faults.ids.get(action.id or "", 0)
        if injected:
            kind = ERROR_TYPES.get(injected, "exception")
            return failed(op, head, injected, kind, f"injected by the stand-in: {kind}")
        if problem := index_problem(name):
            return failed(op, head, 400, "invalid_index_name_exception", problem)
        docs = self.indices.setdefault(name, {})
        if action.id is None:
            head["_id"] = base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()
        doc_id = head["_id"]
        current = docs.get(doc_id)
        if op == "delete":
            if current is None:
                return {op: {**head, "result": "not_found", "_shards": SHARDS, "status": 404}}
            del docs[doc_id]
            return self._done(op, head, current.version + 1, "deleted", 200)
        if action.source is None:
            reason = "[1:1] failed to parse: the source is not a JSON object"
            return failed(op, head, 400, "document_parsing_exception", reason)
        if op == "create" and current is not None:
            reason = (
                f"[{doc_id}]: version conflict, document already exists (current version "
                f"[{current.version}])"
            )
            return failed(op, head, 409, "version_conflict_engine_exception", reason)
        source = action.source
        if op == "update":
            found = self._updated(action.source, current)
            if found is None:
                reason = f"[{doc_id}]: document missing"
                return failed(op, head, 404, "document_missing_exception", reason)
            source = found
            if current is not None and current.source == source:
                done = {"_version": current.version, "result": "noop", "_shards": SHARDS}
                return {op: {**head, **done, "status": 200}}
        if problem := mapping_problem(source, self.kinds.setdefault(name, {})):
            return failed(op, head, 400, "document_parsing_exception", problem)
        self.seq_no += 1
        version = 1 if current is None else current.version + 1
        docs[doc_id] = Doc(source, version, self.seq_no)
        if current is None:
            return self._done(op, head, version, "created", 201)
        return self._done(op, head, version, "updated", 200)

    @staticmethod
    def _updated(request: dict[str, Any], current: Doc | None) -> dict[str, Any] | None:
        """The document an update makes, or None for a missing one without an upsert."""
        patch = request.get("doc")
        patch = patch if isinstance(patch, dict) else {}
        if current is None:
            if request.get("doc_as_upsert"):
                return patch
            upsert = request.get("upsert")
            return upsert if isinstance(upsert, dict) else None
        source = copy.deepcopy(current.source)
        merge(source, patch)
        return source

    def _done(
        self, op: str, head: dict[str, Any], version: int, result: str, status: int
    ) -> dict[str, Any]:
        done = {"_version": version, "result": result, "_shards": SHARDS}
        return {op: {**head, **done, "_seq_no": self.seq_no, "_primary_term": 1, "status": status}}
