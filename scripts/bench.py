"""Benchmarks beside the bare-Python baseline, measured in the same run.

Embedded mode: p1 in one process against the baseline, under identical conditions (see
bench_embedded.py). Distributed mode: the same log through a listener and workers, with
the CPU of every role (see bench_distributed.py). p2: the enrichment pipeline in one process
against its own baseline, measured as p1 is (see bench_p2.py). es: ElasticSearchSink
against the Elasticsearch stand-in, documents/s by bulk size (see bench_es.py). Every run's
output is checked to hold one JSON line per input line with the baseline's fields (es: one
document per event), so a fast run that lost or doubled events cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_common import ROOT, OutputCheck, check_regex_matches_shared, generate, load_p1, say
from bench_distributed import run_fleet
from bench_embedded import NAMES, report_embedded, run_p1, run_side_by_side, run_startup
from bench_es import run_es
from bench_p2 import preflight, probe, run_p2
from bench_report import report_distributed, report_p2
from bench_udp import run_udp

P1_MODES = ("embedded", "distributed", "all")
P2_MODES = ("p2", "all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, don't edit BENCHMARKS.md")
    parser.add_argument(
        "--mode",
        choices=["embedded", "distributed", "p2", "es", "udp", "all"],
        default="embedded",
        help="udp (not part of all): UdpServer bursts, see bench_udp.py",
    )
    parser.add_argument(
        "--datagrams", type=int, default=200_000, help="udp: datagrams per burst and step"
    )
    parser.add_argument(
        "--baseline-only",
        action="store_true",
        help="p2: run its baseline alone (while gp-celery's modules are not built); writes nothing",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="p2: check both sides and compare their events on the first lines; time nothing",
    )
    args = parser.parse_args()
    if (args.baseline_only or args.dry_run) and args.mode != "p2":
        parser.error("--baseline-only and --dry-run go with --mode p2")
    started = time.monotonic()
    p2_sides = ("baseline",) if args.baseline_only else NAMES
    if args.mode in P2_MODES:
        preflight(p2_sides)  # before p1's runs: a p2 that cannot run fails at once
    if args.mode in P1_MODES:
        check_regex_matches_shared()
    sections: dict[str, list[str]] = {}
    if args.mode == "udp":
        sections["udp"] = [run_udp(args.datagrams)]
        finish(sections, args, started)
        return
    if args.mode in ("es", "all"):
        sections["es"] = [run_es(args.lines, args.runs)]
    if args.mode == "es":
        finish(sections, args, started)
        return
    log = generate(args.lines)
    if args.mode in P1_MODES:
        sections[args.mode] = p1_sections(args, log)
    if args.mode in P2_MODES:
        check = probe(log, p2_sides)
        if args.dry_run:
            agree = "agree on" if len(p2_sides) > 1 else "wrote one event for each of"
            say(f"p2 dry run: {' and '.join(p2_sides)} ran and {agree} the probe's lines")
            return
        p2 = run_p2(log, args.lines, args.runs, check, p2_sides)
        sections["p2"] = [report_p2(p2, args.runs, check.summary())]
    finish(sections, args, started)


def finish(sections: dict[str, list[str]], args: argparse.Namespace, started: float) -> None:
    """Print the sections and, unless told not to, put them into BENCHMARKS.md."""
    text = "\n".join(section for parts in sections.values() for section in parts)
    print(text)
    say(f"benchmark took {time.monotonic() - started:.0f} s")
    if not (args.no_write or args.baseline_only):
        for mode, parts in sections.items():
            write_results("\n".join(parts), mode)


def p1_sections(args: argparse.Namespace, log: Path) -> list[str]:
    """p1's sections: embedded, distributed, or both (BENCHMARKS.md's bench:MODE block)."""
    check = OutputCheck()
    p1 = run_p1(log, args.lines, args.runs, check)
    sections = []
    if args.mode in ("embedded", "all"):
        run_startup(p1, max(5, args.runs))
        sections.append(report_embedded(p1, args.runs))
    if args.mode in ("distributed", "all"):
        run_side_by_side(p1, log, args.runs, check)
        fleet = run_fleet(log, args.lines, args.runs, check)
        sections.append(report_distributed(p1, fleet, args.runs, load_p1().settings.chunk_bytes))
    return sections


def write_results(section: str, mode: str) -> None:
    """Replace this mode's generated section of BENCHMARKS.md, keeping everything else. p1's
    sections go in the block of the mode that ran (embedded, distributed or all), p2's always
    in the bench:p2 block."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    begin, end = f"<!-- bench:{mode}:begin -->", f"<!-- bench:{mode}:end -->"
    block = f"{begin}\n{section.rstrip()}\n{end}"
    if begin in text and end in text:
        text = text.split(begin)[0] + block + text.split(end, 1)[1]
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
