"""Errors and limits shared by the expression lexer, compiler and runtime."""

from __future__ import annotations

from typing import Final

MAX_LENGTH: Final = 10_000
"""Longest filter or expression accepted; configs are read by people, not generated."""

MAX_DEPTH: Final = 50
"""Deepest nesting accepted, so neither parsing nor evaluation can exhaust the stack."""


class ExpressionError(ValueError):
    """A config-time error: message plus 1-based column in the source text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column

    def __reduce__(self) -> tuple[type[ExpressionError], tuple[str, int]]:
        return type(self), (self.message, self.column)


class EvaluationError(ValueError):
    """A runtime error evaluating a compiled expression against one event."""
