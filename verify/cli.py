"""The ``autospeculation`` command line (also ``python -m verify``).

Subcommands
-----------
``validate``  the built-in validation run; writes report.json/.md/.html
``audit``     audit a user's oracle ``MODULE:FACTORY`` (optionally against a reference)
``report``    re-render a report from its JSON
``rounds``    a small rounds-scaling run
``pinning``   pinning-lemma and round-bound tables (when :mod:`verify.pinning_cli` exists)

Verdict and exit codes: every check has a status ("pass", "fail", "warn", "skipped",
"no-power"). The run fails when some check has status "fail"; with ``--strict``
(``validate`` and ``audit``) also when some check is "warn", "no-power" or "skipped".
The last line counts every status, e.g. ``verdict: PASS (56 checks: 52 passed, 4
warnings, 0 failed, 0 skipped, 0 no-power)``. Exit code 0 when the verdict is PASS, 1
when it is FAIL, 2 for a usage error or bad input: every argument and the output
location are checked before any work starts, and the message is one line on stderr,
with no traceback.

Output: on a terminal, progress bars (tqdm) on stderr; off a terminal (CI logs), one
log line on stderr per stage and per check instead. ``--quiet`` silences both and the
tables.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from distributions._validation import check_float, check_int
from distributions.errors import AutospecError, ParameterError, ReportError

__all__ = ["main", "build_parser", "load_factory", "check_output_location",
           "check_report_dir"]

PROG = "autospeculation"


# ---------------------------------------------------------------------- helpers
def _version() -> str:
    try:
        return metadata.version("autospeculation")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def _quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def _on_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def _log(args: argparse.Namespace, line: str) -> None:
    """One log line on stderr (off a terminal only; never with ``--quiet``)."""
    if not _quiet(args) and not _on_tty():
        print(f"[{args.command}] {line}", file=sys.stderr, flush=True)


class _LogBar:
    """The progress object off a terminal: one log line per finished check."""

    def __init__(self, total: int, desc: str, emit: Callable[[str], None]) -> None:
        self.total, self.desc, self.emit = int(total), desc, emit
        self.done = 0
        self.item = ""
        self.t0 = time.perf_counter()

    def set_postfix_str(self, s: str) -> None:
        self.item = s
        self.t0 = time.perf_counter()

    def update(self, k: int = 1) -> None:
        self.done += k
        self.emit(f"{self.desc} {self.done}/{self.total} {self.item} "
                  f"({time.perf_counter() - self.t0:.1f} s)")

    def close(self) -> None:
        pass


def _progress_factory(args: argparse.Namespace) -> Any:
    """tqdm bars on a terminal, log lines off it, nothing with ``--quiet``."""
    from verify.validation import _NoBar

    if _quiet(args):
        return lambda total, desc: _NoBar()
    if not _on_tty():
        return lambda total, desc: _LogBar(total, desc, lambda line: _log(args, line))
    from tqdm.auto import tqdm

    def make(total: int, desc: str) -> Any:
        return tqdm(total=total, desc=f"{desc:>10}", file=sys.stderr, leave=True,
                    dynamic_ncols=True, unit="check")

    return make


def _say(args: argparse.Namespace, text: str = "") -> None:
    if not _quiet(args):
        print(text, flush=True)


def _nonneg_seed(name: str, value: Any) -> int:
    return check_int(name, value, low=0)


def check_report_dir(name: str, path: Any) -> Path:
    """Check, before any work, that a report can be written into ``path`` (the rules of
    :func:`reports.io.check_out_dir`), naming the option ``name`` in the error."""
    from reports.io import check_out_dir

    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise ParameterError(f"`{name}` must be a directory path; got {path!r}.")
    try:
        return check_out_dir(path)
    except ReportError as exc:
        raise ParameterError(str(exc).replace("`out_dir`", f"`{name}`")) from None


def check_output_location(name: str, path: Any) -> Path:
    """Check, before any work, that files can be written into directory ``path``.

    ``path`` must be an existing writable directory or a path whose nearest existing
    ancestor is a writable directory; its parent must be writable too (atomic writers
    prepare files beside their destination). Nothing is created.

    Raises
    ------
    ParameterError
        Naming the option, the rule and the path seen.
    """
    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise ParameterError(f"`{name}` must be a directory path; got {path!r}.")
    out = Path(os.path.abspath(path))

    def writable_dir(p: Path) -> None:
        if not p.is_dir():
            raise ParameterError(f"`{name}` must be a directory or a path that can be "
                                 f"created; got {str(path)!r}, but {str(p)!r} is a file.")
        if not os.access(p, os.W_OK | os.X_OK):
            raise ParameterError(f"`{name}` must be in a writable directory; got "
                                 f"{str(path)!r}, but {str(p)!r} is not writable.")

    if out.exists():
        writable_dir(out)
    for anc in [out.parent, *out.parent.parents]:
        if anc.exists():
            writable_dir(anc)
            break
    return out


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
    from reports.status import STATUS_LABELS, check_status

    cols = ["check", "method", "p-value", "det. TV", "samples", "verdict"]
    rows = []
    for c in checks:
        rows.append([c["id"], c.get("method") or "-", fmt(c.get("pvalue")),
                     fmt(c.get("detectable_tv")), fmt(c.get("num_samples")),
                     STATUS_LABELS[check_status(c)]])
    widths = [max(len(str(r[i])) for r in [cols, *rows]) for i in range(len(cols))]
    widths[1] = min(widths[1], 28)
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*cols))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*[str(v)[:w] for v, w in zip(r, widths, strict=True)]))


def _finish(args: argparse.Namespace, doc: dict[str, Any], out: str | None) -> int:
    from reports.io import write_report
    from reports.status import summary_line

    if out is not None:
        paths = write_report(doc, out)
        _say(args, "report: " + ", ".join(str(paths[k]) for k in ("json", "md", "html")
                                          if k in paths))
    strict = bool(doc.get("strict", False))
    line = summary_line(doc["checks"], strict=strict)
    note = ""
    if not strict and line.startswith("PASS") and any(
            c.get("status", "pass") != "pass" for c in doc["checks"]):
        note = "; warnings, skipped and no-power checks fail the run only with --strict"
    _say(args, f"verdict: {line} in {doc['timing']['total_seconds']:.1f} s{note}")
    return 0 if doc["verdict"] == "pass" else 1


# ---------------------------------------------------------------------- commands
def _check_validate_args(args: argparse.Namespace) -> Any:
    """Every ``validate`` argument and the output location, before any work."""
    from verify.validation import (
        _SAMPLERS,
        ValidationConfig,
        _select,
        _target_builders,
        available_samplers,
        available_stages,
        available_targets,
        check_alpha,
    )

    seed = _nonneg_seed("--seed", args.seed)
    alpha = check_float("--alpha", args.alpha, low=0.0, high=1.0, low_open=True,
                        high_open=True)
    cfg = ValidationConfig(quick=args.quick, seed=seed,
                           samplers=tuple(dict.fromkeys(args.samplers)) if args.samplers
                           else None,
                           targets=tuple(dict.fromkeys(args.targets)) if args.targets else None,
                           alpha=alpha,
                           stages=tuple(dict.fromkeys(args.stages)) if args.stages else None)
    _select("--samplers", cfg.samplers, available_samplers(), list(_SAMPLERS))
    _select("--targets", cfg.targets, available_targets(cfg.quick),
            list(_target_builders(cfg.quick)))
    stages = available_stages(cfg)
    if not stages:
        raise ParameterError("`--stages` must name at least one available stage; got none.")
    check_alpha(cfg, stages, name="--alpha")
    check_report_dir("--out", args.out)
    return cfg, stages


def _cmd_validate(args: argparse.Namespace) -> int:
    from reports.io import make_document
    from verify.validation import run_validation

    cfg, stages = _check_validate_args(args)
    t0 = time.perf_counter()
    _say(args, f"{PROG} validate{' --quick' if cfg.quick else ''}"
               f"{' --strict' if args.strict else ''}: stages "
               f"{', '.join(s.name for s in stages)}; seed {cfg.seed}; family-wise alpha "
               f"{cfg.alpha:g}")
    checks, sections, timings = run_validation(
        cfg, progress=_progress_factory(args), stages=stages,
        log=lambda line: _log(args, line))
    doc = make_document(
        "validate", f"autospeculation validation report{' (quick)' if cfg.quick else ''}",
        checks, sections, seeds={"root": cfg.seed}, stage_seconds=timings,
        total_seconds=time.perf_counter() - t0, command=[PROG, *args.argv],
        config={"quick": cfg.quick, "alpha": cfg.alpha, "tv": cfg.tv,
                "samplers": list(cfg.samplers or []), "targets": list(cfg.targets or []),
                "stages": [s.name for s in stages]},
        strict=bool(args.strict))
    if not _quiet(args):
        _print_checks(doc["checks"])
    return _finish(args, doc, args.out)


def _cmd_audit(args: argparse.Namespace) -> int:
    from reports.io import make_document
    from verify.audit import audit_oracle, audit_report

    seed = _nonneg_seed("--seed", args.seed)
    contexts = check_int("--contexts", args.contexts, low=4)
    check_float("--sampler-timeout", args.sampler_timeout, low=0.0, low_open=True)
    if args.sampler_max_rounds is not None:
        check_int("--sampler-max-rounds", args.sampler_max_rounds, low=1)
    if args.out is not None:
        check_report_dir("--out", args.out)
    t0 = time.perf_counter()
    oracle = load_factory(args.factory, name="FACTORY")
    reference = load_factory(args.reference, name="--reference") if args.reference else None
    _log(args, f"auditing {args.factory} ({contexts} contexts, seed {seed}"
               f"{', with sampler runs' if not args.no_samplers else ''})")
    res = audit_oracle(oracle, reference=reference, num_contexts=contexts, rng=seed,
                       run_samplers=not args.no_samplers,
                       sampler_timeout=args.sampler_timeout,
                       sampler_max_rounds=args.sampler_max_rounds)
    _log(args, f"audit done in {time.perf_counter() - t0:.1f} s")
    checks, sections = audit_report(res, oracle_spec=args.factory,
                                    reference_spec=args.reference)
    doc = make_document("audit", f"Oracle audit: {args.factory}", checks, sections,
                        seeds={"root": res.seed}, stage_seconds=list(res.timings.items()),
                        total_seconds=time.perf_counter() - t0, command=[PROG, *args.argv],
                        config={"factory": args.factory, "reference": args.reference,
                                "num_contexts": contexts},
                        strict=bool(args.strict))
    if not _quiet(args):
        print("\n".join(res.lines(strict=bool(args.strict))))
    return _finish(args, doc, args.out)


def _cmd_report(args: argparse.Namespace) -> int:
    from reports.io import read_report, write_report

    src = Path(args.json)
    out = args.out if args.out is not None else (src if src.is_dir() else src.parent)
    check_report_dir("--out" if args.out is not None else
                     "--out (default: the JSON's directory)", out)
    doc = read_report(args.json)
    paths = write_report(doc, out)
    _say(args, "report: " + ", ".join(str(p) for k, p in paths.items() if "/" not in k))
    return 0 if doc["verdict"] == "pass" else 1


def _cmd_rounds(args: argparse.Namespace) -> int:
    from reports.io import make_document
    from verify.rounds import rounds_scaling
    from verify.validation import _select, available_samplers

    seed = _nonneg_seed("--seed", args.seed)
    num = None if args.num is None else check_int("--num", args.num, low=2)
    if args.out is not None:
        check_report_dir("--out", args.out)
    parallel = _parallel_samplers()
    names = _select("--samplers", list(dict.fromkeys(args.samplers)) if args.samplers
                    else None, [s for s in available_samplers() if s in parallel], parallel)
    if not names:
        raise ParameterError("`--samplers`: no parallel sampler is available in this "
                             "installation.")
    t0 = time.perf_counter()
    res = rounds_scaling(names, quick=args.quick, seed=seed, num=num,
                         progress=_progress_factory(args))
    secs = time.perf_counter() - t0
    doc = make_document("rounds", "autospeculation rounds scaling", res["checks"],
                        res["sections"], seeds={"root": seed},
                        stage_seconds=[("rounds", secs)], total_seconds=secs,
                        command=[PROG, *args.argv], strict=bool(args.strict))
    if not _quiet(args):
        tab = res["sections"][0]["tables"]
        from reports.render import fmt

        for t in tab:
            print(t["title"])
            print("  " + "  ".join(f"{c:>12}" for c in t["columns"]))
            for r in t["rows"]:
                print("  " + "  ".join(f"{fmt(v):>12}" for v in r))
    return _finish(args, doc, args.out)


def _parallel_samplers() -> list[str]:
    """Registry names of the parallel samplers (the ones ``rounds`` measures)."""
    from verify.validation import _SAMPLERS

    return [s for s in _SAMPLERS if s != "sequential"]


# ---------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help').\n")


_STRICT_HELP = ("fail the run also when a check is a warning, skipped or has no power "
                "(default: only failed checks fail it)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``autospeculation`` command."""
    from verify.validation import (
        _SAMPLERS,
        ValidationConfig,
        _target_builders,
        available_stages,
        min_check_alpha,
        module_present,
    )

    p = _Parser(prog=PROG, description="Exactness checks, oracle audits and validation "
                "reports for parallel (autospeculative) samplers.",
                epilog="Exit codes: 0 verdict PASS, 1 verdict FAIL, 2 usage error. The "
                "verdict fails when a check failed; with --strict also on warnings, "
                "skipped and no-power checks.")
    p.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    v = sub.add_parser("validate", help="run the built-in validation and write a report",
                       description="Run every available sampler on every built-in target "
                       "(exactness tests and the other stages) and write report.json, "
                       "report.md and report.html. Exit code 0 when the verdict is PASS (no "
                       "check failed; with --strict also no warning, skipped or no-power "
                       "check), 1 otherwise, 2 for a usage error.")
    v.add_argument("--quick", action="store_true", help="the quick run (< 2 minutes)")
    v.add_argument("--out", metavar="DIR", default="validation-report",
                   help="report directory (default: %(default)s)")
    v.add_argument("--seed", type=int, default=0,
                   help="root seed, an integer >= 0 (default: %(default)s)")
    v.add_argument("--alpha", type=float, default=1e-3,
                   help="family-wise false-failure rate of the run, in (0, 1), split "
                   "(Bonferroni) over the statistical stages and their checks; each check's "
                   f"share must be >= {min_check_alpha():.3g}, the resolution of a Monte "
                   "Carlo p-value (default: %(default)s)")
    v.add_argument("--samplers", nargs="+", metavar="NAME", choices=list(_SAMPLERS),
                   help=f"restrict to these samplers ({', '.join(_SAMPLERS)})")
    targets = list(_target_builders(True))
    v.add_argument("--targets", nargs="+", metavar="NAME", choices=targets,
                   help=f"restrict to these targets ({', '.join(targets)})")
    stage_names = [st.name for st in available_stages(ValidationConfig())]
    v.add_argument("--stages", nargs="+", metavar="NAME", choices=stage_names,
                   help=f"run only these stages ({', '.join(stage_names)})")
    v.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    v.add_argument("--quiet", action="store_true",
                   help="no progress bars or log lines, no table")
    v.set_defaults(func=_cmd_validate)

    a = sub.add_parser("audit", help="audit an oracle MODULE:FACTORY",
                       description="Audit a user's oracle: contract, determinism, batch "
                       "invariance, chain-rule consistency, agreement with a reference, and "
                       "sampler runs. FACTORY is a callable returning the oracle.")
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
    a.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    a.add_argument("--quiet", action="store_true", help="no log lines, no findings table")
    a.set_defaults(func=_cmd_audit)

    r = sub.add_parser("report", help="re-render a report from its JSON",
                       description="Validate report.json against its schema and write "
                       "report.md and report.html (and the JSON) again.")
    r.add_argument("json", metavar="JSON", help="report.json (or its directory)")
    r.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (default: the JSON's directory)")
    r.add_argument("--quiet", action="store_true", help="print nothing")
    r.set_defaults(func=_cmd_report)

    parallel = [k for k in _SAMPLERS if k != "sequential"]
    s = sub.add_parser("rounds", help="a small rounds-scaling run",
                       description="Mean rounds per sample of the parallel samplers for "
                       "growing n, with a power-law fit and a figure.")
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
    s.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    s.add_argument("--quiet", action="store_true",
                   help="no progress bars or log lines, no table")
    s.set_defaults(func=_cmd_rounds)

    if module_present("verify.pinning_cli"):
        from verify.pinning_cli import add_pinning_parser

        add_pinning_parser(sub)
    return p


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


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
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except AutospecError as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
