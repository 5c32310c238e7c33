"""NmapScanner: scan a network with Debian's nmap every interval; one event per host."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import time
from typing import Any, Final
from xml.etree.ElementTree import Element

from pydantic import Field, field_validator, model_validator

from gp_celery.codec import pack
from gp_celery.event import EVENT_TYPE, META
from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example, Input, Options
from gp_celery.modules.registry import register

EVENT_TYPE_NAME: Final = "nmap_scan"
PORT_FIELDS: Final = ("name", "product", "version", "extrainfo", "conf", "cpe")
"""A port's service details, named as python-nmap (which GambolPutty used) named them."""
MAX_XML_BYTES: Final = 256 << 20
"""nmap's report of one scan; more is refused (a /8 with every port would need a database)."""
STDERR_SHOWN: Final = 500
_TARGET: Final = re.compile(r"[\w.:\[\]*-]+")
_PORTS: Final = re.compile(r"[\w,:-]+")


def _service(**given: str) -> dict[str, str]:
    return {name: given.get(name, "") for name in PORT_FIELDS}


class NmapScannerOptions(Options):
    network: str
    """The network (or host) to scan, e.g. 192.168.1.0 or scanme.example.org."""
    netmask: str = "/24"
    """Appended to network: '/24' scans its 256 addresses; '' scans network as written."""
    ports: str | None = None
    """Ports to scan (nmap's -p syntax, e.g. '22,80,8000-8100'); None: what arguments say."""
    arguments: str = "-O -F --osscan-limit"
    """nmap's options (split as a shell would, never run by one). -O needs root."""
    interval: float = Field(900, gt=0)
    """Seconds from the start of one scan to the start of the next."""
    scans: int = Field(0, ge=0)
    """Stop after this many scans (0: scan every interval until stopped)."""

    @field_validator("network")
    @classmethod
    def _one_target(cls, network: str) -> str:
        if not _TARGET.fullmatch(network) or network.startswith("-"):
            raise ValueError(f"expected one address, network or host name, got {network!r}")
        return network

    @field_validator("netmask")
    @classmethod
    def _prefix_length(cls, netmask: str) -> str:
        if netmask and not re.fullmatch(r"/\d{1,3}", netmask):
            raise ValueError(f"expected a prefix length such as '/24' (or ''), got {netmask!r}")
        return netmask

    @field_validator("ports")
    @classmethod
    def _port_list(cls, ports: str | None) -> str | None:
        if ports is not None and (not _PORTS.fullmatch(ports) or ports.startswith("-")):
            raise ValueError(f"expected nmap's port list syntax (e.g. '22,80-90'), got {ports!r}")
        return ports

    @field_validator("arguments")
    @classmethod
    def _splits(cls, arguments: str) -> str:
        try:
            shlex.split(arguments)
        except ValueError as error:
            raise ValueError(f"cannot split the arguments: {error}") from None
        return arguments

    @model_validator(mode="after")
    def _nmap_can_run(self) -> NmapScannerOptions:
        if self.ports is not None and "-F" in shlex.split(self.arguments):
            raise ValueError("set 'ports' or '-F' in 'arguments', not both (nmap refuses both)")
        if shutil.which("nmap") is None:
            raise ValueError("nmap is not installed (Debian: apt-get install nmap)")
        return self


