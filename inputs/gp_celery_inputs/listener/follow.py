"""A listener started with --from-broker follows the pushed config: between chunks it
switches to a new version, so the chunks it publishes from then on carry the new stages'
digests (and workers run them on that version), as long as the inputs did not change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from gp_celery.broker.pushed import current_version, version_of
from gp_celery.config import ConfigError, PipelineConfig

log = logging.getLogger(__name__)

CHECK_SECS: Final = 2.0
"""How often the listener asks Redis for the current version (one HGET)."""


def input_prints(config: PipelineConfig) -> dict[str, Any]:
    """What must stay the same for a running listener to switch: its inputs and queues."""
    return {
        spec.id: (
            spec.type_name,
            spec.options.model_dump(mode="json") if spec.options is not None else None,
            config.queue_of(spec.id),
        )
        for spec in config.nodes
        if spec.family == "input"
    }


class ConfigFollower:
    def __init__(
        self,
        client: Any,
        name: str,
        version: int,
        config: PipelineConfig,
        switch: Callable[[PipelineConfig, int], None],
    ) -> None:
        self.client = client
        self.name = name
        self.version = version
        self.inputs = input_prints(config)
        self.switch = switch
        self._checked = 0.0
        self._refused: set[int] = set()

    def check_if_due(self, now: float) -> None:
        if now - self._checked < CHECK_SECS:
            return
        self._checked = now
        latest = current_version(self.client, self.name)
        if latest is None or latest == self.version or latest in self._refused:
            return
        pushed = version_of(self.client, self.name, latest)
        try:
            config = pushed.config("listener") if pushed else None
        except ConfigError as error:
            config = None
            log.error(  # noqa: TRY400 - a sentence, not a traceback
                "Listener: version %d of '%s' does not load: %s", latest, self.name, error
            )
        if config is None or input_prints(config) != self.inputs:
            if config is not None:
                log.warning(
                    "Listener: version %d of '%s' changes the inputs; this listener keeps "
                    "version %d. Restart it to take the new inputs.",
                    latest,
                    self.name,
                    self.version,
                )
            self._refused.add(latest)
            return
        self.switch(config, latest)
        log.info(
            "Listener: now publishing for version %d of '%s' (stages %s).",
            latest,
            self.name,
            ", ".join(f"{queue} {digest[:12]}" for queue, digest in config.digests.items()),
        )
        self.version = latest
