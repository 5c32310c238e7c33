"""Dead letters and parked chunks: one record shape, kept in Redis (a fleet) or a file.

A ``Letter`` holds whole events with why they were set aside, so nothing is lost and
everything can be looked at and replayed: events a sink could not write (``failed``), a
record that kept killing its worker (``poison``), and a chunk made for a config no worker
runs (``parked``).

Both stores are read back the same way (``gp-celery dlq``): a ``Stored`` is one record as
kept, with a short id that is a hash of its bytes, so it stays the same however many
records come or go before it. A record is removed by its exact bytes (Redis ``LREM``; the
file is rewritten under a lock that writers take too), never by position.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Final, Literal, Protocol, get_args

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
        """Read a record of any version: fields added later take their defaults, unknown
        ones are ignored, and a bare event (the first embedded dead-letter files held one
        event a line) becomes a ``failed`` letter of the node its last error names."""
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"a record is a JSON object, not {type(data).__name__}")
        if "events" not in data:
            return _letter_of_bare_event(data)
        known = {item.name for item in fields(Letter)}
        letter = Letter(**{key: value for key, value in data.items() if key in known})
        events = letter.events
        if letter.kind not in get_args(LetterKind) or not isinstance(events, list):
            raise ValueError(f"kind {letter.kind!r} and events {type(events).__name__}")
        if not all(isinstance(event, dict) for event in events):
            raise ValueError("an event that is not a JSON object")
        return letter


def _letter_of_bare_event(event: Event) -> Letter:
    errors = errors_of(event)
    last = errors[-1] if errors and isinstance(errors[-1], dict) else {}
    node, reason = str(last.get("node", "")), str(last.get("reason", "write failed"))
    return Letter("failed", node, reason, [event], time=0.0)


def letter_id(raw: bytes) -> str:
    """A record's id: short, and the same for as long as the record is kept."""
    return hashlib.blake2b(raw, digest_size=5).hexdigest()


@dataclass(frozen=True)
class Stored:
    """One record as kept: its bytes (what removing it matches), id and list (Redis)."""

    raw: bytes
    key: str = ""
    letter: Letter | None = None
    """None when the record cannot be read (``problem`` says why); it can still be shown
    and purged."""
    problem: str = ""

    @property
    def id(self) -> str:
        return letter_id(self.raw)

    @staticmethod
    def of(raw: bytes, key: str = "") -> Stored:
        try:
            return Stored(raw, key, Letter.from_json(raw))
        except (ValueError, TypeError) as error:
            return Stored(raw, key, None, f"unreadable record ({error})")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    return repr(value)


class LetterBox(Protocol):
    def send(self, letters: list[Letter]) -> None: ...


class LetterStore(LetterBox, Protocol):
    """Where letters are kept, read back and removed (``gp-celery dlq``)."""

    @property
    def where(self) -> str: ...

    def read(self) -> list[Stored]: ...

    def remove(self, records: list[Stored]) -> int:
        """Remove these records (one copy each); return how many were still there."""
        ...


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

    @property
    def where(self) -> str:
        from gp_celery.broker.settings import mask

        kwargs = self.client.connection_pool.connection_kwargs
        at = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"Redis lists '{DEAD_LETTER_KEY}' and '{PARKED_KEY}' at {mask(str(at))}"

    def read(self) -> list[Stored]:
        found = []
        for key in (DEAD_LETTER_KEY, PARKED_KEY):
            found += [Stored.of(raw, key) for raw in self.client.lrange(key, 0, -1)]
        return found

    def remove(self, records: list[Stored]) -> int:
        if not records:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for record in records:
            pipe.lrem(record.key or DEAD_LETTER_KEY, 1, record.raw)
        return sum(int(count) for count in pipe.execute())


class FileLetters:
    """Letters as JSON lines in a file, created only when the first one arrives."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.count = 0
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return str(self.path.absolute())

    def send(self, letters: list[Letter]) -> None:
        lines = b"".join(letter.to_json() + b"\n" for letter in letters)
        with self._lock, self._locked("ab") as handle:
            handle.write(lines)
        self.count += sum(len(letter.events) for letter in letters)
        log_set_aside(letters, f"{self.path} ({self.count} events so far)")

    def read(self) -> list[Stored]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return [Stored.of(line) for line in raw.splitlines() if line.strip()]

    def remove(self, records: list[Stored]) -> int:
        """Rewrite the file without the records: a new file renamed over the old one,
        so a crash leaves either; under the lock, so no letter sent meanwhile is lost."""
        if not records or not self.path.exists():
            return 0
        wanted = Counter(record.raw for record in records)
        with self._lock, self._locked("rb") as handle:
            kept: list[bytes] = []
            removed = 0
            for line in handle.read().splitlines():
                if wanted[line] > 0:
                    wanted[line] -= 1
                    removed += 1
                elif line.strip():
                    kept.append(line + b"\n")
            fresh = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with fresh.open("wb") as out:
                out.write(b"".join(kept))
                out.flush()
                os.fsync(out.fileno())
            fresh.replace(self.path)
        return removed

    @contextmanager
    def _locked(self, mode: str) -> Iterator[IO[bytes]]:
        """The file, opened and flock()ed; reopened if ``remove`` replaced it meanwhile,
        so nothing is written into the unlinked old file."""
        while True:
            handle = self.path.open(mode)
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is not None and current.st_ino == os.fstat(handle.fileno()).st_ino:
                break
            handle.close()
        try:
            yield handle
        finally:
            handle.close()


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