@register
class NmapScanner(Input[NmapScannerOptions]):
    """Scan a network with nmap every interval; one event per host that is up.

    Each scan runs ``nmap -oX - ARGUMENTS [-p PORTS] NETWORK+NETMASK`` (no shell) and reads
    its XML report with defusedxml (no entities, no network). An event (event_type
    ``nmap_scan``) holds, as python-nmap laid them out: ``addresses`` (ipv4, ipv6, mac),
    ``hostnames`` (name, type), ``vendor``, ``status`` (state, reason), ``uptime``, ``tcp``
    and ``udp`` (port -> state, reason, name, product, version, extrainfo, conf, cpe) and
    ``detected_os`` (the most accurate OS match). A scan that fails (nmap's exit status, a
    report that is not XML) is logged with nmap's message and tried again next interval;
    a stopped run stops nmap. nmap must be installed: a config naming this input fails to
    load without it.

    Differences from GambolPutty: one nmap run per interval instead of a ping sweep and
    then one run per host (the same hosts: nmap's host discovery skips the down ones);
    ``ports`` is used (it was ignored); ``detected_os`` is the most accurate match (it
    was the least); port numbers are text keys ("22"), as JSON and Elasticsearch need.
    ``scans`` is new. The input runs in the listener, one scanner per listener.
    """

    aliases = ("input.NmapScanner",)
    examples = [
        Example(
            options={
                "network": "127.0.0.1",
                "netmask": "/32",
                "ports": "9",
                "arguments": "-sT -Pn",
                "scans": 1,
            },
            given=[],
            expect=[
                {
                    "addresses": {"ipv4": "127.0.0.1"},
                    "status": {"state": "up", "reason": "user-set"},
                    "tcp": {
                        "9": {
                            "state": "closed",
                            "reason": "conn-refused",
                            **_service(name="discard", conf="3"),
                        }
                    },
                }
            ],
            event_type=EVENT_TYPE_NAME,
            note="One connect scan of port 9 on this host, which is up and has it closed.",
        ),
    ]

    def default_framing(self) -> Framing:
        return Framing(kind="events")

    def command(self) -> list[str]:
        options = self.options
        ports = ["-p", options.ports] if options.ports else []
        target = options.network + options.netmask
        return ["nmap", "-oX", "-", *shlex.split(options.arguments), *ports, target]

    async def serve(self, emit: Emit) -> None:
        options = self.options
        target = options.network + options.netmask
        self.log.info("%s: scanning %s every %g s.", self.label, target, options.interval)
        done = 0
        while not options.scans or done < options.scans:
            started = time.monotonic()
            hosts = await self._scan()
            done += 1
            if hosts:
                records = [pack(host) for host in hosts]
                await emit([Piece(target, b"".join(records), tuple(map(len, records)))])
            self.stats.incr("scans")
            if not options.scans or done < options.scans:
                await asyncio.sleep(max(0.0, options.interval - (time.monotonic() - started)))
        self.log.info("%s: %d scans done; stopping.", self.label, done)

    async def _scan(self) -> list[dict[str, Any]]:
        """One nmap run; its hosts as event maps, or [] (logged) when it failed."""
        command = self.command()
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            report, stderr = await asyncio.gather(
                _read(process.stdout, MAX_XML_BYTES + 1), _read(process.stderr, 1 << 16)
            )
            await process.wait()
        finally:
            if process.returncode is None:  # cancelled, or the report was too long
                process.kill()
                await process.wait()
        if process.returncode != 0 or len(report) > MAX_XML_BYTES:
            why = (
                f"exit status {process.returncode}"
                if process.returncode
                else f"report over {MAX_XML_BYTES} bytes"
            )
            self._failed(f"{why}: {stderr.decode(errors='replace')[:STDERR_SHOWN].strip()}")
            return []
        try:
            return hosts_of(report)
        except ValueError as error:
            self._failed(f"unreadable report: {error}")
            return []

    def _failed(self, reason: str) -> None:
        self.stats.incr("failed_scans")
        self.log.warning(
            "%s: nmap failed (%s); trying again in %g s.", self.label, reason, self.options.interval
        )


async def _read(stream: asyncio.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes, to the end of the stream (the rest is left unread)."""
    data = bytearray()
    while len(data) < limit and (block := await stream.read(limit - len(data))):
        data += block
    return bytes(data)


def hosts_of(report: bytes) -> list[dict[str, Any]]:
    """Every host of an nmap XML report as an event map. Raises ValueError for a report
    that is not well-formed XML, or that declares entities (defusedxml refuses them)."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(report, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as error:
        raise ValueError(str(error) or type(error).__name__) from None
    if root.tag != "nmaprun":
        raise ValueError(f"expected an <nmaprun> report, got <{root.tag}>")
    return [_host(host) for host in root.iter("host")]


def _host(host: Element) -> dict[str, Any]:
    event: dict[str, Any] = {META: {EVENT_TYPE: EVENT_TYPE_NAME}}
    addresses: dict[str, str] = {}
    vendor = ""
    for address in host.iter("address"):
        kind = address.get("addrtype", "")
        addresses[kind] = address.get("addr", "")
        vendor = address.get("vendor", vendor)
    event["addresses"] = addresses
    if vendor:
        event["vendor"] = vendor
    event["hostnames"] = [
        {"name": name.get("name", ""), "type": name.get("type", "")}
        for name in host.iter("hostname")
    ]
    if (status := host.find("status")) is not None:
        event["status"] = {"state": status.get("state", ""), "reason": status.get("reason", "")}
    if (uptime := host.find("uptime")) is not None:
        event["uptime"] = {
            "seconds": uptime.get("seconds", ""),
            "lastboot": uptime.get("lastboot", ""),
        }
    for port in host.iter("port"):
        protocol = port.get("protocol", "tcp")
        event.setdefault(protocol, {})[port.get("portid", "")] = _port(port)
    matches = [
        (int(match.get("accuracy", "0") or 0), match.get("name", ""))
        for match in host.iter("osmatch")
        if (match.get("accuracy") or "0").isdigit()
    ]
    if matches:
        event["detected_os"] = max(matches, key=lambda item: item[0])[1]
    return event


def _port(port: Element) -> dict[str, str]:
    state = port.find("state")
    found: dict[str, str] = {
        "state": state.get("state", "") if state is not None else "",
        "reason": state.get("reason", "") if state is not None else "",
    }
    service = port.find("service")
    given = dict(service.attrib) if service is not None else {}
    cpes = [cpe.text or "" for cpe in service.iter("cpe")] if service is not None else []
    if cpes:
        given["cpe"] = cpes[0]
    return found | _service(**given)
