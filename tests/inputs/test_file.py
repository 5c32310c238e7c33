"""File: cat and tail, rotation, offsets saved on delivery, inotify and polling, hostile files.

The input runs under the production ``InputRunner`` (chunks, marks and ``delivered`` as in
embedded mode) on its own thread; the test writes, renames and truncates real files.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gp_celery.event import META, RECEIVED_FROM, Event
from gp_celery.framing import Chunk, decode_chunk
from gp_celery.testing import BuildError, build
from gp_celery_inputs.listener.runner import InputRunner
from tests.conftest import wait_for
from tests.inputs.conftest import errors


class Running:
    """``File`` under an InputRunner; every delivered chunk decoded into ``events``."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.module = build("File", options, node_id="files")
        self.events: list[Event] = []
        self.runner: InputRunner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._started.wait(5)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self.error = error

    async def _main(self) -> None:
        async def deliver(chunk: Chunk) -> None:
            self.events.extend(decode_chunk(chunk).events)

        self.loop = asyncio.get_running_loop()
        self.runner = InputRunner({"files": self.module}, deliver, lambda _: 1024, 20)
        self._started.set()
        await self.runner.run()

    @property
    def data(self) -> list[str]:
        return [event["data"] for event in self.events]

    def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        wait_for(lambda: len(self.events) >= count or self.error is not None, timeout, f"{count}")
        assert self.error is None
        return self.data

    def scanned(self) -> None:
        """Wait until the input has looked for its files once."""
        wait_for(lambda: self.module.scans >= 1 or self.error is not None, 15, "the first scan")
        assert self.error is None

    def stop(self) -> None:
        """As SIGTERM does: stop reading, flush, save the offsets."""
        if self.loop is not None and self.runner is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.runner.request_stop)
        self.join()

    def join(self, timeout: float = 10) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the runner did not end"
        if self.error is not None:
            raise self.error


@pytest.fixture
def follow(tmp_path: Path) -> Any:
    started: list[Running] = []

    def start(**options: Any) -> Running:
        options.setdefault("mode", "tail")
        options.setdefault("sincedb_path", str(tmp_path / "sincedb.json"))
        options.setdefault("stat_interval", 0.05)
        options.setdefault("gone_quiet_secs", 0.2)
        running = Running(options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def lines(prefix: str, count: int, start: int = 0) -> str:
    return "".join(f"{prefix}{number}\n" for number in range(start, start + count))


def exactly_once(got: list[str], expected: list[str]) -> None:
    repeated = [line for line, times in Counter(got).items() if times > 1]
    assert not repeated, f"{len(repeated)} lines repeated, e.g. {repeated[:3]}"
    missing = set(expected) - set(got)
    assert not missing, f"{len(missing)} lines lost, e.g. {sorted(missing)[:3]}"


# -- cat ---------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """LumberMill's test_data/file_input shape: files at the top and in subdirectories."""
    top = tmp_path / "tree"
    (top / "second_level").mkdir(parents=True)
    (top / "second_level_2").mkdir()
    (top / "cheese.py").write_text("cheese\n")
    (top / "eggs.info").write_text("Eggs!\n")
    (top / "ham.txt").write_text("ham\n")
    (top / "spam.txt").write_text("spam\n")
    (top / "second_level" / "bacon.txt").write_text("bacon\n")
    (top / "second_level" / "beans.txt").write_text("beans\n")
    (top / "second_level_2" / "spam.info").write_text("Spam!\nSpam! Spam!\nSpam! Spam! Spam!")
    return top


def cat(**options: Any) -> Running:
    running = Running({"mode": "cat", **options})
    running.join()
    return running


def test_cat_reads_each_file_once_and_ends(tree: Path) -> None:
    running = cat(paths=[str(tree)], line_by_line=True)
    assert sorted(running.data) == sorted(["cheese", "Eggs!", "ham", "spam"])


def test_cat_recursive_with_pattern_finds_files_in_subdirectories(tree: Path) -> None:
    running = cat(paths=str(tree), recursive=True, pattern="*.info", line_by_line=True)
    assert running.data == ["Eggs!", "Spam!", "Spam! Spam!", "Spam! Spam! Spam!"]
    assert running.events[-1]["filename"] == str(tree / "second_level_2" / "spam.info")
    assert running.events[-1][META][RECEIVED_FROM] == str(tree / "second_level_2" / "spam.info")


def test_cat_without_line_by_line_makes_one_event_per_file(tree: Path) -> None:
    running = cat(paths=[str(tree / "second_level_2")])
    assert running.data == ["Spam!\nSpam! Spam!\nSpam! Spam! Spam!"]


def test_cat_ignore_empty_sends_nothing_for_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "full.log").write_bytes(b"x\n")
    assert cat(paths=[str(tmp_path)], pattern="*.log").data == ["", "x\n"]
    assert cat(paths=[str(tmp_path)], pattern="*.log", ignore_empty=True).data == ["x\n"]


