"""A listener and a worker each load only what they run: a variable that only the other
role's hosts set does not stop them, and the stage digests agree."""

from __future__ import annotations

import pytest

from gp_celery.config import ConfigError, parse_config

CONFIG = """\
- TcpServer:
   port: ${GP_TCP_PORT}
   add_fields: {site: '${GP_SITE}'}
- JsonParser:
   source_fields: ${GP_SOURCE}
- FileSink:
   file_name: ${GP_OUT}
"""
EVERYTHING = {"GP_TCP_PORT": "5151", "GP_SITE": "lab", "GP_SOURCE": "data", "GP_OUT": "/o"}


def problems(environ: dict[str, str], role: str) -> list[str]:
    try:
        parse_config(CONFIG, "p.yml", environ, role=role)  # type: ignore[arg-type]
    except ConfigError as error:
        return [problem.message for problem in error.problems]
    return []


def missing(name: str) -> str:
    return f"environment variable '{name}' is not set and has no default"


def test_the_whole_pipeline_needs_every_variable() -> None:
    assert problems({}, "all") == [missing(name) for name in EVERYTHING]


def test_a_worker_needs_no_input_transport_option_but_the_input_node_keys() -> None:
    without_port = {key: value for key, value in EVERYTHING.items() if key != "GP_TCP_PORT"}
    assert problems(without_port, "worker") == []
    assert problems({"GP_TCP_PORT": "1"}, "worker") == [
        missing("GP_SITE"),
        missing("GP_SOURCE"),
        missing("GP_OUT"),
    ]


def test_a_listener_needs_only_its_inputs() -> None:
    assert problems({"GP_TCP_PORT": "5151", "GP_SITE": "lab"}, "listener") == []
    assert problems({"GP_SITE": "lab"}, "listener") == [missing("GP_TCP_PORT")]


def test_a_worker_does_not_validate_input_options_it_never_uses() -> None:
    bad_port = CONFIG.replace("${GP_TCP_PORT}", "not-a-port")
    parse_config(bad_port, "p.yml", EVERYTHING, role="worker")
    with pytest.raises(ConfigError, match="port"):
        parse_config(bad_port, "p.yml", EVERYTHING, role="listener")


def test_every_role_computes_the_same_stage_digests() -> None:
    digests = {
        role: parse_config(CONFIG, "p.yml", EVERYTHING, role=role).digests  # type: ignore[arg-type]
        for role in ("all", "listener", "worker")
    }
    assert digests["all"] == digests["listener"] == digests["worker"]
    other_port = {**EVERYTHING, "GP_TCP_PORT": "6000"}
    assert parse_config(CONFIG, "p.yml", other_port).digests == digests["all"]
