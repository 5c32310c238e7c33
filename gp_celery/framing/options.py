"""The framing options every stream input shares, declared once and validated at load."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from gp_celery.framing.spec import Framing, FramingKind, compile_separator
from gp_celery.framing.text import DEFAULT_MAX_LINE_BYTES
from gp_celery.modules.base import Options

MIN_CHUNK_BYTES = 1024
MAX_CHUNK_BYTES = 64 << 20


class StreamFramingOptions(Options):
    """How a byte stream (a TCP client, stdin, a socket) is cut into events."""

    mode: Literal["line", "stream", "syslog"] = "line"
    """'line': one event per line; 'stream': bytes as they come (see decoding); 'syslog':
    RFC 6587 syslog over TCP, one event per frame, each frame either octet-counted
    ('MSG-LEN SP MSG', when it starts with a digit) or ended by a newline. A frame that
    starts with a digit but has no valid length is read up to the next newline and tagged
    (the connection stays open); a length above max_line_bytes is cut like a long line."""
    simple_separator: str = Field("\n", min_length=1)
    """Line separator in line mode."""
    regex_separator: str | None = None
    """Regex line separator (matched on the raw bytes); wins over simple_separator if set."""
    max_line_bytes: int | None = Field(None, ge=1)
    """Longer lines are truncated to this many bytes and tagged (default 1 MiB)."""
    decoding: Literal["msgpack"] | None = None
    """Stream mode: 'msgpack' cuts the stream at msgpack object boundaries and makes one
    event per object (a map's keys become fields). Without it, every read is one event."""
    chunk_bytes: int | None = Field(None, ge=MIN_CHUNK_BYTES, le=MAX_CHUNK_BYTES)
    """Bytes collected before a chunk goes to the workers (default: Global chunk_bytes)."""

    @field_validator("regex_separator")
    @classmethod
    def _compiles(cls, value: Any) -> Any:
        if value is not None:
            if not isinstance(value, str) or not value:
                raise ValueError(f"expected a regular expression, got {value!r}")
            compile_separator(value)
        return value

    def line_limit(self) -> int:
        """The longest line or object kept whole."""
        return self.max_line_bytes or DEFAULT_MAX_LINE_BYTES

    def framing(self, *, strip: bool = False, keep_separator: bool = False) -> Framing:
        """The framing these options ask for; ``strip`` and ``keep_separator`` are the
        input's own line conventions (TcpServer strips, StdIn keeps the newline)."""
        kind: FramingKind = "line"
        if self.mode == "stream":
            kind = "msgpack" if self.decoding == "msgpack" else "stream"
        elif self.mode == "syslog":
            kind = "syslog"
        return Framing(
            kind=kind,
            separator=self.simple_separator,
            regex=self.regex_separator,
            strip=strip,
            keep_separator=keep_separator,
            max_record_bytes=self.line_limit(),
            decode_objects=self.decoding == "msgpack",
        )
