"""The seed README's iptables rule feeding SyslogPrivalParser and KeyValueParser, run by
`gp-celery run` as a user would: the README's '<4>' capture now decodes."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.e2e.conftest import gp

RULE = (
    r"(?P<syslog_prival>\<\d+\>)(?P<log_timestamp>\w+\s+\d+\s+\d+:\d+:\d+)\s+"
    r"(?P<host>[\w\-\._]+)\s+kernel:.*?\ iptables\ (?P<iptables_action>.*?)\ :\ "
    r"(?P<pairs>IN=.*)"
)
CONFIG = f"""
- StdIn
- RegexParser:
    field_extraction_patterns:
      - iptables: '{RULE}'
- SyslogPrivalParser
- KeyValueParser:
    source_field: pairs
    target_field: iptables
    keep_original: false
- StdOutSink:
    json_lines: true
"""
LINE = (
    "<4>Dec  1 10:00:00 fw1 kernel: [123.4] iptables DROP : IN=eth0 OUT= "
    "MAC=00:16:3e:aa:bb:cc SRC=203.0.113.9 DST=10.0.0.2 LEN=60 TTL=50 DF PROTO=TCP "
    "SPT=51234 DPT=22 WINDOW=29200 SYN URGP=0\n"
)


def test_readme_iptables_line_decodes_prival_and_pairs(tmp_path: Path) -> None:
    config = tmp_path / "iptables.yml"
    config.write_text(CONFIG)
    result = gp("run", "-c", str(config), stdin=LINE.encode())
    assert result.returncode == 0, result.stderr.decode()
    event = orjson.loads(result.stdout)
    assert (event["syslog_facility"], event["syslog_severity"]) == ("kernel messages", "Warning")
    pairs = event["iptables"]
    assert (pairs["SRC"], pairs["DPT"], pairs["OUT"], pairs["DF"]) == (
        "203.0.113.9",
        "22",
        "",
        True,
    )
    assert event["iptables_action"] == "DROP"
    assert "pairs" not in event
    assert event["gambolputty"]["event_type"] == "iptables"
    assert "errors" not in event["gambolputty"]
