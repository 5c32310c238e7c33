"""What `gp-celery dlq` does: list, show, replay, purge (``parser`` reads its arguments).

Where the records are: with ``--broker URL`` (or GP_BROKER_URL / GP_REDIS_URL set, as
for a worker) the fleet's Redis lists, found from the same settings a worker reads; else
the config's ``Global: dead_letter_file`` (embedded mode, and ``run --workers N``).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import RedisError

from gp_celery.broker.letters import FileLetters, LetterStore, RedisLetters, Stored
from gp_celery.cli import (
    EXIT_CONFIG,
    EXIT_DEAD_LETTERS,
    EXIT_OK,
    EXIT_RUNTIME,
    configure_logging,
)
from gp_celery.config import ConfigError, PipelineConfig, load_config
from gp_celery.dlq.select import Selection, SelectionError, parse_since

REPLAYED_BY_DEFAULT = {"failed", "parked"}
"""A poison record killed the workers that ran it; replay it only when asked to."""


class StoreUnavailableError(RuntimeError):
    """The dead letters cannot be reached (Redis down, wrong URL)."""


def open_store(args: argparse.Namespace, config: PipelineConfig) -> tuple[LetterStore, Any]:
    """The store a worker (or an embedded run) of this config keeps its letters in, and
    the Redis client for modules' fleet-wide state (None for the file)."""
    from gp_celery.broker.settings import BrokerSettings

    fleet = args.broker or os.environ.get("GP_BROKER_URL") or os.environ.get("GP_REDIS_URL")
    settings = BrokerSettings.from_env(broker=args.broker)
    if not fleet or settings.store_url is None:
        return FileLetters(config.settings.dead_letter_file), None
    from gp_celery.broker.redis import check_reachable, redis_client

    try:
        check_reachable(settings.store_url)
    except ConnectionError as error:
        raise StoreUnavailableError(str(error)) from None
    client = redis_client(settings.store_url)
    return RedisLetters(client), client


def _load(args: argparse.Namespace) -> PipelineConfig | None:
    path = args.config or os.environ.get("GP_CONFIG")
    if not path:
        raise SystemExit("gp-celery: no configuration; pass -c FILE or set GP_CONFIG")
    try:
        return load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return None


def cmd_dlq(args: argparse.Namespace) -> int:
    """Load the config, open its store, read the records, hand them to the action."""
    config = _load(args)
    if config is None:
        return EXIT_CONFIG
    action: Callable[[argparse.Namespace, PipelineConfig, LetterStore, Any, list[Stored]], int]
    action = args.dlq_action
    try:
        store, client = open_store(args, config)
        records = store.read()
        return action(args, config, store, client, records)
    except SelectionError as error:
        print(f"gp-celery dlq: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:
        raise  # `dlq list | head`: main() ends quietly, as for any command
    except (StoreUnavailableError, RedisError, OSError) as error:
        print(f"gp-celery dlq: {error}", file=sys.stderr)
        return EXIT_RUNTIME


def _selection(args: argparse.Namespace, default_kinds: set[str] | None = None) -> Selection:
    ids = getattr(args, "ids", None) or ()
    kinds = set(args.kind or ()) or (set() if ids else (default_kinds or set()))
    since = parse_since(args.since) if args.since else None
    return Selection(ids, args.node, since, kinds)


def _when(stamp: float) -> str:
    if not stamp:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _events(count: int) -> str:
    return f"{count} event{'' if count == 1 else 's'}"


def _records(count: int) -> str:
    return f"{count} record{'' if count == 1 else 's'}"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal; aligned plain text (easy to grep) otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip())


def _total(records: list[Stored]) -> int:
    return sum(len(record.letter.events) for record in records if record.letter)


