"""p2 in one process, gp-celery embedded beside the bare-Python baseline, measured as p1 is
(bench_embedded.run_alternating: the same interpreter, ``< log`` on stdin, ``sync`` before
every run, one warm-up each, then A/B alternating runs, start-up taken off the CPU).

p2 is StdIn -> RegexParser -> AddDateTime -> UserAgentParser -> AddGeoInfo -> UrlParser ->
FileSink JSON lines (bench/p2.yml), beside ../shared/bench/baseline_p2.py; both read the
GeoLite2 City database that the PyPI package maxminddb-geolite2 ships.

Every output is checked against the baseline's (P2Check). A probe first runs both sides on
the log's first lines, untimed, and compares them event by event: it says which line and
which field differ, and it fixes which keys of the enriched fields are compared (those both
sides write). Every timed run's output is then reduced, line by line, to those fields, and
a sum of CRC32s over the lines (any order) must equal the baseline's.
"""

from __future__ import annotations

import datetime
import importlib.util
import itertools
import re
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
from bench_common import (
    GP,
    OUT,
    ROOT,
    SHARED,
    Run,
    bench_env,
    count_lines,
    fresh_output,
    interpreter,
    run_whole,
    say,
    shared_regex,
)
from bench_embedded import NAMES, Check, P1Results, run_alternating

P2 = ROOT / "bench/p2.yml"
BASELINE = SHARED / "baseline_p2.py"
PROBE_LINES = 2000
"""Lines of the log both sides run on, untimed, to be compared event by event."""

ENRICHED = ("user_agent_info", "geo_info", "url_parsed")
"""The fields p2 adds (besides @timestamp), each a map; compared key by key."""
REQUIRED: dict[str, frozenset[str]] = {
    # GambolPutty's result, less the raw string; ua-parser 1.x adds device.brand/model.
    "user_agent_info": frozenset(
        {
            *(f"user_agent.{key}" for key in ("family", "major", "minor", "patch")),
            *(f"os.{key}" for key in ("family", "major", "minor", "patch", "patch_minor")),
            "device.family",
        }
    ),
    # The keys GambolPutty's pygeoip record and the baseline's geoip2 record name alike and
    # mean alike (pygeoip's 'continent' is a code and its 'area_code' a US phone prefix,
    # the baseline's a name and a subdivision: compared only if both sides write them).
    "geo_info": frozenset(
        {"city", "country_code", "country_name", "latitude", "longitude", "postal_code"}
        | {"time_zone"}
    ),
    # GambolPutty writes these four only; the baseline adds netloc, fragment and the rest.
    "url_parsed": frozenset({"scheme", "path", "params", "query"}),
}
"""Keys gp-celery must write in each enriched field: GambolPutty's, which the baseline has."""

MEMO_SIZE = 65536
"""Distinct values (times, user agents) the check remembers the comparable form of."""


def geolite2_city() -> Path:
    """GeoLite2-City.mmdb inside the installed maxminddb-geolite2 (the baseline's default)."""
    spec = importlib.util.find_spec("_maxminddb_geolite2")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "p2 needs the PyPI package maxminddb-geolite2 (GeoLite2-City.mmdb): "
            "pip install -e '.[dev]'"
        )
    path = Path(spec.origin).parent / "GeoLite2-City.mmdb"
    if not path.is_file():
        raise SystemExit(f"p2: {path} is missing from maxminddb-geolite2's install")
    return path


def p2_env(target: Path) -> dict[str, str]:
    return {**bench_env(target), "GP_BENCH_MMDB": str(geolite2_city())}


def p2_command(name: str, target: Path) -> list[str]:
    if name == "baseline":
        return [interpreter(), str(BASELINE), str(target), str(geolite2_city())]
    return [GP, "run", "-c", str(P2), "--log-level", "warn"]


