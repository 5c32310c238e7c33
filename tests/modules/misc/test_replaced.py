"""Pack, PackConfiguration, WebserverTornado and WebGui: old configs that use them load and
run; the nodes stand alone, see no events and say once what replaces them."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from gp_celery.config import parse_config
from gp_celery.modules.planned import planned_name
from gp_celery.testing import BuildError, build

GAMBOLPUTTY_CLUSTER = """\
- StdIn
- Pack:
    name: logs
    secret: s3cret
    broadcast: 10.0.0.255
    pack: follower
- PackConfiguration:
    ignore_modules: [Pack]
- WebserverTornado:
    port: 5100
- WebGui:
    tornado_webserver: WebserverTornado
- StdOutSink:
    format: "$(data)"
"""


@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        ("Pack", {"name": "a", "secret": "s", "broadcast": "10.0.0.255"}, "gp-celery stats"),
        ("cluster.PackConfiguration", {"interval": 30}, "gp-celery config push"),
        ("plugin.WebserverTornado", {"port": 5100, "tls": False}, "gp-celery web -c FILE"),
        ("webserver.WebGui", {}, "gp-celery web -c FILE"),
    ],
)
def test_each_is_built_and_logs_once_what_replaces_it(
    caplog: pytest.LogCaptureFixture, name: str, options: dict[str, object], says: str
) -> None:
    caplog.set_level(logging.INFO)
    module = build(name, options)
    replaced = [message for message in caplog.messages if "replaced in gp-celery" in message]
    assert len(replaced) == 1
    assert says in replaced[0]
    assert module.stands_alone
    assert planned_name(name) is None


def test_their_options_are_still_checked() -> None:
    with pytest.raises(BuildError, match="secret"):
        build("Pack", {"name": "a", "broadcast": "10.0.0.255"})
    with pytest.raises(BuildError, match="unknown option 'prot'"):
        build("WebserverTornado", {"prot": 5100})


def test_a_gambolputty_cluster_config_runs_and_events_go_around_them(tmp_path: Path) -> None:
    config = parse_config(GAMBOLPUTTY_CLUSTER)
    assert [r.target for r in config.nodes[0].receivers or []] == ["StdOutSink"]
    path = tmp_path / "cluster.yml"
    path.write_text(GAMBOLPUTTY_CLUSTER)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gp-celery"), "run", "-c", str(path)],
        input=b"one\ntwo\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"one\n\ntwo\n\n"  # StdIn keeps the newline, as GambolPutty did
    assert done.stderr.count(b"replaced in gp-celery") == 4
    assert b"s3cret" not in done.stderr
