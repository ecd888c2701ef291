"""``autospeculation audit MODULE:FACTORY``: audit a user's oracle (optionally against a
reference) and write the audit report."""

from __future__ import annotations

import argparse
import time

from distributions.errors import ParameterError
from distributions.validation import check_float, check_int
from reports.audit_report import audit_report
from reports.cli.console import PROG, Console, SubParsers
from reports.cli.inputs import check_report_dir, check_seed, load_factory
from reports.cli.validate import STRICT_HELP
from reports.io import make_document
from verify import audit

__all__ = ["add_parser", "run"]


def add_parser(subparsers: SubParsers) -> argparse.ArgumentParser:
    """Register the ``audit`` subcommand on an ``argparse`` subparsers object."""
    a = subparsers.add_parser(
        "audit", help="audit an oracle MODULE:FACTORY",
        description="Audit a user's oracle: contract, determinism, batch invariance, "
        "chain-rule consistency, agreement with a reference, and sampler runs. FACTORY is "
        "a callable returning the oracle.")
    a.add_argument("factory", metavar="MODULE:FACTORY",
                   help="module (or path/to/file.py) and a callable returning the oracle")
    a.add_argument("--reference", metavar="MODULE:FACTORY",
                   help="a trusted oracle of the same law")
    a.add_argument("--out", metavar="DIR", default=None,
                   help="write report.json, report.md and report.html into DIR")
    a.add_argument("--seed", type=int, default=0,
                   help="seed, an integer >= 0 (default: %(default)s)")
    a.add_argument("--contexts", type=int, default=64,
                   help="audit contexts, an integer >= 4 (default: %(default)s)")
    a.add_argument("--no-samplers", action="store_true", help="skip the sampler runs")
    a.add_argument("--sampler-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="wall-time budget of each sampler call in the sampler runs; a "
                        "sampler running past it is a finding (default 60)")
    a.add_argument("--sampler-max-rounds", type=int, default=None, metavar="N",
                   help="round budget of each sample in the sampler runs (default: none)")
    a.add_argument("--strict", action="store_true", help=STRICT_HELP)
    a.add_argument("--quiet", action="store_true", help="no log lines, no findings table")
    a.set_defaults(func=run)
    return a


def run(args: argparse.Namespace, console: Console) -> int:
    """Run ``audit``; returns 0 when the verdict is PASS, else 1."""
    seed = check_seed("--seed", args.seed)
    contexts = check_int("--contexts", args.contexts, low=4)
    check_float("--sampler-timeout", args.sampler_timeout, low=0.0, low_open=True)
    if args.sampler_max_rounds is not None:
        check_int("--sampler-max-rounds", args.sampler_max_rounds, low=1)
    if args.out is not None:
        check_report_dir("--out", args.out)
    t0 = time.perf_counter()
    oracle = load_factory(args.factory, name="FACTORY")
    reference = load_factory(args.reference, name="--reference") if args.reference else None
    kind = audit.oracle_kind(oracle, "FACTORY")  # what the factories returned, before the log
    if reference is not None and audit.oracle_kind(reference, "--reference") != kind:
        raise ParameterError(f"`--reference` must return an oracle of the same kind as "
                             f"`FACTORY` ({kind}); got {type(reference).__name__}.")
    console.log(f"auditing {args.factory} ({contexts} contexts, seed {seed}"
                f"{', with sampler runs' if not args.no_samplers else ''})")
    res = audit.audit_oracle(oracle, reference=reference, num_contexts=contexts, rng=seed,
                             run_samplers=not args.no_samplers,
                             sampler_timeout=args.sampler_timeout,
                             sampler_max_rounds=args.sampler_max_rounds)
    console.log(f"audit done in {time.perf_counter() - t0:.1f} s")
    checks, sections = audit_report(res, oracle_spec=args.factory,
                                    reference_spec=args.reference)
    doc = make_document("audit", f"Oracle audit: {args.factory}", checks, sections,
                        seeds={"root": res.seed}, stage_seconds=list(res.timings.items()),
                        total_seconds=time.perf_counter() - t0, command=[PROG, *args.argv],
                        config={"factory": args.factory, "reference": args.reference,
                                "num_contexts": contexts},
                        strict=bool(args.strict))
    if not console.quiet:
        print("\n".join(res.lines(strict=bool(args.strict))))
    return console.finish(doc, args.out)
