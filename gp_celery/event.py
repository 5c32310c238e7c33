"""Events, batches, metadata keys and dotted field paths.

An event is a plain dict: ``data`` holds the raw payload, ``gambolputty`` the metadata. The
metadata key keeps GambolPutty's name so that seed filters such as
``$(gambolputty.event_type) != 'Unknown'`` run unchanged.

LumberMill renamed the key to ``lumbermill``. Events of both generations keep their metadata
under ``gambolputty`` only; instead, a field path whose first segment is ``lumbermill`` is read
and written as ``gambolputty``. FieldPath does the rewriting, so it holds for filters,
templates and every option that takes a field name (``$(lumbermill.event_type)``,
``source_field: lumbermill.source_module``, ``delete_fields: [lumbermill]``). One key, not
two copies, so a filter of either generation sees what a parser of the other wrote, and an
event stored by a sink carries its metadata once. A user field literally called
``lumbermill`` cannot be addressed; LumberMill reserved that name too.
"""

from __future__ import annotations

import copy
import itertools
import os
import secrets
import socket
from typing import Any, Final

Event = dict[str, Any]
Batch = list[Event]

META: Final = "gambolputty"
LUMBERMILL_META: Final = "lumbermill"
"""LumberMill's name for the metadata key; paths starting with it address META."""
EVENT_ID: Final = "event_id"
EVENT_TYPE: Final = "event_type"
RECEIVED_FROM: Final = "received_from"
SOURCE_MODULE: Final = "source_module"
ERRORS: Final = "errors"
TLS_CLIENT_CN: Final = "tls_client_cn"
"""The common name of the certificate a TLS client presented (TcpServer with ``cacert``)."""
DATA: Final = "data"
UNKNOWN_TYPE: Final = "Unknown"

HOSTNAME: Final = socket.gethostname()


class _Missing:
    """Sentinel for an absent field; falsy, so filters treat it like GambolPutty's False."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class EventIds:
    """Cheap unique event ids: a random per-process prefix plus a hexadecimal counter.

    Ids are assigned once, where an event enters, so a redelivered batch keeps them and a sink
    keyed on the id overwrites instead of duplicating. A uuid4 per event would cost ~10x more.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Choose a new prefix; call after fork so two processes never share one."""
        self._prefix = f"{secrets.token_hex(8)}{os.getpid():x}-"
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"

    def take(self, count: int) -> tuple[str, range]:
        """The prefix and ``count`` consecutive numbers, for building many events at once."""
        start = next(self._counter)
        self._counter = itertools.count(start + count)
        return self._prefix, range(start, start + count)


event_ids: Final = EventIds()
os.register_at_fork(after_in_child=event_ids.reset)


def new_event(data: Any, source_module: str, received_from: Any = False) -> Event:
    """Build an event as inputs create it (metadata per spec/CORE.md section 2)."""
    return {
        DATA: data,
        META: {
            EVENT_ID: event_ids.next(),
            EVENT_TYPE: UNKNOWN_TYPE,
            RECEIVED_FROM: received_from,
            SOURCE_MODULE: source_module,
        },
    }


def new_events(payloads: list[Any], source_module: str, received_from: Any = False) -> Batch:
    """``new_event`` for many payloads: the hot path of every input (one id reservation,
    no call per event)."""
    prefix, numbers = event_ids.take(len(payloads))
    return [
        {
            DATA: data,
            META: {
                EVENT_ID: f"{prefix}{number:x}",
                EVENT_TYPE: UNKNOWN_TYPE,
                RECEIVED_FROM: received_from,
                SOURCE_MODULE: source_module,
            },
        }
        for number, data in zip(numbers, payloads, strict=True)
    ]


def metadata(event: Event) -> dict[str, Any]:
    """The event's metadata dict, created when a hand-made event has none."""
    meta = event.get(META)
    if not isinstance(meta, dict):
        meta = event[META] = {EVENT_ID: event_ids.next(), EVENT_TYPE: UNKNOWN_TYPE}
    return meta


def set_event_type(event: Event, name: str) -> None:
    metadata(event)[EVENT_TYPE] = name


def event_type(event: Event) -> Any:
    return metadata(event).get(EVENT_TYPE, UNKNOWN_TYPE)


def add_error(event: Event, node: str, reason: str) -> None:
    """Record a per-event failure; filters and the dead-letter queue can read the list."""
    metadata(event).setdefault(ERRORS, []).append({"node": node, "reason": reason})


def errors_of(event: Event) -> list[dict[str, str]]:
    meta = event.get(META)
    if isinstance(meta, dict):
        found = meta.get(ERRORS)
        if isinstance(found, list):
            return found
    return []


def copy_event(event: Event, branch: int) -> Event:
    """Deep-copy an event for an extra receiver.

    The copy's id is derived from the original's (``<id>.<branch>``), not random, so a
    redelivered batch produces the same ids again and id-keyed sinks stay idempotent.
    """
    clone = copy.deepcopy(event)
    meta = metadata(clone)
    meta[EVENT_ID] = f"{meta.get(EVENT_ID, '')}.{branch}"
    return clone


class FieldPath:
    """A compiled dotted path such as ``params.spanish.0`` (list segments are indexes).

    Setting creates missing parent dicts, which GambolPutty did not; users of Logstash and
    Vector expect ``target_field: a.b`` to work on an event without ``a``. A path starting
    with ``lumbermill`` addresses ``gambolputty`` (see the module docstring).
    """

    __slots__ = ("dotted", "parts")

    def __init__(self, dotted: str) -> None:
        parts = dotted.split(".")
        if not dotted or not all(parts):
            raise ValueError(f"invalid field path {dotted!r}")
        if parts[0] == LUMBERMILL_META:
            parts[0] = META
        self.dotted = ".".join(parts)  # as the event holds it, LumberMill's key rewritten
        self.parts: tuple[str, ...] = tuple(parts)

    def __repr__(self) -> str:
        return f"FieldPath({self.dotted!r})"

    def get(self, event: Any, default: Any = MISSING) -> Any:
        current = event
        for part in self.parts:
            if isinstance(current, dict):
                if part not in current:
                    return default
                current = current[part]
            elif isinstance(current, list):
                try:
                    current = current[int(part)]
                except (ValueError, IndexError):
                    return default
            else:
                return default
        return current

    def exists(self, event: Any) -> bool:
        return self.get(event) is not MISSING

    def set(self, event: Event, value: Any) -> None:
        current: Any = event
        for part in self.parts[:-1]:
            if isinstance(current, dict):
                child = current.get(part)
                if not isinstance(child, (dict, list)):
                    child = current[part] = {}
                current = child
            elif isinstance(current, list):
                current = current[int(part)]
            else:
                raise TypeError(f"cannot set {self.dotted!r}: {part!r} is not a container")
        last = self.parts[-1]
        if isinstance(current, list):
            current[int(last)] = value
        else:
            current[last] = value

    def delete(self, event: Event) -> Any:
        """Remove the field and return its value (MISSING when it was absent)."""
        parent = FieldPath(".".join(self.parts[:-1])).get(event) if len(self.parts) > 1 else event
        last = self.parts[-1]
        if isinstance(parent, dict):
            return parent.pop(last, MISSING)
        if isinstance(parent, list):
            try:
                return parent.pop(int(last))
            except (ValueError, IndexError):
                return MISSING
        return MISSING


_paths: dict[str, FieldPath] = {}


def field_path(dotted: str) -> FieldPath:
    """A cached FieldPath; options compile theirs once at load."""
    path = _paths.get(dotted)
    if path is None:
        path = _paths[dotted] = FieldPath(dotted)
    return path
