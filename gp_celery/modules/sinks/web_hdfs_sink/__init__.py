"""WebHdfsSink: append events to HDFS files over WebHDFS/HttpFS, one append per file and batch."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import Field, field_validator, model_validator

from gp_celery import expressions
from gp_celery.event import Batch, Event
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.compression import (
    SUFFIXES,
    Compression,
    check_compression,
    compressor,
)
from gp_celery.modules.sinks.encoding import encode_text
from gp_celery.modules.sinks.paths import PathTemplate
from gp_celery.modules.sinks.timed_template import strftime_literals
from gp_celery.modules.sinks.web_hdfs_sink.client import (
    WebHdfsClient,
    WebHdfsError,
    is_retriable,
)
from gp_celery.modules.types import Template

__all__ = ["WebHdfsError", "WebHdfsSink", "WebHdfsSinkOptions", "is_retriable"]


class WebHdfsSinkOptions(Options):
    server: str = "localhost:14000"
    """'host:port' of the namenode's WebHDFS (9870) or of HttpFS (14000); or an http(s) URL."""
    user: str
    """HDFS user to write as (the 'user.name' parameter: simple authentication)."""
    path: str
    """Directory of the files, absolute; strftime (UTC), e.g. /logs/%Y/%m/%d."""
    name_pattern: str
    """File name: strftime (UTC), then $(field) per event, e.g. $(host)-%H.log."""
    format: Template
    """Line written per event (a missing field renders as ''); a newline is added."""
    compress: Compression | None = None
    """Compress each batch's lines for a file as one appended gzip member (or snappy
    stream); the file name gets '.gz' (or '.snappy')."""
    timeout_secs: float = Field(default=30, gt=0)
    """Connect and read timeout of each HTTP request; an expired one is retried."""
    store_interval_in_secs: float = Field(default=10, ge=0)
    """Accepted for GambolPutty configs; the runner's batches are written as they come."""
    batch_size: int = Field(default=1000, ge=1)
    """Accepted for GambolPutty configs; the runner's batches are written as they come."""
    backlog_size: int = Field(default=5000, ge=1)
    """Accepted for GambolPutty configs; backpressure is the listener's job here."""

    @field_validator("server")
    @classmethod
    def _check_server(cls, server: str) -> str:
        if server.startswith(("http://", "https://")):
            return server
        host, colon, port = server.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected 'host:port' or an http(s) URL, got {server!r}")
        return server

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"expected an absolute HDFS directory, got {path!r}")
        return path

    @field_validator("compress")
    @classmethod
    def _check_compress(cls, compress: str | None) -> str | None:
        return check_compression(compress)

    @model_validator(mode="after")
    def _check_file_name(self) -> WebHdfsSinkOptions:
        name = self.name_pattern
        if not name or "/" in name:
            raise ValueError("name_pattern: expected a file name (directories go in 'path')")
        try:
            expressions.compile_template(strftime_literals(self.file_name, time.gmtime()))
        except (ValueError, expressions.ExpressionError) as error:
            raise ValueError(f"bad path or name_pattern: {error}") from None
        return self

    @property
    def file_name(self) -> str:
        """The whole path template: the directory, then the name (and compression suffix)."""
        suffix = SUFFIXES[self.compress] if self.compress else ""
        return f"{self.path.rstrip('/')}/{self.name_pattern}{suffix}"


def base_url(server: str) -> str:
    return server if server.startswith(("http://", "https://")) else f"http://{server}"


@register
class WebHdfsSink(Sink[WebHdfsSinkOptions]):
    """Append events to HDFS files over WebHDFS or HttpFS (path per event, gzip).

    ``path`` and ``name_pattern`` get strftime in UTC at write time, then $(field) from each
    event; the batch is grouped by file and each group is appended with one APPEND request
    (the documented two steps: the namenode or HttpFS redirects, the data goes to the
    redirect). A missing file is created with its data (CREATE, which makes missing
    directories too); when another writer created it first, the append is retried.

    Each event is its rendered ``format`` plus a newline (LumberMill added none, so events
    ran together unless the format ended in a newline; one that does gets no second). With
    ``compress`` each group is one gzip member or snappy stream, and the file name ends in
    '.gz' or '.snappy', as in LumberMill. Field values that would add a '..' to the path, a
    NUL byte, or leave a path component empty make their events non-retriable failures.

    A failed append fails the events of that file only: no answer, timeouts, 429/5xx and
    the RemoteExceptions that clear by themselves (a lease held by another writer, safe
    mode, a standby namenode, quota) are retried by the runner; permission errors and bad
    arguments go to the dead letters. An append that fails after HDFS took part of it may
    repeat those lines when retried (at least once). ``store_interval_in_secs``,
    ``batch_size`` and ``backlog_size`` are accepted and have no effect: the runner hands
    over whole batches and retries, LumberMill's ten in-module tries are the runner's.
    """

    aliases = ("output.WebHdfs",)
    examples = [
        Example(
            options={
                "server": "localhost:14000",
                "user": "hdfs",
                "path": "/logs/%Y-%m-%d",
                "name_pattern": "$(host).log",
                "format": "$(data)",
            },
            given=[{"host": "web1", "data": "GET / 200"}, {"host": "web1", "data": "GET /x 404"}],
            expect=[{"data": "GET / 200"}, {"data": "GET /x 404"}],
            note="Appends 'GET / 200' and 'GET /x 404' to /logs/<today>/web1.log in HDFS.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._paths = PathTemplate(options.file_name)
        self._client = WebHdfsClient(base_url(options.server), options.user, options.timeout_secs)
        self._compress = compressor(options.compress)
        render = options.format.render
        self._line: Callable[[Event], str] = lambda event: _line(render(event))

    def write(self, events: Batch) -> list[Failure]:
        template = self._paths.at(time.time())
        groups: dict[str, list[int]] = {}
        render = template.render
        for index, event in enumerate(events):
            groups.setdefault(render(event), []).append(index)
        failures = []
        for path, indexes in groups.items():
            failures += self._append(path, events, indexes)
        return failures

    def _append(self, path: str, events: Batch, indexes: list[int]) -> list[Failure]:
        if problem := self._paths.problem(path):
            return [Failure(index, problem, retriable=False) for index in indexes]
        payload = encode_text("".join([self._line(events[index]) for index in indexes]))
        if self._compress is not None:
            payload = self._compress(payload)
        try:
            self._client.append(path, payload)
        except WebHdfsError as error:
            retriable = error.retriable
            self.warn_limited(
                "append",
                "appending to %s failed (%s); %s.",
                path,
                error,
                "the events are retried" if retriable else "the events go to the dead letters",
            )
            return [Failure(index, f"{path}: {error}", retriable) for index in indexes]
        return []

    def close(self) -> None:
        self._client.close()


def _line(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
