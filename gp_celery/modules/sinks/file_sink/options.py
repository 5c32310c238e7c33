"""FileSink options."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery import expressions
from gp_celery.modules.base import Options
from gp_celery.modules.sinks.compression import check_compression
from gp_celery.modules.sinks.timed_template import strftime_literals
from gp_celery.modules.types import Template


class FileSinkOptions(Options):
    file_name: str
    """File to append to: strftime (UTC), then $(field); e.g. /var/log/$(host)-%Y-%m-%d.log."""
    format: Template = Field(default="$(data)", validate_default=True)
    """Line written per event (a missing field renders as ''); ignored with json_lines."""
    json_lines: bool = False
    """Write each whole event as one JSON line instead of 'format'."""
    compress: Literal["gzip", "snappy"] | None = None
    """Compress each batch's lines for a file as one appended gzip member (or snappy frame)."""
    store_interval_in_secs: float = Field(default=10, ge=0)
    """fsync written files at most this often (data reaches the OS at every batch anyway)."""
    batch_size: int = Field(default=500, ge=1)
    """Accepted for GambolPutty configs; the runner's batches are written as they come."""
    backlog_size: int = Field(default=500, ge=1)
    """Accepted for GambolPutty configs; backpressure is the listener's job here."""
    max_open_files: int = Field(default=64, ge=1)
    """Files kept open at once; the least recently used is closed beyond that."""
    idle_close_secs: float = Field(default=60, gt=0)
    """Close a file not written for this long (e.g. yesterday's file)."""
    rotate_bytes: int | None = Field(default=None, ge=1)
    """Rotate a file before a batch would take it past this size; None: never by size."""
    rotate_every_secs: float | None = Field(default=None, gt=0)
    """Rotate a file last written in an earlier UTC-aligned period of this length (3600:
    hourly, 86400: daily at midnight UTC); None: never by time."""
    gzip_rotated: bool = False
    """gzip each file once it is rotated (name + '.gz')."""
    max_rotated_files: int | None = Field(default=None, ge=1)
    """Keep this many rotated files per path and delete older ones; None: keep all."""

    @field_validator("file_name")
    @classmethod
    def _check_file_name(cls, file_name: str) -> str:
        if not file_name or file_name.endswith("/"):
            raise ValueError("expected the path of a file, got a directory")
        try:
            expressions.compile_template(strftime_literals(file_name, time.gmtime()))
        except (ValueError, expressions.ExpressionError) as error:  # strftime or template
            raise ValueError(f"bad file_name: {error}") from None
        return file_name

    @field_validator("compress")
    @classmethod
    def _check_compress(cls, compress: str | None) -> str | None:
        return check_compression(compress)

    @model_validator(mode="after")
    def _rotation_needs_a_trigger(self) -> FileSinkOptions:
        rotates = self.rotate_bytes is not None or self.rotate_every_secs is not None
        for name in ("gzip_rotated", "max_rotated_files"):
            if getattr(self, name) not in (None, False) and not rotates:
                raise ValueError(f"'{name}' needs 'rotate_bytes' or 'rotate_every_secs'")
        if self.gzip_rotated and self.compress is not None:
            raise ValueError(
                "set 'compress' or 'gzip_rotated', not both (the files are "
                "compressed as they are written already)"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _one_output_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("json_lines") and "format" in data:
            raise ValueError("set 'format' or 'json_lines: true', not both")
        return data
