"""A veth pair whose far end lives in a network namespace the test creates (we are root):
the near end, in our namespace, is what a Sniffer captures on; programs run inside the
namespace send to it. Everything is removed again when the test ends."""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_numbers = itertools.count()


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr.decode()}"


@dataclass(frozen=True)
class Veth:
    namespace: str
    near: str
    """The end in our namespace, at ``near_ip``."""
    far: str
    """The end inside the namespace, at ``far_ip``."""
    near_ip: str
    far_ip: str

    @property
    def near_mac(self) -> str:
        return Path(f"/sys/class/net/{self.near}/address").read_text().strip()

    @property
    def far_mac(self) -> str:
        out = subprocess.run(
            ["ip", "-n", self.namespace, "-j", "link", "show", self.far],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        return str(json.loads(out)[0]["address"])

    def run_inside(self, code: str, timeout: float = 30) -> None:
        """Run Python ``code`` inside the namespace, to its end."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.namespace, sys.executable, "-c", code],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()

    def send_udp(
        self, port: int, payloads: list[bytes], source_port: int = 40001, repeat: int = 1
    ) -> None:
        """Send the payloads (``repeat`` times over) from the far end to the near one."""
        self.run_inside(
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.bind(({self.far_ip!r}, {source_port}))\n"
            f"for payload in {payloads!r} * {repeat}:\n"
            f"    s.sendto(payload, ({self.near_ip!r}, {port}))\n"
        )

    def send_frames(self, frames: list[bytes]) -> None:
        """Raw Ethernet frames, as they are, from the far end."""
        self.run_inside(
            "import socket\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            f"s.bind(({self.far!r}, 0))\n"
            f"for frame in {frames!r}:\n"
            "    s.send(frame)\n"
        )

    def ethernet(self, ethertype: int, payload: bytes) -> bytes:
        """A frame from the far end to the near one."""
        destination = bytes.fromhex(self.near_mac.replace(":", ""))
        source = bytes.fromhex(self.far_mac.replace(":", ""))
        return destination + source + struct.pack("!H", ethertype) + payload


@contextmanager
def veth_pair() -> Iterator[Veth]:
    number = next(_numbers)
    tag = f"{os.getpid() % 100_000}{number}"
    subnet = f"10.231.{os.getpid() % 250}.{number % 60 * 4}"
    base = subnet.rsplit(".", 1)
    veth = Veth(
        namespace=f"gp-sniff-{tag}",
        near=f"gpn{tag}"[:15],
        far=f"gpf{tag}"[:15],
        near_ip=f"{base[0]}.{int(base[1]) + 1}",
        far_ip=f"{base[0]}.{int(base[1]) + 2}",
    )
    ip("netns", "add", veth.namespace)
    try:
        ip(
            "link",
            "add",
            veth.near,
            "type",
            "veth",
            "peer",
            "name",
            veth.far,
            "netns",
            veth.namespace,
        )
        # No IPv6 on either end: its autoconfiguration would add packets to every capture.
        Path(f"/proc/sys/net/ipv6/conf/{veth.near}/disable_ipv6").write_text("1")
        ip("-n", veth.namespace, "link", "set", "lo", "up")
        subprocess.run(
            ["ip", "netns", "exec", veth.namespace, "sh", "-c",
             f"echo 1 > /proc/sys/net/ipv6/conf/{veth.far}/disable_ipv6"],
            timeout=30,
            check=True,
        )  # fmt: skip
        ip("addr", "add", f"{veth.near_ip}/30", "dev", veth.near)
        ip("-n", veth.namespace, "addr", "add", f"{veth.far_ip}/30", "dev", veth.far)
        ip("link", "set", veth.near, "up")
        ip("-n", veth.namespace, "link", "set", veth.far, "up")
        yield veth
    finally:
        subprocess.run(["ip", "link", "del", veth.near], capture_output=True, check=False)
        ip("netns", "del", veth.namespace)
