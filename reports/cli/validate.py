"""``autospeculation validate``: the built-in validation run; writes report.json/.md/.html."""

from __future__ import annotations

import argparse
import time

from distributions.errors import ParameterError
from distributions.validation import check_float
from reports import validation
from reports.cli.cluster import add_arguments, check_cluster_args, executor_for
from reports.cli.console import PROG, Console, SubParsers
from reports.cli.inputs import check_report_dir, check_seed
from reports.io import make_document
from samplers import catalogue

__all__ = ["add_parser", "check_args", "run"]

STRICT_HELP = ("fail the run also when a check is a warning, skipped or has no power "
               "(default: only failed checks fail it)")


def add_parser(subparsers: SubParsers) -> argparse.ArgumentParser:
    """Register the ``validate`` subcommand on an ``argparse`` subparsers object."""
    samplers = list(catalogue.DISCRETE_SAMPLERS)
    targets = catalogue.target_names()
    stage_names = [st.name for st in
                   validation.available_stages(validation.ValidationConfig(quick=False))]
    v = subparsers.add_parser(
        "validate", help="run the built-in validation and write a report",
        description="Run every available sampler on every built-in target (exactness "
        "tests and the other stages) and write report.json, report.md and report.html. "
        "Exit code 0 when the verdict is PASS (no check failed; with --strict also no "
        "warning, skipped or no-power check), 1 otherwise, 2 for a usage error.")
    v.add_argument("--quick", action="store_true", help="the quick run (< 2 minutes)")
    v.add_argument("--out", metavar="DIR", default="validation-report",
                   help="report directory (default: %(default)s)")
    v.add_argument("--seed", type=int, default=0,
                   help="root seed, an integer >= 0 (default: %(default)s)")
    v.add_argument("--alpha", type=float, default=1e-3,
                   help="family-wise false-failure rate of the run, in (0, 1), split "
                   "(Bonferroni) over the statistical stages and their checks; each check's "
                   f"share must be >= {validation.min_check_alpha():.3g}, the resolution of "
                   "a Monte Carlo p-value (default: %(default)s)")
    v.add_argument("--samplers", nargs="+", metavar="NAME", choices=samplers,
                   help=f"restrict to these samplers ({', '.join(samplers)})")
    v.add_argument("--targets", nargs="+", metavar="NAME", choices=targets,
                   help=f"restrict to these targets ({', '.join(targets)})")
    v.add_argument("--stages", nargs="+", metavar="NAME", choices=stage_names,
                   help=f"run only these stages ({', '.join(stage_names)})")
    v.add_argument("--strict", action="store_true", help=STRICT_HELP)
    v.add_argument("--quiet", action="store_true",
                   help="no progress bars or log lines, no table")
    add_arguments(v)
    v.set_defaults(func=run)
    return v


def _unique(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(dict.fromkeys(values)) if values else None


def check_args(
    args: argparse.Namespace,
) -> tuple[validation.ValidationConfig, list[validation.Stage]]:
    """Every ``validate`` argument and the output location, before any work.

    Returns ``(config, stages)``; raises :class:`ParameterError`. Sampler, target and
    stage names are checked by the parser (``choices``).
    """
    seed = check_seed("--seed", args.seed)
    alpha = check_float("--alpha", args.alpha, low=0.0, high=1.0, low_open=True,
                        high_open=True)
    cfg = validation.ValidationConfig(quick=args.quick, seed=seed,
                                      samplers=_unique(args.samplers),
                                      targets=_unique(args.targets), alpha=alpha,
                                      stages=_unique(args.stages))
    stages = validation.available_stages(cfg)
    if not stages:
        raise ParameterError("`--stages` must name at least one available stage; got none.")
    validation.check_alpha(cfg, stages, name="--alpha")
    check_cluster_args(args)
    check_report_dir("--out", args.out)
    return cfg, stages


def run(args: argparse.Namespace, console: Console) -> int:
    """Run ``validate``; returns 0 when the verdict is PASS, else 1."""
    cfg, stages = check_args(args)
    t0 = time.perf_counter()
    console.say(f"{PROG} validate{' --quick' if cfg.quick else ''}"
                f"{' --strict' if args.strict else ''}: stages "
                f"{', '.join(s.name for s in stages)}; seed {cfg.seed}; family-wise alpha "
                f"{cfg.alpha:g}")
    with executor_for(*check_cluster_args(args), say=console.say) as executor:
        checks, sections, timings = validation.run_validation(
            cfg, progress=console.progress(), stages=stages, log=console.log,
            executor=executor)
    doc = make_document(
        "validate", f"autospeculation validation report{' (quick)' if cfg.quick else ''}",
        checks, sections, seeds={"root": cfg.seed}, stage_seconds=timings,
        total_seconds=time.perf_counter() - t0, command=[PROG, *args.argv],
        config={"quick": cfg.quick, "alpha": cfg.alpha, "tv": cfg.tv,
                "samplers": list(cfg.samplers or []), "targets": list(cfg.targets or []),
                "stages": [s.name for s in stages]},
        strict=bool(args.strict))
    console.print_checks(doc["checks"])
    return console.finish(doc, args.out)
