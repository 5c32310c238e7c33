"""The gp-celery console script as a user runs it, from the repository's top level."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GP = str(Path(sys.executable).parent / "gp-celery")


def gp(
    *args: str,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``gp-celery ARGS`` to the end; stdout and stderr captured, never raising."""
    return subprocess.run(
        [GP, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def shell(command: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a shell command line (with real pipes) where ``gp-celery`` is on the PATH."""
    path = f"{Path(GP).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PATH": path},
        cwd=cwd,
        check=False,
    )
