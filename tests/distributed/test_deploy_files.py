"""The deployment files: systemd units in scripts/systemd/, the image and compose file in
docker/. No Docker engine (and no systemd as PID 1) runs here, so the files are parsed and
every command they name is run against the installed package with --help or its parser.
One test plays systemd's stop sequence against a real worker to show that it is warm.
"""

from __future__ import annotations

import configparser
import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gp_celery.cli import build_parser
from tests.conftest import ROOT, VENV_BIN, RedisServer, StartWorker, wait_for

SYSTEMD = ROOT / "scripts" / "systemd"
DOCKER = ROOT / "docker"
UNITS = sorted(SYSTEMD.glob("*.service"))
INSTALLED_BIN = "/opt/gp-celery/venv/bin/"
"""Where scripts/systemd/README.md installs the venv; the units name programs there."""
ENV_FILE = "/etc/gp-celery/gp-celery.env"
TEST_CONFIG = ROOT / "conf" / "tcp-to-file.yml"
F_GETPIPE_SZ = 1032  # Linux fcntl


# --- helpers -----------------------------------------------------------------------------


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read(path)
    return unit


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (SYSTEMD / "gp-celery.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return dict(pairs)


def expand_exec(command: str, env: dict[str, str], instance: str = "gp-celery") -> list[str]:
    """An ExecStart line as systemd runs it: specifiers, ${VAR} (one word), $VAR (split)."""
    specifiers = {"%i": instance, "%I": instance, "%H": socket.gethostname(), "%%": "%"}
    command = re.sub(r"%[iIH%]", lambda match: specifiers[match.group()], command)
    words: list[str] = []
    for word in shlex.split(command):
        if re.fullmatch(r"\$\w+", word):
            words += env.get(word[1:], "").split()
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda match: env[match.group(1)], word))
    return words


def installed(program: str) -> Path:
    """The venv's program for a path under /opt/gp-celery/venv/bin (or a bare name)."""
    path = VENV_BIN / program.removeprefix(INSTALLED_BIN)
    assert "/" not in program.removeprefix(INSTALLED_BIN), program
    assert path.is_file(), f"{program}: no {path.name} in {VENV_BIN}"
    assert os.access(path, os.X_OK), path
    return path


def assert_command_parses(argv: list[str], cwd: Path = ROOT) -> None:
    """Run the program's own parser on ``argv``: gp-celery's argparse, celery's click."""
    program = installed(argv[0])
    if program.name == "gp-celery":
        args = build_parser().parse_args(argv[1:])  # SystemExit on an unknown option
        assert args.command == argv[1]
        help_argv = [str(program), argv[1], "--help"]
    else:
        assert program.name == "celery", argv
        # click parses every option before the eager --help, so a bad name still fails.
        help_argv = [str(program), *argv[1:], "--help"]
    result = subprocess.run(
        help_argv, capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )
    assert result.returncode == 0, f"{' '.join(help_argv)}:\n{result.stdout}{result.stderr}"
    assert "Usage" in result.stdout or "usage" in result.stdout


