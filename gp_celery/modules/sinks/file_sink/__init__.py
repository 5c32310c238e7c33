"""FileSink: append events to files named per event, one write per file and batch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from gp_celery.event import Batch, Event
from gp_celery.modules.base import Example, Failure, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.compression import compressor
from gp_celery.modules.sinks.encoding import (
    Encoded,
    encode_json_lines,
    encode_rendered,
    is_retriable,
)
from gp_celery.modules.sinks.file_sink.handles import FileHandles
from gp_celery.modules.sinks.file_sink.options import FileSinkOptions
from gp_celery.modules.sinks.file_sink.rotation import RotationPolicy, rotate, rotation_due
from gp_celery.modules.sinks.paths import PathTemplate

__all__ = ["FileSink", "FileSinkOptions"]


@register
class FileSink(Sink[FileSinkOptions]):
    """Append events to files (path per event), as lines, JSON lines, gzip or snappy.

    ``file_name`` gets strftime in UTC at write time, then $(field) from each event; the
    batch is grouped by path, directories are created, and each group is appended with one
    write (compressed: one gzip member per group, which ``gzip.open``/``zcat`` read as one
    stream). Open files are kept in a bounded LRU; every second, files idle for
    ``idle_close_secs`` and files that logrotate moved are closed (the next write reopens the
    path); SIGHUP (embedded mode) reopens them at once.

    Every batch reaches the OS before the sink reports it written (unbuffered writes), so a
    crashed process loses nothing. ``store_interval_in_secs`` now sets how often the files
    written since are fsynced (GambolPutty: buffer flush interval); ``batch_size`` and
    ``backlog_size`` are accepted and have no effect, because the runner hands over whole
    batches and backpressure is the listener's job.

    Paths are checked: a field value that adds a '..' component (e.g. '../../etc'), a NUL
    byte, or a missing or empty field that leaves an empty directory level makes those
    events non-retriable failures (dead-lettered, not lost). A missing field inside a
    component renders as '' (GambolPutty wrote the raw '%(field)s'). A failed write is cut
    back from the file, so a retry neither duplicates half a batch nor breaks a gzip stream.

    Rotation (not in GambolPutty, which only named files by date): ``rotate_bytes`` and
    ``rotate_every_secs`` rename a file to ``<name>.<UTC time>`` just before a batch would
    take it past the size or when it was last written in an earlier clock period, so no
    batch is split between files; ``gzip_rotated`` compresses the rotated file and
    ``max_rotated_files`` deletes the oldest. Rotation assumes one process writes a path
    (FileSink is not forkable in GambolPutty either); a failed rotation is logged and the
    batch is appended all the same.
    """

    aliases = ("output.File",)
    examples = [
        Example(
            options={"file_name": "/var/log/gp/$(host)-%Y-%m-%d.log"},
            given=[{"host": "web1", "data": "GET / 200"}, {"host": "web1", "data": "GET /x 404"}],
            expect=[{"data": "GET / 200"}, {"data": "GET /x 404"}],
            note="Appends the lines 'GET / 200' and 'GET /x 404' to today's web1 file (UTC).",
        ),
        Example(
            options={"file_name": "/var/log/gp/events.jsonl", "json_lines": True},
            given=[{"data": "GET / 200", "http_status": 200}],
            expect=[{"data": "GET / 200", "http_status": 200}],
            note="Appends each whole event, metadata included, as one JSON line.",
        ),
        Example(
            options={
                "file_name": "/var/log/gp/events.log",
                "rotate_bytes": 100_000_000,
                "rotate_every_secs": 86400,
                "gzip_rotated": True,
                "max_rotated_files": 7,
            },
            given=[{"data": "GET / 200"}],
            expect=[{"data": "GET / 200"}],
            note="Rotates events.log at 100 MB and at midnight UTC to a gzipped "
            "events.log.<UTC time>.gz, keeping the newest seven.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._paths = PathTemplate(options.file_name)
        self._handles = FileHandles(options.max_open_files)
        self._encode: Callable[[Sequence[Event]], Encoded] = (
            encode_json_lines if options.json_lines else self._encode_format
        )
        self._compress = compressor(options.compress)
        self._rotation: RotationPolicy | None = None
        if options.rotate_bytes is not None or options.rotate_every_secs is not None:
            self._rotation = RotationPolicy(
                options.rotate_bytes,
                options.rotate_every_secs,
                options.gzip_rotated,
                options.max_rotated_files,
            )
        self._clock = 0.0  # the runner's clock, as last seen in tick()
        self._last_sync = 0.0

    def _encode_format(self, events: Sequence[Event]) -> Encoded:
        return encode_rendered(events, self.options.format)

    def write(self, events: Batch) -> list[Failure]:
        template = self._paths.at(time.time())
        if template.is_constant:
            return self._write_group(template.render({}), events, range(len(events)))
        groups: dict[str, list[int]] = {}
        render = template.render
        for index, event in enumerate(events):
            groups.setdefault(render(event), []).append(index)
        failures = []
        for path, indexes in groups.items():
            group = [events[index] for index in indexes]
            failures += self._write_group(path, group, indexes)
        return failures

    def _write_group(
        self, path: str, events: Sequence[Event], indexes: Sequence[int]
    ) -> list[Failure]:
        if problem := self._paths.problem(path):
            return [Failure(index, problem, retriable=False) for index in indexes]
        payload, unencodable = self._encode(events)
        failures = [Failure(indexes[at], reason, retriable=False) for at, reason in unencodable]
        if len(unencodable) == len(events):
            return failures
        if self._compress is not None:
            payload = self._compress(payload)
        if self._rotation is not None:
            self._rotate_if_due(self._rotation, path, len(payload))
        try:
            self._handles.append(path, payload, self._clock)
        except OSError as error:
            retriable = is_retriable(error)
            self.warn_limited(
                "write",
                "writing %s failed (%s); %s.",
                path,
                error,
                "the events are retried" if retriable else "the events go to the dead letters",
            )
            failed = {at for at, _ in unencodable}
            failures += [
                Failure(index, f"{path}: {error}", retriable)
                for at, index in enumerate(indexes)
                if at not in failed
            ]
        return failures

    def _rotate_if_due(self, policy: RotationPolicy, path: str, incoming: int) -> None:
        """Rotate ``path`` before ``incoming`` bytes are appended, when the policy says so.
        A failed rotation is logged and the batch is appended all the same: a file past
        its limit is better than events held back."""
        try:
            stat = os.stat(path)
        except OSError:
            return  # no file yet (or one the append will report on)
        now = time.time()
        why = rotation_due(policy, stat.st_size, stat.st_mtime, incoming, now)
        if why is None:
            return
        self._handles.close(path)
        try:
            target = rotate(policy, path, why, stat.st_mtime, now)
        except OSError as error:
            self.warn_limited("rotate", "rotating %s failed (%s); appending to it.", path, error)
            return
        self.stats.incr("rotations")
        self.log.info("%s: rotated %s to %s (%s).", self.label, path, target, why)

    def tick(self, now: float) -> Batch:
        self._clock = now
        if now - self._last_sync >= self.options.store_interval_in_secs:
            self._last_sync = now
            self._sync()
        self._handles.close_stale(now, self.options.idle_close_secs)
        return []

    def reopen(self) -> None:
        self._sync()
        self._handles.close_all()  # the next write opens the path afresh
        self.log.info("%s: reopened its files.", self.label)

    def close(self) -> None:
        self._sync()
        self._handles.close_all()

    def _sync(self) -> None:
        for path, error in self._handles.sync():
            self.warn_limited(
                "fsync",
                "fsync of %s failed (%s); the file is reopened on the next write.",
                path,
                error,
            )
