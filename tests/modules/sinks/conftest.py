"""Receivers the network sinks' tests write to (see servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.modules.sinks.servers import (
    Carbon,
    DatagramReceiver,
    LineCollector,
    SyslogNg,
    start_carbon,
    start_syslog_ng,
)


@pytest.fixture
def syslog_ng(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyslogNg]:
    """A fresh syslog-ng per test, so its file holds that test's messages only."""
    server = start_syslog_ng(tmp_path_factory.mktemp("syslog-ng"))
    yield server
    server.stop()


@pytest.fixture
def carbon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Carbon]:
    server = start_carbon(tmp_path_factory.mktemp("carbon"))
    yield server
    server.stop()


@pytest.fixture
def line_collector() -> Iterator[LineCollector]:
    collector = LineCollector()
    yield collector
    collector.close()


@pytest.fixture
def udp_receiver() -> Iterator[DatagramReceiver]:
    receiver = DatagramReceiver()
    yield receiver
    receiver.close()
