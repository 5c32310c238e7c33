"""Metrics' options: counted aggregations (optionally in buckets) and percentiles."""

from __future__ import annotations

import itertools
import math
import re
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from gp_celery.modules.base import Options
from gp_celery.modules.types import FieldName, Template

_BRACED = re.compile(r"%\{([^}]*)\}")


def _braced_references(value: Any) -> Any:
    """``%{vhost}`` (as LumberMill's docstring writes it) means ``$(vhost)``."""
    return _BRACED.sub(r"$(\1)", value) if isinstance(value, str) else value


MetricName = Annotated[Template, BeforeValidator(_braced_references)]
"""A metric's name: a template rendered per event, e.g. ``http_status_$(vhost)``."""


class Bucket(Options):
    name: int | float | str
    """The value counted for the numbers in this bucket, as given (LumberMill's configs give
    numbers: ``name: 200`` counts under 200, ``name: '2xx'`` under '2xx')."""
    upper: float
    """Numbers below this (and not below the previous bucket's) go into this bucket."""

    @field_validator("upper")
    @classmethod
    def _finite(cls, upper: float) -> float:
        if not math.isfinite(upper):
            raise ValueError("must be a finite number")
        return upper


class Aggregation(Options):
    name: MetricName
    """Name of the count (templates: ``http_status_$(vhost)``)."""
    field: FieldName | None = None
    """Field whose values are counted."""
    value: FieldName | None = None
    """LumberMill's docstring's name for ``field``."""
    buckets: list[Bucket] = []
    """Count numbers per bucket (upper bounds increasing) instead of per value."""

    @model_validator(mode="after")
    def _one_field_increasing_buckets(self) -> Self:
        if (self.field is None) == (self.value is None):
            raise ValueError("set 'field' (or LumberMill's 'value'), not both")
        uppers = [bucket.upper for bucket in self.buckets]
        if any(a >= b for a, b in itertools.pairwise(uppers)):
            raise ValueError("the buckets' 'upper' bounds must increase")
        return self

    @property
    def source(self) -> str:
        """The field counted."""
        return self.field or self.value or ""


class Percentiles(Options):
    name: MetricName
    """Name of the metric (templates: ``request_time_$(vhost)``)."""
    field: FieldName
    """Field whose numbers are summarised."""
    percentiles: list[Annotated[float, Field(ge=0, le=100)]] = Field(min_length=1)
    """Percentiles to report, each 0..100."""


class MetricsOptions(Options):
    interval: float = Field(default=10, gt=0, le=86_400)
    """Seconds between two reports (aligned to the wall clock)."""
    aggregations: list[Aggregation] = []
    """Counts per value (or bucket) of a field, per name. Each: ``name`` (a template),
    ``field`` (or ``value``), optional ``buckets``: [{name, upper}, ...], bounds increasing."""
    percentiles: list[Percentiles] = []
    """min, max, mean, std and percentiles of a numeric field, per name. Each: ``name``
    (a template), ``field``, ``percentiles``: a list of numbers 0..100."""
    max_values: int = Field(default=1000, ge=1)
    """Distinct values counted per name and interval (per process in a fleet); the rest
    are counted together as '(other)'."""
    max_samples: int = Field(default=10_000, ge=1)
    """Numbers kept per percentile name and interval (fleet-wide); beyond, a uniform
    random sample of this many is kept and the event says ``sampled: true``."""
    max_names: int = Field(default=1000, ge=1)
    """Distinct names per interval, for counts and for percentiles (per process in a
    fleet); events rendering further names count under the name '(other)'."""

    @field_validator("aggregations", "percentiles", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value
