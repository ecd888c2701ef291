"""``autospeculation certify [NAME ...] [--out DIR]``: run the symbolic certificates
of :mod:`verify.symbolic` and print each with its outcome, residual and time."""

from __future__ import annotations

import argparse
import time

from distributions.errors import ParameterError
from reports.cli.console import PROG, Console, SubParsers
from reports.cli.inputs import check_report_dir
from reports.cli.validate import STRICT_HELP
from reports.io import make_document
from reports.validation.certificates import certificate_output
from verify.symbolic import CERTIFICATES, run_certificates

__all__ = ["add_parser", "run"]


def add_parser(subparsers: SubParsers) -> argparse.ArgumentParser:
    """Register the ``certify`` subcommand on an ``argparse`` subparsers object."""
    s = subparsers.add_parser(
        "certify", help="run the symbolic certificates (sympy)",
        description="Prove the identities the samplers and checks rely on with computer "
        "algebra, for all parameter values: each is 'proved' or 'not proved' with its "
        "residual expression (a certificate over its 30 s limit is 'not proved').")
    s.add_argument("names", nargs="*", metavar="NAME",
                   help=f"certificates to run ({', '.join(CERTIFICATES)}; default: all)")
    s.add_argument("--out", metavar="DIR", default=None,
                   help="write report.json, report.md and report.html into DIR")
    s.add_argument("--strict", action="store_true", help=STRICT_HELP)
    s.add_argument("--quiet", action="store_true", help="no progress lines, no table")
    s.set_defaults(func=run)
    return s


def run(args: argparse.Namespace, console: Console) -> int:
    """Run ``certify``; returns 0 when every certificate is proved, else 1."""
    names = list(dict.fromkeys(args.names)) or None
    for name in names or ():
        if name not in CERTIFICATES:
            raise ParameterError(f"NAME must be among {', '.join(CERTIFICATES)}; got {name!r}.")
    if args.out is not None:
        check_report_dir("--out", args.out)
    t0 = time.perf_counter()

    def progress(name: str) -> None:
        if not console.quiet:
            console.say(f"certificate {name} ...")

    certs = run_certificates(names, progress=progress)
    secs = time.perf_counter() - t0
    res = certificate_output(certs)
    doc = make_document("certify", "autospeculation symbolic certificates", res.checks,
                        res.sections, seeds={}, stage_seconds=[("certificates", secs)],
                        total_seconds=secs, command=[PROG, *args.argv],
                        strict=bool(args.strict))
    if not console.quiet:
        for c in certs:
            shown = "proved" if c.outcome == "proved" else f"NOT PROVED: {c.residual}"
            print(f"  {c.name:<34} {c.seconds:7.2f} s  {shown}")
    return console.finish(doc, args.out)