def do_list(
    args: argparse.Namespace,
    _config: PipelineConfig,
    store: LetterStore,
    _client: Any,
    records: list[Stored],
) -> int:
    chosen = _selection(args).pick(records)
    print(f"{store.where}: {_records(len(chosen))}, {_events(_total(chosen))}.")
    if not chosen:
        return EXIT_OK
    if args.each:
        rows = [
            [
                r.id,
                _when(r.letter.time),
                r.letter.kind,
                r.letter.node,
                str(len(r.letter.events)),
                r.letter.error,
            ]
            if r.letter
            else [r.id, "-", "-", "-", "-", r.problem]
            for r in chosen
        ]
        print_table(["id", "time (UTC)", "kind", "node", "events", "error"], rows)
        return EXIT_OK
    groups: dict[tuple[str, str, str], list[Stored]] = {}
    for record in chosen:
        letter = record.letter
        key = (letter.kind, letter.node, letter.error) if letter else ("-", "-", record.problem)
        groups.setdefault(key, []).append(record)
    rows = []
    for (kind, node, error), members in groups.items():
        times = [r.letter.time for r in members if r.letter]
        rows.append(
            [
                kind,
                node,
                str(len(members)),
                str(_total(members)),
                members[0].id,
                _when(min(times, default=0)),
                _when(max(times, default=0)),
                error,
            ]
        )
    headers = ["kind", "node", "records", "events", "first id", "oldest (UTC)", "newest (UTC)"]
    print_table([*headers, "error"], rows)
    return EXIT_OK


def do_show(
    args: argparse.Namespace,
    _config: PipelineConfig,
    store: LetterStore,
    _client: Any,
    records: list[Stored],
) -> int:
    [record] = Selection([args.id]).pick(records)[:1]
    print(f"Record {record.id} in {store.where}:")
    try:
        shown = orjson.loads(record.raw)
        print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    except orjson.JSONDecodeError:
        print(f"{record.problem}:\n{record.raw.decode('utf-8', 'backslashreplace')}")
    return EXIT_OK


def do_replay(
    args: argparse.Namespace,
    config: PipelineConfig,
    store: LetterStore,
    client: Any,
    records: list[Stored],
) -> int:
    from gp_celery.dlq.replay import plan_replay, replay
    from gp_celery.modules.base import ModuleContext
    from gp_celery.pipeline import PlannedModuleError

    chosen = _selection(args, REPLAYED_BY_DEFAULT).pick(records)
    if not (args.ids or args.node or args.since):  # say so, though no kind selects them
        chosen += [record for record in records if record.letter is None and record not in chosen]
    plan = plan_replay(config, chosen)
    verb = "Would replay" if args.dry_run else "Replaying"
    print(
        f"{verb} {_records(len(plan.runnable))} ({_events(plan.events)}) from {store.where} "
        f"through {config.file}."
    )
    by_node = Counter(r.letter.node for r in plan.runnable if r.letter)
    for node, count in by_node.items():
        print(f"  enters at {node}: {_records(count)}")
    for record, why in plan.left:
        print(f"  left in place: {record.id}: {why}")
    if args.dry_run or not plan.runnable:
        return EXIT_OK
    configure_logging(config, args.log_level)
    context = ModuleContext(redis=client, process=f"{socket.gethostname()}:{os.getpid()}")
    try:
        outcome = replay(config, store, plan, context)
    except PlannedModuleError as error:
        print(f"gp-celery: {error}", file=sys.stderr)
        return EXIT_CONFIG
    written = ", ".join(f"{node} {count}" for node, count in outcome.written.items())
    print(
        f"Replayed {_records(outcome.records)} ({_events(outcome.events)}): written "
        f"{written or 'nowhere'}; {outcome.dead_lettered} went back to the dead letters."
    )
    return EXIT_DEAD_LETTERS if outcome.dead_lettered else EXIT_OK


def do_purge(
    args: argparse.Namespace,
    _config: PipelineConfig,
    store: LetterStore,
    _client: Any,
    records: list[Stored],
) -> int:
    chosen = _selection(args).pick(records)
    what = f"{_records(len(chosen))} ({_events(_total(chosen))}) from {store.where}"
    if not chosen:
        print(f"Nothing to delete in {store.where}.")
        return EXIT_OK
    if not args.yes:
        print(f"Delete {what}? This cannot be undone. [y/N] ", end="", flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in {"y", "yes"}:
            print("Nothing deleted.")
            return EXIT_CONFIG
    removed = store.remove(chosen)
    print(f"Deleted {_records(removed)} ({_events(_total(chosen))}) from {store.where}.")
    return EXIT_OK
