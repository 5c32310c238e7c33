"""FileSink options."""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery import expressions
from gp_celery.modules.base import Options
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
        if compress == "snappy" and importlib.util.find_spec("snappy") is None:
            raise ValueError(
                "compress 'snappy' is not supported: python-snappy is not installed "
                "(pip install python-snappy), or use 'gzip'"
            )
        return compress

    @model_validator(mode="before")
    @classmethod
    def _one_output_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("json_lines") and "format" in data:
            raise ValueError("set 'format' or 'json_lines: true', not both")
        return data
