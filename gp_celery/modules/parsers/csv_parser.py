"""CsvParser: a delimiter-separated string into named fields."""

from __future__ import annotations

import csv
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from gp_celery.event import Batch, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.text import RESERVED_KEYS, text_of
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName


def _one_character(value: str) -> str:
    if len(value) != 1:
        raise ValueError(f"expected one character, got {value!r}")
    if value in "\r\n":
        raise ValueError("a line break cannot be a CSV special character")
    return value


Character = Annotated[str, AfterValidator(_one_character)]


def _field_names(names: tuple[str, ...]) -> tuple[str, ...]:
    reserved = [name for name in names if name in RESERVED_KEYS]
    if reserved:
        raise ValueError(f"'{reserved[0]}' is the event's metadata, not a field name for a value")
    return names


class CsvParserOptions(Options):
    source_field: FieldName = "data"
    """Field holding the delimited text."""
    escapechar: Character | None = "\\"
    """Character that makes the next one literal (None: no escaping)."""
    skipinitialspace: bool = False
    """Ignore spaces right after a delimiter."""
    quotechar: Character = '"'
    """Character that quotes values holding the delimiter or line breaks."""
    delimiter: Character = "|"
    """Character between values (GambolPutty's default is '|', not ',')."""
    fieldnames: Annotated[tuple[str, ...], AfterValidator(_field_names)] = Field(min_length=1)
    """Required. Name of each value in order; surplus values are ignored."""


@register
class CsvParser(Parser[CsvParserOptions]):
    """Split a delimiter-separated string into the named fields fieldnames lists.

    The source is read with Python's csv module: value *i* goes to the top-level field
    ``fieldnames[i]`` as a string; surplus values are ignored (counted as
    ``surplus_values``), missing ones leave their field unset. Text with several rows (line
    breaks outside quotes) writes every row in turn, so later rows overwrite earlier ones,
    as in GambolPutty.

    Differences from GambolPutty: the options are plain values, not $(field) templates
    (a per-event delimiter is not something a log has). A source that is not text, is
    invalid UTF-8, or has a value over 131,072 characters (the csv module's limit) tags
    the event, which goes on without the fields (GambolPutty logged a warning or
    crashed). Fieldnames are literal top-level keys (a dot is part of the name, as in
    GambolPutty); 'gambolputty' and 'lumbermill' are refused at load, so a value cannot
    replace the metadata.
    An event without the source field goes on untouched (counted as ``missing_source``).
    """

    aliases = ("parser.Csv", "CSVParser")
    examples = [
        Example(
            options={
                "source_field": "csv-data",
                "delimiter": ";",
                "fieldnames": ["gumby", "brain", "specialist", "doctor", "surgeon"],
            },
            given=[{"csv-data": "It's;just;a;flesh;wound."}],
            expect=[
                {
                    "gumby": "It's",
                    "brain": "just",
                    "specialist": "a",
                    "doctor": "flesh",
                    "surgeon": "wound.",
                }
            ],
        ),
        Example(
            options={"delimiter": ",", "fieldnames": ["host", "message"]},
            given=[{"data": 'web1,"GET /a, then /b"'}],
            expect=[{"host": "web1", "message": "GET /a, then /b"}],
            note="Quoted values may hold the delimiter.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._path = field_path(options.source_field)
        self._names = options.fieldnames
        self._dialect: dict[str, Any] = {
            "delimiter": options.delimiter,
            "quotechar": options.quotechar,
            "escapechar": options.escapechar,
            "skipinitialspace": options.skipinitialspace,
        }

    def process(self, events: Batch) -> Batch:
        names = self._names
        for event in events:
            text = text_of(self, event, self._path)
            if text is None:
                continue
            try:
                rows = list(csv.reader(text.splitlines(keepends=True), **self._dialect))
            except csv.Error as error:
                self.fail(event, f"'{self._path.dotted}' is not valid CSV: {error}")
                continue
            for row in rows:
                if len(row) > len(names):
                    self.stats.incr("surplus_values")
                event.update(zip(names, row, strict=False))
        return events
