"""`gp-celery test`: the file format, its errors at their lines, what a case compares, and
that a case runs the real pipeline while its sinks write nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gp_celery.tools.pipeline_tests.command import plan, run_files
from gp_celery.tools.pipeline_tests.schema import TestFileError

ROOT = Path(__file__).resolve().parents[2]

PARSER = """\
- TcpServer: {port: 5151, max_line_bytes: 64}
- RegexParser:
    field_extraction_patterns: [{web: '(?P<code>\\d{3})$'}]
    receivers:
      - Keep: {filter: "$(gambolputty.event_type) != 'Unknown'"}
      - Unknown: {filter: "$(gambolputty.event_type) == 'Unknown'"}
- FileSink: {id: Keep, file_name: '%(out)s/kept.jsonl', json_lines: true}
- FileSink: {id: Unknown, file_name: '%(out)s/unknown.jsonl', json_lines: true,
             filter: "$(data) != 'quiet'"}
"""


def write(tmp_path: Path, tests: str, config: str = PARSER) -> Path:
    out = tmp_path / "out"
    (tmp_path / "pipe.yml").write_text(config % {"out": out})
    path = tmp_path / "pipe.test.yml"
    path.write_text(tests)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(TestFileError) as caught:
        plan(path)
    return [str(problem) for problem in caught.value.problems]


def test_the_example_test_file_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_files([str(ROOT / "conf/tcp-to-file.test.yml")], "warning") == 0
    assert capsys.readouterr().out.rstrip().endswith("4 passed, 0 failed (1 file)")


def test_the_readme_example_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Testing your own pipelines", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    text = block.group(1).replace("config: tcp-to-file.yml", f"config: {ROOT}/conf/tcp-to-file.yml")
    (tmp_path / "readme.test.yml").write_text(text)
    assert run_files([str(tmp_path / "readme.test.yml")], "warning") == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out


def test_sinks_write_nothing_and_what_reaches_them_is_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: both\n"
        "    raw: [GET / 200, nonsense, quiet]\n"
        "    expect:\n"
        "      - {reaches: Keep, fields: {code: '200', gambolputty.event_type: web}}\n"
        "      - {reaches: Unknown, fields: {data: nonsense}, absent: [code]}\n",
    )
    assert run_files([str(path)], "warning") == 0, capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_a_failing_case_prints_a_diff_and_the_summary_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: typed\n"
        "    raw: [GET / 200]\n"
        "    expect: [{reaches: Unknown, fields: {code: 200}}]\n"
        "  - name: passes\n"
        "    raw: [GET / 404]\n"
        "    expect: [{fields: {code: '404'}}]\n",
    )
    assert run_files([str(path)], "warning") == 1
    out = capsys.readouterr().out
    assert f"FAIL typed  ({path}:2)" in out
    assert "- reaches: Unknown\n" in out
    assert "+ reaches: Keep\n" in out
    assert "- code: 200\n" in out
    assert '+ code: "200"\n' in out
    assert "PASS passes" in out
    assert out.rstrip().endswith("1 passed, 1 failed (1 file)")


def test_more_or_fewer_events_than_expected_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: extra\n"
        "    raw: [GET / 200, GET / 201]\n"
        "    expect: [{fields: {code: '200'}}]\n"
        "  - name: missing\n"
        "    raw: [GET / 200]\n"
        "    expect: [{fields: {code: '200'}}, {fields: {code: '201'}}]\n",
    )
    assert run_files([str(path)], "warning") == 1
    out = capsys.readouterr().out
    assert "event 2 (reached Keep) was not expected" in out
    assert "event 2 never came out" in out
    assert "0 passed, 2 failed" in out


def test_dropped_means_nothing_reaches_a_sink_and_a_sink_filter_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: filtered away by the sink\n"
        "    raw: [quiet]\n"
        "    dropped: true\n"
        "  - name: not dropped\n"
        "    raw: [loud]\n"
        "    dropped: true\n",
    )
    assert run_files([str(path)], "warning") == 1
    out = capsys.readouterr().out
    assert "PASS filtered away by the sink" in out
    assert "FAIL not dropped" in out
    assert "event 1 (reached Unknown) was not expected" in out


def test_tags_are_checked_by_node_and_an_overlong_raw_line_is_cut_by_the_inputs_framing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: overlong\n"
        f"    raw: ['{'x' * 100} 200']\n"
        "    expect: [{reaches: Unknown, tagged: TcpServer}]\n"
        "  - name: clean\n"
        "    raw: [GET / 200]\n"
        "    expect: [{tagged: false}]\n"
        "  - name: wrongly said tagged\n"
        "    events: [{data: GET / 200}]\n"
        "    insert_at: RegexParser\n"
        "    expect: [{tagged: true}]\n",
    )
    assert run_files([str(path)], "warning") == 1
    out = capsys.readouterr().out
    assert "PASS overlong" in out
    assert "PASS clean" in out
    assert "- tags: tagged\n" in out
    assert "+ tags: not tagged\n" in out


def test_raw_records_at_a_udp_input_are_one_datagram_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = "- UdpServer: {port: 5514}\n- StdOutSink\n"
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: datagrams\n"
        "    raw: ['two\\nlines', one]\n"
        "    expect: [{fields: {data: 'two\\nlines'}}, {fields: {data: one}}]\n",
        config,
    )
    assert run_files([str(path)], "warning") == 0, capsys.readouterr().out


def test_every_problem_of_a_bad_test_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: typo\n"
        "    raw: [x]\n"
        "    expcet: []\n"
        "  - name: both inputs\n"
        "    raw: [x]\n"
        "    events: [{data: x}]\n"
        "    dropped: true\n"
        "  - name: bad field\n"
        "    raw: [x]\n"
        "    expect: [{fields: {'a..b': 1}}]\n",
    )
    found = problems_of(path)
    assert f"{path}:4: test 'typo': expcet: unknown option 'expcet' (did you mean 'expect'?)" in (
        found
    )
    assert any(line.startswith(f"{path}:5: test 'both inputs': ") for line in found)
    assert any("give either 'events' or 'raw'" in line for line in found)
    assert any(line.startswith(f"{path}:11: test 'bad field': ") for line in found), found


def test_unknown_nodes_are_problems_at_their_line_with_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: where\n"
        "    insert_at: RegexParsr\n"
        "    events: [{data: x}]\n"
        "    expect: [{reaches: Kep}]\n",
    )
    assert problems_of(path) == [
        f"{path}:3: test 'where': insert_at: no node 'RegexParsr' in {tmp_path}/pipe.yml "
        "(did you mean 'RegexParser'?)",
        f"{path}:5: test 'where': expect.reaches: no node 'Kep' in {tmp_path}/pipe.yml "
        "(did you mean 'Keep'?)",
    ]


def test_a_missing_config_or_test_file_and_a_yaml_error_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "lost.test.yml"
    missing.write_text("tests: [{name: x, raw: [x], dropped: true}]\n")
    (problem,) = problems_of(missing)
    assert problem.startswith(f"{tmp_path}/lost.yml:1: cannot read: ")
    broken = tmp_path / "broken.test.yml"
    broken.write_text("tests:\n  - name: 'x\n    raw: [x]\n")
    (problem,) = problems_of(broken)
    assert problem.startswith(f"{broken}:2: invalid YAML")
    assert problems_of(tmp_path / "none.test.yml")[0].startswith(
        f"{tmp_path}/none.test.yml:1: cannot read: "
    )
    empty = tmp_path / "empty.test.yml"
    empty.write_text("")
    assert problems_of(empty) == [
        f"{empty}:1: expected a map with 'tests: [...]', got an empty file"
    ]


def test_a_config_problem_stops_the_file_before_any_case_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "tests: [{name: x, raw: [x], dropped: true}]\n", "- StdIn: {nope: 1}\n")
    assert run_files([str(path)], "warning") == 2
    assert f"{tmp_path}/pipe.yml:1: StdIn: nope: unknown option 'nope'" in capsys.readouterr().err


def test_the_environment_of_a_test_file_fills_the_configs_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = (
        "- TcpServer: {port: '${GP_TEST_PORT}'}\n"
        "- AddDateTime: {target_field: '${GP_TEST_FIELD}'}\n"
        "- StdOutSink\n"
    )
    path = write(
        tmp_path,
        "environment: {GP_TEST_FIELD: when, GP_TEST_PORT: 5151}\n"
        "tests: [{name: x, events: [{data: x}], expect: [{reaches: StdOutSink}]}]\n",
        config,
    )
    assert run_files([str(path)], "warning") == 0, capsys.readouterr().out


def test_a_branch_without_a_sink_ends_at_its_last_node_and_held_events_are_flushed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = "- TcpServer: {port: 5151}\n- MergeEvent: {pattern: '^[^+]', glue: '|'}\n"
    path = write(
        tmp_path,
        "tests:\n"
        "  - name: merged\n"
        "    raw: [first, +more, second]\n"
        "    expect:\n"
        "      - {reaches: MergeEvent, fields: {data: 'first|+more'}}\n"
        "      - {reaches: MergeEvent, fields: {data: second}}\n"
        "  - name: isolated\n"
        "    raw: [+alone]\n"
        "    expect: [{reaches: MergeEvent, fields: {data: +alone}}]\n",
        config,
    )
    assert run_files([str(path)], "warning") == 0, capsys.readouterr().out
