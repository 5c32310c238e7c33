"""RedisList: take items from Redis lists, and remove them only once they are delivered."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, TypeVar

from pydantic import Field, field_validator

from gp_celery.framing import DEFAULT_MAX_LINE_BYTES, Framing, Piece, truncate_utf8
from gp_celery.modules.base import Emit, Example, Input
from gp_celery.modules.registry import register
from gp_celery_inputs._redis import RedisSourceOptions, connection_errors, sync_client
from gp_celery_inputs._retry import Backoff

T = TypeVar("T")

TAKE_BYTES: Final = 1 << 20
"""The most item bytes one round trip brings back (at least one item): memory stays bounded
whatever batch_size and the items' sizes are."""
IDLE_SECS: Final = (0.005, 0.1)
"""Empty lists are asked again after a pause that doubles from the first to the second."""
OWNER_LOST: Final = "GPOWNER"

# KEYS: source list, processing list, owner hash. ARGV: token, items taken under that
# token so far, batch size, item byte limit, byte budget. Returns the number of items
# replayed from the processing list, then (size, head) per item. Items in the processing
# list beyond those taken (left by an earlier run, or by a reply that was lost) come first.
TAKE_SCRIPT: Final = """
local owner = redis.call('HMGET', KEYS[3], 'token', 'acked')
if owner[1] ~= ARGV[1] then
  return redis.error_reply('GPOWNER the processing list has another owner')
end
local unacked = tonumber(ARGV[2]) - tonumber(owner[2])
local n, limit, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out, used = {0}, 0
local function add(item)
  out[#out + 1] = #item
  out[#out + 1] = string.sub(item, 1, limit)
  used = used + math.min(#item, limit)
end
for _, item in ipairs(redis.call('LRANGE', KEYS[2], unacked, unacked + n - 1)) do
  if used >= budget then return out end
  add(item)
  out[1] = out[1] + 1
end
while (#out - 1) / 2 < n and used < budget do
  local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not item then break end
  add(item)
end
return out
"""

# KEYS: processing list, owner hash. ARGV: token, items delivered under it (cumulative, so
# a retry after a lost reply removes nothing twice). -1: the list has another owner.
ACK_SCRIPT: Final = """
local owner = redis.call('HMGET', KEYS[2], 'token', 'acked')
if owner[1] ~= ARGV[1] then return -1 end
local acked, upto = tonumber(owner[2]), tonumber(ARGV[2])
if upto <= acked then return 0 end
redis.call('LTRIM', KEYS[1], upto - acked, -1)
redis.call('HSET', KEYS[2], 'acked', upto)
return upto - acked
"""

# KEYS: processing list, owner hash. ARGV: token. On a clean stop, the owner record goes
# with an empty processing list (a list holding items keeps it for the next start).
RELEASE_SCRIPT: Final = """
if redis.call('HGET', KEYS[2], 'token') == ARGV[1] and redis.call('LLEN', KEYS[1]) == 0 then
  return redis.call('DEL', KEYS[2])
end
return 0
"""


class RedisListOptions(RedisSourceOptions):
    lists: list[str] = Field(min_length=1)
    """Name(s) of the Redis lists to take items from (a name or a list of names)."""
    batch_size: int = Field(100, ge=1)
    """Most items taken from one list per round trip (LumberMill: 1)."""
    timeout: int = Field(0, ge=0)
    """Accepted for LumberMill configs and unused (its BLPOP timeout; see below)."""
    max_item_bytes: int = Field(DEFAULT_MAX_LINE_BYTES, ge=1)
    """Longer items are truncated to this many bytes and tagged (default 1 MiB)."""
    consumer: str | None = Field(None, min_length=1)
    """This listener's name in its processing lists' keys (None: the host name). Two
    listeners on one host reading the same lists as the same node need different names."""

    @field_validator("lists", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("lists")
    @classmethod
    def _names_are_not_empty(cls, value: list[str]) -> list[str]:
        if not all(value):
            raise ValueError("a list name must not be empty")
        return value


@dataclass
class _Source:
    """One list, the processing list its items wait in, and where this run stands."""

    name: str
    processing: str
    owner: str
    token: str = ""
    taken: int = 0
    """Items handed on under ``token`` (replayed or moved)."""
    paused_until: float = 0.0
    """While Redis refuses this list (not a list, say), it is asked again only from here
    on, so the other lists keep flowing."""
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True)
class _Mark:
    source: _Source
    token: str
    upto: int


class ListOwnedError(RuntimeError):
    """Another live listener reads the same lists as the same node on this host."""


