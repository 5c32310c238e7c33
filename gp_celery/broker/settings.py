"""Where the fleet's broker and Redis are, and how patient to be with them: read once.

A process reads its environment (or its command line) once, at start, into a
``BrokerSettings``; everything that talks to the broker gets that object. Nothing rewrites
environment variables to pass settings around.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_BROKER: Final = "redis://localhost:6379/0"
VISIBILITY_TIMEOUT_SECS: Final = 300
"""Redis only: an unacknowledged chunk returns to its queue after this long. A killed
worker's chunks are therefore delivered again after up to five minutes; keep it well above
the slowest chunk, or a slow chunk runs twice."""
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://", "redis+socket://")
_PASSWORD: Final = re.compile(r"(://[^:/@]*:)[^@/]*@")


def mask(url: str) -> str:
    """The URL with its password replaced by ****, for logs and error messages."""
    return _PASSWORD.sub(r"\1****@", url)


def is_redis(url: str) -> bool:
    return url.startswith(REDIS_SCHEMES)


@dataclass(frozen=True)
class BrokerSettings:
    broker_url: str = DEFAULT_BROKER
    store_url: str | None = DEFAULT_BROKER
    """Redis for chunks, dead letters, parked chunks and fleet state: GP_REDIS_URL, else the
    broker when it is Redis; None with an AMQP broker and no GP_REDIS_URL (chunks then
    travel inside the task messages, dead letters go to a local file)."""
    visibility_timeout: int = VISIBILITY_TIMEOUT_SECS
    chunk_ttl_secs: int = 7 * 24 * 3600
    """A stored chunk whose task never ran expires after this long (GP_CHUNK_TTL_SECS)."""
    version_retries: int = 10
    """How often a chunk made for another config goes back to its queue before it is
    parked (GP_VERSION_RETRIES)."""
    sweep_secs: float = 30.0
    """How often a worker looks for stored chunks whose task message was lost
    (GP_SWEEP_SECS)."""
    sweep_grace_secs: float = 60.0
    """Only chunks stored longer ago than this are looked at (GP_SWEEP_GRACE_SECS): a
    listener sends a chunk's message right after storing it, or keeps retrying while the
    broker is away, and a chunk it is still sending must not be sent twice."""

    stats_secs: float = 5.0
    """How often each listener and worker process writes its counters to Redis for
    `gp-celery stats` (GP_STATS_SECS)."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, broker: str | None = None
    ) -> BrokerSettings:
        """Settings from GP_* variables; ``broker`` (a --broker option) wins."""
        env = os.environ if environ is None else environ
        broker_url = broker or env.get("GP_BROKER_URL") or DEFAULT_BROKER
        store = env.get("GP_REDIS_URL") or (broker_url if is_redis(broker_url) else None)
        return cls(
            broker_url=broker_url,
            store_url=store,
            visibility_timeout=int(env.get("GP_VISIBILITY_TIMEOUT", VISIBILITY_TIMEOUT_SECS)),
            chunk_ttl_secs=int(
                env.get("GP_CHUNK_TTL_SECS", env.get("GP_BATCH_TTL_SECS", 7 * 24 * 3600))
            ),
            version_retries=int(env.get("GP_VERSION_RETRIES", 10)),
            sweep_secs=float(env.get("GP_SWEEP_SECS", 30)),
            sweep_grace_secs=float(env.get("GP_SWEEP_GRACE_SECS", 60)),
            stats_secs=float(env.get("GP_STATS_SECS", 5)),
        )

    @property
    def broker_is_redis(self) -> bool:
        return is_redis(self.broker_url)

    def redis_transport_options(self) -> dict[str, int]:
        """Redis only. kombu looks for messages past their visibility timeout once at
        worker start, then every ``unacked_restore_interval`` x ``unacked_restore_throttle``
        seconds (10 x 10 by default): a killed worker's chunks would wait up to 100 s beyond
        the timeout. Look every timeout/4 seconds (at most 10), every time: a cheap ZRANGE."""
        timeout = self.visibility_timeout
        return {
            "visibility_timeout": timeout,
            "unacked_restore_interval": max(1, min(10, timeout // 4)),
            "unacked_restore_throttle": 1,
        }

    def celery_broker_url(self) -> str:
        """kombu spells a unix socket ``redis+socket://``; so do we, and ``unix://`` too."""
        if self.broker_url.startswith("unix://"):
            return "redis+socket://" + self.broker_url.removeprefix("unix://")
        return self.broker_url
