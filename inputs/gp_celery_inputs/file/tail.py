"""One open file being read: where reading stands, its cutter, whether it left our view."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Final

from gp_celery.framing import Cutter, Piece
from gp_celery_inputs.file.offsets import FileId, Mark

READ_BYTES: Final = 1 << 20


@dataclass
class Tail:
    path: str
    """Where the file was last seen (a rotated file keeps the path it was opened at until
    it turns up under its new name)."""
    file: FileId
    fd: int
    offset: int
    """Bytes read so far (handed to the cutter)."""
    cutter: Cutter
    marked: int = -1
    """The offset of the last mark emitted."""
    gone_since: float | None = None
    """When the file left our view (renamed away, deleted, replaced); None while in view."""
    active_at: float = field(default_factory=time.monotonic)
    """When data last came."""

    def read(self) -> bytes:
        """The next bytes after ``offset`` (which moves as they are fed to the cutter)."""
        data = os.pread(self.fd, READ_BYTES, self.offset)
        if data:
            self.active_at = time.monotonic()
        return data

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def deleted(self) -> bool:
        return os.fstat(self.fd).st_nlink == 0

    def mark(self, *, gone: bool = False) -> Mark | None:
        """A mark for what the cutter handed out so far, if it moved since the last one."""
        done = self.offset - self.held()
        if done == self.marked and not gone:
            return None
        self.marked = done
        return Mark(self.file, self.path, done, gone)

    def held(self) -> int:
        return int(getattr(self.cutter, "held_bytes", 0))

    def release(self) -> list[Piece]:
        """What a multiline cutter collects, if it has anything (the file went quiet)."""
        release = getattr(self.cutter, "release", None)
        return release() if callable(release) else []

    def close(self) -> None:
        os.close(self.fd)


def start_of_last_lines(fd: int, size: int, separator: bytes, lines: int) -> int:
    """Where the last ``lines`` lines of a file start (0 if it has fewer)."""
    end = size
    if size >= len(separator) and os.pread(fd, len(separator), size - len(separator)) == separator:
        end -= len(separator)  # the last line's own separator
    data, start = b"", end
    while True:
        cut = len(data)
        for _ in range(lines):
            cut = data.rfind(separator, 0, cut)
            if cut < 0:
                break
        if cut >= 0:
            return start + cut + len(separator)
        if start == 0:
            return 0
        earlier = max(0, start - READ_BYTES)
        data = os.pread(fd, start - earlier, earlier) + data
        start = earlier
