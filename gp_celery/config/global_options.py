"""The ``Global`` section: process-wide settings (spec/CORE.md 1.2) plus batching."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def check_level(value: str) -> str:
    """A level name of LEVELS, lower-cased (GambolPutty accepted any case)."""
    if value.lower() not in LEVELS:
        raise ValueError(f"unknown level {value!r}; use one of {', '.join(sorted(LEVELS))}")
    return value.lower()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoggingOptions(_Section):
    level: str = "info"
    """One of debug, info, warn, error, critical, fatal (any case)."""
    format: str = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    """Python logging format."""
    filename: str | Literal[False] | None = None
    """Log file; unset (or false) logs to stderr."""
    filemode: Literal["w", "a"] = "w"
    """'w' truncates the log file at start, 'a' appends."""

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return check_level(value)


class GlobalOptions(_Section):
    """Process-wide settings. Unknown keys are errors (GambolPutty accepted any), so that a
    typo such as 'worker: 4' is caught instead of silently ignored."""

    workers: int = Field(default=1, ge=0)
    """CPU cores to use. 1 (the default) runs one process with no broker."""
    queue_size: int = Field(default=20, ge=1)
    """GambolPutty's inter-process queue size; accepted, unused (batches go via the broker)."""
    queue_buffer_size: int = Field(default=50, ge=1)
    """GambolPutty's events per inter-process batch; accepted, see batch_size."""
    logging: LoggingOptions = LoggingOptions()
    """Logging level, format and file."""
    batch_size: int = Field(default=500, ge=1, le=100_000)
    """Most events run through the pipeline at once (a chunk's events go in slices)."""
    chunk_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    """Distributed mode: bytes an input collects before its chunk goes to the workers, so
    the fixed cost of a task is spread over thousands of events (an input's own
    chunk_bytes wins). Embedded mode runs chunks of 64 KiB, which stay in the CPU cache."""
    batch_ms: int = Field(default=100, ge=1, le=60_000)
    """Longest time a record waits in a partial chunk, in milliseconds."""
    high_water_batches: int = Field(default=64, ge=1)
    """Distributed mode: above this many chunks waiting in its queue (or a later stage's)
    a listener stops reading."""
    low_water_batches: int = Field(default=32, ge=0)
    """Distributed mode: a paused listener reads again below this many chunks."""
    high_water_memory: float = Field(default=0.8, gt=0, le=1)
    """Distributed mode: a listener also stops reading while Redis uses more than this
    share of its maxmemory, so workers always have room to finish and hand on."""
    low_water_memory: float = Field(default=0.7, gt=0, le=1)
    """Distributed mode: ... and reads again below this share."""
    stop_grace_secs: float = Field(default=10, ge=0, le=3600)
    """Distributed mode: how long a stopping listener keeps trying to deliver to an
    unreachable broker before it spools the rest to spool_dir."""
    spool_dir: str = "gp-celery-spool"
    """Distributed mode: where a stopping listener keeps chunks it could not deliver; it
    sends them first on its next start."""
    max_deliveries: int = Field(default=3, ge=1, le=100)
    """Distributed mode: a chunk whose task started this often without finishing (its
    worker process died each time) is split, down to the one record that kills workers,
    which goes to the dead letters."""
    plugins: list[str] = []
    """Python modules to import before the config is read, e.g. your own modules
    (``my_company.gp_modules``); they register with ``@register`` like built-in ones."""
    dead_letter_file: str = "gp-celery-dead-letters.jsonl"
    """Embedded mode: where events that a sink could not write are kept (JSON lines)."""
    sink_retries: int = Field(default=5, ge=0, le=100)
    """How often a retriable sink failure is retried, with exponential backoff."""
    sink_retry_base_secs: float = Field(default=0.5, gt=0, le=60)
    """First backoff delay; it doubles on every retry, up to sink_retry_max_secs, and each
    wait is jittered (between half and all of it) so writers that failed together do not
    retry together."""
    sink_retry_max_secs: float = Field(default=30, gt=0, le=3600)
    """The longest backoff delay between two tries of a sink write."""
