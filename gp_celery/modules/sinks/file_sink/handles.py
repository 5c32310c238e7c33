"""Open append handles for FileSink: a bounded LRU, whole writes, fsync and rotation checks."""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Handle:
    file: io.FileIO
    last_used: float
    dirty: bool = False


def append_all(file: io.FileIO, payload: bytes) -> None:
    """Append every byte with unbuffered writes: done when this returns, nothing held back.

    When a write fails half-way (disk full), the file is cut back to where it was, so a retry
    neither duplicates a partial line nor leaves a broken gzip member in the middle. That is
    skipped when the size shows that another process appended meanwhile.
    """
    start = os.fstat(file.fileno()).st_size
    view, written = memoryview(payload), 0
    try:
        while written < len(payload):
            written += _write_some(file, view[written:])
    except OSError:
        if written:
            with contextlib.suppress(OSError):
                if os.fstat(file.fileno()).st_size == start + written:
                    os.ftruncate(file.fileno(), start)
        raise


def _write_some(file: io.FileIO, data: memoryview) -> int:
    count = file.write(data)
    if not count:  # None (would block) or 0: never for a regular file, but never loop forever
        raise OSError(errno.EIO, "write made no progress")
    return count


class FileHandles:
    """Files opened for appending, most recently used last; at most ``limit`` stay open."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: OrderedDict[str, _Handle] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def append(self, path: str, payload: bytes, now: float) -> None:
        """Append ``payload`` to ``path`` (directories are created); raises OSError."""
        handle = self._handle(path, now)
        try:
            append_all(handle.file, payload)
        except OSError:
            self._close(path)  # the next attempt opens afresh (file moved, disk remounted, ...)
            raise
        handle.dirty = True

    def _handle(self, path: str, now: float) -> _Handle:
        handle = self._open.get(path)
        if handle is not None:
            self._open.move_to_end(path)
        else:
            while len(self._open) >= self.limit:
                self._close(next(iter(self._open)))
            handle = self._open[path] = _Handle(_open_append(path), now)
        handle.last_used = now
        return handle

    def sync(self) -> list[tuple[str, OSError]]:
        """fsync the files written since the last sync (data survives a machine crash).

        Returns the files that could not be synced; they are closed, so the next write
        reopens them.
        """
        failed = []
        for path, handle in list(self._open.items()):
            if handle.dirty:
                try:
                    os.fsync(handle.file.fileno())
                except OSError as error:
                    failed.append((path, error))
                    self._close(path)
                handle.dirty = False
        return failed

    def close_stale(self, now: float, idle_secs: float) -> None:
        """Close files unused for ``idle_secs`` and files renamed or deleted by log rotation."""
        for path, handle in list(self._open.items()):
            if now - handle.last_used >= idle_secs or _replaced(path, handle.file):
                self._close(path)

    def close(self, path: str) -> None:
        """Close ``path`` if it is open (before it is renamed)."""
        if path in self._open:
            self._close(path)

    def close_all(self) -> None:
        """Close everything (call sync() first to make the data durable)."""
        for path in list(self._open):
            self._close(path)

    def _close(self, path: str) -> None:
        # No fsync here: the data is with the OS already, and an LRU eviction must stay cheap.
        handle = self._open.pop(path)
        with contextlib.suppress(OSError):
            handle.file.close()


def _open_append(path: str) -> io.FileIO:
    try:
        return io.FileIO(path, "ab")
    except FileNotFoundError:
        directory = os.path.dirname(path)
        if not directory:
            raise
        os.makedirs(directory, exist_ok=True)
        return io.FileIO(path, "ab")


def _replaced(path: str, file: io.FileIO) -> bool:
    """Has logrotate (or a person) moved or deleted the file we hold open?"""
    try:
        current = os.stat(path)
    except OSError:
        return True
    held = os.fstat(file.fileno())
    return (current.st_dev, current.st_ino) != (held.st_dev, held.st_ino)
