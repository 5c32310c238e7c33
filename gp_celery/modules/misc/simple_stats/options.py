"""SimpleStats' options, and the psutil numbers it can report about its processes."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, field_validator

from gp_celery.config.problems import did_you_mean
from gp_celery.modules.base import Options

METRIC_FIELDS: Final[dict[str, str]] = {
    "cpu_percent": "cpu_percent",
    "memory_percent": "memory_percent",
    "memory_info": "memory_rss_bytes",
    "num_threads": "num_threads",
    "num_fds": "num_fds",
}
"""The psutil.Process methods this module may call (each gives a number, memory_info its
rss, that adds up over processes), and how a report names each one's number."""
WHOLE_NUMBERS: Final = frozenset({"memory_rss_bytes", "num_threads", "num_fds"})
"""Report names of the numbers that are counts (the others are percentages)."""

LUMBERMILL_DEFAULT: Final = ["cpu_percent", "memory_percent"]


def _psutil_method(name: str) -> str:
    if name not in METRIC_FIELDS:
        raise ValueError(
            f"{name!r} is not a number this module reports{did_you_mean(name, METRIC_FIELDS)}; "
            f"choose from {', '.join(METRIC_FIELDS)}"
        )
    return name


ProcessStatistic = Annotated[str, AfterValidator(_psutil_method)]
"""The name of a psutil.Process method this module may call."""


class SimpleStatsOptions(Options):
    interval: float = Field(default=10, gt=0)
    """Seconds between two reports."""
    event_type_statistics: bool = True
    """Count events per gambolputty.event_type."""
    receive_rate_statistics: bool = True
    """Report the number of events and events per second."""
    waiting_event_statistics: bool = False
    """Accepted for GambolPutty configs; there are no module queues to report in this design."""
    process_statistics: list[ProcessStatistic] = LUMBERMILL_DEFAULT
    """psutil numbers to report (named in the text above); True: cpu and memory percent."""
    emit_as_event: bool = False
    """Also send the numbers on as events of event_type 'statistic'."""

    @field_validator("process_statistics", mode="before")
    @classmethod
    def _true_or_false(cls, value: Any) -> Any:
        if value is True:
            return list(LUMBERMILL_DEFAULT)
        if value is False:
            return []
        return value