def seconds(value: str) -> float:
    """systemd/compose durations: 300, 300s, 5m, 2m30s, 1min."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+)\s*([a-z]*)", value.strip())
    assert parts, value
    return float(sum(int(number) * units[unit] for number, unit in parts))


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (DOCKER / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip()
    ]


# --- systemd -----------------------------------------------------------------------------


def test_the_units_are_there() -> None:
    assert {path.name for path in UNITS} >= {
        "gp-celery-listener.service",
        "gp-celery-worker@.service",
        "gp-celery-flower.service",
    }
    assert (SYSTEMD / "README.md").is_file()


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_unit_runs_as_a_service_user_restarts_and_stops_warmly(path: Path) -> None:
    unit = read_unit(path)
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["Type"] == "simple"
    assert service["User"] == service["Group"] == "gp-celery"
    assert service["EnvironmentFile"] == ENV_FILE
    assert service["Restart"] in {"always", "on-failure"}
    assert seconds(service["RestartSec"]) >= 1
    assert service["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    if "flower" not in path.name:
        # SIGTERM to the main process only; the rest get SIGKILL after TimeoutStopSec.
        assert service["KillMode"] == "mixed"
        assert seconds(service["TimeoutStopSec"]) >= 120


def test_worker_unit_is_per_queue_and_outlasts_the_visibility_timeout() -> None:
    from gp_celery.broker.settings import VISIBILITY_TIMEOUT_SECS

    service = read_unit(SYSTEMD / "gp-celery-worker@.service")["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[argv.index("-Q") + 1] == "%i"
    assert "%i" in argv[argv.index("--hostname") + 1]  # one node name per queue and host
    assert seconds(service["TimeoutStopSec"]) >= VISIBILITY_TIMEOUT_SECS


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_unit_command_names_installed_programs_and_parses(path: Path, tmp_path: Path) -> None:
    env = {**env_example(), "GP_CONFIG": str(TEST_CONFIG)}
    argv = expand_exec(read_unit(path)["Service"]["ExecStart"], env, instance="geo")
    assert argv[0].startswith(INSTALLED_BIN)
    assert_command_parses(argv, cwd=tmp_path)  # not the repo: the installed package


def test_env_example_sets_every_variable_the_units_use() -> None:
    example = env_example()
    assert {"GP_CONFIG", "GP_BROKER_URL", "FLOWER_BASIC_AUTH"} <= set(example)
    assert "FLOWER_UNAUTHENTICATED_API" not in example
    for path in UNITS:
        used = re.findall(r"\$\{?(\w+)", read_unit(path)["Service"]["ExecStart"])
        assert set(used) <= set(example), path.name
    assert "--task-events" in example["GP_WORKER_OPTS"].split()


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the units were checked by parsing")
    names = []
    for path in UNITS:
        text = path.read_text().replace(INSTALLED_BIN, f"{VENV_BIN}/")
        name = path.name.replace("@.", "@geo.")
        (tmp_path / name).write_text(text)
        names.append(f"./{name}")
    result = subprocess.run(
        [analyze, "verify", "--man=no", *names],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Unknown keys are only warnings, so no warning may name our units; verify also loads
    # the host's own units (a Debian package's may be outdated), which are not ours to judge.
    ours = [line for line in result.stderr.splitlines() if any(n[2:] in line for n in names)]
    assert ours == [], result.stderr


def test_worker_unit_stop_sequence_is_a_warm_shutdown(
    redis_server: RedisServer, start_worker: StartWorker, tmp_path: Path
) -> None:
    """systemd's stop (the unit's KillSignal and KillMode) in the middle of a batch: the
    batch finishes and the worker exits 0. The batch's FileSink writes to a FIFO whose
    buffer fills up, so the write blocks until the test reads: the batch is provably
    running when the signal arrives."""
    service = read_unit(SYSTEMD / "gp-celery-worker@.service")["Service"]
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so the sink's open() succeeds
    config = tmp_path / "pipeline.yml"
    config.write_text(
        f"- Global:\n   batch_size: 5000\n- StdIn\n- FileSink:\n   file_name: {fifo}\n"
    )
    worker = start_worker(config, redis_server.url)
    lines = [f"line {n:05} " + "x" * 90 for n in range(2000)]  # ~200 KB: 3x a pipe buffer
    listener = subprocess.run(
        [str(VENV_BIN / "gp-celery"), "listen", "-c", str(config)],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env={**os.environ, "GP_BROKER_URL": redis_server.url},
        timeout=60,
        check=False,
    )
    assert listener.returncode == 0, listener.stderr
    pipe_size = fcntl.fcntl(reader, F_GETPIPE_SZ)
    wait_for(lambda: buffered(reader) >= pipe_size, 30, "the batch to fill the FIFO")

    kill_signal = signal.Signals[service["KillSignal"]]
    if service.get("KillMode", "control-group") == "mixed":
        os.kill(worker.process.pid, kill_signal)
    else:
        os.killpg(worker.process.pid, kill_signal)
    wait_for(lambda: "Warm shutdown" in worker.output(), 30, "Celery's warm shutdown")
    time.sleep(0.5)
    assert worker.process.poll() is None, "the worker left before its batch was done"

    os.set_blocking(reader, True)
    with os.fdopen(reader, "rb") as pipe:
        received: list[bytes] = []
        drain = threading.Thread(target=lambda: received.append(pipe.read()), daemon=True)
        drain.start()
        assert worker.process.wait(timeout=seconds(service["TimeoutStopSec"])) == 0
        drain.join(timeout=10)
    assert received, "the FIFO never reached end of file"
    assert [line for line in received[0].decode().splitlines() if line] == lines
    assert "succeeded" in worker.output()


def buffered(fd: int) -> int:
    """Bytes waiting in a pipe."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


