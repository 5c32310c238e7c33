"""Benchmarks beside the bare-Python baseline, measured in the same run.

Embedded mode: p1 in one process against the baseline, under identical conditions (see
bench_embedded.py). Distributed mode: the same log through a listener and workers, with
the CPU of every role (see bench_distributed.py). Every run's output is checked to hold
one JSON line per input line with the baseline's parsed fields, so a fast run that lost or
doubled events cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import time

from bench_common import ROOT, OutputCheck, check_regex_matches_shared, generate, load_p1, say
from bench_distributed import run_fleet
from bench_embedded import report_embedded, run_p1, run_side_by_side, run_startup
from bench_report import report_distributed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, don't edit BENCHMARKS.md")
    parser.add_argument("--mode", choices=["embedded", "distributed", "all"], default="embedded")
    args = parser.parse_args()
    started = time.monotonic()
    check_regex_matches_shared()
    log = generate(args.lines)
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
    text = "\n".join(sections)
    print(text)
    say(f"benchmark took {time.monotonic() - started:.0f} s")
    if not args.no_write:
        write_results(text, args.mode)


def write_results(section: str, mode: str) -> None:
    """Replace this mode's generated section of BENCHMARKS.md, keeping everything else."""
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
