"""A bounded cache whose entries also expire: for modules that look things up over the
network (AddDnsLookup, HttpRequest), where an answer, or a failure, holds only for a while."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Least recently used entries go first once ``maxsize`` is reached; an entry older
    than its own ttl is gone. ``maxsize`` 0 keeps nothing. Times are the caller's clock
    (time.monotonic()), passed in so a batch reads the clock once."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float) -> tuple[bool, V | None]:
        """(True, value) for a live entry, else (False, None); a hit becomes most recent."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, value = entry
        if now >= expires:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def put(self, key: K, value: V, ttl: float, now: float) -> None:
        if self.maxsize <= 0 or ttl <= 0:
            return
        self._entries[key] = (now + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
