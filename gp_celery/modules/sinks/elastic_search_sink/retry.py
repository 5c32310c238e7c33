"""Which bulk results are failures, and which of those trying again can fix.

Pure functions of what Elasticsearch answered, so they are tested on their own.
"""

from __future__ import annotations

from typing import Any

Outcome = tuple[str, bool]
"""A failed item: why, and whether writing it again later can succeed."""


def is_retriable(status: int) -> bool:
    """Can the same request succeed later without anyone changing anything?

    429 is Elasticsearch pushing back (a full write queue, a circuit breaker) and 5xx is a
    node or shard in trouble: both pass. 408 is a timeout. Every other 4xx is about the
    document or the request (a mapping conflict, a bad index name, a missing document for
    an update, bad credentials) and needs a person: those go to the dead letters.
    """
    return status in (408, 429) or status >= 500


def item_outcome(action: str, item: Any) -> Outcome | None:
    """None when a bulk item succeeded, else why it failed and whether to retry.

    ``create`` answered 409 succeeded: the document with that id is there already, which
    is what a redelivered batch finds. ``update`` answered 409 lost a race with another
    writer of the same document: trying again can succeed. As in the official helpers, an
    item without a status counts as 500.
    """
    result = next(iter(item.values()), None) if isinstance(item, dict) and item else None
    if not isinstance(result, dict):
        return f"malformed bulk item {str(item)[:200]!r}", True
    status = result.get("status", 500)
    if not isinstance(status, int):
        status = 500
    if status < 300 or (status == 409 and action == "create"):
        return None
    error = result.get("error")
    if isinstance(error, dict):
        reason = f"{status} {error.get('type', 'error')}: {error.get('reason', '')}"
    else:
        reason = f"{status} {error!s}" if error else f"status {status}"
    retriable = is_retriable(status) or (status == 409 and action == "update")
    return reason[:1000], retriable


def bulk_outcomes(action: str, body: Any, sent: int) -> list[tuple[int, str, bool]]:
    """(position among the sent actions, reason, retriable) for each failed item.

    A response that does not hold one item per action (a proxy's error page, a cut-off
    body) fails every action, retriably: ids make writing them again harmless.
    """
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) != sent:
        count = len(items) if isinstance(items, list) else "no"
        reason = f"malformed bulk response: {count} items for {sent} actions"
        return [(position, reason, True) for position in range(sent)]
    if body.get("errors") is False:
        return []
    found = []
    for position, item in enumerate(items):
        outcome = item_outcome(action, item)
        if outcome is not None:
            found.append((position, *outcome))
    return found
