"""File's options: LumberMill's ``input.File`` ones, plus the shared framing limits."""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery.framing.options import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES
from gp_celery.framing.spec import compile_join
from gp_celery.framing.text import DEFAULT_MAX_LINE_BYTES
from gp_celery.modules.base import Options


class FileOptions(Options):
    paths: list[str]
    """Files or directories to read (a single string is taken as a one-item list). A
    directory is scanned for files matching ``pattern``; a file given directly is read
    whatever its name."""
    pattern: str = "*"
    """Shell pattern the names of files found in a directory must match, e.g. '*.log'."""
    recursive: bool = False
    """Scan directories recursively."""
    line_by_line: bool = False
    """mode cat: one event per line; otherwise one event per file (up to max_line_bytes,
    beyond that truncated and tagged). tail mode always reads line by line."""
    separator: str = Field("\n", min_length=1)
    """Line separator (not part of an event's data)."""
    mode: Literal["cat", "tail"] = "cat"
    """'cat': read the files to their end once, then this input ends. 'tail': follow them
    (new lines, rotated files, files that appear later) until the run stops."""
    sincedb_path: str | None = None
    """Where the offsets are saved (a JSON file, written atomically). Default in tail mode:
    ``$XDG_STATE_HOME/gp-celery/file-<node id>.sincedb.json`` (``~/.local/state`` without
    XDG_STATE_HOME). cat mode saves offsets only when this is set. LumberMill kept a
    sqlite3 db here: an old one is not read (logged), and is replaced by ours."""
    sincedb_write_interval: float = Field(15, ge=0)
    """Seconds between writes of the offsets (they are written at a clean stop too): after
    a kill -9, lines delivered in the last interval are read again."""
    start_position: Literal["beginning", "end"] = "end"
    """tail mode, for a file found at start-up without a saved offset: read it from the
    beginning, or only what is written from now on. A file that appears later is read
    from its beginning (its first lines were written after the start)."""
    stat_interval: float = Field(1, gt=0)
    """Seconds between polls of the files and directories (with inotify: the safety net
    for what inotify cannot see, such as files on NFS)."""
    ignore_empty: bool = False
    """mode cat, one event per file: send no event for an empty file."""
    ignore_truncate: bool = False
    """A file that shrinks below the read offset (copy-truncate rotation) is not read again
    from its start; reading goes on once it has grown past the offset."""
    tail_lines: Annotated[int, Field(ge=0)] | Literal[False] = False
    """tail mode, start_position 'end': also send the last this-many lines of a file found
    at start-up without a saved offset."""
    size_limit: int | None = Field(None, ge=0)
    """Files larger than this many bytes when found are skipped (counted, logged once)."""
    multiline_regex_before: str | None = None
    """A line that matches (at its start) belongs to the event before it, e.g. '^\\s'."""
    multiline_regex_after: str | None = None
    """The line after one that matches belongs to the same event, e.g. '.*\\\\$'."""
    multiline_flush_secs: float = Field(1, gt=0)
    """tail mode with a multiline regex: an event still open after the file was quiet this
    long is sent (its next line may never come); python-beaver's one second."""
    gone_quiet_secs: float = Field(2, gt=0)
    """A file renamed out of view or deleted is read on until nothing was written to it
    for this long (its writer may not have reopened the new file yet), then closed."""
    encoding: str = "utf-8"
    """Character encoding of the files: a Python codec name that is ASCII-compatible
    (LumberMill's default 'utf_8', 'latin_1', 'cp1252', ...; not UTF-16). Invalid text is
    replaced and the event tagged."""
    watch: Literal["auto", "inotify", "poll"] = "auto"
    """How changes are noticed: inotify (Linux; lines arrive as they are written), or
    polling every stat_interval. 'auto' uses inotify where it works, else polls."""
    max_line_bytes: int | None = Field(None, ge=1)
    """Longer lines (or events, with multiline or one event per file) are truncated to
    this many bytes and tagged (default 1 MiB)."""
    chunk_bytes: int | None = Field(None, ge=MIN_CHUNK_BYTES, le=MAX_CHUNK_BYTES)
    """Bytes collected before a chunk goes to the workers (default: Global chunk_bytes)."""

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("paths")
    @classmethod
    def _some_paths(cls, value: list[str]) -> list[str]:
        if not value or not all(value):
            raise ValueError("expected one or more non-empty paths")
        return value

    @field_validator("multiline_regex_before", "multiline_regex_after")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_join(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            name = codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        if "sep\n".encode(name) != b"sep\n":  # lines are cut on the raw bytes
            raise ValueError(
                f"{value!r} is not ASCII-compatible (such as UTF-16); convert the files to "
                "UTF-8 first, e.g. with iconv"
            )
        return name

    @model_validator(mode="after")
    def _tail_lines_needs_end(self) -> FileOptions:
        if self.tail_lines and self.start_position != "end":
            raise ValueError("'tail_lines' only applies with start_position 'end'")
        return self

    def line_limit(self) -> int:
        return self.max_line_bytes or DEFAULT_MAX_LINE_BYTES

    @property
    def multiline(self) -> bool:
        return bool(self.multiline_regex_before or self.multiline_regex_after)
