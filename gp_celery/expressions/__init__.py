"""The safe filter language, Math expressions and ``$(field)`` templates, compiled at load.

GambolPutty turned filters into Python source and ``eval``'d them (CORE 4.2), so any config
could run any code. Here a hand-written lexer and recursive-descent parser (grammar: CORE 4.5
plus arithmetic) compile the text into closures; nothing outside the whitelist in
``runtime.py`` can be reached, and there is no ``eval``, ``exec`` or ``compile``.
"""

from __future__ import annotations

from gp_celery.expressions.compiled import Expression, Filter, compile_expression, compile_filter
from gp_celery.expressions.errors import EvaluationError, ExpressionError
from gp_celery.expressions.templates import Template, compile_template, compile_value

__all__ = [
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "Filter",
    "Template",
    "compile_expression",
    "compile_filter",
    "compile_template",
    "compile_value",
]
