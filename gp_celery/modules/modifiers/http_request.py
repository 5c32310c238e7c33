"""HttpRequest: request a URL built from the event and store the response body in it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from gp_celery.event import Batch, Event, field_path
from gp_celery.modules.base import Example, Modifier
from gp_celery.modules.key_values import KeyedCache, StoreId, open_store
from gp_celery.modules.registry import register
from gp_celery.modules.ttl_cache import TtlCache
from gp_celery.modules.types import FieldName, SpelledOptions, Template

READ_BYTES: Final = 65536
USER_AGENT: Final = "gp-celery HttpRequest"

Outcome = tuple[Any, str | None]
"""(what to store, None), or (None, why the request failed)."""


class HttpRequestOptions(SpelledOptions):
    url: Template
    """URL to request, with $(field) references; an event lacking one is left alone."""
    socket_timeout: float = Field(default=25, gt=0)
    """Seconds to connect, and seconds the whole response may take to arrive."""
    target_field: FieldName = "gambolputty_http_request"
    """Field the response body (or, with get_metadata, the response) is stored in."""
    http_method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] = "GET"
    """LumberMill: request method (no request body is sent)."""
    get_metadata: bool = Field(
        default=False, validation_alias=AliasChoices("get_metadata", "get_response_header")
    )
    """LumberMill: store {content, status_code, url, headers} instead of the body alone."""
    max_body_bytes: int = Field(default=1 << 20, gt=0)
    """Largest response body read; a longer one tags the event and is not stored."""
    max_concurrency: int = Field(default=8, ge=1, le=256)
    """Requests of one batch that run at once (distinct URLs are requested once)."""
    cache_size: int = Field(default=1000, ge=0)
    """Distinct URLs whose response (or failure) is remembered, least recently used out."""
    cache_ttl_secs: float = Field(default=60, ge=0)
    """Seconds a response is remembered."""
    failure_ttl_secs: float = Field(default=10, ge=0)
    """Seconds a failed request is remembered before the URL is asked again."""
    redis_store: StoreId | None = None
    """Id of a RedisStore (or KeyValueStore/Cache) node to share responses through."""
    redis_key: Template | None = None
    """The cache key per event, e.g. '$(url)'; required with redis_store."""
    redis_ttl: int = Field(default=60, ge=1)
    """Seconds a response is kept in the redis_store."""

    @model_validator(mode="after")
    def _key_with_store(self) -> HttpRequestOptions:
        if self.redis_store is not None and self.redis_key is None:
            raise ValueError("'redis_store' needs 'redis_key' (the cache key per event)")
        return self

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: Any) -> Any:
        text = url.source
        if not text.startswith(("$(", "%(")) and not text.lower().startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"{text!r} is not an http:// or https:// URL")
        return url


@register
class HttpRequest(Modifier[HttpRequestOptions]):
    """Request a URL built from event fields and store the response body in the event.

    The url template is rendered per event; the distinct URLs of a batch are requested
    once each, up to max_concurrency at a time, so one slow server does not hold up the
    others. A successful (2xx) response's body is stored in target_field as text,
    decoded with the charset the response names (UTF-8 if none; bytes that do not
    decode become U+FFFD). With get_metadata the field holds a map: content, status_code,
    url (after redirects, up to 5 of which are followed) and headers.

    Failures tag the event, which goes on without the field (GambolPutty logged them): a
    status that is not 2xx, a refused or reset connection, a server that does not answer
    within socket_timeout or takes longer than that to send the whole response, a body
    over max_body_bytes (read no further; a cut body would pass for a whole one), a
    rendered URL that is not http(s). An event lacking a field the URL refers to is left
    alone (counted as 'missing_fields').

    Responses are kept in an in-process cache (cache_size URLs for cache_ttl_secs),
    failures for failure_ttl_secs. With ``redis_store`` (the id of a RedisStore node)
    successful responses are also kept there under the rendered ``redis_key`` for
    ``redis_ttl`` seconds, so every process of a fleet shares them: a batch reads its keys
    in one round trip, and an event whose key is there is not requested. LumberMill's
    interval mode (a request every N seconds as a new event) is not supported. A URL
    built from event fields can reach any host the worker can: reference only the fields
    you must, in the path or query.
    """

    aliases = ("modifier.HttpRequest",)
    examples = [
        Example(
            options={
                "url": "http://127.0.0.1:8080/status/$(service)",
                "target_field": "status",
            },
            given=[{"service": "db"}],
            expect=[{"service": "db", "status": "db: up"}],
            note="With a web server on port 8080 that answers /status/db with 'db: up'.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._target = field_path(options.target_field)
        self._cache: TtlCache[str, Outcome] = TtlCache(options.cache_size)
        self._http: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._shared: KeyedCache | None = None
        if options.redis_store and options.redis_store.settings and options.redis_key:
            store = open_store(options.redis_store.settings)
            self._shared = KeyedCache(
                store, options.redis_key, options.redis_ttl, self.warn_limited
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            self._http.clear()

    def process(self, events: Batch) -> Batch:
        shared = self._shared
        keys: dict[int, str | None] = {}
        if shared is not None:
            missed = []
            for event, (key, hit, stored) in zip(events, shared.read(events), strict=True):
                if hit:
                    self._set(event, stored)
                else:
                    keys[id(event)] = key
                    missed.append(event)
            self.stats.incr("shared_cache_hits", len(events) - len(missed))
        waiting: dict[str, list[Event]] = {}
        render = self.options.url.try_render
        for event in events if shared is None else missed:
            url = render(event)
            if url is None:
                self.stats.incr("missing_fields")
                continue
            waiting.setdefault(url, []).append(event)
        outcomes = self._fetch_all(list(waiting))
        for url, those in waiting.items():
            stored, problem = outcomes[url]
            for event in those:
                if problem is not None:
                    self.fail(event, problem)
                    continue
                self._set(event, stored)
                if shared is not None:
                    shared.remember(keys.get(id(event)), stored)
        if shared is not None:
            shared.write()
        return events

    def _set(self, event: Event, stored: Any) -> None:
        if isinstance(stored, dict):  # a map per event: the cached one is never shared
            value: Any = {**stored, "headers": dict(stored.get("headers") or {})}
        else:
            value = stored
        try:
            self._target.set(event, value)
        except (TypeError, ValueError, IndexError) as error:
            self.fail(event, f"cannot set {self._target.dotted!r}: {error}")

    def _fetch_all(self, urls: list[str]) -> dict[str, Outcome]:
        now = time.monotonic()
        outcomes: dict[str, Outcome] = {}
        new = []
        for url in urls:
            cached, outcome = self._cache.get(url, now)
            if cached and outcome is not None:
                outcomes[url] = outcome
            else:
                new.append(url)
        self.stats.incr("cache_hits", len(outcomes))
        if not new:
            return outcomes
        if self._http is None:  # made on first use: after a worker forked
            self._http = self._pool_manager()
        if len(new) == 1:
            fetched = [self._fetch(new[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.options.max_concurrency, "http-request")
            fetched = list(self._pool.map(self._fetch, new))
        now = time.monotonic()
        for url, outcome in zip(new, fetched, strict=True):
            outcomes[url] = outcome
            ok = outcome[1] is None
            ttl = self.options.cache_ttl_secs if ok else self.options.failure_ttl_secs
            self._cache.put(url, outcome, ttl, now)
        return outcomes

    def _pool_manager(self) -> Any:
        import urllib3

        timeout = self.options.socket_timeout
        return urllib3.PoolManager(
            num_pools=64,
            maxsize=self.options.max_concurrency,
            headers={"User-Agent": USER_AGENT},
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            # Redirects only: a retried timeout would multiply socket_timeout.
            retries=urllib3.Retry(
                total=None, connect=0, read=0, status=0, other=0, redirect=5,
                raise_on_status=False,
            ),
        )  # fmt: skip

    def _fetch(self, url: str) -> Outcome:
        """One request; never raises for what a server or a URL can do."""
        import urllib3

        options = self.options
        method, shown = options.http_method, url[:200]
        if not url.lower().startswith(("http://", "https://")):
            return None, f"{shown!r} is not an http:// or https:// URL"
        deadline = time.monotonic() + options.socket_timeout
        try:
            response = self._http.request(method, url, preload_content=False)
        except urllib3.exceptions.MaxRetryError as error:
            return None, f"{method} {shown} failed: {describe(error.reason or error)}"
        except (urllib3.exceptions.HTTPError, ValueError) as error:  # LocationParseError...
            return None, f"{method} {shown} failed: {describe(error)}"
        try:
            if not 200 <= response.status < 300:
                status = f"{response.status} {response.reason or ''}".rstrip()
                return None, f"{method} {shown} answered {status}"
            if method == "HEAD":  # no body, whatever Content-Length says
                body, problem = b"", None
            else:
                body, problem = read_capped(response, options.max_body_bytes, deadline)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return None, f"{method} {shown}: reading the response failed: {describe(error)}"
        finally:
            response.release_conn()
        if problem is not None:
            return None, f"{method} {shown}: {problem}"
        content = body.decode(charset(response.headers.get("Content-Type", "")), errors="replace")
        if not options.get_metadata:
            return content, None
        stored = {
            "content": content,
            "status_code": response.status,
            "url": response.url or url,
            "headers": dict(response.headers),
        }
        return stored, None


def read_capped(response: Any, limit: int, deadline: float) -> tuple[bytes, str | None]:
    """The body, or why not: over ``limit`` bytes (checked before reading when the length
    is declared) or not all there by ``deadline``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", f"response body of {declared} bytes is over max_body_bytes={limit}"
    chunks, size = [], 0
    while chunk := response.read1(READ_BYTES):
        size += len(chunk)
        if size > limit:
            return b"", f"response body is over max_body_bytes={limit}"
        if time.monotonic() > deadline:
            return b"", "the response took longer than socket_timeout to arrive"
        chunks.append(chunk)
    return b"".join(chunks), None


def charset(content_type: str) -> str:
    """The charset a Content-Type names, if Python knows it, else UTF-8."""
    import codecs

    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def describe(error: BaseException) -> str:
    """A short reason: 'connection refused', 'timed out', else the error's own words."""
    import urllib3

    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "connection refused" if "refused" in str(error).lower() else "could not connect"
    if isinstance(error, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return "timed out"
    return f"{type(error).__name__}: {error}"[:300]
