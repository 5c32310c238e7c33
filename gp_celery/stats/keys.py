"""Where the fleet counters live in Redis."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PREFIX: Final = "gp-celery:stats:"
KEEP_SECS: Final = 7 * 24 * 3600
"""A process's totals are kept this long after its last flush (then they expire), so the
totals of a finished run can still be read and reconciled days later."""
SEP: Final = "|"
"""Between the parts of a field name (``node|<id>|events_in``); node ids may hold ':'."""


def namespace(config_file: str) -> str:
    """The fleet's name: its config file's stem. Every process of a fleet is started with the
    same config (possibly at another path), and two pipelines sharing a Redis stay apart."""
    return Path(config_file).stem or "pipeline"


def processes_key(name: str) -> str:
    """Hash: process id -> what that process is (JSON), updated at every flush."""
    return f"{PREFIX}{name}:processes"


def totals_key(name: str, process: str) -> str:
    """Hash: one process's running totals, field -> number."""
    return f"{PREFIX}{name}:totals:{process}"


@dataclass(frozen=True)
class ProcessId:
    """One process of the fleet, for as long as it runs: a restart is a new one."""

    role: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)

    def __str__(self) -> str:
        return f"{self.role}:{self.host}:{self.pid}:{int(self.started * 1000)}"
