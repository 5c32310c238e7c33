"""`check --samples`: per parser node, what matched, as what, and which lines did not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gp_celery.config import parse_config
from gp_celery.tools.samples import (
    READ_BYTES,
    SampleRun,
    SamplesError,
    check_samples,
    report_lines,
)

WEB = """\
- TcpServer: {port: 5151}
- RegexParser:
    field_extraction_patterns:
      - web: '^(?P<verb>GET|POST) (?P<path>\\S+) (?P<code>\\d{3})$'
      - ping: '^PING$'
- JsonParser: {filter: "$(gambolputty.event_type) == 'Unknown'", source_fields: [data]}
- SyslogPrivalParser: {source_field: prival}
- AddGeoInfo: {geoip_dat_path: /nonexistent/GeoLite2-City.mmdb, source_fields: [ip]}
- FileSink: {file_name: /nonexistent/dir/out.jsonl}
"""

LINES = [
    "GET / 200",  # 1
    "PING",  # 2
    '{"prival": "<13>"}',  # 3: not web, valid JSON
    "POST /x 201",  # 4
    "nonsense",  # 5: not web, not JSON
    '{"prival": "x"}',  # 6: JSON, bad prival
    "GET /y 404",  # 7
]


def sampled(config_text: str, data: bytes, limit: int | None = None) -> SampleRun:
    run = SampleRun(parse_config(config_text))
    run.read(io.BytesIO(data), limit)
    return run


def test_each_parser_reports_matched_unmatched_tagged_and_missing_source() -> None:
    run = sampled(WEB, "\n".join(LINES).encode() + b"\n")
    regex, json, prival = run.reports.values()
    assert (regex.handled, regex.matched, regex.unmatched) == (7, 4, 3)
    assert dict(regex.types) == {"web": 3, "ping": 1}
    assert [(number, why) for number, _, why in regex.examples] == [
        (3, "marked Unknown"),
        (5, "marked Unknown"),
        (6, "marked Unknown"),
    ]
    assert (json.handled, json.matched, json.tagged, json.bypassed) == (3, 2, 1, 4)
    assert json.examples[0][:2] == (5, "nonsense")
    assert (prival.handled, prival.matched, prival.tagged, prival.no_source) == (7, 1, 1, 5)
    assert prival.examples[0][0] == 6


def test_the_report_names_counts_types_and_unmatched_lines() -> None:
    lines = report_lines(sampled(WEB, "\n".join(LINES).encode()), "web.log")
    assert lines[0] == "samples: web.log: 7 records (lines of input 'TcpServer')"
    assert "  RegexParser: 4 of 7 matched (57.1%); 3 unmatched" in lines
    assert "    event types: web 3, ping 1" in lines
    assert "    not matched, record 5 (marked Unknown): nonsense" in lines
    assert (
        "  SyslogPrivalParser: 1 of 7 matched (14.3%); 1 tagged with an error; 5 without 'prival'"
        in lines
    )


def test_at_most_five_unmatched_lines_are_kept_per_parser() -> None:
    run = sampled(WEB, b"".join(b"bad %d\n" % number for number in range(50)))
    regex = next(iter(run.reports.values()))
    assert regex.unmatched == 50
    assert [number for number, _, _ in regex.examples] == [1, 2, 3, 4, 5]


def test_nodes_after_the_last_parser_are_never_built() -> None:
    run = SampleRun(parse_config(WEB))  # AddGeoInfo's database and FileSink's dir are missing
    assert "AddGeoInfo" not in run.pipeline.nodes
    assert "FileSink" not in run.pipeline.nodes


def test_limit_stops_reading_the_file_early() -> None:
    stream = io.BytesIO(b"GET / 200\n" * 200_000)
    run = SampleRun(parse_config(WEB))
    run.read(stream, limit=10)
    assert run.records == 10
    assert stream.tell() <= READ_BYTES


def test_an_overlong_line_is_cut_and_tagged_by_the_inputs_framing() -> None:
    config = WEB.replace("{port: 5151}", "{port: 5151, max_line_bytes: 100}")
    run = sampled(config, b"x" * 5_000_000 + b"\nGET / 200\n")
    regex = next(iter(run.reports.values()))
    assert run.records == 2
    assert regex.matched == 1


def test_a_udp_input_reads_one_datagram_a_line() -> None:
    config = WEB.replace("TcpServer: {port: 5151}", "UdpServer: {port: 5514}")
    run = sampled(config, b"GET / 200\nPING\n")
    regex = next(iter(run.reports.values()))
    assert (run.records, regex.matched) == (2, 2)


def test_a_udp_sample_line_over_the_datagram_limit_is_cut_and_tagged() -> None:
    config = WEB.replace(
        "TcpServer: {port: 5151}", "UdpServer: {port: 5514, max_datagram_bytes: 100}"
    )
    run = sampled(config, b"x" * 3_000_000 + b"\nGET / 200\n")
    regex = next(iter(run.reports.values()))
    assert (run.records, regex.matched, regex.unmatched) == (2, 1, 1)
    assert regex.examples[0][1] == "x" * 100


def test_a_config_without_parsers_or_with_an_unknown_input_is_refused() -> None:
    with pytest.raises(SamplesError, match="no parser"):
        SampleRun(parse_config("- StdIn\n- StdOutSink\n"))
    with pytest.raises(SamplesError, match="no input 'Tcp' in <config> \\(inputs: TcpServer\\)"):
        SampleRun(parse_config(WEB), "Tcp")


def test_an_empty_file_says_so() -> None:
    lines = report_lines(sampled(WEB, b""), "empty.log")
    assert lines[:2] == [
        "samples: empty.log: 0 records (lines of input 'TcpServer')",
        "  the file holds no records",
    ]
    assert "  RegexParser: no events reached it" in lines


def test_a_sample_file_that_cannot_be_read_is_a_runtime_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_samples(parse_config(WEB), str(tmp_path / "no.log"), None, None) == 2
    assert f"cannot read {tmp_path}/no.log" in capsys.readouterr().err


def test_a_module_before_a_parser_that_cannot_be_set_up_is_a_runtime_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = parse_config(
        "- StdIn\n"
        "- AddGeoInfo: {geoip_dat_path: /nonexistent/City.mmdb, source_fields: [ip]}\n"
        "- LineParser\n"
    )
    log = tmp_path / "a.log"
    log.write_text("a\n")
    assert check_samples(config, str(log), None, None) == 2
    assert "geoip_dat_path '/nonexistent/City.mmdb' does not exist" in capsys.readouterr().err