# --- docker ------------------------------------------------------------------------------


def test_compose_has_redis_listener_worker_and_flower() -> None:
    services = compose()["services"]
    assert {"redis", "listener", "worker", "flower"} <= set(services)


def test_compose_redis_keeps_queued_batches() -> None:
    redis = compose()["services"]["redis"]
    assert str(redis["image"]).startswith("redis:7")
    command = redis["command"]
    words = command if isinstance(command, list) else shlex.split(command)
    options = dict(zip(words[1::2], words[2::2], strict=False))
    assert words[0] == "redis-server"
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


@pytest.mark.parametrize("name", ["listener", "worker", "flower"])
def test_compose_command_exists_in_the_package(name: str, tmp_path: Path) -> None:
    service = compose()["services"][name]
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    command = service["command"]
    argv = command if isinstance(command, list) else shlex.split(command)
    if argv[0] == "gp-celery":
        # The image's pipeline is conf/tcp-to-file.yml, at /etc/gp-celery/pipeline.yml.
        argv = [arg.replace("/etc/gp-celery/pipeline.yml", str(TEST_CONFIG)) for arg in argv]
    assert_command_parses(argv, cwd=tmp_path)
    assert service["stop_signal"] == "SIGTERM"
    assert service["environment"]["GP_BROKER_URL"] == "redis://redis:6379/0"


def test_compose_listener_and_worker_share_one_config_version() -> None:
    services = compose()["services"]
    listener, worker = services["listener"], services["worker"]
    assert listener["environment"] == worker["environment"]
    assert "/etc/gp-celery/pipeline.yml" in listener["command"]
    assert "/etc/gp-celery/pipeline.yml" in worker["command"]
    assert seconds(worker["stop_grace_period"]) >= 120
    assert "--task-events" in worker["command"] or "-E" in worker["command"]


def test_compose_flower_asks_for_a_password_and_stays_local() -> None:
    flower = compose()["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert "FLOWER_UNAUTHENTICATED_API" not in (DOCKER / "compose.yaml").read_text()
    assert all(str(port).startswith("127.0.0.1:") for port in flower["ports"])


def test_image_pipeline_is_valid_and_fully_built() -> None:
    environment = compose()["services"]["worker"]["environment"]
    result = subprocess.run(
        [str(VENV_BIN / "gp-celery"), "check", "--strict", "-c", str(TEST_CONFIG)],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    copies = [args for op, args in dockerfile_instructions() if op == "COPY"]
    assert "conf/tcp-to-file.yml /etc/gp-celery/pipeline.yml" in copies


def test_dockerfile_copies_what_the_package_needs_and_runs_as_a_user() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    sources = []
    for op, args in instructions:
        if op == "COPY":
            words = [word for word in shlex.split(args) if not word.startswith("--")]
            sources += words[:-1]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for root in project["tool"]["setuptools"]["packages"]["find"]["where"]:
        if root != ".":
            assert root in sources, f"package root {root}/ is not copied"
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        name = pattern.rstrip("*")
        assert any((ROOT / source / name).is_dir() or source == name for source in sources), (
            f"package {pattern} is not copied"
        )
    assert project["project"]["readme"] in sources
    dependencies = " ".join(project["project"]["dependencies"])
    assert "celery[redis]" in dependencies  # a bare install runs the fleet
    assert "flower" in dependencies
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "pip install ." in runs
    users = [args for op, args in instructions if op == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "**" in ignored  # .venv, bench output and .git stay out of the build context
    for source in sources:
        assert f"!{source.split('/')[0]}" in {line.split("/")[0] for line in ignored}, source
