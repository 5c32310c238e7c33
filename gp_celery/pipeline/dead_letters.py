"""Embedded mode's dead-letter store: a JSON-lines file, one event (with its errors) a line."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import orjson

from gp_celery.event import Batch

log = logging.getLogger(__name__)


class DeadLetterFile:
    """Appends events no sink could take; created only when the first one arrives."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, node_id: str, events: Batch) -> None:
        lines = b"".join(orjson.dumps(event, default=repr) + b"\n" for event in events)
        with self._lock, self.path.open("ab") as handle:
            handle.write(lines)
        self.count += len(events)
        log.error(
            "%s: %d events could not be written; kept in %s (%d so far).",
            node_id,
            len(events),
            self.path,
            self.count,
        )
