"""`gp-celery test FILE.test.yml ...`: unit tests for a pipeline, in YAML beside its config.

Each case runs in isolation on a fresh pipeline (every node set up anew, so no state leaks
from one case into the next), in this process, with the real runner and modules; sinks are
not built, so nothing is written anywhere: what reaches a sink is captured and compared
(``harness.py``). The file format is in ``schema.py`` and README.md.
"""

from __future__ import annotations

import argparse

EXIT_HELP = (
    "exit status: 0 every case passed; 1 a case failed (or could not run: a module's "
    "setup failed, a module is not built yet); 2 a test file or the config it names has "
    "problems (each printed as FILE:LINE: ...), nothing was run."
)


def cmd_test(args: argparse.Namespace) -> int:
    from gp_celery.tools.pipeline_tests.command import run_files

    return run_files(args.files, args.log_level)


def add_test_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``gp-celery test``, under the main parser's subcommands (each file names its config)."""
    test = commands.add_parser(
        "test",
        help="run a pipeline's unit tests (FILE.test.yml)",
        description="Run the cases of each test file: events or raw lines go in at a node "
        "of the config, and what comes out (captured at the sinks, which write nothing) is "
        "compared with what the case expects; only the fields a case names are compared. "
        "Each case runs on a fresh pipeline in this process. The format is in README.md.",
        epilog=EXIT_HELP,
    )
    test.add_argument("files", nargs="+", metavar="FILE", help="a test file (*.test.yml)")
    test.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error", "critical"],
        help="what the modules log while the cases run (default: warning)",
    )
    test.set_defaults(handler=cmd_test)