def test_a_latin_1_file_is_decoded_as_latin_1(tmp_path: Path) -> None:
    (tmp_path / "old.log").write_bytes(b"caf\xe9\nna\xefve\n")
    running = cat(paths=[str(tmp_path)], line_by_line=True, encoding="latin_1")
    assert running.data == ["café", "naïve"]
    assert [errors(event) for event in running.events] == [[], []]


def test_cat_counts_and_logs_a_path_that_does_not_exist(tmp_path: Path, caplog: Any) -> None:
    (tmp_path / "here.log").write_text("here\n")
    with caplog.at_level(logging.WARNING):
        running = cat(paths=[str(tmp_path / "here.log"), str(tmp_path / "gone.log")])
    assert running.data == ["here\n"]
    assert running.module.stats.counts["files_missing"] == 1
    assert f"cannot read {tmp_path / 'gone.log'} (it does not exist)" in caplog.text


def test_cat_with_a_sincedb_reads_only_what_is_new_on_the_next_run(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(lines("a", 3))
    options = {"paths": [str(log)], "line_by_line": True, "sincedb_path": str(tmp_path / "db")}
    assert cat(**options).data == ["a0", "a1", "a2"]
    with log.open("a") as out:
        out.write(lines("a", 2, start=3))
    assert cat(**options).data == ["a3", "a4"]


# -- tail --------------------------------------------------------------------------------------


@pytest.mark.parametrize("watch", ["inotify", "poll"])
def test_tail_sends_lines_as_they_are_written(follow: Any, tmp_path: Path, watch: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("before start\n")
    # inotify: a poll only every 30 s, so the lines can only come through inotify.
    running = follow(
        paths=[str(log)], watch=watch, stat_interval=30 if watch == "inotify" else 0.05
    )
    running.scanned()  # start_position 'end': the line written before is skipped
    assert running.module.watcher_kind == watch
    with log.open("a") as out:
        out.write("one\ntwo\n")
    assert running.wait_for(2, timeout=5) == ["one", "two"]


def test_start_position_beginning_reads_old_lines_and_tail_lines_the_last_few(
    follow: Any, tmp_path: Path
) -> None:
    (tmp_path / "a.log").write_text(lines("a", 5))
    (tmp_path / "b.log").write_text(lines("b", 5))
    all_of_a = follow(paths=[str(tmp_path / "a.log")], start_position="beginning")
    assert all_of_a.wait_for(5) == [f"a{n}" for n in range(5)]
    last_of_b = follow(
        paths=[str(tmp_path / "b.log")], tail_lines=2, sincedb_path=str(tmp_path / "db2")
    )
    assert last_of_b.wait_for(2) == ["b3", "b4"]


def test_a_file_that_appears_later_is_read_from_its_start(follow: Any, tmp_path: Path) -> None:
    running = follow(paths=[str(tmp_path)], pattern="*.log", recursive=True)
    running.scanned()
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "new.log").write_text("first\nsecond\n")
    (tmp_path / "ignored.txt").write_text("not matching\n")
    assert running.wait_for(2) == ["first", "second"]
    assert running.events[0]["filename"] == str(tmp_path / "deep" / "new.log")


def test_many_files_at_once_each_line_once(follow: Any, tmp_path: Path) -> None:
    for number in range(40):
        (tmp_path / f"f{number}.log").write_text(lines(f"f{number}-", 50))
    running = follow(paths=[str(tmp_path)], pattern="*.log", start_position="beginning")
    got = running.wait_for(2000)
    exactly_once(got, [f"f{n}-{m}" for n in range(40) for m in range(50)])


def write_rotating(log: Path, count: int, every: int, opened: Any) -> list[str]:
    """Write ``count`` lines, renaming the file away every ``every`` lines without pausing.

    After each rotation the writer waits until the tailer has opened the new file (not
    until it read anything): a file renamed away before it was ever seen cannot be read.
    """
    written = []
    out = log.open("a")
    for number in range(count):
        line = f"line {number}"
        out.write(line + "\n")
        out.flush()
        written.append(line)
        if number % every == every - 1:
            os.replace(log, log.with_name(f"{log.name}.{number}"))
            out.write(f"after rename {number}\n")  # still to the renamed file
            out.close()
            written.append(f"after rename {number}")
            out = log.open("a")
            inode = log.stat().st_ino
            wait_for(lambda inode=inode: inode in opened(), 15, "the new file opened")
    out.close()
    return written


def test_rename_rotation_while_writing_neither_loses_nor_repeats_a_line(
    follow: Any, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    log.touch()
    running = follow(paths=[str(tmp_path)], pattern="*.log", start_position="beginning")

    def opened() -> set[int]:
        return {file.inode for file in list(running.module.tails)}

    wait_for(lambda: log.stat().st_ino in opened(), 15, "the file opened")
    written: list[str] = []
    writer = threading.Thread(target=lambda: written.extend(write_rotating(log, 3000, 400, opened)))
    writer.start()
    writer.join()
    wait_for(lambda: len(running.events) >= len(written), 10, f"{len(written)} lines")
    exactly_once(running.data, written)
    # The renamed files left our view (pattern *.log): read to their end, then closed.
    wait_for(lambda: len(running.module.tails) == 1, 10, "rotated files closed")
    assert running.module.stats.counts["files_left_view"] == 7


def test_a_rotated_file_that_stays_in_view_is_not_read_again(follow: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(lines("x", 10))
    running = follow(paths=[str(tmp_path)], start_position="beginning")  # pattern '*'
    running.wait_for(10)
    os.replace(log, tmp_path / "app.log.1")
    log.write_text(lines("y", 3))
    assert running.wait_for(13)[10:] == ["y0", "y1", "y2"]
    time.sleep(0.3)
    assert len(running.data) == 13


def test_copy_truncate_rotation_reads_the_file_again_from_its_start(
    follow: Any, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    running = follow(paths=[str(log)], start_position="beginning")
    written = []
    for turn in range(3):
        batch = lines(f"t{turn}-", 200 - turn * 50)
        with log.open("a") as out:
            out.write(batch)
        written += batch.splitlines()
        running.wait_for(len(written))
        shutil.copy(log, tmp_path / f"app.log.{turn}")
        os.truncate(log, 0)
    exactly_once(running.data, written)
    wait_for(lambda: running.module.stats.counts["files_truncated"] >= 2, 15, "truncations")


def test_offsets_are_saved_on_stop_and_a_restart_reads_every_line_once(
    follow: Any, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    log.write_text(lines("a", 100) + "partial")
    first = follow(paths=[str(log)], start_position="beginning")
    first.wait_for(100)
    first.stop()
    with log.open("a") as out:
        out.write(" line\n" + lines("b", 10))
    second = follow(paths=[str(log)])  # start_position 'end' is overruled by the saved offset
    second.wait_for(11)
    time.sleep(0.2)
    second.stop()
    exactly_once(
        first.data + second.data,
        [*lines("a", 100).split(), "partial line", *lines("b", 10).split()],
    )
    stored = json.loads((tmp_path / "sincedb.json").read_text())
    info = log.stat()
    entry = stored["files"][f"{info.st_dev}:{info.st_ino}"]
    assert entry == {"path": str(log), "offset": info.st_size}
    assert not list(tmp_path.glob(".sincedb-*")), "a temporary store was left behind"


def test_the_store_forgets_files_rotated_away_and_deleted(follow: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("one\n")
    running = follow(paths=[str(log)], start_position="beginning", sincedb_write_interval=0)
    running.wait_for(1)
    old = log.stat()
    os.replace(log, tmp_path / "app.log.1")
    log.write_text("two\n")
    running.wait_for(2)
    wait_for(lambda: len(running.module.tails) == 1, 15, "the old file closed")
    (tmp_path / "app.log.1").unlink()
    store = running.module.store
    wait_for(lambda: (old.st_dev, old.st_ino) not in store.offsets, 15, "the old entry pruned")
    running.stop()
    stored = json.loads((tmp_path / "sincedb.json").read_text())["files"]
    assert list(stored) == [f"{log.stat().st_dev}:{log.stat().st_ino}"]


def test_a_file_above_size_limit_is_skipped_and_counted(follow: Any, tmp_path: Path) -> None:
    (tmp_path / "big.log").write_text("x" * 1000 + "\n")
    (tmp_path / "small.log").write_text("small\n")
    running = follow(paths=[str(tmp_path)], size_limit=100, start_position="beginning")
    assert running.wait_for(1) == ["small"]
    assert running.module.stats.counts["files_too_large"] == 1


def test_ignore_truncate_reads_on_from_the_old_offset_once_the_file_grew_past_it(
    follow: Any, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    log.write_text("0123456789\n")
    running = follow(paths=[str(log)], start_position="beginning", ignore_truncate=True)
    running.wait_for(1)
    os.truncate(log, 0)
    with log.open("a") as out:
        out.write("short\n")
    time.sleep(0.3)
    assert running.data == ["0123456789"]
    with log.open("a") as out:
        out.write("after more\n")  # the file is 17 bytes now; reading goes on at 11
    assert running.wait_for(2) == ["0123456789", " more"]


def test_an_offset_is_saved_only_once_its_lines_are_delivered(tmp_path: Path) -> None:
    """With a chunker that never delivers, nothing is saved; once it delivers, all is."""
    from gp_celery_inputs.listener.runner import Chunker

    log = tmp_path / "app.log"
    log.write_text(lines("a", 20))
    db = tmp_path / "db.json"
    module = build(
        "File",
        {
            "paths": [str(log)],
            "mode": "cat",
            "line_by_line": True,
            "sincedb_path": str(db),
            "sincedb_write_interval": 0,
        },
    )
    delivered: list[Chunk] = []

    async def deliver(chunk: Chunk) -> None:
        assert not db.exists()  # the chunk is delivered before its offset is saved
        delivered.append(chunk)

    async def main() -> None:
        chunker = Chunker(module, deliver, 1 << 20, 60_000)
        await module.serve(chunker.emit)
        assert not db.exists()
        await chunker.flush()

    asyncio.run(main())
    assert len(decode_chunk(delivered[0]).events) == 20
    assert (
        json.loads(db.read_text())["files"][f"{log.stat().st_dev}:{log.stat().st_ino}"]["offset"]
        == log.stat().st_size
    )


def test_a_sincedb_that_is_not_ours_is_replaced(tmp_path: Path, caplog: Any) -> None:
    db = tmp_path / "lumbermill.db"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)))
    log = tmp_path / "app.log"
    log.write_text("x\n")
    with caplog.at_level(logging.WARNING):
        running = cat(paths=[str(log)], line_by_line=True, sincedb_path=str(db))
    assert running.data == ["x"]
    assert "starting without them" in caplog.text
    assert json.loads(db.read_text())["format"] == "gp-celery file offsets 1"


def test_multiline_regex_joins_lines_and_sends_the_last_event_when_quiet(
    follow: Any, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    running = follow(paths=[str(log)], multiline_regex_before=r"\s", multiline_flush_secs=0.2)
    running.scanned()
    with log.open("a") as out:
        out.write("Traceback:\n  File a\n  File b\nValueError: x\n")
    assert running.wait_for(2) == ["Traceback:\n  File a\n  File b", "ValueError: x"]


# -- hostile files -------------------------------------------------------------------------------


def test_hostile_lines_are_tagged_and_nothing_is_lost(follow: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    running = follow(paths=[str(log)], max_line_bytes=64)
    running.scanned()
    garbage = bytes(range(0, 256, 4))  # control bytes, NUL, bytes that are not UTF-8
    with log.open("ab") as out:
        out.write(b"ok\n" + b"x" * 10_000 + b"\n" + b"bad \xff\xfe utf-8\n" + garbage + b"\nend\n")
    running.wait_for(5)
    events = running.events
    assert [event["data"][:4] for event in events] == [
        "ok",
        "x" * 4,
        "bad ",
        "\x00\x04\x08\x0c",
        "end",
    ]
    assert errors(events[1]) == ["line of 10000 bytes exceeds max_line_bytes=64; truncated"]
    assert errors(events[2]) == ["invalid UTF-8 replaced"]
    assert errors(events[3]) == ["invalid UTF-8 replaced"]
    assert len(events[1]["data"]) == 64


def test_a_huge_line_is_read_in_bounded_memory(follow: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        out.write(b"y" * (16 << 20) + b"\nnext\n")
    tracemalloc.start()
    try:
        running = follow(paths=[str(log)], max_line_bytes=1024, start_position="beginning")
        running.wait_for(2, timeout=20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 << 20, f"peak {peak >> 20} MiB for a 16 MiB line"
    assert errors(running.events[0]) == [
        f"line of {16 << 20} bytes exceeds max_line_bytes=1024; truncated"
    ]
    assert running.data[1] == "next"


def test_a_vanished_file_is_counted_and_the_input_goes_on(follow: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    running = follow(paths=[str(tmp_path)], start_position="beginning")
    running.scanned()
    log.write_text("last words")
    log.unlink()
    (tmp_path / "other").write_text("still here\n")
    assert sorted(running.wait_for(2)) == ["last words", "still here"]
    wait_for(lambda: running.module.stats.counts["files_vanished"] == 1, 15, "the count")


def test_a_file_replaced_by_a_directory_or_unreadable_is_counted_and_logged_once(
    follow: Any, tmp_path: Path, caplog: Any
) -> None:
    log = tmp_path / "app.log"
    log.write_text("one\n")
    loop = tmp_path / "loop.log"
    loop.symlink_to(loop)  # opening it fails (ELOOP), as an unreadable file does
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    with caplog.at_level(logging.WARNING):
        running = follow(paths=[str(log), str(loop), str(fifo)], start_position="beginning")
        running.wait_for(1)
        log.unlink()
        log.mkdir()
        scans = running.module.scans
        wait_for(lambda: running.module.scans >= scans + 5, 15, "five more scans")
    assert running.error is None
    counts = running.module.stats.counts
    assert counts["files_unreadable"] == 2
    assert caplog.text.count("cannot read") == 2
    wait_for(lambda: counts["files_vanished"] == 1, 15, "the vanished file")
    (log / "inside").write_text("ignored: a directory is scanned like LumberMill's paths\n")
    assert running.wait_for(2)[-1].startswith("ignored")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"paths": []}, "expected one or more non-empty paths"),
        ({"paths": "x", "encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"paths": "x", "encoding": "utf_16"}, "'utf_16' is not ASCII-compatible"),
        ({"paths": "x", "multiline_regex_before": "("}, "bad regular expression"),
        ({"paths": "x", "mode": "follow"}, "'cat' or 'tail'"),
        ({"paths": "x", "tail_lines": 3, "start_position": "beginning"}, "'tail_lines'"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("File", options)
