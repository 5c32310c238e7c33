"""RegexParser's field_extraction_patterns: parsed, compiled, checked for backtracking, and
given an engine (``re`` or RE2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import PlainValidator, WithJsonSchema

from gp_celery.modules.parsers.grok import CompiledGrok, compile_grok
from gp_celery.modules.parsers.regex_parser.re2_engine import NotForRe2, Re2Regex, to_re2
from gp_celery.modules.parsers.regex_parser.safety import Risk, find_risks

MATCH_TYPES: Final = ("search", "findall")

Engine = Literal["auto", "re", "re2"]


class MatchLike(Protocol):
    def groupdict(self) -> dict[str, Any]: ...
    def start(self) -> int: ...


class Searcher(Protocol):
    """What the parser needs of a compiled pattern: ``re.Pattern`` or ``Re2Regex``."""

    @property
    def groupindex(self) -> Any: ...
    def search(self, text: str, /) -> MatchLike | None: ...
    def finditer(self, text: str, pos: int, /) -> Iterator[MatchLike]: ...


@dataclass(frozen=True)
class Rule:
    """One entry of field_extraction_patterns, compiled."""

    event_type: str
    grok: CompiledGrok
    findall: bool = False
    where: tuple[str | int, ...] = ()
    """Its place under field_extraction_patterns: (entry index, event type) in a list,
    (event type,) in a map."""

    @cached_property
    def risks(self) -> tuple[Risk, ...]:
        """Catastrophic-backtracking shapes (regex_parser.safety)."""
        return tuple(find_risks(self.grok.regex.pattern, self.grok.regex.flags))

    @cached_property
    def re2_pattern(self) -> str | NotForRe2:
        """The pattern in RE2 syntax, or why RE2 cannot run it."""
        try:
            return to_re2(self.grok.regex.pattern, self.grok.regex.flags)
        except NotForRe2 as error:
            return error

    def engine(self, choice: Engine) -> Literal["re", "re2"]:
        """``auto``: RE2 only for a pattern with a risky shape that RE2 can run. RE2 is linear
        but, through its Python binding, 5 to 15 times slower than ``re`` on a typical
        access-log pattern, so patterns without a risky shape stay on ``re``."""
        if choice != "auto":
            return choice
        return "re2" if self.risks and isinstance(self.re2_pattern, str) else "re"

    def compile(self, choice: Engine) -> Searcher:
        if self.engine(choice) == "re":
            return self.grok.regex
        pattern = self.re2_pattern
        if isinstance(pattern, NotForRe2):
            raise pattern
        return Re2Regex(pattern)

    def warning(self, choice: Engine, max_input_bytes: int, budget_secs: float) -> str | None:
        """What ``check`` says about a risky pattern, and what happens to it at run time."""
        if not self.risks:
            return None
        risks = "; ".join(str(risk) for risk in self.risks)
        said = f"pattern {self.event_type!r} may backtrack catastrophically ({risks})"
        if self.engine(choice) == "re2":
            return f"{said}; it runs on RE2 (linear time, slower than re)"
        if choice == "re":
            why = "engine: re runs it as written"
        else:
            why = f"it runs on re because RE2 cannot ({self.re2_pattern})"
        if budget_secs:
            guard = (
                f"a match that takes over match_budget_secs ({budget_secs:g}) is stopped and "
                "its event tagged (main thread only)"
            )
        else:
            bound = f"max_input_bytes ({max_input_bytes})" if max_input_bytes else "nothing"
            guard = f"one hostile line can hold a worker, bounded only by {bound}"
        fixes = "make the inner repeat atomic (?>...) or possessive (a++)"
        if isinstance(self.re2_pattern, str):
            fixes += ", or set engine: auto or re2"
        return f"{said}; {why}: {guard}; {fixes}"


def _rule(event_type: Any, spec: Any, where: tuple[str | int, ...]) -> Rule:
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
    return Rule(event_type, compile_grok(pattern, flags), match_type == "findall", where)


def parse_rules(value: Any) -> tuple[Rule, ...]:
    """A list of ``{event_type: pattern}`` maps (GambolPutty) or one such map."""
    if isinstance(value, tuple) and all(isinstance(rule, Rule) for rule in value):
        return value
    in_list = not isinstance(value, dict)
    items = value if in_list else [value]
    if not isinstance(items, list) or not items:
        raise ValueError("expected a non-empty list of '- event_type: pattern' entries")
    rules = []
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            raise ValueError(f"entry {position}: expected '- event_type: pattern', got {item!r}")
        for event_type, spec in item.items():
            where = (position, event_type) if in_list else (event_type,)
            try:
                rules.append(_rule(event_type, spec, where))
            except ValueError as error:
                raise ValueError(f"entry {position} ({event_type!r}): {error}") from None
    return tuple(rules)


Rules = Annotated[
    tuple[Rule, ...],
    PlainValidator(parse_rules),
    WithJsonSchema({"type": "array", "items": {"type": "object"}}),
]
