"""Modules of GambolPutty and LumberMill that gp-celery does not implement yet.

``gp-celery check`` and ``gp-celery modules`` name them as "not built yet" instead of calling
them unknown, and ``gp-celery run`` refuses a config that uses one. When a module is built,
delete its line here (and its entries in OLD_NAMES and INSTEAD).

LumberMill-only modules get a GambolPutty-style YAML name: the name they had in LumberMill
before its ``directory.Name`` scheme (``DateTimeParser``, ``MongoDbSink``), else the class
name (``File``, ``Cache``).
"""

from __future__ import annotations

from typing import Final

# YAML name -> (family, LumberMill name)
PLANNED: Final[dict[str, tuple[str, str]]] = {
    "Beats": ("input", "input.Beats"),
    "MongoDbSink": ("sink", "output.MongoDb"),
    "ZabbixSink": ("sink", "output.Zabbix"),
    "BeatsSink": ("sink", "output.Beats"),
}

OLD_NAMES: Final[dict[str, str]] = {
    "BeatsServer": "Beats",  # LumberMill 2018-2020
}
"""Other names the original used for a planned module -> its YAML name."""

INSTEAD: Final[dict[str, str]] = {
    "MongoDbSink": "no MongoDB sink is planned; write JSON lines with FileSink and load "
    "them with mongoimport, or store events with ElasticSearchSink.",
    "ZabbixSink": "no Zabbix sink is planned; write the values with FileSink and send them "
    "with zabbix_sender --input-file.",
    "Beats": "send Filebeat's Redis output to RedisList or its Kafka output to Kafka; "
    "a Beats input waits for a well-kept Python library of the Lumberjack v2 protocol "
    "(on PyPI in 2026-12 pylogbeat is a client only, timbersnake 0.1.0 one author's "
    "6 kB first release; LumberMill hand-wrote its own).",
    "BeatsSink": "no Beats output is planned; use RedisListSink with Logstash's redis input, "
    "or ElasticSearchSink.",
}
"""What to use instead of a planned module that no issue plans to build, in one sentence."""


def planned_name(name: str) -> str | None:
    """The YAML name of a planned module for a name or LumberMill alias, else None."""
    if name in PLANNED:
        return name
    if name in OLD_NAMES:
        return OLD_NAMES[name]
    for yaml_name, (_family, lumbermill) in PLANNED.items():
        if lumbermill == name:
            return yaml_name
    return None


def planned_names() -> list[str]:
    """Every name that finds a planned module, for 'did you mean'."""
    return [*PLANNED, *OLD_NAMES, *(lumbermill for _family, lumbermill in PLANNED.values())]


def planned_note(name: str) -> str | None:
    """What to use instead of the planned module ``name`` (any of its names), or None when
    it is simply not built yet."""
    yaml_name = planned_name(name)
    return INSTEAD.get(yaml_name) if yaml_name is not None else None
