"""What the Redis inputs share: their connection options, clients, and patient reconnecting.

RedisList and RedisChannel never give up on a Redis that went away: every failed call is
counted, logged (rate-limited) and tried again after a backoff (``_retry.Backoff``). The
clients do not retry by themselves (redis-py would, silently), so every lost connection is
seen, counted and said once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from pydantic import Field, field_validator

from gp_celery.modules.base import Options

if TYPE_CHECKING:
    import redis
    import redis.asyncio

SOCKET_TIMEOUT_SECS: Final = 10.0
"""A command (a script moving a batch, a pub/sub read) that gets no answer for this long
counts as a lost connection."""


class RedisSourceOptions(Options):
    """Where the Redis server is, with GambolPutty's option names and defaults."""

    server: str = "localhost"
    """Redis host name or address."""
    port: int = Field(6379, ge=1, le=65535)
    """Redis port."""
    db: int = Field(0, ge=0)
    """Redis database number."""
    password: str | None = None
    """Redis password (AUTH), if the server asks for one."""

    @field_validator("password", mode="before")
    @classmethod
    def _false_is_unset(cls, value: Any) -> Any:
        return None if value is False else value

    def where(self) -> str:
        """How logs name the server."""
        return f"redis://{self.server}:{self.port}/{self.db}"


def connection_errors() -> tuple[type[BaseException], ...]:
    """What a lost or refused connection raises (AuthenticationError is one of them)."""
    import redis.exceptions

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def sync_client(options: RedisSourceOptions) -> redis.Redis:
    """A client that reports every failure instead of retrying on its own."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host=options.server,
        port=options.port,
        db=options.db,
        password=options.password,
        socket_timeout=SOCKET_TIMEOUT_SECS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECS,
        retry=Retry(NoBackoff(), 0),
    )


def async_client(options: RedisSourceOptions) -> redis.asyncio.Redis:
    """An asyncio client that reports every failure instead of retrying on its own."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis(
        host=options.server,
        port=options.port,
        db=options.db,
        password=options.password,
        socket_timeout=SOCKET_TIMEOUT_SECS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECS,
        retry=Retry(NoBackoff(), 0),
    )
