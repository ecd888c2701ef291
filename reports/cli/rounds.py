"""``autospeculation rounds``: a small rounds-scaling run of the parallel samplers."""

from __future__ import annotations

import argparse
import time

from distributions.validation import check_int
from reports.cli.console import PROG, Console, SubParsers
from reports.cli.inputs import check_report_dir, check_seed
from reports.cli.validate import STRICT_HELP
from reports.io import make_document
from reports.render import fmt
from reports.validation.rounds import rounds_output
from samplers.catalogue import parallel_samplers
from verify import rounds

__all__ = ["add_parser", "run"]


def add_parser(subparsers: SubParsers) -> argparse.ArgumentParser:
    """Register the ``rounds`` subcommand on an ``argparse`` subparsers object."""
    parallel = parallel_samplers()
    s = subparsers.add_parser(
        "rounds", help="a small rounds-scaling run",
        description="Mean rounds per sample of the parallel samplers for growing n, with "
        "a power-law fit and a figure.")
    s.add_argument("--quick", action="store_true",
                   help="n up to 64 and 100 samples per point (default: n up to 256, 400 "
                   "samples per point)")
    s.add_argument("--samplers", nargs="+", metavar="NAME", choices=parallel,
                   help=f"parallel samplers to measure ({', '.join(parallel)}; default: "
                   "all available)")
    s.add_argument("--seed", type=int, default=0,
                   help="root seed, an integer >= 0 (default: %(default)s)")
    s.add_argument("--num", type=int, default=None,
                   help="samples per point, an integer >= 2 (default: 100 with --quick, "
                   "else 400)")
    s.add_argument("--out", metavar="DIR", default=None,
                   help="write report.json, report.md and report.html into DIR")
    s.add_argument("--strict", action="store_true", help=STRICT_HELP)
    s.add_argument("--quiet", action="store_true",
                   help="no progress bars or log lines, no table")
    s.set_defaults(func=run)
    return s


def run(args: argparse.Namespace, console: Console) -> int:
    """Run ``rounds``; returns 0 when the verdict is PASS, else 1."""
    seed = check_seed("--seed", args.seed)
    num = None if args.num is None else check_int("--num", args.num, low=2)
    if args.out is not None:
        check_report_dir("--out", args.out)
    names = list(dict.fromkeys(args.samplers)) if args.samplers else parallel_samplers()
    t0 = time.perf_counter()
    res = rounds_output(rounds.rounds_scaling(names, quick=args.quick, seed=seed, num=num,
                                              progress=console.progress()))
    secs = time.perf_counter() - t0
    doc = make_document("rounds", "autospeculation rounds scaling", res.checks,
                        res.sections, seeds={"root": seed},
                        stage_seconds=[("rounds", secs)], total_seconds=secs,
                        command=[PROG, *args.argv], strict=bool(args.strict))
    if not console.quiet:
        for t in res.sections[0]["tables"]:
            print(t["title"])
            print("  " + "  ".join(f"{c:>12}" for c in t["columns"]))
            for r in t["rows"]:
                print("  " + "  ".join(f"{fmt(v):>12}" for v in r))
    return console.finish(doc, args.out)
