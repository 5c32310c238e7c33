"""Recursive-descent parser for the filter grammar of CORE 4.5, plus arithmetic for Math.

Precedence, lowest first, as in Python: ``or``, ``and``, ``not``, comparisons (chained),
``+ -``, ``* / // %``, unary ``- +``, ``**``, then postfix ``.method(...)``. Every recursion
goes through ``_nested``, so a hostile config cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from gp_celery.expressions import build
from gp_celery.expressions.errors import MAX_DEPTH, MAX_LENGTH, ExpressionError
from gp_celery.expressions.lexer import END, FIELD, NAME, NUMBER, OP, STRING, Token, tokenize
from gp_celery.expressions.nodes import Node, constant, field
from gp_celery.expressions.runtime import FUNCTIONS, METHODS

_CONSTANTS: Final = {"True": True, "False": False, "None": None}
_HINTS: Final = {
    "true": "did you mean 'True'?",
    "false": "did you mean 'False'?",
    "none": "did you mean 'None'?",
    "null": "did you mean 'None'?",
    "lambda": "lambdas are not supported",
    "for": "comprehensions are not supported",
    "if": "conditional expressions are not supported",
    "else": "conditional expressions are not supported",
    "import": "imports are not supported",
}
_OPERATOR_WORDS: Final = frozenset({"and", "or", "in", "is", "not"})
_COMPARE: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ALLOWED: Final = ", ".join(FUNCTIONS)


class Parser:
    """Parses one source text into a Node; collects the field paths it references."""

    def __init__(self, text: str, *, missing_ok: bool) -> None:
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters", 1)
        self._source = tokenize(text)
        self._tokens: list[Token] = []
        self._pos = 0
        self._depth = 0
        self._missing_ok = missing_ok
        self.fields: dict[str, None] = {}  # insertion-ordered set

    def parse(self, *, allow_if: bool) -> Node:
        if allow_if and self._peek_name("if"):
            self._advance()
            if self._peek().kind == END:
                raise ExpressionError("expected an expression after 'if'", self._peek().column)
        try:
            node = self._expr()
        except RecursionError:  # MAX_DEPTH keeps us far below the limit; a deep caller may not
            raise ExpressionError("expression is nested too deeply", self._peek().column) from None
        if self._peek().kind != END:
            raise self._unexpected(self._peek())
        return node

    # --- token helpers -------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> Token:
        while len(self._tokens) <= self._pos + ahead:
            token = next(self._source, None)
            if token is None:  # past END: keep answering END
                return self._tokens[-1]
            self._tokens.append(token)
        return self._tokens[self._pos + ahead]

    def _advance(self) -> Token:
        token = self._peek()
        self._pos += 1
        return token

    def _peek_name(self, name: str, ahead: int = 0) -> bool:
        token = self._peek(ahead)
        return token.kind == NAME and token.value == name

    def _peek_op(self, *ops: str) -> bool:
        token = self._peek()
        return token.kind == OP and token.value in ops

    def _expect_op(self, op: str, context: str) -> Token:
        if not self._peek_op(op):
            token = self._peek()
            found = "end of text" if token.kind == END else repr(str(token.value))
            raise ExpressionError(f"expected '{op}' {context}, found {found}", token.column)
        return self._advance()

    @contextmanager
    def _nested(self, column: int) -> Iterator[None]:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested too deeply (limit {MAX_DEPTH})", column)
        try:
            yield
        finally:
            self._depth -= 1

    def _unexpected(self, token: Token) -> ExpressionError:
        if token.kind == END:
            return ExpressionError("unexpected end of expression", token.column)
        if token.kind == NAME and token.value in _HINTS:
            return ExpressionError(_HINTS[token.value], token.column)
        if token.kind == OP and token.value == "[":
            hint = "subscripts are not supported; use a dotted path such as $(list.0)"
            return ExpressionError(hint, token.column)
        if token.kind == OP and token.value == "(":
            return ExpressionError("only the whitelisted functions can be called", token.column)
        kind = "" if token.kind == OP else f"{token.kind} "
        return ExpressionError(f"unexpected {kind}{str(token.value)!r}", token.column)

    # --- grammar -------------------------------------------------------------------------

    def _expr(self) -> Node:
        return self._boolean("or", self._and)

    def _and(self) -> Node:
        return self._boolean("and", self._not)

    def _boolean(self, word: str, parse: Callable[[], Node]) -> Node:
        column = self._peek().column
        operands: list[Node] = [parse()]
        while self._peek_name(word):
            self._advance()
            operands.append(parse())
        return operands[0] if len(operands) == 1 else build.boolean(word, operands, column)

    def _not(self) -> Node:
        if self._peek_name("not"):
            token = self._advance()
            with self._nested(token.column):
                return build.negation(self._not(), token.column)
        return self._comparison()

    def _comparison(self) -> Node:
        column = self._peek().column
        operands = [self._arith()]
        ops: list[str] = []
        while op := self._comparison_op():
            ops.append(op)
            operands.append(self._arith())
        return build.compare(operands, ops, column) if ops else operands[0]

    def _comparison_op(self) -> str | None:
        token = self._peek()
        if token.kind == OP and token.value in _COMPARE:
            self._advance()
            return str(token.value)
        if self._peek_name("in"):
            self._advance()
            return "in"
        if self._peek_name("not") and self._peek_name("in", 1):
            self._pos += 2
            return "not in"
        if self._peek_name("is"):
            self._advance()
            if self._peek_name("not"):
                self._advance()
                return "is not"
            return "is"
        return None

    def _arith(self) -> Node:
        node = self._term()
        while self._peek_op("+", "-"):
            token = self._advance()
            node = build.binary(token.value, node, self._term(), token.column)
        return node

    def _term(self) -> Node:
        node = self._factor()
        while self._peek_op("*", "/", "//", "%"):
            token = self._advance()
            node = build.binary(token.value, node, self._factor(), token.column)
        return node

    def _factor(self) -> Node:
        if self._peek_op("-", "+"):
            token = self._advance()
            with self._nested(token.column):
                return build.unary(token.value, self._factor(), token.column)
        return self._power()

    def _power(self) -> Node:
        base = self._postfix()
        if not self._peek_op("**"):
            return base
        token = self._advance()
        with self._nested(token.column):
            return build.binary("**", base, self._factor(), token.column)

    def _postfix(self) -> Node:
        node = self._primary()
        while self._peek_op("."):
            self._advance()
            name = self._peek()
            if name.kind != NAME or name.value not in METHODS:
                allowed = ", ".join(METHODS)
                message = f"attribute {str(name.value)!r} is not allowed; methods: {allowed}"
                raise ExpressionError(message, name.column)
            self._advance()
            args = self._arguments(f"to call '.{name.value}'")
            node = build.method(name.value, node, args, name.column)
        if self._peek_op("[", "("):
            raise self._unexpected(self._peek())
        return node

    def _primary(self) -> Node:
        token = self._peek()
        if token.kind == FIELD:
            self._advance()
            self.fields[token.value] = None
            return field(token.value, token.column, missing_ok=self._missing_ok)
        if token.kind in (STRING, NUMBER):
            self._advance()
            return constant(token.value, token.column)
        if token.kind == NAME:
            return self._name()
        if self._peek_op("("):
            return self._parenthesised()
        if self._peek_op("["):
            return self._list()
        raise self._unexpected(token)

    def _name(self) -> Node:
        token = self._advance()
        name = token.value
        if name in _CONSTANTS:
            return constant(_CONSTANTS[name], token.column)
        if name in _OPERATOR_WORDS:
            raise ExpressionError(f"expected a value before {name!r}", token.column)
        if name == "re" and self._peek_op(".") and self._peek(1).kind == NAME:
            self._advance()
            name = f"re.{self._advance().value}"
        if name not in FUNCTIONS:
            hint = _HINTS.get(name, f"only True, False, None and the functions {_ALLOWED}")
            raise ExpressionError(f"{name!r} is not allowed: {hint}", token.column)
        return build.call(name, self._arguments(f"to call {name}()"), token.column)

    def _arguments(self, context: str) -> list[Node]:
        open_paren = self._expect_op("(", context)
        args: list[Node] = []
        with self._nested(open_paren.column):
            while not self._peek_op(")"):
                args.append(self._expr())
                if not self._peek_op(")"):
                    self._expect_op(",", "between arguments")
        self._advance()
        return args

    def _parenthesised(self) -> Node:
        open_paren = self._advance()
        if self._peek_op(")"):
            raise ExpressionError("empty parentheses: tuples are not supported", open_paren.column)
        with self._nested(open_paren.column):
            node = self._expr()
        if self._peek_op(","):
            raise ExpressionError("tuples are not supported; use a list", self._peek().column)
        self._expect_op(")", f"to close the '(' at column {open_paren.column}")
        return node

    def _list(self) -> Node:
        open_bracket = self._advance()
        elements: list[Node] = []
        with self._nested(open_bracket.column):
            while not self._peek_op("]"):
                elements.append(self._expr())
                if not self._peek_op("]"):
                    self._expect_op(",", "between list items")
        self._advance()
        return build.list_literal(elements, open_bracket.column)
