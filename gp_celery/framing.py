"""Shared framing: cut the bytes an input receives into events, the same way for every input.

Inputs do transport only; a ``Framer`` per stream (one per TCP client, one for stdin) turns
chunks into events. Modes:

- ``line``: split at ``separator`` (or at matches of ``regex``, which wins). Lines are decoded
  as UTF-8 in bulk: the complete-lines part of a chunk is decoded with one ``.decode()`` and
  split, and only a chunk that fails to decode is handled line by line.
- ``stream``: every chunk is one event, decoded with ``errors="surrogateescape"`` so binary
  payloads (msgpack) survive: ``data.encode("utf-8", "surrogateescape")`` gives the bytes back.

Hostile input is data, not a reason to fail. A line longer than ``max_line_bytes`` becomes one
event holding its first ``max_line_bytes`` bytes (cut back to a character boundary), tagged with
the line's full length; the rest of the line is counted and discarded, so a client sending a
gigabyte without a separator never makes the framer hold more than about ``max_line_bytes``
plus one chunk. Invalid UTF-8 is replaced (U+FFFD) and the event tagged. NUL bytes are data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from gp_celery.event import DATA, Event, new_event, new_events

Fail = Callable[[Event, str], None]
"""How the framer tags an event: the input's ``Module.fail`` (tags and counts it)."""

DEFAULT_MAX_LINE_BYTES: Final = 1 << 20
ASCII_WHITESPACE: Final = " \t\n\r\x0b\x0c"
"""What ``strip`` removes: bytes.strip()'s set, so NBSP and other Unicode spaces stay data."""
INVALID_UTF8: Final = "invalid UTF-8 replaced"
REGEX_WINDOW: Final = 1024
"""Bytes of the previous chunk searched again for a regex separator that spans two chunks."""


def overlong_reason(size: int, limit: int, what: str = "line", option: str = "") -> str:
    return f"{what} of {size} bytes exceeds {option or 'max_line_bytes'}={limit}; truncated"


