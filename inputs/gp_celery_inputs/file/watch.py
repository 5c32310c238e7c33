"""Noticing that files changed: Linux inotify (through inotify_simple) or polling.

Either way the File input rescans and reads every file after a wake-up; inotify only makes
the wake-up come as soon as something happens in a watched directory (a write, a create, a
rename, a delete), while polling wakes every ``stat_interval``. With inotify the poll stays
as a safety net (file systems such as NFS send no events for other hosts' writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from inotify_simple import INotify

log = logging.getLogger(__name__)

Relevant = Callable[[str, int], bool]
"""(a name in a watched directory, the inotify event mask) -> may it concern our files?"""


class Watcher(Protocol):
    kind: str

    def watch(self, directories: set[str]) -> None:
        """Watch these directories too (no-op for polling)."""

    async def wait(self, timeout: float) -> bool:
        """Until something changed, or ``timeout`` seconds passed. True if the files
        should be looked for again (a file came, went or was renamed; or the timeout:
        a poll), False if only files already open were written to."""

    def close(self) -> None: ...


class Poller:
    kind = "poll"

    def watch(self, directories: set[str]) -> None:
        pass

    async def wait(self, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return True

    def close(self) -> None:
        pass


class InotifyWatcher:
    """One inotify instance; one watch per directory (it reports its files' changes too)."""

    kind = "inotify"

    def __init__(self, inotify: INotify, relevant: Relevant) -> None:
        from inotify_simple import flags

        self._inotify = inotify
        self._relevant = relevant
        self._mask = (
            flags.MODIFY
            | flags.CREATE
            | flags.MOVED_FROM
            | flags.MOVED_TO
            | flags.DELETE
            | flags.ATTRIB
            | flags.CLOSE_WRITE
            | flags.DELETE_SELF
            | flags.MOVE_SELF
        )
        self._ignored = flags.IGNORED
        self._comings = flags.CREATE | flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE
        self._watched: dict[str, int] = {}
        self._paths: dict[int, str] = {}
        self._ready = asyncio.Event()
        asyncio.get_running_loop().add_reader(inotify.fileno(), self._ready.set)

    def watch(self, directories: set[str]) -> None:
        for directory in directories - self._watched.keys():
            try:
                descriptor = self._inotify.add_watch(directory, self._mask)
            except OSError:  # not there (yet): the next scan tries again
                continue
            self._watched[directory] = descriptor
            self._paths[descriptor] = directory

    async def wait(self, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            # asyncio.wait, not wait_for: Python 3.11's wait_for can swallow a cancellation
            # that arrives as the event is set, and the input would never stop.
            waiter = asyncio.ensure_future(self._ready.wait())
            try:
                await asyncio.wait({waiter}, timeout=left)
            finally:
                waiter.cancel()
            self._ready.clear()
            changed, rescan = self._changes()
            if changed:
                return rescan
        return True

    def _changes(self) -> tuple[bool, bool]:
        """Did anything we read change, and did files come or go? (Writes of other files
        in the directory, such as a sink's output or the offset store, are no reason to
        look.)"""
        changed = rescan = False
        for event in self._inotify.read(timeout=0):
            if event.mask & self._ignored:  # the directory went away: watch it again later
                directory = self._paths.pop(event.wd, None)
                if directory is not None:
                    self._watched.pop(directory, None)
            if not event.name or self._relevant(event.name, event.mask):
                changed = True
                rescan = rescan or not event.name or bool(event.mask & self._comings)
        return changed, rescan

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._inotify.fileno())
        self._inotify.close()


def make_watcher(
    kind: Literal["auto", "inotify", "poll"], label: str, relevant: Relevant
) -> Watcher:
    """The watcher asked for; 'auto' falls back to polling where inotify cannot start
    (not Linux, or the per-user limit of inotify instances reached)."""
    if kind == "poll":
        return Poller()
    try:
        from inotify_simple import INotify

        inotify = INotify(nonblocking=True)
    except (ImportError, OSError) as error:
        if kind == "inotify":
            raise OSError(f"inotify is not available here: {error}") from error
        log.info("%s: inotify is not available (%s); polling instead.", label, error)
        return Poller()
    return InotifyWatcher(inotify, relevant)
