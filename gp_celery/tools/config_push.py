"""`gp-celery config push|status`: one config for every host of a fleet, versioned in Redis."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from gp_celery.stats.access import add_broker_argument, fleet_redis


def add_config_parser(commands: Any, with_config: Any) -> None:
    config = commands.add_parser(
        "config",
        help="push a config to the fleet's Redis, or show which process runs which version",
        description="Listeners (`gp-celery listen --from-broker NAME`) and workers (`celery "
        "-A gp_celery worker --gp-from-broker NAME`) load the current version of a pushed "
        "config and pick up a new one between batches, without a restart; a batch always "
        "runs on the version it was made for (the digest it carries).",
    )
    actions = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    push = actions.add_parser(
        "push",
        help="check a config and store it as the next version",
        description="A config that does not pass `gp-celery check --fleet` is refused.",
        epilog="exit status: 0 pushed (or unchanged); 1 the config has problems (nothing "
        "stored); 2 Redis cannot be reached.",
    )
    with_config(push)
    push.add_argument("--name", help="the config's name in Redis (default: the file's stem)")
    add_broker_argument(push)
    push.set_defaults(handler=cmd_push)
    status = actions.add_parser("status", help="versions pushed, and what each process runs")
    with_config(status)
    status.add_argument("--name", help="the config's name (default: the -c file's stem)")
    add_broker_argument(status)
    status.set_defaults(handler=cmd_status)


def _client(args: argparse.Namespace) -> Any:
    redis = fleet_redis(args.broker)
    return None if redis is None else redis[0]


def cmd_push(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from gp_celery.broker.pushed import Pushed, push
    from gp_celery.cli import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME, _config_path
    from gp_celery.config import ConfigError
    from gp_celery.config.stages import split_state_problems
    from gp_celery.stats.keys import namespace

    path = _config_path(args)
    name = args.name or namespace(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        # Parsed as the processes will parse it, so the digests are theirs.
        config = Pushed(name, 0, text, path, 0.0, {}).config()
        problems = [str(problem) for problem in split_state_problems(config)]
        problems += [f"{node.label}: not built yet" for node in config.planned]
    except ConfigError as error:
        problems = [str(problem) for problem in error.problems]
    except (OSError, UnicodeDecodeError) as error:
        problems = [f"{path}: cannot read: {error}"]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"gp-celery config push: {path} is refused; nothing was stored.", file=sys.stderr)
        return EXIT_CONFIG
    client = _client(args)
    if client is None:
        print("gp-celery config push: pushed configs live in Redis: set GP_REDIS_URL.")
        return EXIT_RUNTIME
    try:
        pushed = push(client, name, text, str(Path(path).resolve()), dict(config.digests))
    except (RedisError, OSError) as error:
        print(f"gp-celery config push: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    print(f"{name}: version {pushed.version} is current (from {path}).")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from gp_celery.broker.pushed import current_version, versions
    from gp_celery.cli import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
    from gp_celery.stats.fleet import read_fleet
    from gp_celery.stats.keys import namespace

    name = args.name or (namespace(args.config) if args.config else None)
    if not name:
        print("gp-celery config status: pass --name NAME (or -c FILE)", file=sys.stderr)
        return EXIT_CONFIG
    client = _client(args)
    if client is None:
        print("gp-celery config status: pushed configs live in Redis: set GP_REDIS_URL.")
        return EXIT_RUNTIME
    try:
        pushed, now = versions(client, name), current_version(client, name)
        processes = read_fleet(client, name, []).processes
    except (RedisError, OSError) as error:
        print(f"gp-celery config status: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    if not pushed:
        print(f"{name}: nothing pushed yet (gp-celery config push -c FILE).")
        return EXIT_OK
    for one in pushed:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(one.pushed_at))
        mark = " (current)" if one.version == now else ""
        stages = ", ".join(f"{queue} {digest[:12]}" for queue, digest in one.digests.items())
        print(f"version {one.version}{mark}: pushed {when} from {one.source}; stages {stages}")
    read_at = time.time()
    for process in processes:
        version = process.about.get("config_version")
        state = "alive" if process.alive(read_at) else "gone"
        runs = f"version {version}" if version is not None else "a config file"
        print(f"  {process.role} {process.host}:{process.pid} ({state}) runs {runs}")
    return EXIT_OK
