"""StdOutSink: print events to standard output, a whole batch per write."""

from __future__ import annotations

import pprint
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationInfo, field_validator, model_validator

from gp_celery.event import MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Failure, Options, OutputClosedError, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.encoding import encode_json_lines, is_retriable
from gp_celery.modules.types import FieldNames, Template


class StdOutSinkOptions(Options):
    pretty_print: bool = True
    """Print each event as a sorted, wrapped Python repr (not JSON); False: one-line repr."""
    format: Template | None = None
    """Print this template per event instead (a missing field renders as '')."""
    parser: Any = None
    """Accepted for GambolPutty configs and unused, as in GambolPutty."""
    json_lines: bool = False
    """Print each event as one JSON line (overrides pretty_print)."""
    fields: FieldNames | None = None
    """Print only these fields (LumberMill); a missing one is left out. None: the whole event."""

    @model_validator(mode="after")
    def _one_output_form(self) -> StdOutSinkOptions:
        if self.json_lines and self.format is not None:
            raise ValueError("set 'format' or 'json_lines: true', not both")
        return self

    @field_validator("fields")
    @classmethod
    def _not_with_format(cls, fields: Any, info: ValidationInfo) -> Any:
        if fields is not None and info.data.get("format") is not None:
            raise ValueError("set 'format' or 'fields', not both (format picks its own fields)")
        return fields


def _pretty(event: Event) -> str:
    return pprint.pformat(event, width=80, sort_dicts=True) + "\n"


def _one_line(event: Event) -> str:
    return f"{event!r}\n"


@register
class StdOutSink(Sink[StdOutSinkOptions]):
    """Print events to stdout: Python repr (pretty or one line), a template, or JSON.

    ``pretty_print`` (the default) prints ``pprint.pformat(event, width=80, sort_dicts=True)``:
    Python 3's repr, so strings are quoted with ' and there is no u'' prefix. It is not JSON;
    use ``json_lines: true`` for JSON, one line per event. The layout matches the seed
    README's documented output (GambolPutty's code used indent=4; its README shows indent 1).
    ``pretty_print: false`` prints the one-line repr; ``format`` prints the rendered template.
    ``parser`` is accepted and unused, as in GambolPutty. ``fields`` (LumberMill) prints a
    map of just those fields, keyed by the names as written (dotted names reach into dicts);
    it works with every form but ``format``. LumberMill printed nothing at all with
    ``pretty_print: false``; this prints the one-line repr, as GambolPutty did.

    A batch is printed with one write and one flush. A closed pipe (``| head``) makes the
    batch a non-retriable failure; an event whose repr fails (an int of more than 4300
    digits, absurd nesting) fails alone.
    """

    aliases = ("output.StdOut",)
    examples = [
        Example(
            options={"format": "$(data) - $(gambolputty.event_type)"},
            given=[{"data": "One thing is for sure; a sheep is not a creature of the air."}],
            expect=[
                {"data": "One thing is for sure; a sheep is not a creature of the air. - Unknown"}
            ],
            note="Prints one line per event: the rendered format.",
        ),
        Example(
            options={"json_lines": True, "fields": ["remote_ip", "http_status"]},
            given=[{"remote_ip": "192.168.2.20", "http_status": "200", "bytes_send": "3395"}],
            expect=[{"remote_ip": "192.168.2.20", "http_status": "200"}],
            note="Prints one JSON line per event, with only the listed fields.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._line: Callable[[Event], str]
        if options.format is not None:
            render = options.format.render
            self._line = lambda event: render(event) + "\n"
        else:
            self._line = _pretty if options.pretty_print else _one_line

    def _selected(self, events: Batch) -> Batch:
        """Each event cut down to the ``fields`` option (the events themselves stay whole)."""
        paths = [field_path(name) for name in self.options.fields or ()]
        return [
            {path.dotted: value for path in paths if (value := path.get(event)) is not MISSING}
            for event in events
        ]

    def _text(self, events: Batch) -> tuple[str, list[Failure]]:
        """The text to print, and the events that cannot be shown (left out of it)."""
        if self.options.fields is not None:
            events = self._selected(events)
        if self.options.json_lines:
            payload, bad = encode_json_lines(events)
            return payload.decode("utf-8"), [Failure(i, reason, False) for i, reason in bad]
        lines, failed = [], []
        for index, event in enumerate(events):
            try:
                lines.append(self._line(event))
            except (ValueError, RecursionError) as error:
                failed.append(Failure(index, f"cannot print the event: {error}", False))
        return "".join(lines), failed

    def write(self, events: Batch) -> list[Failure]:
        text, failures = self._text(events)
        out = sys.stdout  # looked up now, so redirection and test capture work
        try:
            try:
                out.write(text)
            except UnicodeEncodeError:  # a lone surrogate on a strict terminal
                encoding = out.encoding or "utf-8"
                out.write(text.encode(encoding, "backslashreplace").decode(encoding))
            out.flush()
        except BrokenPipeError as error:
            raise OutputClosedError("stdout is closed (broken pipe)") from error
        except OSError as error:
            reason = f"stdout: {error}"
            unshown = {failure.index for failure in failures}
            retriable = is_retriable(error)
            failures += [
                Failure(i, reason, retriable) for i in range(len(events)) if i not in unshown
            ]
        return failures
