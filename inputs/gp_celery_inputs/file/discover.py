"""Finding the files to read: LumberMill's scan of ``paths`` (a file given directly, or the
files of a directory matching ``pattern``, recursively or not), run on every poll."""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field


@dataclass
class Found:
    files: dict[str, os.stat_result] = field(default_factory=dict)
    """Path -> its stat, for every regular file found."""
    directories: set[str] = field(default_factory=set)
    """Directories to watch: those scanned, and the parents of files given directly."""
    scanned: bool = False
    """Some path is a directory, scanned for files matching the pattern."""
    missing: list[str] = field(default_factory=list)
    """Paths given that do not exist (yet)."""
    problems: dict[str, str] = field(default_factory=dict)
    """Path -> why it cannot be read (not a regular file, a symlink loop, ...)."""


def discover(paths: list[str], pattern: str, recursive: bool) -> Found:
    found = Found()
    for path in paths:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            found.missing.append(path)
            found.directories.add(os.path.dirname(os.path.abspath(path)))
            continue
        except OSError as error:
            found.problems[path] = error.strerror or str(error)
            continue
        if stat.S_ISREG(info.st_mode):
            found.files[path] = info
            found.directories.add(os.path.dirname(os.path.abspath(path)))
        elif stat.S_ISDIR(info.st_mode):
            found.scanned = True
            _scan(path, pattern, recursive, found)
        else:
            found.problems[path] = "not a regular file or directory"
    return found


def _scan(directory: str, pattern: str, recursive: bool, found: Found) -> None:
    found.directories.add(os.path.abspath(directory))
    try:
        entries = list(os.scandir(directory))
    except OSError as error:
        found.problems[directory] = error.strerror or str(error)
        return
    for entry in sorted(entries, key=lambda entry: entry.name):
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    _scan(entry.path, pattern, recursive, found)
                continue
            if not fnmatch.fnmatch(entry.name, pattern):
                continue
            info = entry.stat()
        except OSError as error:  # vanished meanwhile, a symlink loop, ...
            if not isinstance(error, FileNotFoundError):
                found.problems[entry.path] = error.strerror or str(error)
            continue
        if stat.S_ISREG(info.st_mode):
            found.files[entry.path] = info
