"""RFC 5424: ``<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
STRUCTURED-DATA [SP MSG]``.

The header is one anchored regex whose parts are bounded and cannot overlap (no part may
hold a space), so a match costs at most a few hundred steps whatever the input. Structured
data is read by a small hand parser in one pass; its size is bounded by the message's.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from gp_celery.modules.parsers.syslog_parser.common import NIL, SyslogError, strip_bom

HEADER: Final = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) (?P<timestamp>[^ ]{1,64}) "
    r"(?P<hostname>[!-~]{1,255}) (?P<appname>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) "
    r"(?P<msgid>[!-~]{1,32}) "
)
TIMESTAMP: Final = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)
"""RFC 5424's TIMESTAMP (RFC 3339 with at most six fraction digits, 'T' and 'Z' upper case)."""
SD_NAME: Final = re.compile(r"[!#-<>-\\^-~]{1,32}")
"""SD-ID and PARAM-NAME: 1 to 32 printable US-ASCII characters but '=', ' ', ']' and '"'."""
_ESCAPED: Final = frozenset('"\\]')


def parse_rfc5424(text: str) -> dict[str, Any]:
    """The fields of one RFC 5424 message (NILVALUE fields left out); SyslogError if it is
    not one."""
    header = HEADER.match(text)
    if header is None:
        raise SyslogError("is not an RFC 5424 header ('<PRI>1 TIMESTAMP HOST APP PROCID MSGID')")
    parts = header.groupdict()
    fields: dict[str, Any] = {"pri": int(parts["pri"]), "version": int(parts["version"])}
    if parts["timestamp"] != NIL:
        fields["timestamp"] = parse_timestamp(parts["timestamp"])
    for name in ("hostname", "appname", "procid", "msgid"):
        if parts[name] != NIL:
            fields[name] = parts[name]
    sd, end = parse_structured_data(text, header.end())
    if sd is not None:
        fields["sd"] = sd
    if end < len(text):
        if text[end] != " ":
            raise SyslogError(f"has {text[end]!r} after the structured data, not a space")
        fields["message"] = strip_bom(text[end + 1 :])
    return fields


def parse_timestamp(text: str) -> str:
    """An RFC 5424 TIMESTAMP, checked, as ISO 8601 with its own offset ('Z' as +00:00)."""
    if TIMESTAMP.fullmatch(text) is None:
        raise SyslogError(f"has an invalid timestamp {text[:40]!r}")
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError as error:
        if text[17:19] == "60":  # a leap second is not a datetime; the one before it is
            return parse_timestamp(text[:17] + "59" + text[19:])
        raise SyslogError(f"has an invalid timestamp {text!r} ({error})") from None


def parse_structured_data(text: str, pos: int) -> tuple[dict[str, Any] | None, int]:
    """STRUCTURED-DATA at ``pos``: ``{sd_id: {param: value}}`` (None for NILVALUE) and where
    it ends. A parameter given more than once gets a list of its values."""
    if text.startswith(NIL, pos):
        return None, pos + 1
    if not text.startswith("[", pos):
        raise SyslogError("has no structured data ('-' or '[...]') after the header")
    elements: dict[str, dict[str, Any]] = {}
    while text.startswith("[", pos):
        sd_id, pos = _name(text, pos + 1, "SD-ID")
        params = elements.setdefault(sd_id, {})
        while text.startswith(" ", pos):
            name, pos = _name(text, pos + 1, "PARAM-NAME")
            if not text.startswith('="', pos):
                raise SyslogError(f"structured data: '{name}' is not followed by '=\"'")
            value, pos = _value(text, pos + 2)
            _add(params, name, value)
        if not text.startswith("]", pos):
            raise SyslogError(f"structured data: element '{sd_id}' is not closed by ']'")
        pos += 1
    return elements, pos


def _name(text: str, pos: int, what: str) -> tuple[str, int]:
    name = SD_NAME.match(text, pos)
    if name is None or SD_NAME.match(text, name.end()) is not None:  # none, or over 32
        raise SyslogError(f"structured data: invalid {what} at character {pos}")
    return name.group(), name.end()


def _value(text: str, pos: int) -> tuple[str, int]:
    """A PARAM-VALUE up to its closing '"', with \\", \\\\ and \\] unescaped (any other
    backslash is kept, as RFC 5424 says); returns it and where it ends. One pass: the
    closing quote is searched again only after an escaped one."""
    parts: list[str] = []
    start = pos
    quote = text.find('"', pos)
    while True:
        if quote < 0:
            raise SyslogError("structured data: a PARAM-VALUE has no closing '\"'")
        slash = text.find("\\", pos, quote)
        if slash < 0:
            parts.append(text[start:quote])
            return "".join(parts), quote + 1
        escaped = text[slash + 1]
        if escaped in _ESCAPED:
            parts.append(text[start:slash])
            parts.append(escaped)
            start = pos = slash + 2
            if slash + 1 == quote:
                quote = text.find('"', pos)
        else:
            pos = slash + 1


def _add(params: dict[str, Any], name: str, value: str) -> None:
    if name not in params:
        params[name] = value
    elif isinstance(params[name], list):
        params[name].append(value)
    else:
        params[name] = [params[name], value]