def preflight(names: Iterable[str]) -> None:
    """Fail before anything is timed, with the reason: the baseline's libraries missing, or
    a module of bench/p2.yml not built yet or refusing its options."""
    geolite2_city()
    libraries = ("geoip2", "ua_parser", "orjson")
    missing = [name for name in libraries if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(
            f"p2's baseline needs {', '.join(missing)}: pip install -e '.[dev]' "
            "(geoip2, ua-parser[regex], maxminddb-geolite2)"
        )
    if importlib.util.find_spec("ua_parser_rs") is None:
        say("p2: ua-parser-rs is not installed: the baseline falls back to a slower resolver")
    if shared_regex() not in P2.read_text():
        raise SystemExit("bench/p2.yml no longer uses the shared combined regex")
    if "embedded" not in names:
        return
    from gp_celery.config import ConfigError, load_config

    try:
        config = load_config(str(P2), p2_env(OUT / "unused.jsonl"))
    except ConfigError as error:
        raise SystemExit(f"p2: bench/p2.yml is refused:\n{error}") from None
    if config.planned:
        planned = [node.type_name for node in config.planned]
        many = len(planned) > 1
        raise SystemExit(
            f"p2: the gp-celery side cannot run: module{'s' if many else ''} "
            f"{', '.join(planned)} {'are' if many else 'is'} not built yet (bench/p2.yml "
            f"uses {'them' if many else 'it'}; gp_celery/modules/planned.py lists "
            f"{'them' if many else 'it'}). `scripts/bench --mode p2 --baseline-only` runs "
            "the baseline alone."
        )


def run_p2_once(name: str, log: Path | None, check: Check | None, lines: int) -> Run:
    target = OUT / f"p2-{name}.jsonl"
    fresh_output(target)
    errors = OUT / f"p2-{name}.stderr"
    errors.unlink(missing_ok=True)
    run = run_whole(p2_command(name, target), log, p2_env(target), errors)
    if check is not None:
        check.verify(name, target, lines)
    return run


def run_p2(
    log: Path, lines: int, runs: int, check: P2Check, names: tuple[str, ...] = NAMES
) -> P1Results:
    return run_alternating(run_p2_once, log, lines, runs, check, names=names)


def probe(log: Path, names: tuple[str, ...] = NAMES) -> P2Check:
    """Run each side on the log's first PROBE_LINES lines (untimed) and compare their events
    one by one; the check that comes back compares the keys both sides wrote."""
    sample = OUT / "p2-probe.log"
    with log.open("rb") as source, sample.open("wb") as out:
        out.writelines(itertools.islice(source, PROBE_LINES))
    lines = count_lines(sample)
    events: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        target = OUT / f"p2-probe-{name}.jsonl"
        fresh_output(target)
        errors = OUT / f"p2-probe-{name}.stderr"
        errors.unlink(missing_ok=True)
        run_whole(p2_command(name, target), sample, p2_env(target), errors)
        events[name] = []
        if target.exists():
            with target.open("rb") as handle:
                events[name] = [orjson.loads(line) for line in handle]
    check = P2Check()
    check.probe(events, lines)
    for name in names:  # kept only when they differ
        (OUT / f"p2-probe-{name}.jsonl").unlink()
    say(f"p2 probe: {lines:,} lines, {' and '.join(names)}: {check.summary()}")
    return check


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'os': {'family': 'Linux'}} -> {'os.family': 'Linux'}."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat.update(flatten(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def shorten(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class P2Check:
    """One JSON line per input line, holding the baseline's fields, compared as follows.

    Exactly: the 11 groups of the combined regex and ``data`` (the raw line, newline and
    all), and every key of user_agent_info, geo_info and url_parsed that both sides write
    (flattened: ``os.family``); a field is absent on one side exactly where it is on the
    other. Tolerated, because the two differ by design, not by error:

    - ``@timestamp`` is compared as an instant: gp-celery's AddDateTime writes the log's
      time in UTC (``+0000``), the baseline keeps the log's zone (``+0100``); a time with
      no zone is taken as UTC (GambolPutty's AddDateTime writes UTC with no suffix).
    - ``url_parsed.query`` is compared percent-decoded: the baseline (as GambolPutty)
      decodes the whole URL before splitting it, gp-celery's UrlParser splits first and
      keeps the query as sent, so that an encoded '&' or '=' stays inside its value.
      Decoding the baseline's query again changes nothing unless it held a '%' escape
      (double-encoded input, which the generated log has not).
    - Inside an enriched field a key left out equals a key written as null (Elasticsearch
      indexes neither).
    - Keys only one side writes are not compared (the report lists them), provided
      gp-celery writes at least GambolPutty's keys (REQUIRED). GambolPutty's UrlParser, for
      one, writes scheme, path, params and query, where the baseline adds netloc, fragment,
      username, password, hostname and port.
    - Other top-level fields (gp-celery's ``gambolputty`` metadata) and key order are not
      compared.
    """

    def __init__(self) -> None:
        self.groups = list(re.compile(shared_regex()).groupindex)
        self.compared: dict[str, tuple[str, ...]] = {}
        self.only: dict[str, dict[str, list[str]]] = {}
        """Field -> side -> keys only that side wrote in the probe."""
        self.expected: tuple[int, int] | None = None
        self._instants: dict[str, Any] = {}
        self._flat: dict[str, bool] = {}
        self._memo: dict[str, dict[bytes, dict[str, Any]]] = {name: {} for name in ENRICHED}

    def instant(self, value: Any) -> Any:
        if not isinstance(value, str):
            return ["not a string", shorten(value)]
        if value not in self._instants:
            if len(self._instants) >= MEMO_SIZE:
                self._instants.clear()
            try:
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                self._instants[value] = ["not an ISO time", value]
            else:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=datetime.UTC)
                self._instants[value] = moment.timestamp()
        return self._instants[value]

    def project(self, event: Any) -> dict[str, Any]:
        """The fields compared, as comparable values, their keys in one order whatever the
        order in the event."""
        if not isinstance(event, dict):
            return {"not a map": shorten(event)}
        fields = {group: event.get(group) for group in self.groups}
        fields["data"] = event.get("data")
        fields["@timestamp"] = self.instant(event.get("@timestamp"))
        for name in ENRICHED:
            value = event.get(name)
            if value is None or not isinstance(value, dict):
                fields[name] = value if value is None else ["not a map", shorten(value)]
                continue
            fields[name] = self._part(name, value)
        return fields

    def _part(self, name: str, value: dict[str, Any]) -> dict[str, Any]:
        """A map's compared keys, in one order on both sides. A map with nested maps (the
        user agent's) is flattened once per distinct map: the log repeats them."""
        keys = self.compared[name]
        if self._flat[name]:
            part = {key: value.get(key) for key in keys}
            query = part.get("query") if name == "url_parsed" else None
            if isinstance(query, str):
                part["query"] = unquote(query)  # see the class's docstring
            return part
        memo = self._memo[name]
        seen = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        if seen not in memo:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            flat = flatten(value)
            memo[seen] = {key: flat.get(key) for key in keys}
        return memo[seen]

    def probe(self, events: dict[str, list[dict[str, Any]]], lines: int) -> None:
        """Compare the sides' probe outputs event by event; fix the keys compared."""
        for name, written in events.items():
            if len(written) != lines:
                raise SystemExit(
                    f"p2 probe: {name} wrote {len(written):,} lines for {lines:,} input lines "
                    f"(its stderr: {OUT / f'p2-probe-{name}.stderr'})"
                )
        keys = {name: self._keys(name, written) for name, written in events.items()}
        base = keys["baseline"]
        ours = keys.get("embedded", base)
        for name in ENRICHED:
            for side, found in (("baseline", base[name]), ("embedded", ours[name])):
                if lacking := REQUIRED[name] - found:
                    raise SystemExit(
                        f"p2 probe: {side}'s {name} lacks {', '.join(sorted(lacking))} "
                        f"on all {lines:,} lines (GambolPutty writes them)"
                    )
            self.compared[name] = tuple(sorted(base[name] & ours[name]))
            self._flat[name] = not any("." in key for key in self.compared[name])
            self.only[name] = {
                "baseline": sorted(base[name] - ours[name]),
                "embedded": sorted(ours[name] - base[name]),
            }
        if "embedded" in events:
            self._compare(events["baseline"], events["embedded"])

    def _keys(self, side: str, written: list[dict[str, Any]]) -> dict[str, set[str]]:
        keys: dict[str, set[str]] = {name: set() for name in ENRICHED}
        for number, event in enumerate(written, 1):
            for name in ENRICHED:
                value = event.get(name) if isinstance(event, dict) else None
                if isinstance(value, dict):
                    keys[name].update(flatten(value))
                elif value is not None:
                    raise SystemExit(
                        f"p2 probe: {side} line {number}: {name} is not a map: {shorten(value)}"
                    )
        return keys

    def _compare(self, baseline: list[dict[str, Any]], embedded: list[dict[str, Any]]) -> None:
        """Pair the events by their raw line (a line repeated gives the same event) and say
        the first field that differs."""
        by_line = {event.get("data"): event for event in baseline}
        for number, event in enumerate(embedded, 1):
            reference = by_line.get(event.get("data"))
            if reference is None:
                raise SystemExit(
                    f"p2 probe: embedded line {number} holds a raw line the baseline did not "
                    f"write: {shorten(event.get('data'))}"
                )
            want, got = self.project(reference), self.project(event)
            for field, value in want.items():
                mine = got[field]
                if mine == value:
                    continue
                if isinstance(value, dict) and isinstance(mine, dict):
                    key = next(key for key in value if value[key] != mine[key])
                    field, value, mine = f"{field}.{key}", value[key], mine[key]  # noqa: PLW2901
                raise SystemExit(
                    f"p2 probe: embedded line {number}, {field}: baseline {shorten(value)}, "
                    f"embedded {shorten(mine)}\n  line: {shorten(event.get('data'))}"
                )

    def summary(self) -> str:
        """Which keys were compared, and which only one side writes."""
        parts = []
        for name in ENRICHED:
            text = f"{name}: {len(self.compared[name])} keys compared"
            for side, label in (("baseline", "baseline only"), ("embedded", "gp-celery only")):
                if self.only[name][side]:
                    text += f"; {label}: {', '.join(self.only[name][side])}"
            parts.append(text)
        return "; ".join(parts)

    def digest(self, path: Path) -> tuple[int, int]:
        lines = total = 0
        project, dumps = self.project, orjson.dumps
        with path.open("rb") as handle:
            for lines, line in enumerate(handle, 1):
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise SystemExit(f"{path}:{lines}: not a JSON line ({error})") from None
                total += zlib.crc32(dumps(project(event)))  # keys in one order: see project
        return lines, total

    def verify(self, name: str, path: Path, lines: int) -> None:
        """Fail loudly unless ``path`` holds the baseline's ``lines`` events. A good output
        is deleted (its dirty pages need not be written back); a bad one stays."""
        written, total = self.digest(path) if path.exists() else (0, 0)
        if written != lines:
            raise SystemExit(f"p2: {name} wrote {written:,} lines for {lines:,} input lines")
        if self.expected is None:
            self.expected = (written, total)
        elif (written, total) != self.expected:
            raise SystemExit(
                f"p2: {name} wrote {lines:,} lines, but not the baseline's events ({path} is "
                "kept); the probe passed, so they differ past its first lines"
            )
        path.unlink()
