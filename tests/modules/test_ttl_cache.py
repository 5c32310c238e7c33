from __future__ import annotations

from gp_celery.modules.ttl_cache import TtlCache


def test_entry_lives_until_its_ttl_and_then_is_gone() -> None:
    cache: TtlCache[str, int] = TtlCache(10)
    cache.put("a", 1, ttl=5, now=100)
    assert cache.get("a", now=104.9) == (True, 1)
    assert cache.get("a", now=105) == (False, None)
    assert len(cache) == 0


def test_least_recently_used_goes_first_when_full() -> None:
    cache: TtlCache[str, int] = TtlCache(2)
    cache.put("a", 1, ttl=60, now=0)
    cache.put("b", 2, ttl=60, now=0)
    assert cache.get("a", now=1) == (True, 1)  # b is now the least recently used
    cache.put("c", 3, ttl=60, now=1)
    assert [cache.get(key, now=2)[0] for key in "abc"] == [True, False, True]
    assert len(cache) == 2


def test_a_cached_none_is_a_hit() -> None:
    cache: TtlCache[str, None] = TtlCache(1)
    cache.put("miss", None, ttl=1, now=0)
    assert cache.get("miss", now=0) == (True, None)


def test_size_or_ttl_zero_keeps_nothing() -> None:
    empty: TtlCache[str, int] = TtlCache(0)
    empty.put("a", 1, ttl=60, now=0)
    cache: TtlCache[str, int] = TtlCache(5)
    cache.put("a", 1, ttl=0, now=0)
    assert (len(empty), len(cache)) == (0, 0)
