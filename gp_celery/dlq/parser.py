"""The arguments of `gp-celery dlq ACTION`, under the main parser's subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gp_celery.config.global_options import LEVELS

KINDS = ("failed", "parked", "poison")


def _later(name: str) -> Callable[..., int]:
    """``gp_celery.dlq.command.<name>``, imported when called: it imports redis, which would
    cost every other command a tenth of a second at start-up."""

    def call(*args: Any) -> int:
        from gp_celery.dlq import command

        action: Callable[..., int] = getattr(command, name)
        return action(*args)

    return call


EXIT_HELP = (
    "exit status: 0 done; 1 configuration problem, an id that matches no record (or "
    "several), or purge not confirmed; 2 the dead letters cannot be read or written "
    "(Redis unreachable, file not readable); 3 replay: events failed again and went back "
    "to the dead letters."
)


def add_dlq_parser(commands: Any, with_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """``gp-celery dlq ACTION``, under the main parser's subcommands."""
    dlq = commands.add_parser(
        "dlq",
        help="list, show, replay or purge dead letters and parked chunks",
        description="Events a sink could not write, records that killed workers (poison) "
        "and chunks made for a config no worker runs (parked), as kept by a fleet (Redis: "
        "with --broker, or GP_BROKER_URL/GP_REDIS_URL set as for a worker) or by "
        "`gp-celery run` (Global: dead_letter_file). A record's id is short and stays the "
        "same while it is kept; a unique prefix of 4 or more characters will do.",
        epilog=EXIT_HELP,
    )
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    def common(sub: argparse.ArgumentParser, *, select: bool = True) -> None:
        with_config(sub)
        sub.add_argument(
            "--broker",
            help="read the fleet's Redis at this URL (default: "
            "GP_REDIS_URL or GP_BROKER_URL as a worker reads them; neither set: the "
            "config's dead_letter_file)",
        )
        if select:
            sub.add_argument("--node", help="only records set aside by this node (its id)")
            sub.add_argument(
                "--since",
                help="only records from this age (30m, 2h, 1d) or "
                "ISO 8601 time (UTC unless it has a zone) on",
            )
            sub.add_argument(
                "--kind",
                action="append",
                choices=KINDS,
                help="only records of this kind (repeatable)",
            )

    listing = actions.add_parser(
        "list",
        help="count records per kind, node and error",
        description="Count records per kind, node and error, with "
        "the first record's id, the oldest and newest time.",
    )
    common(listing)
    listing.add_argument(
        "--ids", dest="each", action="store_true", help="one line per record, with its id"
    )
    listing.set_defaults(dlq_action=_later("do_list"))

    show = actions.add_parser("show", help="print one record, whole")
    common(show, select=False)
    show.add_argument("id", help="the record's id (or a unique prefix)")
    show.set_defaults(dlq_action=_later("do_show"))

    replay = actions.add_parser(
        "replay",
        help="run records through the current config from the node that set them aside",
        description="Run the selected records' events through the current config, entering "
        "at the node that set them aside (a sink, or a parked chunk's stage). What fails "
        "again goes back to the dead letters as a new record; a record is removed only "
        "after its events were written or set aside again. Poison records (they killed "
        "workers) are replayed only when named or with --kind poison.",
        epilog=EXIT_HELP,
    )
    common(replay)
    replay.add_argument("ids", nargs="*", metavar="ID", help="only these records")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed")
    replay.add_argument(
        "--log-level", choices=sorted(LEVELS), help="override Global: logging.level"
    )
    replay.set_defaults(dlq_action=_later("do_replay"))

    purge = actions.add_parser("purge", help="delete records (asks first unless --yes)")
    common(purge)
    purge.add_argument("ids", nargs="*", metavar="ID", help="only these records")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(dlq_action=_later("do_purge"))
    dlq.set_defaults(handler=_later("cmd_dlq"))
