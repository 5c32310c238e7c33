"""Metrics' arithmetic without numpy: buckets, percentiles, mergeable summaries, samples."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from gp_celery.modules.misc.simple_stats.fleet import value_text

OVER: Final = "(over)"

CountedValue = str | int | float | bool | None
"""A counted value as it was (LumberMill's field_counts keys were the values themselves)."""

INT64: Final = 1 << 63


def counted_value(value: object) -> CountedValue:
    """How a value is counted: text (up to 200 characters), numbers, true, false and null
    as they are, so that 200 and '200' stay apart; anything else by its JSON text."""
    if value is None or isinstance(value, bool | str):
        return value if not isinstance(value, str) else value_text(value)
    if isinstance(value, int) and -INT64 <= value < INT64:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return value_text(value)


def counted_order(value: CountedValue) -> tuple[int, float, str]:
    """Numbers first, in order; then the rest by their text (keys of mixed types)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


"""The bucket of numbers at or above the last bucket's upper bound."""


def as_number(value: Any) -> float | None:
    """A finite number from an int, float or numeric text (parsers yield text); else None.

    bool is not a number here, though Python (and numpy) count True as 1."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        return None
    return number if math.isfinite(number) else None


def bucket_of(number: float, uppers: list[float], names: Sequence[CountedValue]) -> CountedValue:
    """numpy.digitize(number, uppers) with its default right=False, as LumberMill used it:
    the first bucket whose upper bound is greater than the number, so a number equal to a
    bound goes into the next bucket; at or above the last bound: '(over)'."""
    index = bisect_right(uppers, number)
    return names[index] if index < len(names) else OVER


def percentile(ordered: list[float], p: float) -> float:
    """numpy.percentile's default ('linear'): the rank (n - 1) * p / 100 between the two
    nearest sorted values, interpolated linearly."""
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass
class Summary:
    """Count, mean, sum of squared deviations (Welford), min and max: exact, and mergeable
    across processes (Chan et al.), so the fleet's numbers are those of one process."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, number: float) -> None:
        self.count += 1
        delta = number - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (number - self.mean)
        self.low = min(self.low, number)
        self.high = max(self.high, number)

    def merge(self, other: Summary) -> Summary:
        """A new summary of both."""
        if not self.count or not other.count:
            return replace(other if not self.count else self)
        count = self.count + other.count
        delta = other.mean - self.mean
        return Summary(
            count,
            self.mean + delta * other.count / count,
            self.m2 + other.m2 + delta * delta * self.count * other.count / count,
            min(self.low, other.low),
            max(self.high, other.high),
        )

    @property
    def std(self) -> float:
        """Population standard deviation, as numpy.std's default (ddof=0)."""
        return math.sqrt(max(self.m2, 0.0) / self.count) if self.count else 0.0

    def as_list(self) -> list[float]:
        return [self.count, self.mean, self.m2, self.low, self.high]

    @classmethod
    def from_list(cls, items: list[Any]) -> Summary:
        count, mean, m2, low, high = items
        return cls(int(count), float(mean), float(m2), float(low), float(high))


class Sample:
    """The summary of every number added, and a uniform random sample of at most ``limit``
    of them: the ones with the smallest random scores (bottom-k), which merges across
    processes (keep the ``limit`` smallest scores of all) and stays uniform."""

    __slots__ = ("kept", "limit", "summary")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.summary = Summary()
        self.kept: list[tuple[float, float]] = []  # (-score, number): a max-heap of scores

    def add(self, number: float, score: float) -> None:
        self.summary.add(number)
        if len(self.kept) < self.limit:
            heapq.heappush(self.kept, (-score, number))
        elif score < -self.kept[0][0]:
            heapq.heapreplace(self.kept, (-score, number))

    def scored(self) -> list[tuple[float, float]]:
        """(score, number) of the numbers kept."""
        return [(-negative, number) for negative, number in self.kept]

    def numbers(self) -> list[float]:
        return sorted(number for _, number in self.kept)
