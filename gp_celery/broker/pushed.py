"""Configs pushed to Redis (`gp-celery config push`), versioned, for processes started with
--from-broker: one hash per config name holding every version's text, the current version,
and which version each stage digest belongs to (a task carries its stage's digest, so a
worker can run it on the version it was made for)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gp_celery.config import PipelineConfig, Role, parse_config

PREFIX: Final = "gp-celery:config:"
CURRENT: Final = "current"


@dataclass(frozen=True)
class Pushed:
    name: str
    version: int
    text: str
    source: str
    """The file it was pushed from (for people; processes never read it)."""
    pushed_at: float
    digests: dict[str, str]

    def config(self, role: Role = "all") -> PipelineConfig:
        """Parse it as ``role`` does; every version has the same file name (the config's
        name), so the fleet's counters stay under one name across versions."""
        return parse_config(self.text, f"{self.name}.yml", dict(os.environ), role=role)


def _key(name: str) -> str:
    return PREFIX + name


def _read(name: str, raw: bytes | None) -> Pushed | None:
    if raw is None:
        return None
    data = orjson.loads(raw)
    return Pushed(
        name, data["version"], data["text"], data["source"], data["pushed_at"], data["digests"]
    )


def push(client: Any, name: str, text: str, source: str, digests: dict[str, str]) -> Pushed:
    """Store ``text`` as the next version and make it current; the same text as the
    current version is not stored again."""
    now = current(client, name)
    if now is not None and now.text == text:
        return now
    version = int(client.hincrby(_key(name), "next", 1))
    pushed = Pushed(name, version, text, source, time.time(), digests)
    record = orjson.dumps(
        {
            "version": version,
            "text": text,
            "source": source,
            "pushed_at": pushed.pushed_at,
            "digests": digests,
        }
    )
    mapping: dict[str, Any] = {f"v{version}": record, CURRENT: version}
    mapping.update({f"digest:{digest}": version for digest in digests.values()})
    client.hset(_key(name), mapping=mapping)
    return pushed


def current(client: Any, name: str) -> Pushed | None:
    version = current_version(client, name)
    return None if version is None else version_of(client, name, version)


def current_version(client: Any, name: str) -> int | None:
    """Just the number: what a process asks every few seconds."""
    version = client.hget(_key(name), CURRENT)
    return None if version is None else int(version)


def version_of(client: Any, name: str, version: int) -> Pushed | None:
    return _read(name, client.hget(_key(name), f"v{version}"))


def version_for_digest(client: Any, name: str, digest: str) -> Pushed | None:
    """The pushed version one of whose stages has ``digest``."""
    version = client.hget(_key(name), f"digest:{digest}")
    return None if version is None else version_of(client, name, int(version))


def versions(client: Any, name: str) -> list[Pushed]:
    fields = client.hgetall(_key(name))
    found = []
    for field, raw in fields.items():
        text = field.decode() if isinstance(field, bytes) else field
        if text.startswith("v") and text[1:].isdigit():
            pushed = _read(name, raw)
            if pushed is not None:
                found.append(pushed)
    return sorted(found, key=lambda pushed: pushed.version)
