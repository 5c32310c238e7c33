"""The seed README's full example (conf/example-full.yml) end to end: real Apache, nginx and
iptables lines over TCP (nc) and python-beaver-style msgpack events over a TCP stream go
through every module of the example, in one process and in a fleet (its ``workers: 2``).

Its ElasticSearchSink writes to the project's Elasticsearch stand-in (no Elasticsearch
installs here); a variant swaps it for a FileSink, which shows the events whole. Only what
cannot run here is changed besides: the ports for free ones, the node for the stand-in's
address, the legacy GeoLiteCity.dat for the GeoLite2 City database the tests install
(maxminddb-geolite2)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest

from tests.conftest import free_port, wait_for
from tests.e2e.conftest import GP, ROOT
from tests.modules.services import geolite2_city
from tests.stand_ins.es_server import EsServer

APACHE = '8.8.8.8 - - [01/Dec/2026:10:00:00 +0000] "GET /index.html HTTP/1.1" 200 1234'
NGINX = '10.1.2.3 81.2.69.142 - - [01/Dec/2026:10:00:01 +0000] "GET /shop?item=5 HTTP/1.1" 404 99'
IPTABLES = (
    "<4>Dec  1 10:00:02 fw01 kernel: [12345.678] iptables DROP : IN=eth0 OUT= "
    "SRC=203.0.113.5 DST=10.0.0.1 LEN=60 TOS=0x00 PREC=0x00 TTL=49 ID=1 DF PROTO=TCP "
    "SPT=4321 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0"
)
UNMATCHED = "this line matches no pattern of the example"
FIREFOX = "Mozilla/5.0 (Windows NT 6.0; rv:33.0) Gecko/20100101 Firefox/33.0"
BEAVER_EVENTS = [
    {
        "data": NGINX,
        "server_type": "nginx",
        "request_time": "0.25",
        "user_agent": FIREFOX,
        "uri": "http://en.wikipedia.org/wiki/Monty_Python/?spanish=inquisition",
    },
    {"data": APACHE, "server_type": "apache", "request_time": "1500"},
]


def seed_config(
    tmp_path: Path, line_port: int, stream_port: int, es: EsServer | None = None
) -> Path:
    text = (ROOT / "conf/example-full.yml").read_text()
    text = text.replace("port: 5151", f"port: {line_port}\n   interface: 127.0.0.1")
    text = text.replace("port: 5152", f"port: {stream_port}\n   interface: 127.0.0.1")
    text = re.sub(r"geoip_dat_path: .*", f"geoip_dat_path: {geolite2_city()}", text)
    text = text.replace("interval: 10", "interval: 1")
    sink = re.search(r"- ElasticSearchSink:\n(   .*\n)+", text)
    assert sink, "the example has its ElasticSearchSink"
    stored = f"- FileSink:\n   file_name: {tmp_path / 'stored.jsonl'}\n   json_lines: true\n"
    if es is not None:
        assert "nodes: [localhost]" in sink.group(0)
        stored = sink.group(0).replace("nodes: [localhost]", f"nodes: [{es.address}]")
    path = tmp_path / "example-full.yml"
    path.write_text(text.replace(sink.group(0), stored))
    return path


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    def listening() -> bool:
        assert process.poll() is None, "gp-celery run stopped early"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_for(listening, 60, f"a listener on port {port}")


def run_seed_example(
    tmp_path: Path, workers: list[str], es: EsServer | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Run the example; return what its sink stored (documents with their ``_id`` when it
    is the ElasticSearchSink) and what StdOutSink printed."""
    nc = shutil.which("nc")
    assert nc, "netcat-openbsd (nc) is needed; scripts/test installs it"
    line_port, stream_port = free_port(), free_port()
    config = seed_config(tmp_path, line_port, stream_port, es)
    stored = tmp_path / "stored.jsonl"
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        server = subprocess.Popen(
            [GP, "run", "-c", str(config), *workers], cwd=ROOT, stdout=out, stderr=err
        )
    try:
        wait_for_port(line_port, server)
        wait_for_port(stream_port, server)
        lines = f"{APACHE}\n{IPTABLES}\n{UNMATCHED}\n".encode()
        subprocess.run([nc, "-N", "127.0.0.1", str(line_port)], input=lines, check=True, timeout=30)
        packed = b"".join(msgpack.packb(event) for event in BEAVER_EVENTS)
        with socket.create_connection(("127.0.0.1", stream_port)) as beaver:
            beaver.sendall(packed)

        def arrived() -> bool:
            if es is not None:
                return es.count("gambolputty-*") >= 4
            return stored.exists() and stored.read_bytes().count(b"\n") >= 4

        wait_for(arrived, 60, "four events in the sink")
        wait_for(lambda: UNMATCHED in stdout.read_text(errors="replace"), 30, "the unmatched line")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 0, stderr.read_text()[-3000:]
    if es is not None:
        documents = es.documents("gambolputty-*")
        events = [{"_id": doc_id, **source} for doc_id, source in documents.items()]
    else:
        events = [orjson.loads(row) for row in stored.read_bytes().splitlines()]
    return events, stdout.read_text(errors="replace")


