"""FileSink rotation: by size and by clock period, rotated files gzipped and pruned,
no batch split between files, nothing lost."""

from __future__ import annotations

import gzip
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from gp_celery.modules.sinks.file_sink.rotation import (
    RotationPolicy,
    period,
    rotated_files,
    rotated_name,
    rotation_due,
)
from gp_celery.testing import BuildError, build, run

STAMPED = r"out\.log\.\d{8}T\d{6}Z(\.\d+)?"
"""A rotated out.log: its UTC time, and a counter when two rotations share a second."""


def sink(tmp_path: Path, **options: Any) -> Any:
    return build("FileSink", {"file_name": str(tmp_path / "out.log"), **options})


def all_lines(tmp_path: Path) -> list[str]:
    """Every line in out.log and its rotated files, oldest file first."""
    lines = []
    for path in [*rotated_files(str(tmp_path / "out.log")), tmp_path / "out.log"]:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        lines += data.decode().splitlines()
    return lines


def test_size_rotation_keeps_every_file_under_the_limit_and_loses_nothing(tmp_path: Path) -> None:
    module = sink(tmp_path, rotate_bytes=100)
    for batch in range(20):
        assert run(module, [{"data": f"{batch:02}-{i}-" + "x" * 10} for i in range(3)]) == []
    rotated = rotated_files(str(tmp_path / "out.log"))
    assert len(rotated) >= 5
    for path in [*rotated, tmp_path / "out.log"]:
        assert path.stat().st_size <= 100
        assert len(path.read_text().splitlines()) % 3 == 0  # whole batches only
    assert all_lines(tmp_path) == [f"{b:02}-{i}-" + "x" * 10 for b in range(20) for i in range(3)]


def test_period_rotation_renames_a_file_last_written_in_an_earlier_period(tmp_path: Path) -> None:
    module = sink(tmp_path, rotate_every_secs=3600)
    run(module, [{"data": "old"}])
    module.close()
    hour_ago = time.time() - 3600
    os.utime(tmp_path / "out.log", (hour_ago, hour_ago))
    run(module, [{"data": "new"}])
    [rotated] = rotated_files(str(tmp_path / "out.log"))
    start = period(hour_ago, 3600) * 3600
    assert rotated.name == "out.log." + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start))
    assert rotated.read_text() == "old\n"
    assert (tmp_path / "out.log").read_text() == "new\n"


def test_a_file_written_in_this_period_is_not_rotated(tmp_path: Path) -> None:
    module = sink(tmp_path, rotate_every_secs=86400)
    run(module, [{"data": "a"}])
    run(module, [{"data": "b"}])
    assert rotated_files(str(tmp_path / "out.log")) == []
    assert (tmp_path / "out.log").read_text() == "a\nb\n"


def test_rotated_files_are_gzipped_and_the_oldest_pruned(tmp_path: Path) -> None:
    module = sink(tmp_path, rotate_bytes=10, gzip_rotated=True, max_rotated_files=3)
    for batch in range(8):
        run(module, [{"data": f"batch {batch}"}])
    rotated = rotated_files(str(tmp_path / "out.log"))
    assert [path.suffix for path in rotated] == [".gz"] * 3
    assert [gzip.decompress(path.read_bytes()) for path in rotated] == [
        b"batch 4\n",
        b"batch 5\n",
        b"batch 6\n",
    ]
    assert (tmp_path / "out.log").read_text() == "batch 7\n"


def test_compressed_files_rotate_with_the_stamp_before_gz(tmp_path: Path) -> None:
    module = build(
        "FileSink",
        {"file_name": str(tmp_path / "out.log.gz"), "compress": "gzip", "rotate_bytes": 30},
    )
    for batch in range(4):
        run(module, [{"data": f"batch {batch}"}])
    rotated = rotated_files(str(tmp_path / "out.log.gz"))
    assert rotated
    assert all(re.fullmatch(STAMPED + r"\.gz", path.name) for path in rotated)
    text = b"".join(gzip.decompress(p.read_bytes()) for p in [*rotated, tmp_path / "out.log.gz"])
    assert text == b"batch 0\nbatch 1\nbatch 2\nbatch 3\n"


def test_rotation_is_off_by_default(tmp_path: Path) -> None:
    module = sink(tmp_path)
    for _ in range(50):
        run(module, [{"data": "x" * 1000}])
    assert rotated_files(str(tmp_path / "out.log")) == []


def test_rotations_in_one_second_are_numbered_in_order_even_after_pruning(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "out.log")
    assert rotated_name(path, 1_796_119_200) == path + ".20261201T100000Z"
    (tmp_path / "out.log.20261201T100000Z.gz").touch()
    (tmp_path / "out.log.20261201T100000Z.3").touch()
    assert rotated_name(path, 1_796_119_200) == path + ".20261201T100000Z.4"
    assert rotated_name(path, 1_796_119_201) == path + ".20261201T100001Z"


@pytest.mark.parametrize(
    ("size", "age", "incoming", "why"),
    [
        (0, 7200, 10**9, None),  # an empty file never rotates
        (90, 0, 10, None),
        (91, 0, 10, "size"),
        (10, 3600, 10, "period"),
        (10, 1, 10, None),  # same hour (the clock below is 30 min into it)
    ],
)
def test_rotation_due(size: int, age: float, incoming: int, why: str | None) -> None:
    policy = RotationPolicy(max_bytes=100, every_secs=3600, gzip_rotated=False, max_rotated=None)
    now = 1_796_119_200 + 1800
    assert rotation_due(policy, size, now - age, incoming, now) == why


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gzip_rotated": True}, "needs 'rotate_bytes' or 'rotate_every_secs'"),
        ({"max_rotated_files": 3}, "needs 'rotate_bytes' or 'rotate_every_secs'"),
        ({"rotate_bytes": 0}, "rotate_bytes"),
        ({"rotate_every_secs": 0}, "rotate_every_secs"),
        ({"rotate_bytes": 10, "gzip_rotated": True, "compress": "gzip"}, "not both"),
    ],
)
def test_bad_rotation_options_are_load_errors(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(BuildError, match=message):
        sink(tmp_path, **options)
