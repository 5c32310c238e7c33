"""What `stats`, `exporter` and `web` all start with: the config and the fleet's Redis."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from gp_celery.config import PipelineConfig
from gp_celery.stats.fleet import FleetTotals, read_fleet
from gp_celery.stats.keys import namespace


def add_broker_argument(command: argparse.ArgumentParser, *, named: bool = False) -> None:
    command.add_argument("--broker", help="the fleet's Redis URL (default: as a worker reads it)")
    if named:
        command.add_argument(
            "--name",
            help="the fleet's name: a config pushed under NAME (default: the -c file's stem)",
        )


@dataclass
class FleetAccess:
    config: PipelineConfig
    client: Any
    url: str
    name: str
    """Whose counters: the config file's stem, or the name it was pushed under."""

    def read(self) -> FleetTotals:
        """Every process's totals, the queue depths and the dead letters, now."""
        return read_fleet(self.client, self.name, self.config.stage_queues)


def fleet_redis(broker: str | None) -> tuple[Any, str] | None:
    """A client of the fleet's Redis and its URL (--broker, else GP_REDIS_URL /
    GP_BROKER_URL as a worker reads them); None when the fleet has no Redis."""
    from gp_celery.broker.redis import redis_client
    from gp_celery.broker.settings import BrokerSettings

    url = BrokerSettings.from_env(broker=broker).store_url
    return None if url is None else (redis_client(url), url)


def open_fleet(args: argparse.Namespace, command: str, *, log: bool = False) -> FleetAccess | int:
    """The config (-c) and a client of the fleet's Redis (--broker, else as a worker reads
    GP_REDIS_URL / GP_BROKER_URL); or, said on stderr, the exit status of why not."""
    from gp_celery.cli import EXIT_CONFIG, EXIT_RUNTIME, _load, configure_logging

    config = _load(args)
    if config is None:
        return EXIT_CONFIG
    if log:
        configure_logging(config, None)
    redis = fleet_redis(args.broker)
    if redis is None:
        print(
            f"gp-celery {command}: the fleet's numbers live in Redis: set GP_REDIS_URL.",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    name = getattr(args, "name", None) or namespace(config.file)
    return FleetAccess(config, *redis, name)
