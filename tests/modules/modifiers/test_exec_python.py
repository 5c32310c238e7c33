"""ExecPython: user code runs only with the opt-in; its failures tag events, nothing is lost."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gp_celery.config import ConfigError, parse_config
from gp_celery.event import Event, errors_of
from gp_celery.testing import BuildError, build, run

OPT_IN = {"i_understand_this_runs_arbitrary_code": True}


def execute(source: str, **options: Any) -> Any:
    return build("ExecPython", {"source": source, **OPT_IN, **options})


def reasons(event: Event) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_code_changes_the_event_in_place() -> None:
    [out] = run(execute("event['total'] = event['a'] + event['b']"), [{"a": 1, "b": 2}])
    assert out["total"] == 3


def test_imports_are_visible_to_the_code() -> None:
    module = execute(
        "event['rt'] = math.ceil(float(event['rt']) * 1000)\nevent['p'] = os.path.basename('/a/b')",
        imports=["math", "os.path"],
    )
    [out] = run(module, [{"rt": "0.0125"}])
    assert (out["rt"], out["p"]) == (13, "b")


def test_gambolputty_indented_code_after_a_comment_still_works() -> None:
    source = (
        "# Useless comment...\n"
        "  try:\n"
        "      imported = math\n"
        "  except NameError:\n"
        "      import math\n"
        "  event['x'] = math.floor(2.5)\n"
    )
    [out] = run(execute(source), [{}])
    assert out["x"] == 2


def test_rebinding_event_changes_nothing_as_in_gambolputty() -> None:
    [out] = run(execute("event = {'replaced': True}"), [{"a": 1}])
    assert out["a"] == 1
    assert "replaced" not in out


def test_local_names_do_not_leak_from_one_event_to_the_next() -> None:
    source = "try:\n    seen\n    event['leaked'] = True\nexcept NameError:\n    seen = 1\n"
    out = run(execute(source), [{}, {}])
    assert all("leaked" not in event for event in out)


def test_lumbermill_code_spelling_and_alias() -> None:
    module = build("modifier.ExecPython", {"code": "event['x'] = 1", **OPT_IN})
    assert type(module).__name__ == "ExecPython"
    assert run(module, [{}])[0]["x"] == 1


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("event['x'] = event['missing']", "KeyError: 'missing'"),
        ("event['x'] = 1 / 0", "ZeroDivisionError: division by zero"),
        ("raise RuntimeError('boom')", "RuntimeError: boom"),
        ("import sys\nsys.exit(3)", "SystemExit: 3"),
        ("def f(): return f()\nf()", "RecursionError"),
        (
            "class Odd(Exception):\n    def __str__(self): raise ValueError\nraise Odd()",
            "Odd: (its message could not be read)",
        ),
    ],
)
def test_an_exception_in_the_code_tags_the_event_and_the_batch_goes_on(
    source: str, kind: str
) -> None:
    events: list[Event] = [{"n": 1}, {"n": 2}, {"n": 3}]
    out = run(execute(source), events)
    assert [event["n"] for event in out] == [1, 2, 3]
    for event in out:
        assert len(reasons(event)) == 1
        assert reasons(event)[0].startswith(f"the code raised {kind}")


def test_a_huge_exception_message_is_shortened_in_the_tag() -> None:
    [out] = run(execute("raise ValueError('x' * 100000)"), [{}])
    assert len(reasons(out)[0]) < 400


def test_repeated_failures_log_one_rate_limited_warning_without_the_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    module = execute("raise ValueError(event['secret'])")
    with caplog.at_level(logging.WARNING):
        run(module, [{"secret": "hunter2"} for _ in range(50)])
        run(module, [{"secret": "hunter2"} for _ in range(50)])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["ExecPython: the code raised ValueError; the event is tagged."]


def test_only_events_whose_code_fails_are_tagged() -> None:
    out = run(execute("event['r'] = 10 / event['d']"), [{"d": 2}, {"d": 0}, {"d": "x"}])
    assert out[0]["r"] == 5
    assert [len(reasons(event)) for event in out] == [0, 1, 1]


@pytest.mark.parametrize(
    "value",
    [None, 0, True, [], {"k": 1}, b"\xff\xfe", "\udcff", "x" * 1_000_000],
    ids=lambda v: type(v).__name__,
)
def test_hostile_values_are_handled_or_tagged_and_nothing_is_lost(value: Any) -> None:
    out = run(execute("event['n'] = len(event['v'].strip())"), [{"v": value}, {"v": value}])
    assert len(out) == 2
    for event in out:
        assert ("n" in event) != bool(errors_of(event))
        assert event["v"] == value


def test_debug_logs_the_function_built_from_the_code(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        execute("event['x'] = 1", debug=True)
    assert any(
        "def _exec_python(event):\n    event['x'] = 1" in r.getMessage() for r in caplog.records
    )


def test_without_the_opt_in_the_config_is_refused() -> None:
    with pytest.raises(BuildError, match="set 'i_understand_this_runs_arbitrary_code: true'"):
        build("ExecPython", {"source": "event['x'] = 1"})
    with pytest.raises(BuildError, match="i_understand_this_runs_arbitrary_code"):
        build(
            "ExecPython",
            {"source": "event['x'] = 1", "i_understand_this_runs_arbitrary_code": False},
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"imports": ["no_such_module_here"]}, "imports: no module named 'no_such_module_here'"),
        ({"imports": ["os; import sys"]}, "is not a module name"),
        ({"source": "x = (", "code": "x = 1"}, "code"),
        ({"debug": "maybe"}, "debug"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("ExecPython", {"source": "event['x'] = 1", **OPT_IN, **options})


def test_a_syntax_error_is_located_at_its_line_and_column_in_the_file() -> None:
    text = (
        "- ExecPython:\n"
        "    i_understand_this_runs_arbitrary_code: true\n"
        "    source: |\n"
        "      x = 1\n"
        "      event['y'] = (x +\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "pipeline.yml")
    assert str(raised.value).startswith("pipeline.yml:5: ExecPython: source: bad code: column 20:")
    assert "'(' was never closed" in str(raised.value)


def test_check_refuses_the_code_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        f"- StdIn\n- ExecPython:\n    source: \"open('{marker}', 'w')\"\n- StdOutSink\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "gp_celery.cli", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "set 'i_understand_this_runs_arbitrary_code: true'" in result.stdout + result.stderr
    assert not marker.exists()


def test_check_accepts_it_with_the_opt_in_and_still_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        "- StdIn\n"
        "- ExecPython:\n"
        "    i_understand_this_runs_arbitrary_code: true\n"
        f"    source: \"open('{marker}', 'w')\"\n"
        "- StdOutSink\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "gp_celery.cli", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
