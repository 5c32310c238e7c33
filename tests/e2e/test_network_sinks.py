"""`gp-celery run` with the network sinks as a user configures them: stdin lines parsed and
stored in a real Redis list, published to syslog-ng and logged, in one config."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.conftest import RedisServer
from tests.e2e.conftest import gp
from tests.modules.sinks.servers import SyslogNg, start_syslog_ng


def test_one_run_writes_to_redis_syslog_and_the_log(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    syslog_ng = start_syslog_ng(tmp_path)
    try:
        check_run(tmp_path, redis_server, syslog_ng)
    finally:
        syslog_ng.stop()


def check_run(tmp_path: Path, redis_server: RedisServer, syslog_ng: SyslogNg) -> None:
    config = tmp_path / "sinks.yml"
    config.write_text(
        f"""\
- StdIn
- RegexParser:
    field_extraction_patterns:
      - web: '(?P<code>\\d{{3}}) (?P<path>\\S+)'
    receivers: [RedisListSink, SyslogSink, LoggerSink]
- RedisListSink:
    server: 127.0.0.1
    port: {redis_server.port}
    list: codes-$(code)
- SyslogSink:
    address: 127.0.0.1:{syslog_ng.tcp_port}
    format: $(code) $(path)
    facility: local5
- LoggerSink:
    formats: ['stored $(path)']
"""
    )
    result = gp("run", "-c", str(config), stdin=b"200 /a\n404 /b\n200 /c\n")
    assert result.returncode == 0, result.stderr.decode()
    client = redis_server.client()
    assert [orjson.loads(e)["path"] for e in client.lrange("codes-200", 0, -1)] == ["/a", "/c"]
    assert [orjson.loads(e)["path"] for e in client.lrange("codes-404", 0, -1)] == ["/b"]
    records = syslog_ng.wait_for_records(3)
    assert [(r.facility, r.message) for r in records] == [
        ("local5", "200 /a"),
        ("local5", "404 /b"),
        ("local5", "200 /c"),
    ]
    log = result.stderr.decode()
    assert "stored /a" in log
    assert "stored /c" in log
