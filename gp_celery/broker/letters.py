"""Dead letters and parked chunks: one record shape, kept in Redis (a fleet) or a file.

A ``Letter`` holds whole events with why they were set aside, so nothing is lost and
everything can be looked at and replayed: events a sink could not write (``failed``), a
record that kept killing its worker (``poison``), and a chunk made for a config no worker
runs (``parked``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import orjson

from gp_celery.event import Batch, Event, errors_of

log = logging.getLogger(__name__)

DEAD_LETTER_KEY: Final = "gp-celery:dead-letters"
PARKED_KEY: Final = "gp-celery:parked"

LetterKind = Literal["failed", "poison", "parked"]


@dataclass
class Letter:
    kind: LetterKind
    node: str
    """The node that failed them (a sink), the input whose record killed workers, or the
    node a parked chunk was meant to enter at."""
    error: str
    events: Batch
    digest: str = ""
    """The config (stage) digest the events were made for."""
    queue: str = ""
    attempts: int = 1
    time: float = field(default_factory=time.time)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), default=_jsonable, option=orjson.OPT_NON_STR_KEYS)

    @staticmethod
    def from_json(raw: bytes | str) -> Letter:
        return Letter(**orjson.loads(raw))


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    return repr(value)


class LetterBox(Protocol):
    def send(self, letters: list[Letter]) -> None: ...


def log_set_aside(letters: list[Letter], where: str) -> None:
    """One line per node, kind and error, with how many events: never one per event."""
    groups: Counter[tuple[str, str, str]] = Counter()
    for letter in letters:
        groups[letter.node, letter.kind, letter.error] += len(letter.events)
    for (node, kind, error), events in groups.items():
        log.error("%s: %d events set aside (%s: %s); kept in %s.", node, events, kind, error, where)


class RedisLetters:
    """Letters as JSON on Redis lists: dead letters and parked chunks apart."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, letters: list[Letter]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for letter in letters:
            pipe.rpush(self.key_of(letter), letter.to_json())
        pipe.execute()
        for key in {self.key_of(letter) for letter in letters}:
            mine = [letter for letter in letters if self.key_of(letter) == key]
            log_set_aside(mine, f"Redis list '{key}'")

    @staticmethod
    def key_of(letter: Letter) -> str:
        return PARKED_KEY if letter.kind == "parked" else DEAD_LETTER_KEY


class FileLetters:
    """Letters as JSON lines in a file, created only when the first one arrives."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.count = 0
        self._lock = threading.Lock()

    def send(self, letters: list[Letter]) -> None:
        lines = b"".join(letter.to_json() + b"\n" for letter in letters)
        with self._lock, self.path.open("ab") as handle:
            handle.write(lines)
        self.count += sum(len(letter.events) for letter in letters)
        log_set_aside(letters, f"{self.path} ({self.count} events so far)")


def failed_letters(node: str, events: Batch, attempts: int, digest: str) -> list[Letter]:
    """One letter per event a sink gave up on; its error is the event's last tag."""
    return [
        Letter("failed", node, _last_error(event, node), [event], digest, "", attempts)
        for event in events
    ]


def _last_error(event: Event, node: str) -> str:
    for error in reversed(errors_of(event)):
        if isinstance(error, dict) and error.get("node") == node:
            return str(error.get("reason", ""))
    return "write failed"
