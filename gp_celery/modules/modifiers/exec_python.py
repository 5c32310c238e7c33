"""ExecPython: run the config's own Python code on each event, only when the config opts in."""

from __future__ import annotations

import importlib
import importlib.util
import textwrap
from types import CodeType
from typing import Any, Final

from pydantic import AliasChoices, Field, field_validator, model_validator

from gp_celery.event import Batch
from gp_celery.expressions import ExpressionError
from gp_celery.modules.base import Example, Modifier, Options
from gp_celery.modules.registry import register
from gp_celery.modules.types import TextError

OPT_IN: Final = "i_understand_this_runs_arbitrary_code"
FUNCTION: Final = "_exec_python"
INDENT: Final = "    "
MAX_MESSAGE: Final = 300
"""Longest exception message kept in a tag."""


def wrapped(source: str) -> str:
    """The user's code as the body of ``def _exec_python(event):``, as GambolPutty did.

    Code indented for GambolPutty (a first comment line, then indented code) and plain
    unindented code both work: every line is indented the same, comments are ignored.
    """
    return f"def {FUNCTION}(event):\n{textwrap.indent(source, INDENT, lambda _line: True)}"


def compile_code(source: str, name: str = "<ExecPython>") -> CodeType:
    """Compile once; a syntax error is located in ``source`` for the config loader."""
    try:
        return compile(wrapped(source), name, "exec")
    except SyntaxError as error:
        line = (error.lineno or 2) - 1  # the def line is ours
        lines = source.splitlines(keepends=True)
        column = max((error.offset or 1) - len(INDENT), 1)
        index = sum(len(text) for text in lines[: max(line - 1, 0)]) + column
        message = f"{error.msg} (line {line} of the code)"
        raise TextError("code", ExpressionError(message, min(index, len(source) or 1))) from None


class ExecPythonOptions(Options):
    source: str = Field(validation_alias=AliasChoices("source", "code"))
    """The code, run as the body of a function of 'event' (a dict changed in place);
    LumberMill's README calls it 'code'."""
    imports: list[str] = []
    """Modules imported once per process and visible to the code, e.g. [math, re]."""
    debug: bool = False
    """Log the function built from the code when the node starts."""
    i_understand_this_runs_arbitrary_code: bool = False
    """Must be true: the code can do anything the worker's user can."""

    @field_validator("source")
    @classmethod
    def _compiles(cls, source: str) -> str:
        compile_code(source)
        return source

    @field_validator("imports")
    @classmethod
    def _importable(cls, names: list[str]) -> list[str]:
        for name in names:
            if not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a module name")
            try:
                found = importlib.util.find_spec(name)
            except ImportError:  # a parent package that is missing
                found = None
            if found is None:
                raise ValueError(f"no module named {name!r}")
        return names

    @model_validator(mode="after")
    def _opted_in(self) -> ExecPythonOptions:
        if not self.i_understand_this_runs_arbitrary_code:
            raise ValueError(
                "ExecPython runs arbitrary Python code from this config on the workers; "
                f"set '{OPT_IN}: true' on this node to allow it"
            )
        return self


@register
class ExecPython(Modifier[ExecPythonOptions]):
    """Run the config's own Python code on each event (needs an explicit opt-in).

    The code is the body of a function called with ``event``, the event's dict, which it
    changes in place; the event then goes on (rebinding ``event`` changes nothing, as in
    GambolPutty). Names from ``imports`` are visible. The code is compiled when the config
    loads, so a syntax error is reported by ``gp-celery check`` at its line in the file.
    Each call gets fresh local names; nothing the code keeps is shared between processes.

    This is the one module that runs code from the config, so it runs only when the node
    says ``i_understand_this_runs_arbitrary_code: true``; otherwise the config is refused.
    Anyone who can change the config can then run anything as the worker's user.

    An exception in the code tags the event (with the exception's type and message) and
    it goes on; the batch goes on too, and a warning is logged at most every 10 seconds.

    Differences from GambolPutty: the opt-in; the code may be written without the leading
    comment and indentation GambolPutty needed (its indented form still works); failures
    tag the event instead of only logging; a ``SystemExit`` from the code tags the event
    instead of stopping the process.
    """

    aliases = ("modifier.ExecPython",)
    examples = [
        Example(
            options={
                "imports": ["math"],
                "source": "event['request_time'] = math.ceil(float(event['request_time']) * 1000)",
                OPT_IN: True,
            },
            given=[{"request_time": "0.0125"}],
            expect=[{"request_time": 13}],
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._globals: dict[str, Any] = {"__builtins__": __builtins__}
        for name in options.imports:
            module = importlib.import_module(name)
            top = name.split(".")[0]
            self._globals[top] = module if top == name else importlib.import_module(top)
        if options.debug:
            self.log.info("%s: runs\n%s", self.label, wrapped(options.source))
        namespace = dict(self._globals)
        exec(compile_code(options.source, f"<{self.label}>"), namespace)  # noqa: S102 - opted in
        self._function = namespace[FUNCTION]

    def process(self, events: Batch) -> Batch:
        function = self._function
        for event in events:
            try:
                function(event)
            except (Exception, SystemExit) as error:  # noqa: BLE001 - user code raises anything
                kind = type(error).__name__
                self.fail(event, f"the code raised {kind}: {_message(error)}")
                # the type only: an exception's message may quote the event's data
                self.warn_limited(kind, "the code raised %s; the event is tagged.", kind)
        return events


def _message(error: BaseException) -> str:
    """The exception's message, shortened; its own __str__ may fail (it is user code)."""
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a user-defined __str__ can raise anything
        return "(its message could not be read)"
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."
