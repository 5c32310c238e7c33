"""RegexParser: named-group regexes (with grok references) name the event type."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any, Final

from pydantic import Field, model_validator

from gp_celery.event import EVENT_TYPE, META, MISSING, Batch, Event, field_path, set_event_type
from gp_celery.modules.base import Options, OptionWarning, Parser
from gp_celery.modules.parsers.regex_parser.budget import BudgetedRegex, OverBudgetError
from gp_celery.modules.parsers.regex_parser.examples import EXAMPLES
from gp_celery.modules.parsers.regex_parser.re2_engine import NotForRe2
from gp_celery.modules.parsers.regex_parser.rules import (
    Engine,
    MatchLike,
    Rule,
    Rules,
    Searcher,
    parse_rules,
)
from gp_celery.modules.parsers.text import as_text
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

__all__ = ["RegexParser", "RegexParserOptions", "Rule", "parse_rules"]

RESORT_SECS: Final = 10.0
"""How often hot_rules_first re-sorts the patterns (GambolPutty's interval)."""

DEFAULT_MAX_INPUT_BYTES: Final = 65536
"""Far above a log line (an access-log line is about 230 bytes), small enough to keep a
polynomial blow-up on ``re`` short. GambolPutty matched text of any length."""

CONVERTERS: Final[Mapping[str, Callable[[str], Any]]] = {"int": int, "float": float}


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
    engine: Engine = "auto"
    """auto (default): RE2 for patterns that may backtrack catastrophically, else re."""
    max_input_bytes: int = Field(DEFAULT_MAX_INPUT_BYTES, ge=0)
    """Longer source text is tagged, not matched (default 65536; 0: no limit)."""
    match_budget_secs: float = Field(1.0, ge=0)
    """Risky patterns left on re: seconds per match, then tagged (default 1; 0: none)."""

    @model_validator(mode="after")
    def _re2_can_run_every_pattern(self) -> RegexParserOptions:
        if self.engine == "re2":
            for rule in self.field_extraction_patterns:
                if isinstance(rule.re2_pattern, NotForRe2):
                    raise ValueError(
                        f"engine re2: pattern {rule.event_type!r} needs re: {rule.re2_pattern}"
                    )
        return self


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

    Backtracking (GambolPutty had no guard). ``re`` backtracks: on a line that almost matches,
    ``(a+)+$`` takes time exponential in the line's length, and a running ``re`` match cannot
    be interrupted, so one such line holds a worker. ``gp-celery check`` warns about every
    pattern with such a shape (nested quantifiers, overlapping alternatives under a repeat)
    and ``run`` logs the warning once. ``engine: auto`` runs those patterns on RE2 (linear in
    the text's length) when RE2 can run them with the same meaning, and every other pattern
    on ``re``, which is 5 to 15 times faster on typical log patterns (RE2's Python binding
    costs more per call). ``engine: re2`` runs every pattern on RE2 (one that needs ``re``:
    lookaround, backreferences, atomic groups, is a config error); ``engine: re``, every
    pattern on ``re``.

    What is guaranteed: a pattern on RE2 takes time linear in the text, and the text is at
    most ``max_input_bytes`` (UTF-8); longer source text is tagged and not matched, its event
    type untouched. A risky pattern that stays on ``re`` gets ``match_budget_secs`` per match:
    a ``SIGALRM`` timer stops the match (``re`` checks for signals as it runs), the event is
    tagged and the next pattern is tried. What is not: the budget works only in the main
    thread (where workers and ``run`` process batches) and not while something else in the
    process uses ``ITIMER_REAL``; it costs two system calls per match, so patterns the shape
    check passes run without it. That check is a heuristic: a pattern it passes may still be
    slow on ``re``, bounded then only by ``max_input_bytes``, which tames polynomial cases
    (``.*a.*a.*a``) but not exponential ones (40 characters suffice for ``(a+)+$``).
    """

    aliases = ("parser.Regex",)
    examples = EXAMPLES

    @classmethod
    def option_warnings(cls, options: RegexParserOptions) -> list[OptionWarning]:
        return [
            OptionWarning(("field_extraction_patterns", *rule.where), message)
            for rule in options.field_extraction_patterns
            if (
                message := rule.warning(
                    options.engine, options.max_input_bytes, options.match_budget_secs
                )
            )
        ]

    def setup(self) -> None:
        options = self.options
        self._config_rules = options.field_extraction_patterns
        self._searchers = [self._compile(rule) for rule in self._config_rules]
        limit = options.max_input_bytes
        self._max_chars = limit // 4 if limit else sys.maxsize  # shorter: surely under limit
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
            search = self._searchers[i].search
            self._rules.append((search, rule.event_type, i, rule.grok.optional, slow))

    def _compile(self, rule: Rule) -> Searcher:
        engine = rule.engine(self.options.engine)
        try:
            searcher = rule.compile(self.options.engine)
        except NotForRe2 as error:
            if self.options.engine == "re2":
                raise
            self.log.warning("%s: pattern %r stays on re: %s", self.label, rule.event_type, error)
            searcher, engine = rule.grok.regex, "re"
        budget = self.options.match_budget_secs
        if engine == "re" and rule.risks and budget:
            self.log.debug(
                "%s: pattern %r runs on re, %g s a match.", self.label, rule.event_type, budget
            )
            return BudgetedRegex(rule.grok.regex, budget)
        self.log.debug("%s: pattern %r runs on %s.", self.label, rule.event_type, engine)
        return searcher

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
        unmatched_as, unmatched, max_chars = self.options.mark_unmatched_as, 0, self._max_chars
        for event in events:
            text = event.get(key, MISSING)
            if text.__class__ is not str:
                text = self._text_of(event, text)
                if text is None:
                    continue
            if len(text) > max_chars and self._oversize(event, text):
                continue
            event_type = unmatched_as
            for search, name in rules:
                try:
                    match = search(text)
                except OverBudgetError:
                    self._over_budget(event, name)
                    continue
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
        unmatched, max_chars = 0, self._max_chars
        for event in events:
            text = event.get(key, MISSING) if key is not None else path.get(event)
            if text.__class__ is not str:
                text = self._text_of(event, text)
                if text is None:
                    continue
            if len(text) > max_chars and self._oversize(event, text):
                continue
            matched = False
            for search, name, index, optional, slow in rules:
                try:
                    match = search(text)
                except OverBudgetError:
                    self._over_budget(event, name)
                    continue
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
                    self._apply(event, index, match, text)
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
        return as_text(self, event, self.options.source_field, value, lossy="matched")

    def _over_budget(self, event: Event, name: str) -> None:
        budget = self.options.match_budget_secs
        self.fail(event, f"pattern {name!r} took over {budget:g} s on this text; stopped")

    def _oversize(self, event: Event, text: str) -> bool:
        """Is the text over max_input_bytes? If so the event is tagged."""
        limit = self.options.max_input_bytes
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if size <= limit:
            return False
        field = self.options.source_field
        self.fail(event, f"'{field}' is {size} bytes, over max_input_bytes ({limit}); not matched")
        return True

    def _apply(self, event: Event, index: int, match: MatchLike, text: str) -> None:
        """The slow path: findall and type conversions."""
        rule, searcher = self._config_rules[index], self._searchers[index]
        values: dict[str, Any]
        if rule.findall:
            found: dict[str, list[str | None]] = {name: [] for name in searcher.groupindex}
            try:
                matches = list(searcher.finditer(text, match.start()))
            except OverBudgetError:
                self._over_budget(event, rule.event_type)
                matches = []
            for each in matches:
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
