"""The offset store ("sincedb"): how far each file has been delivered, saved atomically.

Keyed by device and inode, so a renamed file keeps its offset and a new file at the same
path starts afresh. The store changes only through ``File.delivered(mark)``: an offset is
saved once every line before it went through the pipeline (embedded mode) or was
published to the broker (listener). Writes go to a temporary file that is fsynced and
renamed over the store, so a crash leaves the old store or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Final, NamedTuple

log = logging.getLogger(__name__)

FORMAT: Final = "gp-celery file offsets 1"


class FileId(NamedTuple):
    device: int
    inode: int

    @staticmethod
    def of(stat: os.stat_result) -> FileId:
        return FileId(stat.st_dev, stat.st_ino)

    def key(self) -> str:
        return f"{self.device}:{self.inode}"


class Mark(NamedTuple):
    """What File emits with its pieces: every line of ``file`` before ``offset`` is in
    them or in pieces emitted before."""

    file: FileId
    path: str
    offset: int
    gone: bool = False
    """The file is closed for good; deleted, its offset is forgotten once this is delivered."""


class OffsetStore:
    """Offsets by file id, loaded once, saved at most every ``interval`` seconds."""

    def __init__(self, path: Path | None, interval: float, label: str) -> None:
        self.path = path
        self.interval = interval
        self.label = label
        self.offsets: dict[FileId, tuple[str, int]] = {}
        self._dirty = False
        self._saved_at = time.monotonic()
        if path is not None:
            self._load(path)

    def get(self, file: FileId) -> int | None:
        entry = self.offsets.get(file)
        return entry[1] if entry else None

    def record(self, mark: Mark, *, now: float | None = None, force: bool = False) -> None:
        """Remember a delivered offset; save when the interval has passed (or ``force``)."""
        self.offsets[mark.file] = (mark.path, mark.offset)
        self._dirty = True
        now = time.monotonic() if now is None else now
        if force or now - self._saved_at >= self.interval:
            self.save()

    def forget(self, file: FileId) -> None:
        """The file is gone (deleted): its inode may be reused by another file."""
        if self.offsets.pop(file, None) is not None:
            self._dirty = True

    def prune(self, keep: Collection[FileId]) -> None:
        """Forget the files not in ``keep`` whose path now names another file or none
        (rotated away and deleted since): the store does not grow with every rotation,
        and a reused inode does not inherit an old offset."""
        for file, (path, _) in list(self.offsets.items()):
            if file in keep:
                continue
            try:
                current = FileId.of(os.stat(path))
            except OSError:
                current = None
            if current != file:
                self.forget(file)

    def save(self) -> None:
        self._saved_at = time.monotonic()
        if self.path is None or not self._dirty:
            return
        entries = {
            file.key(): {"path": path, "offset": offset}
            for file, (path, offset) in self.offsets.items()
        }
        text = json.dumps({"format": FORMAT, "files": entries}, indent=1)
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".sincedb-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.path)
            except OSError:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            log.warning(
                "%s: cannot save offsets to %s (%s); trying again later.",
                self.label,
                self.path,
                error,
            )
            return
        self._dirty = False

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as error:
            log.warning(
                "%s: cannot read the offsets in %s (%s); starting without them.",
                self.label,
                path,
                error,
            )
            return
        try:
            self.offsets = parse_offsets(text)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning(
                "%s: %s holds no offsets we can read (%s: a LumberMill sqlite "
                "sincedb?); starting without them, and it will be replaced.",
                self.label,
                path,
                error,
            )
            self.offsets.clear()


def parse_offsets(text: str) -> dict[FileId, tuple[str, int]]:
    stored = json.loads(text)
    if stored.get("format") != FORMAT:
        raise ValueError("not a gp-celery offset store")
    offsets = {}
    for key, entry in stored["files"].items():
        device, inode = key.split(":")
        offsets[FileId(int(device), int(inode))] = (str(entry["path"]), int(entry["offset"]))
    return offsets
