"""``autospeculation report JSON``: validate a report's JSON and render it again."""

from __future__ import annotations

import argparse
from pathlib import Path

from reports import io
from reports.cli.console import Console, SubParsers
from reports.cli.inputs import check_report_dir

__all__ = ["add_parser", "run"]


def add_parser(subparsers: SubParsers) -> argparse.ArgumentParser:
    """Register the ``report`` subcommand on an ``argparse`` subparsers object."""
    r = subparsers.add_parser(
        "report", help="re-render a report from its JSON",
        description="Validate report.json against its schema and write report.md and "
        "report.html (and the JSON) again.")
    r.add_argument("json", metavar="JSON", help="report.json (or its directory)")
    r.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (default: the JSON's directory)")
    r.add_argument("--quiet", action="store_true", help="print nothing")
    r.set_defaults(func=run)
    return r


def run(args: argparse.Namespace, console: Console) -> int:
    """Run ``report``; returns 0 when the stored verdict is PASS, else 1."""
    src = Path(args.json)
    out = args.out if args.out is not None else (src if src.is_dir() else src.parent)
    check_report_dir("--out" if args.out is not None else
                     "--out (default: the JSON's directory)", out)
    doc = io.read_report(args.json)
    paths = io.write_report(doc, out)
    console.say("report: " + ", ".join(str(p) for k, p in paths.items() if "/" not in k))
    return 0 if doc["verdict"] == "pass" else 1
