"""File: read files once (cat) or follow them (tail), with offsets saved on delivery."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import time
from pathlib import Path
from typing import Final

from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example, Input
from gp_celery.modules.registry import register
from gp_celery_inputs.file.discover import Found, discover
from gp_celery_inputs.file.offsets import FileId, Mark, OffsetStore
from gp_celery_inputs.file.options import FileOptions
from gp_celery_inputs.file.tail import Tail, start_of_last_lines
from gp_celery_inputs.file.watch import Watcher, make_watcher

IN_ISDIR: Final = 0x40000000
"""inotify's flag for an event about a directory (inotify(7))."""
READ_PER_TURN: Final = 8 << 20
"""Bytes read from one file before the others get their turn."""
MAX_WARNED: Final = 10_000
"""Paths remembered as already warned about (then the memory starts afresh)."""


@register
class File(Input[FileOptions]):
    """Read files (cat) or follow them (tail); offsets saved once lines are delivered.

    Each line is an event (``data`` without the separator; ``filename``: the path, as in
    LumberMill), or with ``line_by_line: false`` in cat mode each file is one event. Lines
    become events through the shared framing (``max_line_bytes``: truncated and tagged;
    invalid text: replaced and tagged; the multiline regexes join lines into one event).

    Offsets (the "sincedb") are keyed by device and inode and change only
    when the pipeline (embedded mode) or the broker (listener) has the lines before them:
    stopped with SIGTERM, a restart reads every line exactly once; killed with SIGKILL, no
    line is lost and the lines repeated are those delivered since the last save
    (``sincedb_write_interval``; 0 saves on every delivery, leaving at most the chunk in
    flight).

    Rotation: a file renamed away is read to its end (and on while it is written to, until
    quiet for ``gone_quiet_secs``) and the new file at the path from its start; a file that
    shrinks below the offset (copy-truncate) is read again from its start (lines written
    between logrotate's copy and its truncate are lost: copy-truncate's own race). A file
    that vanishes, cannot be opened or is not a regular file is counted and logged once.
    Changes are seen through inotify where it works (``watch``), else by polling.

    Where the state lives: the offsets are a file on the listener's host, so one listener
    (or one embedded process) reads a set of files; two would each send every line.

    Differences from LumberMill: cat mode ends this input, and the run ends when every
    input has ended (LumberMill shut everything down even beside a TcpServer); the
    sincedb is JSON, not sqlite; start_position is 'beginning' or 'end' (not a line
    number: use tail_lines); LumberMill's worker processes split the files among them,
    here one listener reads them all and workers share the decoding.
    """

    aliases = ("input.File",)
    examples = [
        Example(
            options={"paths": ["/var/log/syslog"], "mode": "tail"},
            given=[{"data": "first line\nsecond line\n"}],
            expect=[{"data": "first line"}, {"data": "second line"}],
            note="Lines appended to /var/log/syslog: one event per line, "
            "'filename' holds the path.",
        ),
        Example(
            options={"paths": ["/var/log/app"], "mode": "tail", "multiline_regex_before": r"\s"},
            given=[{"data": "Traceback:\n  line 1\nValueError\nnext\n"}],
            expect=[{"data": "Traceback:\n  line 1"}, {"data": "ValueError"}, {"data": "next"}],
            note="Indented lines join the event before them.",
        ),
    ]

    def __init__(self, options: FileOptions, node_id: str) -> None:
        super().__init__(options, node_id)
        self.tails: dict[FileId, Tail] = {}
        self.store: OffsetStore | None = None
        self._stopping = False
        self._warned: set[str] = set()
        self._names = {os.path.basename(path) for path in options.paths}
        self._scans = True
        """Some path is a directory (then names matching the pattern matter)."""
        self.watcher_kind = ""
        """'inotify' or 'poll' once serving (for tests)."""
        self.scans = 0
        """How often the paths were scanned for files (for tests)."""

    def default_framing(self) -> Framing:
        options = self.options
        whole_file = options.mode == "cat" and not options.line_by_line
        return Framing(
            kind="multiline" if whole_file or options.multiline else "line",
            separator=options.separator,
            max_record_bytes=options.line_limit(),
            encoding=options.encoding,
            join_before=None if whole_file else options.multiline_regex_before,
            join_after=None if whole_file else options.multiline_regex_after,
            source_field="filename",
            keep_separator=whole_file,
        )

    def sincedb(self) -> Path | None:
        if self.options.sincedb_path:
            return Path(self.options.sincedb_path)
        if self.options.mode == "cat":
            return None
        state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        return Path(state) / "gp-celery" / f"file-{self.node_id}.sincedb.json"

    async def serve(self, emit: Emit) -> None:
        options = self.options
        self.store = OffsetStore(self.sincedb(), options.sincedb_write_interval, self.label)
        kind = "poll" if options.mode == "cat" else options.watch
        watcher = make_watcher(kind, self.label, self._relevant)
        self.watcher_kind = watcher.kind
        try:
            if options.mode == "cat":
                await self._cat(emit)
            else:
                await self._follow(emit, watcher)
        finally:
            self._stopping = True
            watcher.close()
            for tail in self.tails.values():
                tail.close()
            self.tails.clear()
            self.store.save()
            if counts := self.stats.counts:
                summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
                self.log.info("%s: %s.", self.label, summary)

    def _relevant(self, name: str, mask: int) -> bool:
        """May a change to this name in a watched directory concern the files we read?
        (Not a sink's output or the offset store beside a file given by its path.)"""
        if mask & IN_ISDIR or (self._scans and fnmatch.fnmatch(name, self.options.pattern)):
            return True
        return name in self._names or any(
            os.path.basename(tail.path) == name for tail in self.tails.values()
        )

    async def delivered(self, mark: object) -> None:
        if not isinstance(mark, Mark) or self.store is None:
            return
        if mark.gone:
            self.store.forget(mark.file)
            if self._stopping:
                self.store.save()
        else:
            self.store.record(mark, force=self._stopping)

    async def _cat(self, emit: Emit) -> None:
        options = self.options
        found = await asyncio.to_thread(discover, options.paths, options.pattern, options.recursive)
        self._report(found)
        for path in found.missing:
            self._problem(path, "files_missing", "it does not exist")
        for path, info in found.files.items():
            if options.ignore_empty and info.st_size == 0:
                continue
            tail = self._open(path, info, first=True)
            if tail is None:
                continue
            while await self._read(tail, emit, READ_PER_TURN):
                pass
            if self.framing.kind == "multiline" and tail.offset == 0:
                await emit([Piece(path, b"", (0,))])  # an empty file is an empty event
            await self._finish(tail, emit)
        self.log.info("%s: read %d files to their end.", self.label, len(found.files))

    async def _follow(self, emit: Emit, watcher: Watcher) -> None:
        options = self.options
        first, rescan, scanned_at = True, True, 0.0
        while True:
            if rescan or time.monotonic() - scanned_at >= options.stat_interval:
                scanned_at = time.monotonic()
                found = await asyncio.to_thread(
                    discover, options.paths, options.pattern, options.recursive
                )
                self._report(found)
                watcher.watch(found.directories)
                self._track(found, first)
                first = False
                self.scans += 1
            more = False
            for tail in list(self.tails.values()):
                more = await self._turn(tail, emit) or more
            rescan = False
            if not more:
                rescan = await watcher.wait(self._wait_secs())

    def _wait_secs(self) -> float:
        wait = self.options.stat_interval
        now = time.monotonic()
        for tail in self.tails.values():
            if tail.gone_since is not None:
                wait = min(wait, max(0.05, tail.active_at + self.options.gone_quiet_secs - now))
            if self.options.multiline and tail.held():
                flush_at = tail.active_at + self.options.multiline_flush_secs
                wait = min(wait, max(0.05, flush_at - now))
        return wait

    def _track(self, found: Found, first: bool) -> None:
        """Open the files newly found; note those that left our view."""
        self._scans = found.scanned
        seen: set[FileId] = set()
        for path, info in found.files.items():
            file = FileId.of(info)
            seen.add(file)
            tail = self.tails.get(file)
            if tail is not None:
                tail.path, tail.gone_since = path, None
            elif (tail := self._open(path, info, first)) is not None:
                self.tails[file] = tail
        now = time.monotonic()
        for file, tail in self.tails.items():
            if file not in seen and tail.gone_since is None:
                tail.gone_since = now
                self.stats.incr("files_left_view")
        if self.store is not None:
            self.store.prune(keep=self.tails.keys())

    def _open(self, path: str, info: os.stat_result, first: bool) -> Tail | None:
        options = self.options
        file = FileId.of(info)
        if options.size_limit is not None and info.st_size > options.size_limit:
            self._problem(path, "files_too_large", f"larger than size_limit={options.size_limit}")
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            self._problem(path, "files_unreadable", error.strerror or str(error))
            return None
        opened = os.fstat(fd)
        if FileId.of(opened) != file:  # replaced between the scan and the open: next scan
            os.close(fd)
            return None
        tail = Tail(path, file, fd, self._start(fd, file, opened.st_size, first), self.cutter(path))
        self._warned.discard(path)
        return tail

    def _start(self, fd: int, file: FileId, size: int, first: bool) -> int:
        """Where reading a newly opened file starts."""
        options = self.options
        saved = self.store.get(file) if self.store is not None else None
        if saved is not None:
            return saved if saved <= size else 0
        if options.mode == "cat" or not first or options.start_position == "beginning":
            return 0
        if options.tail_lines:
            separator = options.separator.encode(options.encoding)
            return start_of_last_lines(fd, size, separator, options.tail_lines)
        return size

    async def _turn(self, tail: Tail, emit: Emit) -> bool:
        """Read what is new in one file; True if there may be more right away."""
        try:
            size = tail.size()
        except OSError as error:
            self._problem(tail.path, "files_unreadable", error.strerror or str(error))
            return False
        if size < tail.offset and not self.options.ignore_truncate:
            self.stats.incr("files_truncated")
            self.log.info("%s: %s was truncated; reading it from its start.", self.label, tail.path)
            pieces = tail.cutter.close()
            tail.cutter, tail.offset, tail.marked = self.cutter(tail.path), 0, -1
            await emit(pieces, tail.mark())
        more = size > tail.offset and await self._read(tail, emit, READ_PER_TURN)
        now = time.monotonic()
        quiet = now - tail.active_at >= self.options.multiline_flush_secs
        if self.options.multiline and quiet and (pieces := tail.release()):
            await emit(pieces, tail.mark())
        if (
            tail.gone_since is not None
            and not more
            and now - tail.active_at >= self.options.gone_quiet_secs
        ):
            await self._finish(tail, emit)
            del self.tails[tail.file]
        return more

    async def _read(self, tail: Tail, emit: Emit, budget: int) -> bool:
        """Read up to ``budget`` bytes; True if the budget ran out before the end."""
        feed = self.feed_bytes
        while budget > 0:
            try:
                data = tail.read()
            except OSError as error:
                self._problem(tail.path, "files_unreadable", error.strerror or str(error))
                return False
            if not data:
                return False
            budget -= len(data)
            for start in range(0, len(data), feed):
                part = data[start : start + feed]
                pieces = tail.cutter.feed(part)
                tail.offset += len(part)
                await emit(pieces, tail.mark())  # a mark per feed: a kill repeats little
        return True

    async def _finish(self, tail: Tail, emit: Emit) -> None:
        """The file is done with (cat mode, or gone for good): its last partial line too."""
        pieces: list[Piece] = tail.cutter.close()
        try:
            deleted = tail.deleted()
        except OSError:
            deleted = False
        if deleted:
            self.stats.incr("files_vanished")
        await emit(pieces, tail.mark(gone=deleted))
        tail.close()

    def _report(self, found: Found) -> None:
        for path, reason in found.problems.items():
            self._problem(path, "files_unreadable", reason)

    def _problem(self, path: str, counter: str, reason: str) -> None:
        """Count a file we cannot read; log it once (until it can be read again)."""
        if path in self._warned:
            return
        if len(self._warned) >= MAX_WARNED:
            self._warned.clear()
        self._warned.add(path)
        self.stats.incr(counter)
        self.log.warning("%s: cannot read %s (%s); skipping it.", self.label, path, reason)