def by_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [event for event in events if event["gambolputty"]["event_type"] == event_type]


@pytest.mark.parametrize("workers", [["--workers", "1"], []], ids=["embedded", "fleet"])
def test_the_seed_full_example_stores_documents_in_elasticsearch_under_the_event_ids(
    tmp_path: Path, workers: list[str], es_stand_in: EsServer
) -> None:
    before = time.strftime("%Y.%m.%d", time.gmtime())
    documents, printed = run_seed_example(tmp_path, workers, es_stand_in)
    assert len(documents) == 4, documents
    for document in documents:  # the default doc_id: the event id, unique per event
        assert document["_id"] == document["gambolputty"]["event_id"]
    assert len({document["_id"] for document in documents}) == 4
    days = {before, time.strftime("%Y.%m.%d", time.gmtime())}
    indices = {f"gambolputty-{day}" for day in days}
    assert sum(len(es_stand_in.documents(index)) for index in indices) == 4
    check_enriched([{k: v for k, v in d.items() if k != "_id"} for d in documents], printed)


@pytest.mark.parametrize("workers", [["--workers", "1"], []], ids=["embedded", "fleet"])
def test_the_seed_full_example_enriches_apache_nginx_and_iptables_lines(
    tmp_path: Path, workers: list[str]
) -> None:
    events, printed = run_seed_example(tmp_path, workers)
    check_enriched(events, printed)


def check_enriched(events: list[dict[str, Any]], printed: str) -> None:
    assert len(events) == 4, events  # two lines and two beaver events; one line matches nothing
    # The patterns are searched, not anchored, so the first one also matches the nginx line
    # from its second address on: as in GambolPutty, it is an httpd_access_log event.
    access = by_type(events, "httpd_access_log")
    iptables = by_type(events, "iptables")
    assert (len(access), len(iptables)) == (3, 1)
    nginx = [event for event in access if event.get("server_type") == "nginx"]
    apache = [event for event in access if event.get("server_type") != "nginx"]
    assert len(nginx) == 1

    # The seed's map has integer keys; RegexParser yields '200': it still maps.
    assert {event["http_status_mapped"] for event in apache} == {"OK"}
    assert nginx[0]["http_status_mapped"] == "Not Found"
    for event in apache:  # 8.8.8.8 is in GeoLite2 City; only the three fields asked for
        assert event["country_code"] == "US"
        assert isinstance(event["latitude"], float)
        assert event["geoip"] == [event["longitude"], event["latitude"]]
        assert "city" not in event
    for event in access:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", event["@timestamp"])
    assert nginx[0]["remote_ip"] == "81.2.69.142"
    assert nginx[0]["country_code"] == "GB"
    # Math on nginx only: seconds as float -> milliseconds.
    assert nginx[0]["request_time"] == 250.0
    beaver_apache = next(event for event in apache if "server_type" in event)
    assert beaver_apache["request_time"] == "1500"
    agent = nginx[0]["user_agent_info"]
    assert agent["user_agent"]["family"] == "Firefox"
    assert agent["user_agent"]["major"] == "33"
    assert nginx[0]["uri_parsed"]["path"] == "/wiki/Monty_Python/"
    assert nginx[0]["params"] == {"spanish": ["inquisition"]}
    # The iptables pattern captures '<4>' with its brackets: still decoded.
    assert iptables[0]["syslog_facility"] == "kernel messages"
    assert iptables[0]["syslog_severity"] == "Warning"
    assert iptables[0]["iptables_dpt"] == "22"
    # Nothing lost: the unmatched line went to StdOutSink only.
    assert UNMATCHED in printed
    assert not any(event.get("data", "").startswith("this line") for event in events)