@register
class RedisList(Input[RedisListOptions]):
    """Take items from Redis lists; each item is one event, removed once delivered.

    Each item moves atomically (a Lua script, up to ``batch_size`` items per round trip)
    from its list to a processing list of this listener,
    ``<list>:gp-celery:processing:<consumer>:<node id>``, and is removed from there only
    once it is delivered (published to the broker by a listener, or through the pipeline
    in embedded mode). A listener that is killed loses nothing: when it starts again, it
    first sends on what its processing lists still hold, so delivery is at least once and
    only items that were in flight are repeated. ``received_from`` is the list's name.

    Items are data as they are: invalid UTF-8 is replaced and tagged, an item longer than
    ``max_item_bytes`` is truncated (only its head leaves Redis) and tagged. A key that is
    not a list is skipped while it is one and counted ("wrong_type") with a warning. When
    Redis goes away the input waits and tries again (backoff to 5 s), counting
    "connection_errors", and never stops; it resumes where it stood. Use Redis with
    appendonly on: restored from an older snapshot, the processing lists and their
    counters disagree.

    Differences from LumberMill: items are not lost when the process dies (BLPOP removed
    them at once); empty lists are asked again after at most 0.1 s instead of blocking
    (``timeout`` is unused), so one connection serves every list; ``batch_size`` defaults
    to 100, since a batch never waits for items that are not there.
    """

    aliases = ("input.RedisList",)
    examples = [
        Example(
            options={"lists": ["logs"], "server": "localhost"},
            given=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            expect=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            note="`redis-cli RPUSH logs '<13>Dec  1 ...'`: each item is one event.",
        ),
    ]

    def default_framing(self) -> Framing:
        return Framing(
            kind="datagram",
            max_record_bytes=self.options.max_item_bytes,
            option="max_item_bytes",
        )

    def __init__(self, options: RedisListOptions, node_id: str) -> None:
        super().__init__(options, node_id)
        self._executor: ThreadPoolExecutor | None = None
        self._client: Any = None
        self._backoff = Backoff()
        node, consumer = self.node_id, self.options.consumer or socket.gethostname()
        self._sources = [
            _Source(name, f"{name}:gp-celery:processing:{consumer}:{node}", "")
            for name in self.options.lists
        ]
        for source in self._sources:
            source.owner = f"{source.processing}:owner"

    async def _io(self, call: Callable[[], T]) -> T:
        """Every Redis call runs on one thread, in order, over one connection."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"redis-{self.node_id}")
            self._client = sync_client(self.options)
            self._take = self._client.register_script(TAKE_SCRIPT)
            self._ack = self._client.register_script(ACK_SCRIPT)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def serve(self, emit: Emit) -> None:
        where = self.options.where()
        for source in self._sources:
            await self._patiently(partial(self._claim, source))
        self.log.info(
            "%s: reading %s on %s (processing lists %s).",
            self.label,
            ", ".join(self.options.lists),
            where,
            ", ".join(source.processing for source in self._sources),
        )
        idle = 0.0
        while True:
            moved = 0
            for source in self._sources:
                if source.paused_until <= time.monotonic():
                    moved += await self._take_from(source, emit)
            if moved:
                idle = 0.0
            else:
                idle = min(IDLE_SECS[1], max(IDLE_SECS[0], idle * 2))
                await asyncio.sleep(idle)

    async def _patiently(self, call: Callable[[], T]) -> T:
        """``call`` on the Redis thread until Redis answers."""
        while True:
            try:
                result = await self._io(call)
            except connection_errors() as error:
                await self._lost(error)
                continue
            self._backoff.reset()
            return result

    async def _lost(self, error: BaseException) -> None:
        self.stats.incr("connection_errors")
        delay = self._backoff.next()
        self.warn_limited(
            "connection",
            "Redis at %s: %s; trying again in %.1fs (%d connection errors so far).",
            self.options.where(),
            error,
            delay,
            self.stats.counts["connection_errors"],
        )
        await asyncio.sleep(delay)

    def _claim(self, source: _Source) -> None:
        """Own the processing list (refused while another live listener here does)."""
        client, host, pid = self._client, socket.gethostname(), os.getpid()
        owner = {
            key.decode(): value.decode() for key, value in client.hgetall(source.owner).items()
        }
        other = int(owner.get("pid", "0"))
        if owner.get("host") == host and other not in (0, pid) and _alive(other):
            raise ListOwnedError(
                f"{self.label}: process {other} on this host already reads {source.name!r} "
                f"through {source.processing!r}; give this listener its own 'consumer'"
            )
        source.token, source.taken = uuid.uuid4().hex, 0
        client.hset(
            source.owner, mapping={"token": source.token, "acked": 0, "host": host, "pid": pid}
        )
        if left := client.llen(source.processing):
            self.log.info(
                "%s: %d items in %s were not delivered before; sending them first.",
                self.label,
                left,
                source.processing,
            )

    def _check_not_taken_over(self, source: _Source) -> None:
        """Another listener claimed the processing list: say so and stop, not fight."""
        owner = self._client.hgetall(source.owner)
        if owner:
            pid, host = owner.get(b"pid", b"?").decode(), owner.get(b"host", b"?").decode()
            raise ListOwnedError(
                f"{self.label}: process {pid} on {host} took over {source.processing!r}; "
                "two listeners read the same lists as the same node: give each its own "
                "'consumer'"
            )

    async def _take_from(self, source: _Source, emit: Emit) -> int:
        """Move a batch from one list; emit it with the mark that removes it. Returns how
        many items came."""
        import redis.exceptions

        options, token = self.options, source.token
        keys = [source.name, source.processing, source.owner]
        args = [token, source.taken, options.batch_size, options.max_item_bytes, TAKE_BYTES]
        try:
            reply = await self._io(lambda: self._take(keys=keys, args=args))
        except connection_errors() as error:
            await self._lost(error)
            return 0
        except redis.exceptions.ResponseError as error:
            await self._refused(source, error)
            return 0
        self._backoff.reset()
        source.backoff.reset()
        replayed, items = reply[0], len(reply) // 2
        if not items:
            return 0
        self.stats.incr("replayed", replayed)
        source.taken += items
        await emit(self._pieces(source.name, reply), mark=_Mark(source, token, source.taken))
        return items

    async def _refused(self, source: _Source, error: BaseException) -> None:
        text = str(error)
        if text.startswith(OWNER_LOST):
            await self._patiently(partial(self._check_not_taken_over, source))
            self.log.warning(
                "%s: the record that %s belongs to this listener is gone (Redis restarted "
                "without its data?); claiming it again.",
                self.label,
                source.processing,
            )
            await self._patiently(partial(self._claim, source))
            return
        kind = "wrong_type" if text.startswith("WRONGTYPE") else "redis_errors"
        self.stats.incr(kind)
        delay = source.backoff.next()
        source.paused_until = time.monotonic() + delay
        self.warn_limited(
            f"{kind}:{source.name}",
            "cannot take from %r: %s; trying again in %.1fs (%d times so far).",
            source.name,
            text,
            delay,
            self.stats.counts[kind],
            every=30.0,
        )

    def _pieces(self, name: str, reply: list[Any]) -> list[Piece]:
        """One piece per run of items; an overlong item is a piece of its own, tagged."""
        limit = self.options.max_item_bytes
        pieces: list[Piece] = []
        run: list[bytes] = []
        for size, head in zip(reply[1::2], reply[2::2], strict=True):
            if size <= limit:
                run.append(head)
                continue
            if run:
                pieces.append(Piece(name, b"".join(run), tuple(map(len, run))))
                run = []
            kept = truncate_utf8(head, limit)
            note = f"of {size} bytes exceeds max_item_bytes={limit}; truncated"
            pieces.append(Piece(name, kept, (len(kept),), note=note))
        if run:
            pieces.append(Piece(name, b"".join(run), tuple(map(len, run))))
        return pieces

    async def delivered(self, mark: object) -> None:
        """Remove the delivered items from their processing list. If Redis cannot be told
        now, the next mark's removal covers these items too (counts are cumulative), or the
        next start sends them again."""
        import redis.exceptions

        if not isinstance(mark, _Mark):
            return
        source = mark.source
        keys, args = [source.processing, source.owner], [mark.token, mark.upto]
        failures: tuple[type[BaseException], ...] = (
            *connection_errors(),
            redis.exceptions.ResponseError,
        )
        try:
            removed = await self._io(lambda: self._ack(keys=keys, args=args))
        except failures as error:
            self.stats.incr("ack_errors")
            self.warn_limited(
                "ack",
                "could not remove delivered items from %s (%s); a later removal or the "
                "next start takes care of them.",
                source.processing,
                error,
            )
            return
        if removed == -1:
            self.log.info(
                "%s: could not remove delivered items from %s: it was claimed anew since "
                "they were taken (Redis lost its data?).",
                self.label,
                source.processing,
            )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.submit(self._release).result()
            self._executor.shutdown(wait=True)
            self._client.close()
            self._executor = None

    def _release(self) -> None:
        """Leave no owner record behind for a processing list this run emptied."""
        release = self._client.register_script(RELEASE_SCRIPT)
        for source in self._sources:
            if not source.token:
                continue
            try:
                release(keys=[source.processing, source.owner], args=[source.token])
            except connection_errors():
                return  # Redis is gone: the record stays, and the next start claims it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
