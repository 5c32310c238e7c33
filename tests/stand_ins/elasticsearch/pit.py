"""Points in time and ``search_after`` paging, as Elasticsearch 8 answers them.

``POST /<index>/_pit?keep_alive=1m`` freezes a view of the target's documents and answers
``{"id": ..., "_shards": ...}``; ``POST /_search`` with ``{"pit": {"id", "keep_alive"}}``
(never an index in the path) searches that view; ``DELETE /_pit`` with ``{"id": ...}``
frees it (404 with ``num_freed: 0`` when it is unknown). A PIT search sorts by the given
``sort`` (field names, ``{"field": "asc"}``, ``{"field": {"order": "desc"}}``, ``_score``,
``_doc``, ``_shard_doc``), default ``_score`` descending, and always ends with the
implicit tiebreaker ``_shard_doc`` ascending (here: the order documents were stored in).
Every hit carries its ``sort`` values; ``search_after`` takes the hits strictly after such
values. A missing field sorts last in either order. Expired or unknown PITs answer 404
``search_context_missing_exception``.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from tests.stand_ins.elasticsearch.wire import RequestError

TIEBREAKER: Final = "_shard_doc"
UNITS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION: Final = re.compile(r"^(\d+)(ms|s|m|h|d)$")
Hit = tuple[str, str, dict[str, Any], int]
"""(index, id, source, stored order) of one document in a PIT's view."""


@dataclass
class Pit:
    hits: list[Hit]
    expires: float


def keep_alive_secs(value: Any) -> float:
    match = DURATION.match(str(value or ""))
    if not match:
        if not value:
            reason = "Validation Failed: 1: [keep_alive] is not specified;"
            raise RequestError(400, "action_request_validation_exception", reason)
        reason = f"failed to parse setting [keep_alive] with value [{value}] as a time value"
        raise RequestError(400, "illegal_argument_exception", reason)
    return int(match.group(1)) * UNITS[match.group(2)]


def new_pit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()


def _missing(pit_id: str) -> RequestError:
    return RequestError(
        404, "search_context_missing_exception", f"No search context found for id [{pit_id}]"
    )


def live_pit(pits: dict[str, Pit], pit: Any) -> tuple[str, Pit]:
    """The PIT a search names, its keep-alive extended; the lock held."""
    if not isinstance(pit, dict) or not isinstance(pit.get("id"), str):
        raise RequestError(400, "x_content_parse_exception", "[pit] requires an [id]")
    pit_id = pit["id"]
    found = pits.get(pit_id)
    now = time.monotonic()
    if found is None or found.expires < now:
        pits.pop(pit_id, None)
        raise _missing(pit_id)
    if "keep_alive" in pit:
        found.expires = now + keep_alive_secs(pit["keep_alive"])
    return pit_id, found


def _sort_specs(sort: Any) -> list[tuple[str, bool]]:
    """(field, descending) for each sort clause, the tiebreaker appended."""
    clauses = sort if isinstance(sort, list) else [] if sort is None else [sort]
    specs: list[tuple[str, bool]] = []
    for clause in clauses:
        if isinstance(clause, str):
            specs.append((clause, clause == "_score"))
            continue
        if not isinstance(clause, dict) or len(clause) != 1:
            raise RequestError(400, "parsing_exception", f"malformed sort clause {clause!r}")
        ((name, how),) = clause.items()
        order = (
            how.get("order", "desc" if name == "_score" else "asc")
            if isinstance(how, dict)
            else how
        )
        if order not in ("asc", "desc"):
            reason = f"Unknown SortOrder [{order}]"
            raise RequestError(400, "illegal_argument_exception", reason)
        specs.append((name, order == "desc"))
    if not specs:
        specs.append(("_score", True))
    if all(name != TIEBREAKER for name, _ in specs):
        specs.append((TIEBREAKER, False))
    return specs


def _value(hit: Hit, name: str) -> Any:
    if name == "_score":
        return 1.0
    if name in ("_doc", TIEBREAKER):
        return hit[3]
    current: Any = hit[2]
    for part in name.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current[0] if isinstance(current, list) and current else current


def _compare(left: list[Any], right: list[Any], specs: list[tuple[str, bool]]) -> int:
    for a, b, (_, descending) in zip(left, right, specs, strict=True):
        if a == b:
            continue
        if a is None or b is None:  # missing values sort last, in either order
            return 1 if a is None else -1
        try:
            less = a < b
        except TypeError:
            less = str(a) < str(b)
        return (1 if less else -1) if descending else (-1 if less else 1)
    return 0


def pit_search(pit_id: str, pit: Pit, request: dict[str, Any], query_ids: Any) -> dict[str, Any]:
    """The answer to a search of ``pit`` (``query_ids``: the ``ids`` query's values, or None)."""
    specs = _sort_specs(request.get("sort"))
    after = request.get("search_after")
    size = int(request.get("size", 10))
    if after is not None:
        if int(request.get("from", 0)) != 0:
            reason = (
                "Validation Failed: 1: [from] parameter must be set to 0 when [search_after] "
                "is used;"
            )
            raise RequestError(400, "action_request_validation_exception", reason)
        if not isinstance(after, list) or len(after) != len(specs):
            count = len(after) if isinstance(after, list) else 1
            reason = f"search_after has {count} value(s) but sort has {len(specs)}."
            raise RequestError(400, "illegal_argument_exception", reason)
    hits = [hit for hit in pit.hits if query_ids is None or hit[1] in set(query_ids)]
    keyed = [([_value(hit, name) for name, _ in specs], hit) for hit in hits]
    keyed.sort(key=functools.cmp_to_key(lambda x, y: _compare(x[0], y[0], specs)))
    if after is not None:
        keyed = [entry for entry in keyed if _compare(entry[0], after, specs) > 0]
    else:
        keyed = keyed[int(request.get("from", 0)) :]
    scored = specs[0][0] == "_score"
    page = [
        {
            "_index": index,
            "_id": key,
            "_score": 1.0 if scored else None,
            "_source": source,
            "sort": values,
        }
        for values, (index, key, source, _) in keyed[:size]
    ]
    found = {
        "total": {"value": len(hits), "relation": "eq"},
        "max_score": 1.0 if scored and hits else None,
        "hits": page,
    }
    shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    return {"pit_id": pit_id, "took": 1, "timed_out": False, "_shards": shards, "hits": found}
