"""`gp-celery test`: plan the files, run each case on its own harness, print diffs."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.text import Text

from gp_celery.config import ConfigError, PipelineConfig, Problem, load_config
from gp_celery.config.problems import did_you_mean
from gp_celery.config.source import Source
from gp_celery.pipeline import PlannedModuleError
from gp_celery.tools.pipeline_tests.compare import Difference, compare
from gp_celery.tools.pipeline_tests.harness import Harness, RawInputError
from gp_celery.tools.pipeline_tests.schema import (
    Case,
    TestFile,
    TestFileError,
    default_config,
    load_tests,
)

EXIT_PASSED, EXIT_FAILED, EXIT_UNRUNNABLE = 0, 1, 2


@dataclass
class Outcome:
    case: Case
    line: int
    differences: list[Difference] = field(default_factory=list)
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.differences and not self.error


@dataclass
class Planned:
    """A test file, validated, with its cases' configs loaded and node names checked."""

    path: Path
    cases: list[tuple[Case, int, PipelineConfig]]


def _config_of(top: TestFile, case: Case, path: Path) -> Path:
    written = case.config or top.config
    return path.parent / written if written else default_config(path)


def _node_problems(case: Case, index: int, config: PipelineConfig, source: Source) -> list[Problem]:
    ids = [node.id for node in config.nodes]
    wanted: list[tuple[tuple[str | int, ...], str]] = []
    if case.insert_at is not None:
        wanted.append((("insert_at",), case.insert_at))
    for number, expected in enumerate(case.expect or []):
        if expected.reaches is not None:
            wanted.append((("expect", number, "reaches"), expected.reaches))
        if isinstance(expected.tagged, str):
            wanted.append((("expect", number, "tagged"), expected.tagged))
    problems = []
    for sub, node_id in wanted:
        if node_id not in ids:
            line = source.line(("tests", index, *sub))
            option = ".".join(str(part) for part in sub if isinstance(part, str))
            message = f"no node '{node_id}' in {config.file}{did_you_mean(node_id, ids)}"
            problems.append(Problem(source.file, line, f"test '{case.name}'", option, message))
    return problems


def plan(path: Path) -> Planned:
    """Validate a test file and load its configs; TestFileError lists every problem."""
    top, cases, source = load_tests(path)
    environ = {**os.environ, **top.environment}
    configs: dict[Path, PipelineConfig] = {}
    problems: list[Problem] = []
    planned = []
    for index, case in enumerate(cases):
        config_path = _config_of(top, case, path)
        if config_path not in configs:
            try:
                configs[config_path] = load_config(config_path, environ)
            except ConfigError as error:
                problems += error.problems
                continue
        config = configs[config_path]
        problems += _node_problems(case, index, config, source)
        planned.append((case, source.line(("tests", index)), config))
    if problems:
        raise TestFileError(problems)
    return Planned(path, planned)


def run_case(case: Case, line: int, config: PipelineConfig) -> Outcome:
    outcome = Outcome(case, line)
    try:
        harness = Harness(config)
    except (PlannedModuleError, OSError, ValueError) as error:
        outcome.error = f"the pipeline could not be built: {error}"
        return outcome
    try:
        entry = case.insert_at or harness.default_entry
        events = (
            harness.events_from_raw(entry, case.raw)
            if case.raw is not None
            else list(case.events or [])
        )
        harness.run(entry, events)
    except RawInputError as error:
        outcome.error = str(error)
    finally:
        arrivals = harness.finish()
    if not outcome.error:
        outcome.differences = compare(case, arrivals)
    return outcome


def _print_outcome(console: Console, path: Path, outcome: Outcome) -> None:
    if outcome.passed:
        console.print(Text.assemble(("  PASS ", "green"), outcome.case.name))
        return
    where = f"  ({path}:{outcome.line})"
    console.print(Text.assemble(("  FAIL ", "bold red"), outcome.case.name, (where, "dim")))
    if outcome.error:
        console.print(Text.assemble("       ", (outcome.error, "red")))
    for difference in outcome.differences:
        console.print(Text(f"       {difference.title}:", style="bold"))
        for what, expected, got in difference.rows:
            console.print(Text.assemble("         ", (f"- {what}: {expected}", "red")))
            console.print(Text.assemble("         ", (f"+ {what}: {got}", "green")))


def run_files(files: list[str], log_level: str) -> int:
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr)
    console = Console(highlight=False, soft_wrap=True)
    planned: list[Planned] = []
    broken = False
    for name in files:
        try:
            planned.append(plan(Path(name)))
        except TestFileError as error:
            broken = True
            for problem in error.problems:
                print(problem, file=sys.stderr)
    if broken:
        return EXIT_UNRUNNABLE
    passed = failed = 0
    for each in planned:
        count = len(each.cases)
        console.print(Text(f"{each.path}: {count} case{'' if count == 1 else 's'}"))
        for case, line, config in each.cases:
            outcome = run_case(case, line, config)
            _print_outcome(console, each.path, outcome)
            passed, failed = passed + outcome.passed, failed + (not outcome.passed)
    read = f"{len(planned)} file{'s' if len(planned) != 1 else ''}"
    style = "bold red" if failed else "bold green"
    summary = f"{passed} passed, {failed} failed ({read})"
    console.print(Text(summary, style=style))
    return EXIT_FAILED if failed else EXIT_PASSED
