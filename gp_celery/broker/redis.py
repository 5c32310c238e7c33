"""One Redis client per URL and process; failures named the way an operator can act on."""

from __future__ import annotations

import os
from typing import Any

from gp_celery.broker.settings import mask

_clients: dict[tuple[str, int], Any] = {}


def redis_client(url: str) -> Any:
    """A redis.Redis for ``url`` (``redis+socket://PATH`` and ``unix://PATH`` are sockets).

    Cached per process: a forked child gets its own (a connection must not cross a fork).
    """
    key = (url, os.getpid())
    client = _clients.get(key)
    if client is None:
        import redis

        for scheme in ("redis+socket://", "unix://"):
            if url.startswith(scheme):
                path, _, _query = url.removeprefix(scheme).partition("?")
                client = redis.Redis(unix_socket_path=path)
                break
        else:
            client = redis.Redis.from_url(url)
        _clients[key] = client
    return client


def describe_failure(url: str, error: Exception) -> str:
    """A sentence for why ``url`` cannot be used (password masked)."""
    import redis.exceptions as errors

    where = mask(url)
    if isinstance(error, errors.AuthenticationError) or "NOAUTH" in str(error).upper():
        return f"the broker at {where} refused its password ({error})"
    if isinstance(error, errors.ConnectionError | errors.TimeoutError | OSError):
        return f"cannot reach the broker at {where} ({error})"
    return f"the broker at {where} failed: {type(error).__name__}: {error}"


def check_reachable(url: str) -> None:
    """PING the Redis at ``url``; raise ConnectionError with a sentence if that fails."""
    try:
        redis_client(url).ping()
    except Exception as error:
        raise ConnectionError(describe_failure(url, error)) from error
