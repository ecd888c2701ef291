"""The ``autospeculation`` command line (also ``python -m verify``).

Subcommands
-----------
``validate``  the built-in validation run; writes report.json/.md/.html
``audit``     audit a user's oracle ``MODULE:FACTORY`` (optionally against a reference)
``report``    re-render a report from its JSON
``rounds``    a small rounds-scaling run
``pinning``   pinning-lemma and round-bound tables (when :mod:`verify.pinning_cli` exists)

Exit codes: 0 every check passed, 1 a check failed, 2 usage error or bad input (the
message is one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distributions.errors import AutospecError, ParameterError, ReportError

__all__ = ["main", "build_parser", "load_factory"]

PROG = "autospeculation"


# ---------------------------------------------------------------------- helpers
def _want_progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _progress_factory(enabled: bool) -> Any:
    from verify.validation import _NoBar

    if not enabled:
        return lambda total, desc: _NoBar()
    from tqdm.auto import tqdm

    def make(total: int, desc: str) -> Any:
        return tqdm(total=total, desc=f"{desc:>10}", file=sys.stderr, leave=True,
                    dynamic_ncols=True, unit="check")

    return make


def _say(args: argparse.Namespace, text: str = "") -> None:
    if not getattr(args, "quiet", False):
        print(text)


def load_factory(spec: str, *, name: str = "FACTORY") -> Any:
    """Import ``MODULE:CALLABLE`` (or ``path/to/file.py:CALLABLE``) and call it.

    The current directory is put on ``sys.path`` first, as ``python -m`` does, so
    that a user's own module next to them is found.
    """
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise ParameterError(f"`{name}` must have the form MODULE:CALLABLE; got {spec!r}.")
    mod_name, _, attr = spec.rpartition(":")
    if not mod_name or not attr:
        raise ParameterError(f"`{name}` must have the form MODULE:CALLABLE; got {spec!r}.")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        if mod_name.endswith(".py") or os.sep in mod_name:
            path = Path(mod_name)
            if not path.is_file():
                raise ParameterError(f"`{name}`: no such file {mod_name!r}.")
            mspec = importlib.util.spec_from_file_location(path.stem, path)
            assert mspec is not None and mspec.loader is not None
            module = importlib.util.module_from_spec(mspec)
            sys.modules[path.stem] = module
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except ParameterError:
        raise
    except ImportError as exc:
        raise ParameterError(f"`{name}`: cannot import module {mod_name!r}: {exc}.") from None
    except Exception as exc:
        raise ParameterError(f"`{name}`: importing {mod_name!r} raised "
                             f"{type(exc).__name__}: {exc}.") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ParameterError(f"`{name}`: module {mod_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ParameterError(f"`{name}`: {spec!r} is not callable.")
    try:
        return obj()
    except Exception as exc:
        raise ParameterError(f"`{name}`: calling {spec}() raised "
                             f"{type(exc).__name__}: {exc}.") from None


def _print_checks(checks: list[dict[str, Any]]) -> None:
    from reports.render import fmt

    cols = ["check", "method", "p-value", "det. TV", "samples", "verdict"]
    rows = []
    for c in checks:
        verdict = "PASS" if c["passed"] else {"error": "FAIL", "warning": "WARN",
                                              "info": "NOTE"}[c["severity"]]
        rows.append([c["id"], c.get("method") or "-", fmt(c.get("pvalue")),
                     fmt(c.get("detectable_tv")), fmt(c.get("num_samples")), verdict])
    widths = [max(len(str(r[i])) for r in [cols, *rows]) for i in range(len(cols))]
    widths[1] = min(widths[1], 28)
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*cols))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*[str(v)[:w] for v, w in zip(r, widths, strict=True)]))


def _finish(args: argparse.Namespace, doc: dict[str, Any], out: str | None) -> int:
    from reports.io import write_report

    if out is not None:
        paths = write_report(doc, out)
        _say(args, "report: " + ", ".join(str(paths[k]) for k in ("json", "md", "html")
                                          if k in paths))
    n_fail = sum(1 for c in doc["checks"] if not c["passed"] and c["severity"] == "error")
    _say(args, f"verdict: {doc['verdict'].upper()} ({len(doc['checks'])} checks, "
               f"{n_fail} failed, {doc['timing']['total_seconds']:.1f} s)")
    return 0 if doc["verdict"] == "pass" else 1


# ---------------------------------------------------------------------- commands
def _cmd_validate(args: argparse.Namespace) -> int:
    from reports.io import make_document
    from verify.validation import ValidationConfig, available_stages, run_validation

    cfg = ValidationConfig(quick=args.quick, seed=args.seed,
                           samplers=tuple(args.samplers) if args.samplers else None,
                           targets=tuple(args.targets) if args.targets else None,
                           alpha=args.alpha,
                           stages=tuple(args.stages) if args.stages else None)
    t0 = time.perf_counter()
    stages = available_stages(cfg)
    _say(args, f"{PROG} validate{' --quick' if cfg.quick else ''}: stages "
               f"{', '.join(s.name for s in stages)}; seed {cfg.seed}; family-wise alpha "
               f"{cfg.alpha:g}")
    checks, sections, timings = run_validation(cfg, progress=_progress_factory(
        _want_progress(args)), stages=stages)
    doc = make_document(
        "validate", f"autospeculation validation report{' (quick)' if cfg.quick else ''}",
        checks, sections, seeds={"root": cfg.seed}, stage_seconds=timings,
        total_seconds=time.perf_counter() - t0, command=[PROG, *args.argv],
        config={"quick": cfg.quick, "alpha": cfg.alpha, "tv": cfg.tv,
                "samplers": list(cfg.samplers or []), "targets": list(cfg.targets or []),
                "stages": [s.name for s in stages]})
    if not args.quiet:
        _print_checks(doc["checks"])
    return _finish(args, doc, args.out)


def _cmd_audit(args: argparse.Namespace) -> int:
    from reports.io import make_document
    from verify.audit import audit_oracle, audit_report

    t0 = time.perf_counter()
    oracle = load_factory(args.factory, name="FACTORY")
    reference = load_factory(args.reference, name="--reference") if args.reference else None
    res = audit_oracle(oracle, reference=reference, num_contexts=args.contexts, rng=args.seed,
                       run_samplers=not args.no_samplers)
    checks, sections = audit_report(res, oracle_spec=args.factory,
                                    reference_spec=args.reference)
    doc = make_document("audit", f"Oracle audit: {args.factory}", checks, sections,
                        seeds={"root": res.seed}, stage_seconds=[("audit", res.seconds)],
                        total_seconds=time.perf_counter() - t0, command=[PROG, *args.argv],
                        config={"factory": args.factory, "reference": args.reference,
                                "num_contexts": args.contexts})
    if not args.quiet:
        print(res)
    return _finish(args, doc, args.out)


def _cmd_report(args: argparse.Namespace) -> int:
    from reports.io import read_report, write_report

    doc = read_report(args.json)
    src = Path(args.json)
    out = args.out if args.out is not None else (src if src.is_dir() else src.parent)
    paths = write_report(doc, out)
    _say(args, "report: " + ", ".join(str(p) for k, p in paths.items() if "/" not in k))
    return 0 if doc["verdict"] == "pass" else 1


def _cmd_rounds(args: argparse.Namespace) -> int:
    from reports.io import make_document
    from verify.rounds import rounds_scaling
    from verify.validation import _SAMPLERS, _select, available_samplers

    names = _select("samplers", args.samplers, available_samplers(), list(_SAMPLERS))
    names = [s for s in names if s != "sequential"]
    if not names:
        raise ParameterError("`--samplers` must name at least one parallel sampler "
                             f"(available: {', '.join(available_samplers())}).")
    t0 = time.perf_counter()
    res = rounds_scaling(names, quick=args.quick, seed=args.seed, num=args.num,
                         progress=_progress_factory(_want_progress(args)))
    secs = time.perf_counter() - t0
    doc = make_document("rounds", "autospeculation rounds scaling", res["checks"],
                        res["sections"], seeds={"root": args.seed},
                        stage_seconds=[("rounds", secs)], total_seconds=secs,
                        command=[PROG, *args.argv])
    if not args.quiet:
        tab = res["sections"][0]["tables"]
        from reports.render import fmt

        for t in tab:
            print(t["title"])
            print("  " + "  ".join(f"{c:>12}" for c in t["columns"]))
            for r in t["rows"]:
                print("  " + "  ".join(f"{fmt(v):>12}" for v in r))
    return _finish(args, doc, args.out)


# ---------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and one-line errors (its default behaviour)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``autospeculation`` command."""
    from verify.validation import (
        _SAMPLERS,
        ValidationConfig,
        _target_builders,
        available_stages,
        module_present,
    )

    p = _Parser(prog=PROG, description="Exactness checks, oracle audits and validation "
                "reports for parallel (autospeculative) samplers.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    v = sub.add_parser("validate", help="run the built-in validation and write a report",
                       description="Run every available sampler on every built-in target "
                       "(exactness tests and the other stages) and write report.json, "
                       "report.md and report.html.")
    v.add_argument("--quick", action="store_true", help="the quick run (< 2 minutes)")
    v.add_argument("--out", metavar="DIR", default="validation-report",
                   help="report directory (default: %(default)s)")
    v.add_argument("--seed", type=int, default=0, help="root seed (default: %(default)s)")
    v.add_argument("--alpha", type=float, default=1e-3,
                   help="family-wise false-failure rate of the run (default: %(default)s)")
    v.add_argument("--samplers", nargs="+", metavar="NAME", choices=list(_SAMPLERS),
                   help=f"restrict to these samplers ({', '.join(_SAMPLERS)})")
    targets = list(_target_builders(True))
    v.add_argument("--targets", nargs="+", metavar="NAME", choices=targets,
                   help=f"restrict to these targets ({', '.join(targets)})")
    stage_names = [st.name for st in available_stages(ValidationConfig())]
    v.add_argument("--stages", nargs="+", metavar="NAME", choices=stage_names,
                   help=f"run only these stages ({', '.join(stage_names)})")
    v.add_argument("--quiet", action="store_true", help="no progress bars and no table")
    v.set_defaults(func=_cmd_validate)

    a = sub.add_parser("audit", help="audit an oracle MODULE:FACTORY",
                       description="Audit a user's oracle: contract, determinism, batch "
                       "invariance, chain-rule consistency, agreement with a reference, and "
                       "sampler runs. FACTORY is a callable returning the oracle.")
    a.add_argument("factory", metavar="MODULE:FACTORY")
    a.add_argument("--reference", metavar="MODULE:FACTORY",
                   help="a trusted oracle of the same law")
    a.add_argument("--out", metavar="DIR", default=None, help="write a report into DIR")
    a.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    a.add_argument("--contexts", type=int, default=64,
                   help="audit contexts (default: %(default)s)")
    a.add_argument("--no-samplers", action="store_true", help="skip the sampler runs")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=_cmd_audit)

    r = sub.add_parser("report", help="re-render a report from its JSON",
                       description="Validate report.json against its schema and write "
                       "report.md and report.html (and the JSON) again.")
    r.add_argument("json", metavar="JSON", help="report.json (or its directory)")
    r.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (default: the JSON's directory)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=_cmd_report)

    s = sub.add_parser("rounds", help="a small rounds-scaling run",
                       description="Mean rounds per sample of the parallel samplers for "
                       "growing n, with a power-law fit and a figure.")
    s.add_argument("--quick", action="store_true")
    s.add_argument("--samplers", nargs="+", metavar="NAME", choices=list(_SAMPLERS))
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--num", type=int, default=None, help="samples per point")
    s.add_argument("--out", metavar="DIR", default=None)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_rounds)

    if module_present("verify.pinning_cli"):
        from verify.pinning_cli import add_pinning_parser

        add_pinning_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 pass, 1 check failed, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    args.argv = argv
    try:
        if args.command == "pinning":
            from verify.pinning_cli import run_pinning

            return int(run_pinning(args))
        return int(args.func(args))
    except (ParameterError, ReportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except AutospecError as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
