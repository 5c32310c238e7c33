"""Chunks a stopping listener could not deliver, kept in local files until its next start.

One file per chunk, written whole (to a temporary name, then renamed), so a crash while
spooling leaves either a complete file or none. ``take`` hands them back oldest first; the
caller deletes each file once its chunk is on the broker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gp_celery.codec import pack, unpack
from gp_celery.framing import Chunk

log = logging.getLogger(__name__)

SUFFIX = ".chunk"


@dataclass
class Spooled:
    chunk: Chunk
    queue: str
    digest: str
    path: Path


class Spool:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def put(self, chunk: Chunk, queue: str, digest: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{chunk.name.replace('/', '_')}{SUFFIX}"
        partial = path.with_suffix(".partial")
        with partial.open("wb") as handle:
            handle.write(pack([queue, digest, chunk.pack()]))
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
        return path

    def take(self) -> Iterator[Spooled]:
        """Spooled chunks, oldest first; unreadable files are left in place and named."""
        if not self.directory.is_dir():
            return
        paths = sorted(self.directory.glob(f"*{SUFFIX}"), key=lambda item: item.stat().st_mtime)
        for path in paths:
            try:
                queue, digest, packed = unpack(path.read_bytes())
                chunk = Chunk.unpack(packed)
            except (OSError, ValueError, TypeError) as error:
                log.error(  # noqa: TRY400 - the reason is in the message; no traceback
                    "Listener: spooled chunk %s is unreadable (%s); left in place.", path, error
                )
                continue
            yield Spooled(chunk, queue, digest, path)
