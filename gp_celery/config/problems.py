"""Configuration problems, collected so that every one is reported at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One problem: ``FILE:LINE: NODE: OPTION: message``, sortable by position."""

    file: str
    line: int
    node: str = ""
    option: str = ""
    message: str = ""

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}"]
        parts += [part for part in (self.node, self.option) if part]
        return ": ".join([*parts, self.message])


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every reason, sorted."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(problem) for problem in self.problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def shorten(value: object, limit: int = 60) -> str:
    """A repr short enough for a one-line error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
