"""A bare `pip install .` runs the fleet, as a user following the README would.

The suite's own venv has the test and dev extras, and they pull in packages the product
may use without declaring them: kombu's Redis transport imports `packaging`, and once
`celery -A gp_celery worker` died with "No module named 'packaging'" after a bare install
while every other test passed. These tests install the package alone (no extras, no test
packages) into a fresh venv made with the system python3, then run that venv's console
scripts against a private redis-server: a worker, a listener fed by `nc`, the one-process
commands, and Flower.

Two traps are avoided on purpose:
- pip builds from a copy of the source tree, not from the clone: setuptools builds in
  tree, and a stale ``build/lib`` in a developer's clone can put modules in the wheel that
  the tree no longer has.
- `celery -A gp_celery` puts the current directory first on ``sys.path``: run from the
  clone, it would import the source tree rather than the installed package, so the worker
  and Flower run from an empty directory.

The venv is made once per module (about 30 s with a warm pip cache): the tests only run
its programs, none installs into it. These tests are never skipped; when pip cannot reach
an index the first one fails and says so.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, RedisServer, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PIP_TIMEOUT_SECS = 600
LINES = 100
LINE = (
    '10.0.{hi}.{lo} - - [10/Mar/2024:00:00:{sec:02d} +0100] "GET /item/{n} HTTP/1.1" '
    '200 {n} "-" "smoke/{n}"'
)


def access_line(n: int) -> str:
    """An Apache combined log line whose fields all derive from ``n``."""
    return LINE.format(hi=n // 256, lo=n % 256, sec=n % 60, n=n)


@dataclass
class BareVenv:
    """A venv holding gp-celery alone; ``env`` runs its programs and nothing of the suite's."""

    bin: Path
    env: dict[str, str]
    workdir: Path
    """An empty directory to run programs in, outside the source tree."""

    def run(
        self, *args: str, stdin: bytes = b"", cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            input=stdin.decode(),
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd or self.workdir,
            timeout=timeout,
            check=False,
        )


def clean_environment() -> dict[str, str]:
    """os.environ without the suite's venv: not on PATH, no VIRTUAL_ENV or PYTHONPATH.
    pip's own settings (PIP_* and its config files) stay, so pip uses this machine's indexes."""
    suite_bin = str(Path(sys.executable).parent)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    }
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if part and part != suite_bin
    )
    return env


def copy_source(destination: Path) -> Path:
    """The files git knows (tracked, or new and not ignored), as a user's clone has them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        cwd=ROOT,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> BareVenv:
    base = tmp_path_factory.mktemp("bare-install")
    env = clean_environment()
    python3 = shutil.which("python3", path=env["PATH"])
    assert python3, "no python3 on PATH: run scripts/test, which checks for it"
    started = time.monotonic()
    made = subprocess.run(
        [python3, "-m", "venv", str(base / "venv")], capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, (
        f"`python3 -m venv` failed (Debian: apt-get install python3-venv):\n{made.stderr}"
    )
    bin_dir = base / "venv" / "bin"
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(base / "venv")
    source = copy_source(base / "src")
    try:
        pip = subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "--no-input", str(source)],
            capture_output=True,
            text=True,
            env=env,
            timeout=PIP_TIMEOUT_SECS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`pip install .` into a fresh venv took more than {PIP_TIMEOUT_SECS}s")
    if pip.returncode != 0:
        pytest.fail(
            "`pip install .` into a fresh venv failed: this test needs the package index pip "
            "is configured with (see `pip config list` and PIP_* variables) and is never "
            f"skipped. pip exited {pip.returncode}:\n{pip.stdout[-3000:]}\n{pip.stderr[-5000:]}"
        )
    print(f"bare install: venv and `pip install .` took {time.monotonic() - started:.1f}s")
    workdir = base / "run"
    workdir.mkdir()
    venv = BareVenv(bin_dir, env, workdir)

    broken = venv.run("pip", "check")
    assert broken.returncode == 0, broken.stdout + broken.stderr
    # Nothing comes from the source tree: both packages are the installed ones.
    where = venv.run(
        "python", "-c", "import gp_celery as a, gp_celery_inputs as b; print(a.__file__,b.__file__)"
    )
    assert where.returncode == 0, where.stderr
    site = str(base / "venv" / "lib")
    assert all(path.startswith(site) for path in where.stdout.split()), where.stdout
    return venv


@dataclass
class Service:
    """A long-running program of the bare venv, in its own session; output to ``log``."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        wait_for(
            lambda: text in self.output() or self.process.poll() is not None,
            timeout,
            f"{self.name} to log {text!r} (log: {self.log})",
        )
        assert self.process.poll() is None, f"{self.name} exited:\n{self.output()}"

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, wait; then SIGKILL whatever is left of its process group."""
        code = None
        if self.process.poll() is None:
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):  # pool processes, anything it started
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return code


@dataclass
class Services:
    venv: BareVenv
    directory: Path
    started: list[Service] = field(default_factory=list)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Service:
        log = self.directory / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(self.venv.bin / args[0]), *args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**self.venv.env, **(env or {})},
                cwd=self.venv.workdir,
                start_new_session=True,
            )
        service = Service(name, process, log)
        self.started.append(service)
        return service


@pytest.fixture
def services(bare_venv: BareVenv, tmp_path: Path) -> Iterator[Services]:
    """Starts programs of the bare venv; stops every one at the end, failed test or not."""
    started = Services(bare_venv, tmp_path)
    yield started
    for service in reversed(started.started):
        service.stop()


def test_bare_install_runs_a_worker_and_a_listener_end_to_end(
    services: Services, redis_server: RedisServer, tmp_path: Path
) -> None:
    nc = shutil.which("nc")
    assert nc, "nc is not installed: run scripts/test, which installs netcat-openbsd"
    port = free_port()
    out = tmp_path / "out" / "access.jsonl"
    config = tmp_path / "tcp-to-file.yml"
    config.write_text(
        f"""- TcpServer:
   interface: 127.0.0.1
   port: {port}
