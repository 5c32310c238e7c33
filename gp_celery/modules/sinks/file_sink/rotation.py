"""FileSink rotation: by size and by clock period, rotated files optionally gzipped and pruned.

A file is rotated just before a batch is appended to it, so no line is ever split between
two files: when the batch would take it past ``rotate_bytes``, or when it was last written
in an earlier period of ``rotate_every_secs`` (periods are aligned to the UTC clock: 3600
rotates at the top of each hour, 86400 at midnight UTC). It is renamed to
``<name>.<UTC time>`` (``events.log.20261201T100000Z``; ``events.log.20261201T100000Z.gz``
for a file that FileSink already writes gzipped), then gzipped when asked and the oldest
rotated files beyond ``max_rotated_files`` are deleted. The state is the file system itself
(size, modification time, names), so a restarted process carries on where it left off.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class RotationPolicy:
    max_bytes: int | None
    every_secs: float | None
    gzip_rotated: bool
    max_rotated: int | None


def period(when: float, every_secs: float) -> int:
    """Which clock-aligned period of ``every_secs`` the time ``when`` falls in."""
    return math.floor(when / every_secs)


def rotation_due(
    policy: RotationPolicy, size: int, mtime: float, incoming: int, now: float
) -> Literal["size", "period"] | None:
    """Why a file of ``size`` bytes, last written at ``mtime``, must be rotated before
    ``incoming`` more bytes are appended at ``now``; None when it need not. An empty file
    never is."""
    if size == 0:
        return None
    if policy.max_bytes is not None and size + incoming > policy.max_bytes:
        return "size"
    every = policy.every_secs
    if every is not None and period(mtime, every) < period(now, every):
        return "period"
    return None


def rotated_name(path: str, when: float) -> str:
    """A new name for the rotated ``path``: its UTC time before any '.gz', then a counter
    above every rotated file of that second (so the names sort in rotation order even
    after the oldest were pruned)."""
    base, suffix = _split_gz(path)
    stamp = time.strftime(STAMP, time.gmtime(when))
    counters = [counter for at, counter, _ in _rotated(path) if at == stamp]
    if not counters:
        return f"{base}.{stamp}{suffix}"
    return f"{base}.{stamp}.{max(counters) + 1}{suffix}"


def _split_gz(path: str) -> tuple[str, str]:
    return (path[:-3], ".gz") if path.endswith(".gz") else (path, "")


def _rotated(path: str) -> list[tuple[str, int, Path]]:
    """(UTC time, counter, file) of each rotated file of ``path``, oldest first."""
    base, suffix = _split_gz(path)
    tail = r"\.gz" if suffix else r"(?:\.gz)?"
    pattern = re.compile(re.escape(os.path.basename(base)) + r"\.(\d{8}T\d{6}Z)(?:\.(\d+))?" + tail)
    found = []
    for candidate in Path(base).parent.iterdir():
        if match := pattern.fullmatch(candidate.name):
            found.append((match.group(1), int(match.group(2) or 0), candidate))
    return sorted(found)


def rotated_files(path: str) -> list[Path]:
    """The rotated files of ``path``, oldest first."""
    return [candidate for _stamp, _counter, candidate in _rotated(path)]


def gzip_file(path: str) -> str:
    """Compress ``path`` to ``path.gz`` and delete it; on failure the original stays."""
    target = path + ".gz"
    try:
        with open(path, "rb") as source, gzip.open(target, "wb", compresslevel=6) as out:
            shutil.copyfileobj(source, out, 1 << 20)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise
    os.unlink(path)
    return target


def rotate(
    policy: RotationPolicy, path: str, why: Literal["size", "period"], mtime: float, now: float
) -> str:
    """Rename ``path`` aside (gzip and prune as the policy says); the rotated file's name.

    A file rotated for its period is named by the start of that period, one rotated for
    its size by the time of rotation. Raises OSError; a failed gzip or prune leaves the
    rotated file as it is and raises after the rename, so the next append starts afresh."""
    every = policy.every_secs
    when = period(mtime, every) * every if why == "period" and every else now
    target = rotated_name(path, when)
    os.rename(path, target)
    if policy.gzip_rotated and not target.endswith(".gz"):
        target = gzip_file(target)
    if policy.max_rotated is not None:
        rotated = rotated_files(path)
        for old in rotated[: max(0, len(rotated) - policy.max_rotated)]:
            old.unlink(missing_ok=True)
    return target
