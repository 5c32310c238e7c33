"""Bytes to text for one record: UTF-8 decoding, truncation at a character boundary, tags.

Hostile input is data, not a reason to fail: an overlong record keeps its first bytes (cut back
to a character boundary) and is tagged with its full size; invalid UTF-8 is replaced (U+FFFD)
and tagged. NUL bytes are data.
"""

from __future__ import annotations

from typing import Final

DEFAULT_MAX_LINE_BYTES: Final = 1 << 20
ASCII_WHITESPACE: Final = " \t\n\r\x0b\x0c"
"""What ``strip`` removes: bytes.strip()'s set, so NBSP and other Unicode spaces stay data."""
INVALID_UTF8: Final = "invalid UTF-8 replaced"


def overlong_reason(size: int, limit: int, what: str = "line", option: str = "") -> str:
    return f"{what} of {size} bytes exceeds {option or 'max_line_bytes'}={limit}; truncated"


def truncate_utf8(raw: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes, less a multi-byte character left incomplete at the end.

    Looks at those bytes only, so a record cut in one piece and one cut while streaming agree.
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


def invalid_text_reason(encoding: str) -> str:
    return INVALID_UTF8 if encoding == "utf-8" else f"invalid {encoding} replaced"


def decode_record(
    raw: bytes,
    size: int,
    limit: int,
    ending: bytes = b"",
    *,
    what: str = "line",
    option: str = "",
    encoding: str = "utf-8",
) -> tuple[str, list[str]]:
    """Decode a record of ``size`` bytes (``raw`` may be its head only) plus ``ending``.

    Returns the text and the reasons to tag its event with (truncated, invalid text).
    """
    reasons = []
    if size > limit:
        raw = truncate_utf8(raw, limit) if encoding == "utf-8" else raw[:limit]
        reasons.append(overlong_reason(size, limit, what, option))
    try:
        text = (raw + ending).decode(encoding)
    except UnicodeDecodeError:
        text = (raw + ending).decode(encoding, errors="replace")
        reasons.append(invalid_text_reason(encoding))
    return text, reasons
