"""The gp-celery command: run, listen, check, modules, dlq, graph, test, stats, exporter, web."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from gp_celery import __version__
from gp_celery.config import ConfigError, PipelineConfig, Role, load_config
from gp_celery.config.global_options import LEVELS

log = logging.getLogger("gp_celery")

EXIT_OK, EXIT_CONFIG, EXIT_RUNTIME, EXIT_DEAD_LETTERS = 0, 1, 2, 3
EXIT_STDOUT_CLOSED = 141
"""128 + SIGPIPE: what a shell reports for `cat` or `grep` cut off by `| head`, so scripts
(and `set -o pipefail`) see us like any other Unix tool whose output was not all read."""

EXIT_STATUS_HELP = """exit status:
  0    done
  1    configuration problem (or check --strict with modules not built yet)
  2    runtime error (an input failed, a file or server could not be opened)
  3    run: events went to the dead letters (a sink could not write them); dlq replay:
       events failed again and went back to the dead letters
  141  stdout was closed before everything was written (e.g. `| head`), as for any
       Unix tool cut off by SIGPIPE"""


def _config_path(args: argparse.Namespace) -> str:
    path: str | None = args.config or os.environ.get("GP_CONFIG")
    if not path:
        raise SystemExit("gp-celery: no configuration; pass -c FILE or set GP_CONFIG")
    return path


def _load(args: argparse.Namespace, role: Role = "all") -> PipelineConfig | None:
    try:
        return load_config(_config_path(args), role=role)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return None


def configure_logging(config: PipelineConfig | None, override: str | None) -> None:
    """Global.logging from the config; ``--log-level`` wins. Colours only on a terminal."""
    settings = config.settings.logging if config else None
    level = LEVELS[(override or (settings.level if settings else "info")).lower()]
    fmt = settings.format if settings else "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    handler: logging.Handler
    if settings and settings.filename:
        handler = logging.FileHandler(settings.filename, mode=settings.filemode)
        handler.setFormatter(logging.Formatter(fmt))
    elif sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_CONFIG
    configure_logging(config, args.log_level)
    for warning in config.warnings:
        log.warning("%s", warning)
    from gp_celery.pipeline import PlannedModuleError
    from gp_celery.pipeline.graph import refuse_planned
    from gp_celery_inputs.listener.runner import InputFailedError

    workers = args.workers if args.workers is not None else config.settings.workers
    try:
        if workers > 1:
            from gp_celery.local_cluster import LocalClusterError, run_local_cluster

            try:
                refuse_planned(config)
                kept = run_local_cluster(config, _config_path(args), workers)
            except LocalClusterError as error:
                print(f"gp-celery: {error}", file=sys.stderr)
                return EXIT_RUNTIME
            return report_dead_letters(config, {"the workers": {"dead_lettered": kept}})
        from gp_celery.embedded import run_embedded

        runner = run_embedded(config)
        if runner.output_closed:
            return _stdout_closed(EXIT_OK)  # quietly, like any other reader of `| head`
        return report_dead_letters(config, runner.pipeline.counters())
    except PlannedModuleError as error:
        print(f"gp-celery: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except (InputFailedError, OSError) as error:
        log.error("%s", error)  # noqa: TRY400 - the message says it all; no traceback for users
        return EXIT_RUNTIME
    return EXIT_OK


def report_dead_letters(config: PipelineConfig, counters: dict[str, dict[str, int]]) -> int:
    """After a run: say how many events went to the dead letters, from which nodes and
    where they are kept; exit status 3 if any did, so scripts notice."""
    by_node = {node: counts["dead_lettered"] for node, counts in counters.items()}
    by_node = {node: count for node, count in by_node.items() if count}
    if not by_node:
        return EXIT_OK
    log.error(
        "%d events went to the dead letters (%s); they are kept in %s. Exit status %d.",
        sum(by_node.values()),
        ", ".join(f"{node}: {count}" for node, count in by_node.items()),
        os.path.abspath(config.settings.dead_letter_file),
        EXIT_DEAD_LETTERS,
    )
    return EXIT_DEAD_LETTERS


def cmd_listen(args: argparse.Namespace) -> int:
    follow: tuple[str, int] | None = None
    if args.from_broker:
        pushed = _pushed(args)
        if isinstance(pushed, int):
            return pushed
        config: PipelineConfig | None = pushed[0]
        follow = pushed[1]
    else:
        config = _load(args, "listener")
    if config is None:
        return EXIT_CONFIG
    configure_logging(config, args.log_level)
    from gp_celery.broker.settings import BrokerSettings
    from gp_celery.config.stages import split_state_problems
    from gp_celery.pipeline import PlannedModuleError
    from gp_celery.pipeline.graph import refuse_planned
    from gp_celery_inputs.listener.listen import BrokerUnavailableError, run_listener
    from gp_celery_inputs.listener.runner import InputFailedError

    try:
        refuse_planned(config)
        if problems := split_state_problems(config):
            for problem in problems:
                print(problem, file=sys.stderr)
            return EXIT_CONFIG
        metrics = (args.metrics_bind, args.metrics_port) if args.metrics_port is not None else None
        run_listener(config, BrokerSettings.from_env(broker=args.broker), metrics, follow)
    except PlannedModuleError as error:
        print(f"gp-celery: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokerUnavailableError as error:
        log.error("Listener: %s", error)  # noqa: TRY400 - a sentence, not a traceback
        return EXIT_RUNTIME
    except (InputFailedError, OSError, ValueError) as error:
        log.error("%s", error)  # noqa: TRY400 - the message says it all; no traceback for users
        return EXIT_RUNTIME
    return EXIT_OK


def _pushed(args: argparse.Namespace) -> tuple[PipelineConfig, tuple[str, int]] | int:
    """--from-broker NAME: the current version of the config pushed under NAME, parsed as a
    listener parses it; or the exit status, said on stderr."""
    from redis.exceptions import RedisError

    from gp_celery.broker.pushed import current
    from gp_celery.stats.access import fleet_redis

    name = args.from_broker
    redis = fleet_redis(args.broker)
    if redis is None:
        print("gp-celery listen: --from-broker needs Redis (GP_REDIS_URL).", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        pushed = current(redis[0], name)
    except (RedisError, OSError) as error:
        print(f"gp-celery listen: cannot read config '{name}': {error}", file=sys.stderr)
        return EXIT_RUNTIME
    if pushed is None:
        print(f"gp-celery listen: nothing pushed as '{name}' (gp-celery config push).")
        return EXIT_CONFIG
    try:
        return pushed.config("listener"), (name, pushed.version)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG


def cmd_check(args: argparse.Namespace) -> int:
    from gp_celery.config.stages import split_state_problems
    from gp_celery.report import print_check

    try:
        config = load_config(_config_path(args))
    except ConfigError as error:
        for problem in error.problems:
            print(problem)
        return EXIT_CONFIG
    fleet = args.fleet or config.settings.workers > 1
    if fleet and (problems := split_state_problems(config)):
        for problem in problems:
            print(problem)
        return EXIT_CONFIG
    if not print_check(config, strict=args.strict):
        return EXIT_CONFIG
    if args.samples is None:
        return EXIT_OK
    from gp_celery.tools.samples import check_samples

    return check_samples(config, args.samples, args.input, args.limit)


def cmd_modules(args: argparse.Namespace) -> int:
    from gp_celery.report import print_module, print_modules

    if args.name:
        return EXIT_OK if print_module(args.name, markdown=args.markdown) else EXIT_CONFIG
    print_modules(markdown=args.markdown)
    return EXIT_OK


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {text}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gp-celery",
        description="Collect, parse, enrich and store logs, as one YAML file describes.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gp-celery {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-c", "--config", help="pipeline YAML file (default: $GP_CONFIG)")

    run = commands.add_parser(
        "run",
        help="run the pipeline in this process (embedded mode)",
        description="Run inputs and pipeline in one process, with no "
        "broker. Stops at the end of stdin (StdIn) or on SIGINT/SIGTERM, "
        "after flushing every sink.",
        epilog="exit status: 0 done; 1 configuration problem; 2 runtime error; 3 events "
        "went to the dead letters (Global: dead_letter_file), which the last log line "
        "counts; 141 stdout was closed (e.g. `| head`).",
    )
    with_config(run)
    run.add_argument("--workers", type=int, help="CPU cores to use (overrides Global: workers)")
    run.add_argument("--log-level", choices=sorted(LEVELS), help="override Global: logging.level")
    run.set_defaults(handler=cmd_run)

    listen = commands.add_parser(
        "listen",
        help="distributed mode: run the inputs and publish batches to the broker",
        description="Run only the config's inputs; publish their batches as tasks for "
        "`celery -A gp_celery worker`. Pauses reading while the queue is above "
        "Global: high_water_batches; flushes pending batches on SIGINT/SIGTERM.",
    )
    with_config(listen)
    listen.add_argument(
        "--broker", help="broker URL (default: $GP_BROKER_URL or redis://localhost:6379/0)"
    )
    listen.add_argument(
        "--log-level", choices=sorted(LEVELS), help="override Global: logging.level"
    )
    listen.add_argument(
        "--from-broker",
        metavar="NAME",
        help="run the config pushed to Redis as NAME (gp-celery config push) instead of -c, "
        "and switch to newer versions between chunks while the inputs stay the same",
    )
    listen.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics of this listener on /metrics at this port "
        "(basic auth if GP_METRICS_AUTH=user:password is set)",
    )
    listen.add_argument(
        "--metrics-bind", default="127.0.0.1", help="address for --metrics-port (127.0.0.1)"
    )
    listen.set_defaults(handler=cmd_listen)

    check = commands.add_parser(
        "check",
        help="validate a configuration and show its graph",
        description="Report every problem, one per line as "
        "FILE:LINE: NODE: OPTION: message, and exit 1; or print the graph under a first "
        "line that says OK and exit 0. With --strict, modules not built yet make it FAILED "
        "(exit 1). Warnings (FILE:LINE: NODE: OPTION: warning: ...), such as a regex that "
        "may backtrack catastrophically, are printed under the graph and never change the "
        "exit status.",
    )
    with_config(check)
    check.add_argument(
        "--strict",
        action="store_true",
        help="also fail when the config uses modules that are not built yet",
    )
    check.add_argument(
        "--fleet",
        action="store_true",
        help="check it as a fleet runs it (listeners and workers; implied by Global: "
        "workers > 1): a module whose state one process must hold needs a queue of its own",
    )
    check.add_argument(
        "--samples",
        metavar="LOGFILE",
        help="also run the file's lines ('-': stdin) through the parsers (sinks write "
        "nothing) and report per parser how many matched, their event types and up to "
        "five lines that did not match",
    )
    check.add_argument(
        "--input", help="--samples: the input whose framing cuts the file (default: the first)"
    )
    check.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="--samples: read at most N records of the file",
    )
    check.set_defaults(handler=cmd_check)

    modules = commands.add_parser(
        "modules",
        help="list modules, or show one in detail",
        description="Every module with its options, defaults and "
        "an example; modules not built yet are marked.",
    )
    modules.add_argument(
        "name",
        nargs="?",
        help="a module name or alias in any case (RegexParser, parser.regex), or Global",
    )
    modules.add_argument(
        "--markdown",
        action="store_true",
        help="print Markdown: every module (MODULES.md is this output), or the one named",
    )
    modules.set_defaults(handler=cmd_modules)

    from gp_celery.dlq.parser import add_dlq_parser

    add_dlq_parser(commands, with_config)
    from gp_celery.tools.graph import add_graph_parser

    add_graph_parser(commands, with_config, _config_path)
    from gp_celery.tools.pipeline_tests import add_test_parser

    add_test_parser(commands)
    from gp_celery.stats.command import add_exporter_parser, add_stats_parser

    add_stats_parser(commands, with_config)
    add_exporter_parser(commands, with_config)
    from gp_celery.web.command import add_web_parser

    add_web_parser(commands, with_config)
    from gp_celery.tools.config_push import add_config_parser

    add_config_parser(commands, with_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    code: int = EXIT_OK
    try:
        try:
            args = build_parser().parse_args(argv)  # --help prints, then raises SystemExit
            code = args.handler(args)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not as "Exception ignored" at exit
    except BrokenPipeError:
        return _stdout_closed(code)
    return code


def _stdout_closed(code: int) -> int:
    """The reader of stdout went away (``| head``): end quietly, as Unix tools do.

    Python's recipe: point stdout at /dev/null so the flush at interpreter exit cannot fail
    again, and exit with the status a shell gives a command killed by SIGPIPE (a command
    that already failed keeps its own status)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return code or EXIT_STDOUT_CLOSED


if __name__ == "__main__":
    sys.exit(main())