def truncate_utf8(raw: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes, less a multi-byte character left incomplete at the end.

    Looks at those bytes only, so a line cut in one piece and one cut while streaming agree.
    """
    head = raw[:limit]
    start = len(head) - 1
    while start > 0 and len(head) - start < 4 and head[start] & 0xC0 == 0x80:
        start -= 1  # back over continuation bytes (0b10xxxxxx) to the last lead byte
    if start >= 0:
        lead = head[start]
        length = 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4
        if lead >= 0xC0 and lead < 0xF8 and len(head) - start < length:
            return head[:start]
    return head


def decode_line(
    raw: bytes, size: int, limit: int, ending: bytes = b"", *, what: str = "line", option: str = ""
) -> tuple[str, list[str]]:
    """Decode a line of ``size`` bytes (``raw`` may be its head only) plus ``ending``.

    Returns the text and the reasons to tag its event with (truncated, invalid UTF-8).
    """
    reasons = []
    if size > limit:
        raw = truncate_utf8(raw, limit)
        reasons.append(overlong_reason(size, limit, what, option))
    try:
        text = (raw + ending).decode()
    except UnicodeDecodeError:
        text = (raw + ending).decode(errors="replace")
        reasons.append(INVALID_UTF8)
    return text, reasons


_OTHER_BREAKS: Final = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_OTHER_BREAKS_NON_ASCII: Final = (*_OTHER_BREAKS, "\x85", "\u2028", "\u2029")


def _only_newline_breaks(text: str) -> bool:
    """True if str.splitlines() would cut ``text`` only after '\\n' ('\\r\\n' counts as one)."""
    breaks = _OTHER_BREAKS if text.isascii() else _OTHER_BREAKS_NON_ASCII
    if any(other in text for other in breaks):
        return False
    return "\r" not in text or text.count("\r") == text.count("\r\n")


@dataclass(frozen=True, slots=True)
class FramingSpec:
    """How an input wants its stream cut; built once from its options."""

    mode: Literal["line", "stream"] = "line"
    separator: str = "\n"
    regex: re.Pattern[bytes] | None = None
    strip: bool = False
    """Strip ASCII whitespace around each line and drop lines that end up empty (TcpServer)."""
    keep_separator: bool = False
    """Keep the separator at the end of ``data`` (StdIn, like GambolPutty's readline())."""
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    def __post_init__(self) -> None:
        if not self.separator:
            raise ValueError("the line separator must not be empty")
        if self.regex is not None and self.regex.fullmatch(b"") is not None:
            raise ValueError("the regex separator must not match the empty string")
        if self.max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")


class Framer:
    """Cuts one stream into events: ``feed(chunk)`` for each chunk, ``close()`` at its end."""

    def __init__(self, spec: FramingSpec, source_module: str, received_from: Any, fail: Fail):
        self.spec = spec
        self._source = source_module
        self._peer = received_from
        self._fail = fail
        self._sep_str = spec.separator
        self._sep = spec.separator.encode()
        self._lookback = REGEX_WINDOW if spec.regex is not None else len(self._sep) - 1
        self._max = spec.max_line_bytes
        self._buf = bytearray()
        """The current, unfinished line: never a whole separator, at most ~max + one chunk."""
        self._head: bytes | None = None
        """First bytes of an overlong line whose rest is being skipped."""
        self._skipped = 0

    @property
    def buffered_bytes(self) -> int:
        """What the framer holds right now (for tests and stats)."""
        return len(self._buf) + len(self._head or b"")

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        if self.spec.mode == "stream":
            text = chunk.decode("utf-8", "surrogateescape")
            return [new_event(text, self._source, self._peer)]
        return self._feed_lines(chunk, final=False)

    def close(self) -> list[Event]:
        """End of stream: the last partial line (or overlong line) becomes an event too."""
        if self.spec.mode == "stream":
            return []
        return self._feed_lines(b"", final=True)

    # -- line mode ---------------------------------------------------------------------------

    def _feed_lines(self, chunk: bytes, final: bool) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        scan_from = max(0, len(buf) - self._lookback)
        buf += chunk
        if self._head is not None:
            if not self._skip_overlong(events, final):
                return events
            scan_from = 0
        if self.spec.regex is not None:
            self._cut_regex(events, scan_from)
        else:
            end = buf.rfind(self._sep, scan_from)
            if end >= 0:
                cut = end + len(self._sep)
                complete = bytes(buf[:cut])
                del buf[:cut]
                events += self._complete_events(complete)
        if final:
            if buf or self._head is not None:
                self._emit_line(events, bytes(buf), len(buf), b"")
            buf.clear()
        elif len(buf) > self._max:
            self._start_skipping()
        return events

    def _find_separator(self, start: int) -> tuple[int, int]:
        """Start and end of the first separator in the buffer at or after ``start``; -1 if none."""
        if self.spec.regex is not None:
            match = self.spec.regex.search(self._buf, start)
            return (match.start(), match.end()) if match else (-1, -1)
        found = self._buf.find(self._sep, start)
        return found, found + len(self._sep)

    def _start_skipping(self) -> None:
        buf = self._buf
        self._head = bytes(buf[: self._max])
        keep = max(self._max, len(buf) - self._lookback)
        self._skipped = keep - self._max
        del buf[:keep]

    def _skip_overlong(self, events: list[Event], final: bool) -> bool:
        """Discard the rest of an overlong line; True once it ended (the tagged event is made)."""
        buf = self._buf
        start, end = self._find_separator(0)
        if start < 0 and not final:
            keep = max(0, len(buf) - self._lookback)
            self._skipped += keep
            del buf[:keep]
            return False
        if start < 0:
            start = end = len(buf)
        head, self._head = self._head or b"", None
        size = self._max + self._skipped + start
        self._emit_line(events, head, size, bytes(buf[start:end]))
        del buf[:end]
        return True

    def _cut_regex(self, events: list[Event], scan_from: int) -> None:
        assert self.spec.regex is not None
        buf, pos = self._buf, 0
        for match in self.spec.regex.finditer(buf, scan_from):
            line = bytes(buf[pos : match.start()])
            self._emit_line(events, line, len(line), match.group())
            pos = match.end()
        del buf[:pos]

    def _complete_events(self, complete: bytes) -> list[Event]:
        """Events for whole lines (``complete`` ends with a separator): the hot path."""
        sep, limit = self._sep_str, self._max
        try:
            text = complete.decode()
        except UnicodeDecodeError:
            return self._slow_events(complete)
        if self.spec.keep_separator:
            if sep == "\n" and _only_newline_breaks(text):
                lines = text.splitlines(keepends=True)  # one allocation per line, not two
            else:
                lines = [line + sep for line in text[: -len(sep)].split(sep)]
            limit += len(sep)
        else:
            lines = text[: -len(sep)].split(sep)
        if len(complete) > limit:
            longest = max(map(len, lines))
            if longest > limit or (not text.isascii() and longest * 4 > limit):
                return self._slow_events(complete)
        if self.spec.strip:
            strip = ASCII_WHITESPACE
            lines = [stripped for line in lines if (stripped := line.strip(strip))]
        return new_events(lines, self._source, self._peer)

    def _slow_events(self, complete: bytes) -> list[Event]:
        """Line by line: for chunks with invalid UTF-8 or a line that may be overlong."""
        events: list[Event] = []
        sep = self._sep
        for raw in complete[: -len(sep)].split(sep):
            self._emit_line(events, raw, len(raw), sep)
        return events

    def _emit_line(self, events: list[Event], raw: bytes, size: int, sep: bytes) -> None:
        """One line of ``size`` bytes (``raw`` may be its head already) ended by ``sep``."""
        ending = sep if self.spec.keep_separator else b""
        text, reasons = decode_line(raw, size, self._max, ending)
        if self.spec.strip:
            text = text.strip(ASCII_WHITESPACE)
            if not text and not reasons:
                return
        event = new_event(text, self._source, self._peer)
        for reason in reasons:
            self._fail(event, reason)
        events.append(event)


class MultilineFramer:
    """Joins lines into one event per block, ended by ``end_signal`` or by the end of stream.

    A line matches ``end_signal`` when the two are equal without their line endings, so a
    signal written in YAML without the trailing newline works too (GambolPutty compared the
    readline() result, newline included, and never matched such a signal). A block is bounded
    by ``max_line_bytes``: lines that no longer fit are counted and dropped (the block is cut
    at a line boundary) and the block is tagged. Tags of its lines are carried over.
    """

    _REASONS: Final = "_framing_reasons"

    def __init__(
        self,
        spec: FramingSpec,
        source_module: str,
        received_from: Any,
        fail: Fail,
        end_signal: str | None,
    ) -> None:
        self._lines = Framer(spec, source_module, received_from, self._note)
        self._source, self._peer, self._fail = source_module, received_from, fail
        self._max = spec.max_line_bytes
        self._signal = end_signal.rstrip("\r\n") if end_signal else None
        self._parts: list[str] = []
        self._size = 0
        self._overflow = 0
        self._reasons: list[str] = []

    def _note(self, event: Event, reason: str) -> None:
        event.setdefault(self._REASONS, []).append(reason)

    def feed(self, chunk: bytes) -> list[Event]:
        return self._collect(self._lines.feed(chunk))

    def close(self) -> list[Event]:
        events = self._collect(self._lines.close())
        if self._parts or self._overflow or self._reasons:
            events.append(self._block())
        return events

    def _collect(self, line_events: list[Event]) -> list[Event]:
        blocks = []
        for line_event in line_events:
            line: str = line_event[DATA]
            reasons: list[str] = line_event.get(self._REASONS, [])
            if not reasons and self._signal is not None and line.rstrip("\r\n") == self._signal:
                blocks.append(self._block())
                continue
            self._reasons.extend(r for r in reasons if r not in self._reasons)
            size = len(line) if line.isascii() else len(line.encode())
            if self._overflow or self._size + size > self._max:
                self._overflow += size
            else:
                self._parts.append(line)
                self._size += size
        return blocks

    def _block(self) -> Event:
        event = new_event("".join(self._parts), self._source, self._peer)
        if self._overflow:
            total = self._size + self._overflow
            self._fail(event, overlong_reason(total, self._max, "block"))
        for reason in self._reasons:
            self._fail(event, reason)
        self._parts, self._size, self._overflow, self._reasons = [], 0, 0, []
        return event
