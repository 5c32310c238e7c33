"""Modules of GambolPutty that gp-celery does not implement yet.

``gp-celery check`` and ``gp-celery modules`` name them as "not built yet" instead of calling
them unknown, and ``gp-celery run`` refuses a config that uses one. When a module is built,
delete its line here.
"""

from __future__ import annotations

from typing import Final

# YAML name -> (family, LumberMill name)
PLANNED: Final[dict[str, tuple[str, str]]] = {
    "RedisChannel": ("input", "input.RedisChannel"),
    "RedisList": ("input", "input.RedisList"),
    "Kafka": ("input", "input.Kafka"),
    "UnixSocket": ("input", "input.UnixSocket"),
    "ElasticSearch": ("input", "input.ElasticSearch"),
    "NmapScanner": ("input", "input.NmapScanner"),
    "Sniffer": ("input", "input.Sniffer"),
    "Zmq": ("input", "input.ZeroMQ"),
    "SQS": ("input", "input.SQS"),
    "SyslogPrivalParser": ("parser", "parser.SyslogPrival"),
    "UrlParser": ("parser", "parser.Url"),
    "UserAgentParser": ("parser", "parser.UserAgent"),
    "CsvParser": ("parser", "parser.Csv"),
    "InflateParser": ("parser", "parser.Inflate"),
    "XPathParser": ("parser", "parser.XPath"),
    "CollectdParser": ("parser", "parser.Collectd"),
    "NetFlowParser": ("parser", "parser.NetFlow"),
    "AddGeoInfo": ("modifier", "modifier.AddGeoInfo"),
    "AddDnsLookup": ("modifier", "modifier.AddDnsLookup"),
    "ExecPython": ("modifier", "modifier.ExecPython"),
    "Facet": ("modifier", "modifier.Facet"),
    "HttpRequest": ("modifier", "modifier.HttpRequest"),
    "Math": ("modifier", "modifier.Math"),
    "MergeEvent": ("modifier", "modifier.MergeEvent"),
    "Permutate": ("modifier", "modifier.Permutate"),
    "ElasticSearchSink": ("sink", "output.ElasticSearch"),
    "GraphiteSink": ("sink", "output.Graphite"),
    "LoggerSink": ("sink", "output.Logger"),
    "RedisChannelSink": ("sink", "output.RedisChannel"),
    "RedisListSink": ("sink", "output.RedisList"),
    "SyslogSink": ("sink", "output.Syslog"),
    "WebHdfsSink": ("sink", "output.WebHdfs"),
    "ZmqSink": ("sink", "output.Zmq"),
    "SQSSink": ("sink", "output.SQS"),
    "Statistics": ("misc", "misc.Statistics"),
    "Tarpit": ("misc", "misc.Tarpit"),
    "Throttle": ("misc", "misc.Throttle"),
    "RedisStore": ("misc", "misc.RedisStore"),
    "KeyValueStore": ("misc", "misc.KeyValueStore"),
    "EventBuffer": ("misc", "misc.EventBuffer"),
    "Pack": ("cluster", "cluster.Pack"),
    "PackConfiguration": ("cluster", "cluster.PackConfiguration"),
    "WebserverTornado": ("webserver", "plugin.WebserverTornado"),
    "WebGui": ("webserver", "plugin.WebGui"),
}


def planned_name(name: str) -> str | None:
    """The YAML name of a planned module for a name or LumberMill alias, else None."""
    if name in PLANNED:
        return name
    if name == "CSVParser":
        return "CsvParser"
    for yaml_name, (_family, lumbermill) in PLANNED.items():
        if lumbermill == name:
            return yaml_name
    return None