- RegexParser:
   field_extraction_patterns:
    - httpd_access_log: '%{{COMBINEDAPACHELOG}}'
- FileSink:
   file_name: {out}
   json_lines: true
"""
    )
    broker = {"GP_BROKER_URL": redis_server.url}
    worker = services.start(
        "worker",
        *("celery", "-A", "gp_celery", "worker", "--gp-config", str(config)),
        *("--loglevel", "INFO"),
        env=broker,
    )
    worker.wait_for_log("ready")
    listener = services.start("listener", "gp-celery", "listen", "-c", str(config), env=broker)
    listener.wait_for_log("TcpServer: listening on", timeout=30)

    lines = [access_line(n) for n in range(LINES)]
    half = LINES // 2
    for part in (lines[:half], lines[half:]):  # two clients, one after the other
        sent = subprocess.run(
            [nc, "-N", "127.0.0.1", str(port)],
            input="".join(f"{text}\n" for text in part).encode(),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr

    def stored() -> list[str]:
        return out.read_text().splitlines() if out.exists() else []

    wait_for(lambda: len(stored()) >= LINES, 60, f"{LINES} lines in {out}")
    assert listener.stop() == 0, listener.output()
    assert worker.stop() == 0, worker.output()
    events = [json.loads(row) for row in stored()]
    assert len(events) == LINES
    by_line = {event["data"]: event for event in events}
    assert sorted(by_line) == sorted(lines)
    for n, text in enumerate(lines):
        event = by_line[text]
        assert event["gambolputty"]["event_type"] == "httpd_access_log", event
        assert "errors" not in event["gambolputty"], event
        assert (event["clientip"], event["verb"], event["request"]) == (
            f"10.0.{n // 256}.{n % 256}",
            "GET",
            f"/item/{n}",
        )
        assert (event["response"], event["bytes"]) == ("200", str(n))
        assert event["agent"] == f'"smoke/{n}"'
    assert "Traceback" not in worker.output()
    assert "Traceback" not in listener.output()


def test_bare_install_runs_the_readme_one_process_commands(bare_venv: BareVenv) -> None:
    # From the clone, with relative paths, as the README shows them. A console script does
    # not put the current directory on sys.path, so this still runs the installed package.
    stdin = (ROOT / "conf/samples/access.log").read_bytes()
    run = bare_venv.run("gp-celery", "run", "-c", "conf/example-stdin.yml", stdin=stdin, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    count = len(stdin.splitlines())
    assert run.stdout.count("'data': ") == count, run.stdout
    assert f"StdOutSink: events_in {count}, events_out {count}." in run.stderr, run.stderr
    assert "'remote_ip': '192.168.2.20'" in run.stdout
    assert "'http_status': '200'" in run.stdout

    check = bare_venv.run("gp-celery", "check", "-c", "conf/example-full.yml", cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("conf/example-full.yml: OK"), check.stdout


def http_status(url: str, auth: str | None = None) -> int:
    """The HTTP status of GET ``url`` (0 when nothing answers)."""
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", f"Basic {base64.b64encode(auth.encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def test_bare_install_runs_flower_with_basic_auth(
    services: Services, redis_server: RedisServer
) -> None:
    port = free_port()
    flower = services.start(
        "flower",
        *("celery", "-A", "gp_celery", "flower", f"--port={port}", "--address=127.0.0.1"),
        "--basic-auth=u:p",
        env={"GP_BROKER_URL": redis_server.url},
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: http_status(f"{base}/healthcheck") == 200 or flower.process.poll() is not None,
        60,
        f"Flower on port {port} (log: {flower.log})",
    )
    assert flower.process.poll() is None, flower.output()
    assert http_status(f"{base}/api/workers") == 401
    assert http_status(f"{base}/api/workers", "u:wrong") == 401
    assert http_status(f"{base}/api/workers", "u:p") == 200
    flower.stop()
    assert "Traceback" not in flower.output(), flower.output()
