"""The format of a pipeline test file (``*.test.yml``), validated with every problem located.

Modelled on Benthos' config tests (a list of named cases beside the config, each run in
isolation) and Vector's unit tests (``insert_at`` a node; conditions on what comes out)::

    config: access.yml            # default: this file's name without .test
    environment: {GP_OUT_DIR: /tmp}
    tests:
      - name: an access line is parsed
        raw: ['1.2.3.4 - - [...] "GET / HTTP/1.0" 200 3395']
        expect:
          - reaches: StdOutSink
            fields: {remote_ip: 1.2.3.4, gambolputty.event_type: httpd_access_log}
      - name: garbage is tagged, not lost
        insert_at: RegexParser
        events: [{data: garbage}]
        expect: [{tagged: RegexParser}]
      - name: debug lines are dropped
        raw: [DEBUG x]
        dropped: true
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from gp_celery.config.locate import Locator
from gp_celery.config.problems import Problem, shorten
from gp_celery.config.source import Source, YamlSyntaxError, parse_yaml
from gp_celery.event import FieldPath


def _field_path(value: Any) -> FieldPath:
    if not isinstance(value, str):
        raise ValueError(f"expected a field name, got {shorten(value)}")
    return FieldPath(value)  # ValueError 'invalid field path' for '', 'a..b'


FieldName = Annotated[FieldPath, PlainValidator(_field_path)]


def _as_text(value: Any) -> Any:
    """``PORT: 5151`` means the text a shell variable would hold."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Expected(_Model):
    """One event that comes out of the pipeline; only what is named is compared."""

    reaches: str | None = None
    """The sink (or last node of a branch) the event arrives at; unset: any."""
    fields: dict[str, Any] = {}
    """Dotted field path -> value the event must hold (compared with ==, types too)."""
    absent: list[FieldName] = []
    """Fields the event must not have."""
    tagged: bool | str | None = None
    """true: tagged with an error by any node; false: not tagged; a node id: tagged by it."""

    @model_validator(mode="after")
    def _field_names_are_paths(self) -> Expected:
        for name in self.fields:
            _field_path(name)
        return self


class Case(_Model):
    """One test: what goes in, where, and what must come out."""

    name: Annotated[str, Field(min_length=1)]
    """What the case shows, printed with its result."""
    config: str | None = None
    """This case's config (relative to the test file); unset: the file's ``config``."""
    insert_at: str | None = None
    """Node id the input enters at; unset: the first input, else the first node."""
    events: list[dict[str, Any]] | None = None
    """Events as maps (``data`` and any fields); metadata is added where missing."""
    raw: str | bytes | list[str | bytes] | None = None
    """What arrives at an input, cut by its framing: a list of records (lines, datagrams),
    or one text as it arrives in one read. At a node that is not an input: lines."""
    expect: list[Expected] | None = None
    """Every event that comes out, in order: by the node it reaches (a sink, or the last
    node of a branch) in the order of the config file, then in order of arrival."""
    dropped: bool = False
    """true: nothing comes out (every event dropped, or filtered away before the sinks)."""

    @model_validator(mode="after")
    def _one_input_one_outcome(self) -> Case:
        if (self.events is None) == (self.raw is None):
            raise ValueError("give either 'events' or 'raw'")
        if self.dropped and self.expect:
            raise ValueError("give either 'expect' or 'dropped: true', not both")
        if not self.dropped and self.expect is None:
            raise ValueError("say what comes out: 'expect: [...]' or 'dropped: true'")
        return self


class TestFile(_Model):
    """A test file's top level; its cases are validated one by one (Case)."""

    __test__ = False  # not a pytest class

    config: str | None = None
    """The config under test (relative to this file); default: this file's name without
    ``.test`` (``access.test.yml`` tests ``access.yml``)."""
    environment: dict[str, Annotated[str, BeforeValidator(_as_text)]] = {}
    """Environment variables set for the config's ``${VAR}``s, over the process's own."""
    tests: Annotated[list[Any], Field(min_length=1)]
    """The cases."""


class TestFileError(Exception):
    """The test file cannot be read or has problems; ``problems`` lists them all."""

    __test__ = False

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def default_config(test_file: Path) -> Path:
    """``x.test.yml`` -> ``x.yml`` (or ``x.yaml`` when only that exists)."""
    stem = test_file.name.removesuffix(test_file.suffix).removesuffix(".test")
    for suffix in (test_file.suffix, ".yml", ".yaml"):
        candidate = test_file.with_name(stem + suffix)
        if candidate.exists() and candidate != test_file:
            return candidate
    return test_file.with_name(stem + ".yml")


def load_tests(path: Path) -> tuple[TestFile, list[Case], Source]:
    """Read and validate a test file; TestFileError lists every problem with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TestFileError([Problem(str(path), 1, message=f"cannot read: {error}")]) from None
    try:
        source = parse_yaml(text, str(path))
    except YamlSyntaxError as error:
        raise TestFileError([error.problem]) from None
    if not isinstance(source.data, dict):
        kind = "an empty file" if source.data is None else type(source.data).__name__
        message = f"expected a map with 'tests: [...]', got {kind}"
        raise TestFileError([Problem(str(path), 1, message=message)])
    problems: list[Problem] = []
    try:
        top = TestFile.model_validate(source.data)
    except ValidationError as error:
        problems += Locator(source, (), "", source.data).problems(error, TestFile)
        raise TestFileError(problems) from None
    cases = []
    for index, item in enumerate(top.tests):
        name = item.get("name") if isinstance(item, dict) else None
        label = f"test '{name}'" if isinstance(name, str) and name else f"test {index + 1}"
        if not isinstance(item, dict):
            line = source.line(("tests", index))
            problems.append(Problem(str(path), line, label, "", "expected a map"))
            continue
        try:
            cases.append(Case.model_validate(item))
        except ValidationError as error:
            problems += Locator(source, ("tests", index), label, item).problems(error, Case)
    if problems:
        raise TestFileError(problems)
    return top, cases, source
