"""RegexParser: named-group regexes (with grok references) name the event type."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import monotonic
from typing import Annotated, Any, Final

from pydantic import PlainValidator, WithJsonSchema

from gp_celery.event import EVENT_TYPE, META, MISSING, Batch, Event, field_path, set_event_type
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.grok import CompiledGrok, compile_grok
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

RESORT_SECS: Final = 10.0
"""How often hot_rules_first re-sorts the patterns (GambolPutty's interval)."""

MATCH_TYPES: Final = ("search", "findall")
CONVERTERS: Final[Mapping[str, Callable[[str], Any]]] = {"int": int, "float": float}


@dataclass(frozen=True)
class Rule:
    """One entry of field_extraction_patterns, compiled."""

    event_type: str
    grok: CompiledGrok
    findall: bool = False


def _rule(event_type: Any, spec: Any) -> Rule:
    if not isinstance(event_type, str) or not event_type:
        raise ValueError(f"the event type must be a non-empty string, got {event_type!r}")
    parts = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if not 1 <= len(parts) <= 3:
        raise ValueError("expected a pattern or [pattern, flags, match_type]")
    pattern, flags, match_type = [*parts, None, None][:3]
    if not isinstance(pattern, str):
        raise ValueError(f"expected a regular expression, got {pattern!r}")
    match_type = match_type or "search"
    if match_type not in MATCH_TYPES:
        raise ValueError(f"unknown match_type {match_type!r} (use search or findall)")
    return Rule(event_type, compile_grok(pattern, flags), match_type == "findall")


def parse_rules(value: Any) -> tuple[Rule, ...]:
    """A list of ``{event_type: pattern}`` maps (GambolPutty) or one such map."""
    if isinstance(value, tuple) and all(isinstance(rule, Rule) for rule in value):
        return value
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        raise ValueError("expected a non-empty list of '- event_type: pattern' entries")
    rules = []
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            raise ValueError(f"entry {position}: expected '- event_type: pattern', got {item!r}")
        for event_type, spec in item.items():
            try:
                rules.append(_rule(event_type, spec))
            except ValueError as error:
                raise ValueError(f"entry {position} ({event_type!r}): {error}") from None
    return tuple(rules)


Rules = Annotated[
    tuple[Rule, ...],
    PlainValidator(parse_rules),
    WithJsonSchema({"type": "array", "items": {"type": "object"}}),
]


class RegexParserOptions(Options):
    source_field: FieldName = "data"
    """Field the patterns are matched against (default 'data')."""
    mark_unmatched_as: str = "Unknown"
    """gambolputty.event_type of an event no pattern matched (default 'Unknown')."""
    break_on_match: bool = True
    """Stop at the first matching pattern (default True); False merges all matches."""
    hot_rules_first: bool = True
    """Every 10 s try the patterns that hit most often first (default True)."""
    field_extraction_patterns: Rules
    """Required. '- event_type: regex' or '- event_type: [regex, flags, search|findall]'."""


@register
class RegexParser(Parser[RegexParserOptions]):
    """Extract fields with named-group regexes; the matching pattern names the event type.

    Patterns may use grok references (``%{IP:client}``, ``%{NUMBER:bytes:int}``), which are
    expanded at load. Flags come from a whitelist (MULTILINE, DOTALL, IGNORECASE, VERBOSE,
    ASCII, UNICODE, with or without ``re.``); GambolPutty eval'd them. Patterns are not
    ``$(...)``-templated, so ``(a|(b))`` is safe here. Every match uses ``re.search``.

    Named groups go to the top level of the event as strings (converted only for grok
    ``:int``/``:float``; a value that will not convert stays a string and the event is
    tagged). Unlike GambolPutty, groups that did not take part in the match are left out
    instead of being written as None. ``findall`` writes a list per group, one item per match,
    with '' where a match skipped the group (as ``re.findall``); groups that never took part
    are left out.

    No match: ``event_type`` becomes ``mark_unmatched_as`` and the event goes on untagged
    (counted as ``unmatched``). Source field missing or not text: the event is tagged and goes
    on with its event type untouched (GambolPutty passed a missing field on silently and
    crashed on other types). Bytes are decoded as UTF-8; invalid UTF-8 is matched with U+FFFD
    in place of the bad bytes and the event is tagged.

    ``hot_rules_first`` re-sorts the patterns at most every 10 s by their hits since the last
    sort (ties keep config order). As in GambolPutty, when patterns overlap this can change
    which one wins; set it to False when the config order must decide.
    """

    aliases = ("parser.Regex",)
    examples = [
        Example(
            options={
                "source_field": "event",
                "field_extraction_patterns": [
                    {
                        "httpd_access_log": r"(?P<remote_ip>\d+\.\d+\.\d+\.\d+)\s+"
                        r"(?P<identd>\w+|-)\s+(?P<user>\w+|-)\s+"
                        r"\[(?P<datetime>\d+\/\w+\/\d+:\d+:\d+:\d+\s.\d+)\]\s+"
                        r"\"(?P<url>.*)\"\s+(?P<http_status>\d+)\s+(?P<bytes_send>\d+)"
                    }
                ],
            },
            given=[
                {
                    "event": '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ '
                    'HTTP/1.0" 200 3395'
                }
            ],
            expect=[
                {
                    "remote_ip": "192.168.2.20",
                    "identd": "-",
                    "user": "-",
                    "datetime": "28/Jul/2006:10:27:10 -0300",
                    "url": "GET /cgi-bin/try/ HTTP/1.0",
                    "http_status": "200",
                    "bytes_send": "3395",
                }
            ],
            event_type="httpd_access_log",
        ),
        Example(
            options={"field_extraction_patterns": [{"web": "%{IP:client} %{NUMBER:bytes:int}"}]},
            given=[{"data": "10.0.0.1 512"}],
            expect=[{"client": "10.0.0.1", "bytes": 512}],
            event_type="web",
            note="Grok references, with a type suffix.",
        ),
        Example(
            options={"field_extraction_patterns": {"web": r"^(?P<code>\d{3})$"}},
            given=[{"data": "no digits here"}],
            expect=[{"data": "no digits here"}],
            event_type="Unknown",
            note="No pattern matched: mark_unmatched_as, no error tag.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._config_rules = options.field_extraction_patterns
        self._hits = [0] * len(self._config_rules)
        self._order(range(len(self._config_rules)))
        path = field_path(options.source_field)
        self._key = path.parts[0] if len(path.parts) == 1 else None
        self._path = path
        self._next_sort = monotonic() + RESORT_SECS

    def _order(self, indexes: range | list[int]) -> None:
        rules = self._config_rules
        self._rules = []
        for i in indexes:
            rule = rules[i]
            slow = rule.findall or bool(rule.grok.conversions)
            search = rule.grok.regex.search
            self._rules.append((search, rule.event_type, i, rule.grok.optional, slow))

    def _resort(self, now: float) -> None:
        hits = self._hits
        self._order(sorted(range(len(hits)), key=lambda i: -hits[i]))  # stable: ties by config
        self._hits = [0] * len(hits)
        self._next_sort = now + RESORT_SECS

    @property
    def _simple(self) -> bool:
        """The common case, with a loop of its own: the first match wins, no group needs a
        conversion or may be left out, the source is a top-level field, no hits to count."""
        return (
            self.options.break_on_match
            and not (self.options.hot_rules_first and len(self._rules) > 1)
            and not any(optional or slow for _, _, _, optional, slow in self._rules)
        )

    def _process_simple(self, events: Batch, key: str) -> Batch:
        rules = [(search, name) for search, name, _, _, _ in self._rules]
        unmatched_as, unmatched = self.options.mark_unmatched_as, 0
        for event in events:
            text = event.get(key, MISSING)
            if text.__class__ is not str:
                text = self._text_of(event, text)
                if text is None:
                    continue
            event_type = unmatched_as
            for search, name in rules:
                match = search(text)
                if match is not None:
                    event.update(match.groupdict())
                    event_type = name
                    break
            else:
                unmatched += 1
            meta = event.get(META)
            if meta.__class__ is dict:
                meta[EVENT_TYPE] = event_type
            else:
                set_event_type(event, event_type)
        if unmatched:
            self.stats.incr("unmatched", unmatched)
        return events

    def process(self, events: Batch) -> Batch:  # noqa: PLR0912 one loop: no per-event calls
        if self.options.hot_rules_first and (now := monotonic()) >= self._next_sort:
            self._resort(now)
        if self._simple and self._key is not None:
            return self._process_simple(events, self._key)
        rules, hits, key, path = self._rules, self._hits, self._key, self._path
        first_only = self.options.break_on_match
        unmatched_as = self.options.mark_unmatched_as
        unmatched = 0
        for event in events:
            text = event.get(key, MISSING) if key is not None else path.get(event)
            if text.__class__ is not str:
                text = self._text_of(event, text)
                if text is None:
                    continue
            matched = False
            for search, name, index, optional, slow in rules:
                match = search(text)
                if match is None:
                    continue
                hits[index] += 1
                if not slow:
                    values = match.groupdict()
                    for group in optional:
                        if values[group] is None:
                            del values[group]
                    event.update(values)
                else:
                    self._apply(event, self._config_rules[index], match, text)
                meta = event.get(META)
                if meta.__class__ is dict:
                    meta[EVENT_TYPE] = name
                else:
                    set_event_type(event, name)
                matched = True
                if first_only:
                    break
            if not matched:
                unmatched += 1
                set_event_type(event, unmatched_as)
        if unmatched:
            self.stats.incr("unmatched", unmatched)
        return events

    def _text_of(self, event: Event, value: Any) -> str | None:
        """The source value as text, or None after tagging the event."""
        field = self.options.source_field
        if isinstance(value, str):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as error:
                where = f"{error.reason} at byte {error.start}"
                self.fail(event, f"'{field}' is not valid UTF-8 ({where}); matched with U+FFFD")
                return raw.decode("utf-8", errors="replace")
        if value is MISSING:
            self.fail(event, f"'{field}' is missing")
        else:
            self.fail(event, f"'{field}' is {type(value).__name__}, not text")
        return None

    def _apply(self, event: Event, rule: Rule, match: re.Match[str], text: str) -> None:
        """The slow path: findall and type conversions."""
        values: dict[str, Any]
        if rule.findall:
            found: dict[str, list[str | None]] = {name: [] for name in rule.grok.regex.groupindex}
            for each in rule.grok.regex.finditer(text, match.start()):
                for name, value in each.groupdict().items():
                    found[name].append(value)
            values = {
                name: ["" if item is None else item for item in items]
                for name, items in found.items()
                if any(item is not None for item in items)
            }
        else:
            values = {k: v for k, v in match.groupdict().items() if v is not None}
        for name, kind in rule.grok.conversions.items():
            if name in values:
                values[name] = self._convert(event, name, values[name], kind)
        event.update(values)

    def _convert(self, event: Event, name: str, value: Any, kind: str) -> Any:
        convert = CONVERTERS[kind]
        try:
            if isinstance(value, list):
                return [convert(item) for item in value]
            return convert(value)
        except ValueError:
            self.fail(event, f"'{name}' value {str(value)[:40]!r} is not a valid {kind}")
            return value
