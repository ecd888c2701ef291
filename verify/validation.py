"""The built-in validation run: a list of stages, each returning JSON-able check records.

A *stage* is a function ``stage(ctx) -> StageOutput`` (check records and report
sections). :func:`available_stages` lists the stages whose modules are present in
this installation; a stage whose module exists but fails to import is listed and
reports a failing ``import`` check (it is never silently skipped). A *check record*
is a plain dict with the fields of :data:`reports.schema.REPORT_SCHEMA`'s checks:
``id, stage, name, passed, severity, status`` and optionally ``sampler, target,
method, statistic, pvalue, alpha, detectable_tv, num_samples, tv_estimate, seed,
detail, worst_cells, query, extra``.

Status and verdict: ``status`` is one of :data:`STATUSES` ("pass", "warn", "fail",
"skipped", "no-power"); ``passed`` is True only for "pass". The run's verdict is
:func:`reports.status.verdict` of the records ("fail" iff some check has status
"fail"; in strict mode also when some check is "warn", "no-power" or "skipped").

Error budget: the run's family-wise ``alpha`` is split equally (Bonferroni) among
the statistical stages and, within a stage, among its checks; the split is stated
in each stage's section.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from distributions._validation import check_float, check_int
from distributions.errors import ParameterError

__all__ = [
    "STATUSES",
    "Stage",
    "StageContext",
    "StageOutput",
    "ValidationConfig",
    "available_samplers",
    "available_targets",
    "available_stages",
    "check_alpha",
    "exactness_check",
    "make_sampler",
    "min_check_alpha",
    "module_present",
    "record_status",
    "run_validation",
    "status_counts",
]


# ---------------------------------------------------------------------- plumbing
def module_present(name: str) -> bool:
    """True when module ``name`` exists in this installation (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class ValidationConfig:
    """Settings of a validation run.

    Attributes
    ----------
    quick : bool
        The quick run (under 2 minutes on 2 cores): smaller targets, tv = 0.05.
    seed : int
        Root seed; every stage gets its own ``SeedSequence`` child.
    samplers, targets : tuple of str, optional
        Restrict the run to these registry names (default all available).
    alpha : float
        Family-wise false-failure rate of the whole run.
    """

    quick: bool = True
    seed: int = 0
    samplers: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    alpha: float = 1e-3
    stages: tuple[str, ...] | None = None

    @property
    def tv(self) -> float:
        return 0.05 if self.quick else 0.02


@dataclass
class StageOutput:
    """What a stage returns: check records and report sections."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StageContext:
    """What a stage is given: the config, its own seed, its alpha and a progress bar."""

    config: ValidationConfig
    seed: np.random.SeedSequence
    alpha: float
    progress: Callable[[int, str], Any]

    def seed_int(self, *key: int) -> int:
        """A replayable integer seed derived from the stage seed and ``key``."""
        ss = np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, *key))
        return int(ss.generate_state(1, dtype=np.uint32)[0])


@dataclass(frozen=True)
class Stage:
    """One stage of the run: ``name``, a title, whether it spends alpha, its function and
    (for a statistical stage) the number of checks its alpha is split over."""

    name: str
    title: str
    run: Callable[[StageContext], StageOutput]
    statistical: bool = True
    module: str | None = None
    #: number of checks the stage splits its alpha over (statistical stages)
    num_checks: Callable[[ValidationConfig], int] | None = None


class _NoBar:
    def update(self, k: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


#: The status vocabulary of check records (the same as :mod:`reports.status`, which
#: this layer may not import).
STATUSES: tuple[str, ...] = ("pass", "fail", "warn", "skipped", "no-power")


def record_status(rec: dict[str, Any]) -> str:
    """The ``status`` of a check record.

    A record carrying ``status`` keeps it; an older record (or one of another
    module) gets it from ``passed`` and ``severity``: "pass" when passed, else
    "fail" for severity "error" and "warn" for "warning" and "info".
    """
    status = rec.get("status")
    if status is not None:
        if status not in STATUSES:
            raise ParameterError(f"`status` must be one of {', '.join(STATUSES)}; "
                                 f"got {status!r} (check {rec.get('id')!r}).")
        return str(status)
    if rec.get("passed"):
        return "pass"
    return "fail" if rec.get("severity", "error") == "error" else "warn"


def status_counts(checks: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Number of checks of each status of :data:`STATUSES` (zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for c in checks:
        counts[record_status(c)] += 1
    return counts


def check_record(stage: str, cid: str, name: str, passed: bool, *, severity: str = "error",
                 status: str | None = None, **fields: Any) -> dict[str, Any]:
    """A check record (see the module docstring).

    ``status`` defaults to the one :func:`record_status` derives from ``passed``
    and ``severity``; ``passed`` is stored as True only for status "pass".
    """
    rec: dict[str, Any] = {"id": f"{stage}/{cid}", "stage": stage, "name": name,
                           "passed": bool(passed), "severity": severity}
    if status is not None:
        rec["status"] = status
    rec["status"] = record_status(rec)
    rec["passed"] = rec["status"] == "pass"
    rec.update({k: v for k, v in fields.items() if v is not None})
    return rec


# ---------------------------------------------------------------------- registries
#: name -> (module, constructor attribute). Only samplers whose module exists are listed.
_SAMPLERS: dict[str, tuple[str, str]] = {
    "sequential": ("samplers.sequential", "SequentialSampler"),
    "autospeculative": ("samplers.autospec", "AutospeculativeSampler"),
    "agr24": ("samplers.agr24", "AGR24Sampler"),
}


def available_samplers() -> list[str]:
    """Registry names of the discrete samplers present in this installation."""
    return [k for k, (mod, _) in _SAMPLERS.items() if module_present(mod)]


def make_sampler(name: str, oracle: Any) -> Any:
    """Build the registered sampler ``name`` on ``oracle`` (default settings)."""
    if name not in _SAMPLERS:
        raise ParameterError(f"`sampler` must be one of {', '.join(map(repr, _SAMPLERS))}; "
                             f"got {name!r}.")
    mod, attr = _SAMPLERS[name]
    return getattr(importlib.import_module(mod), attr)(oracle)


def _families() -> Any:
    return importlib.import_module("distributions.families")


def _scalable() -> Any:
    return importlib.import_module("distributions.scalable")


def _cycle(n: int) -> np.ndarray:
    a = np.zeros((n, n))
    for i in range(n):
        a[i, (i + 1) % n] = a[(i + 1) % n, i] = 1.0
    return a


def _grid(r: int, c: int) -> np.ndarray:
    n = r * c
    a = np.zeros((n, n))
    for i in range(r):
        for j in range(c):
            k = i * c + j
            if j + 1 < c:
                a[k, k + 1] = a[k + 1, k] = 1
            if i + 1 < r:
                a[k, k + c] = a[k + c, k] = 1
    return a


def _target_builders(quick: bool) -> dict[str, tuple[str, Callable[[], Any], str]]:
    """name -> (module, builder, description); seeds are fixed literals (the targets
    are part of the run's definition, not of its randomness)."""
    t: dict[str, tuple[str, Callable[[], Any], str]] = {}
    fam = "distributions.families"
    t["random-table"] = (fam, lambda: _families().random_table(
        6 if quick else 8, 2, concentration=1.0 if quick else 2.0, rng=20261122),
        "Dirichlet(1)/Dirichlet(2) table, n=6/8, q=2")
    t["spiky-table"] = (fam, lambda: _families().random_table(
        4 if quick else 5, 3, concentration=0.3, rng=11),
        "Dirichlet(0.3) table, n=4/5, q=3")
    t["ising-cycle"] = (fam, lambda: _families().ising(
        (0.3 if quick else 0.25) * _cycle(6 if quick else 10),
        np.linspace(-0.2, 0.2, 6 if quick else 10), beta=1.0),
        "Ising on a cycle, J=0.3/0.25, linear field in [-0.2, 0.2]")
    t["potts-path"] = (fam, lambda: _families().potts(
        _cycle(4 if quick else 6), 3, beta=0.8), "Potts q=3 on a cycle, beta=0.8")
    t["hardcore-grid"] = (fam, lambda: _families().hardcore(
        _grid(2, 3) if quick else _grid(3, 3), 1.5),
        "hard-core on a grid (zero-probability cells), fugacity 1.5")
    sc = "distributions.scalable"
    t["curie-weiss"] = (sc, lambda: _scalable().CurieWeiss(6 if quick else 10, 1.0, 0.1),
                        "Curie-Weiss at criticality, beta=1, h=0.1")
    t["ising-chain"] = (sc, lambda: _scalable().IsingChain(
        6 if quick else 10, 0.4 if quick else 0.3, -0.1),
        "1-d Ising chain, coupling 0.4/0.3, field -0.1")
    rng = np.random.default_rng(7)
    w = rng.dirichlet(np.ones(3))
    p = rng.dirichlet(np.full(2, 4.0), size=(3, 6 if quick else 10))
    t["mixture"] = (sc, lambda: _scalable().MixtureOfProducts(w, p),
                    "mixture of 3 products, q=2, n=6/10")
    return t


#: Targets left out of the default quick run (sparse tables: Monte Carlo p-values at a
#: tiny per-check alpha take seconds each); they run in the full run or when named.
_QUICK_SKIP: frozenset[str] = frozenset({"spiky-table"})


def available_targets(quick: bool = True) -> list[str]:
    """Registry names of the built-in targets whose module is present."""
    return [k for k, (mod, _, _) in _target_builders(quick).items() if module_present(mod)]


def _select(kind: str, wanted: Sequence[str] | None, available: list[str],
            known: Sequence[str]) -> list[str]:
    if wanted is None:
        return available
    for w in wanted:
        if w not in known:
            raise ParameterError(f"`{kind}` must be among {', '.join(known)}; got {w!r}.")
        if w not in available:
            raise ParameterError(f"`{kind}` {w!r} is not available in this installation "
                                 f"(its module is missing).")
    return list(wanted)


# ---------------------------------------------------------------------- exactness
def _draw(sampler: Any, num: int, rng: Any) -> tuple[np.ndarray, Any]:
    if hasattr(sampler, "sample"):
        res = sampler.sample(num, rng=rng)
        return np.asarray(res.samples), res
    return np.asarray(sampler(num, rng)), None


def _power(n: int, tv: float, dof: int, alpha: float) -> float:
    crit = stats.chi2.isf(alpha, dof)
    return float(stats.ncx2.sf(crit, dof, 4.0 * n * tv * tv))


def plan_gtest(tv: float, dof: int, alpha: float, power: float) -> int:
    """Samples for a full-table chi-square/G test to detect ``tv`` with ``power``.

    Uses ``chi^2(P, Q) >= 4 TV(P, Q)^2``: the noncentrality is at least
    ``4 N TV^2``, so the returned ``N`` is conservative.
    """
    lo, hi = 1, 2
    while _power(hi, tv, dof, alpha) < power:
        lo, hi = hi, hi * 2
    while hi - lo > max(1, lo // 200):
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _power(mid, tv, dof, alpha) < power else (lo, mid)
    return hi


def _detectable_tv(n: int, dof: int, alpha: float, power: float) -> float:
    f = lambda t: _power(n, t, dof, alpha) - power  # noqa: E731
    if f(1.0) < 0:
        return 1.0
    return float(optimize.brentq(f, 1e-9, 1.0, xtol=1e-6))


def _fallback_check(sampler: Any, target: Any, *, tv: float, alpha: float, power: float,
                    num_samples: int | None, seed: int) -> dict[str, Any]:
    """Full-table G-test (no cell dropped; a hit on a zero cell fails at once)."""
    pmf = np.asarray(target.pmf(), dtype=np.float64)
    q, n = int(target.q), int(target.n)
    support = pmf > 0
    dof = max(int(support.sum()) - 1, 1)
    num = num_samples if num_samples is not None else plan_gtest(tv, dof, alpha, power)
    samples, _ = _draw(sampler, num, np.random.default_rng(seed))
    idx = np.ravel_multi_index(samples.T, (q,) * n)
    counts = np.bincount(idx, minlength=q**n).astype(np.float64)
    exp = pmf * num
    impossible = int(counts[~support].sum())
    if impossible:
        g, p = math.inf, 0.0
    else:
        nz = counts > 0
        g = 2.0 * float(np.sum(counts[nz] * np.log(counts[nz] / exp[nz])))
        p = float(stats.chi2.sf(g, dof))
    resid = np.where(exp > 0, (counts - exp) / np.sqrt(np.maximum(exp, 1e-300)),
                     np.where(counts > 0, np.inf, 0.0))
    worst = np.argsort(-np.abs(resid), kind="stable")[:5]
    cells = [{"cell": [int(v) for v in np.unravel_index(int(k), (q,) * n)],
              "observed": int(counts[k]), "expected": float(exp[k])} for k in worst]
    return {
        "passed": p >= alpha, "method": "G-test (full table)", "statistic": g, "pvalue": p,
        "alpha": alpha, "num_samples": int(num),
        "detectable_tv": _detectable_tv(num, dof, alpha, power),
        "tv_estimate": 0.5 * float(np.abs(counts / num - pmf).sum()),
        "worst_cells": cells, "seed": seed,
        "detail": (f"impossible-cell hits: {impossible}" if impossible else f"dof={dof}"),
    }


def _cells_json(cells: Any) -> list[dict[str, Any]]:
    """Worst cells as ``{"cell", "observed", "expected"}`` dicts (at most 5)."""
    out = []
    for c in list(cells or [])[:5]:
        if isinstance(c, dict):
            d = dict(c)
        elif hasattr(c, "__dataclass_fields__"):
            d = {k: getattr(c, k) for k in c.__dataclass_fields__}
        elif isinstance(c, tuple | list) and len(c) == 3:
            d = {"cell": c[0], "observed": c[1], "expected": c[2]}
        else:
            d = {"cell": str(c)}
        if "cell" not in d:
            d["cell"] = d.get("label") if d.get("label") is not None else d.get("config")
        out.append({k: d.get(k) for k in ("cell", "observed", "expected")})
    return out


def exactness_check(sampler: Any, target: Any, *, tv: float, alpha: float,
                    power: float = 0.99, num_samples: int | None = None,
                    seed: int) -> dict[str, Any]:
    """Test that ``sampler``'s law equals ``target``'s pmf; returns check fields.

    Uses :func:`verify.exactness.check_exact` when that module is installed, else a
    full-table G-test with a conservative sample-size plan.
    """
    tv = check_float("tv", tv, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed, low=0)
    if module_present("verify.exactness"):
        from verify.exactness import check_exact

        r = check_exact(sampler, target, num_samples=num_samples, tv=tv, alpha=alpha,
                        power=power, rng=seed)
        out: dict[str, Any] = {"status": getattr(r, "status", None)}
        if getattr(r, "batch_size", None) is not None:
            out["extra"] = {"batch_size": int(r.batch_size)}
        return out | {
            "passed": bool(r.passed), "method": str(r.method), "statistic": r.statistic,
            "pvalue": r.pvalue, "alpha": r.alpha, "num_samples": int(r.num_samples),
            "detectable_tv": r.detectable_tv, "tv_estimate": r.tv_estimate,
            "worst_cells": _cells_json(getattr(r, "worst_cells", None)), "seed": seed,
            "detail": f"TV upper bound {getattr(r, 'tv_upper', float('nan')):.3g}",
        }
    return _fallback_check(sampler, target, tv=tv, alpha=alpha, power=power,
                           num_samples=num_samples, seed=seed)


# ---------------------------------------------------------------------- stages
def _exactness_pairs(cfg: ValidationConfig) -> tuple[list[str], list[tuple[str, str]]]:
    """(targets, (sampler, target) pairs) of the exactness stage."""
    samplers = _select("samplers", cfg.samplers, available_samplers(), list(_SAMPLERS))
    avail = available_targets(cfg.quick)
    if cfg.quick and cfg.targets is None:  # Monte Carlo p-values at tiny alpha are slow
        avail = [t for t in avail if t not in _QUICK_SKIP]
    targets = _select("targets", cfg.targets, avail, list(_target_builders(cfg.quick)))
    return targets, [(s, t) for t in targets for s in samplers]


def _stage_exactness(ctx: StageContext) -> StageOutput:
    cfg = ctx.config
    builders = _target_builders(cfg.quick)
    targets, pairs = _exactness_pairs(cfg)
    out = StageOutput()
    alpha = ctx.alpha / max(len(pairs), 1)
    bar = ctx.progress(len(pairs), "exactness")
    cost_rows = []
    built: dict[str, Any] = {}
    for k, (sname, tname) in enumerate(pairs):
        cid = f"{sname}/{tname}"
        bar.set_postfix_str(cid)
        try:
            if tname not in built:
                built[tname] = builders[tname][1]()
            target = built[tname]
            sampler = make_sampler(sname, target)
            t0 = time.perf_counter()
            res = exactness_check(sampler, target, tv=cfg.tv, alpha=alpha, seed=ctx.seed_int(k))
            secs = time.perf_counter() - t0
            out.checks.append(check_record("exactness", cid, "law equals the exact pmf",
                                           res.pop("passed"), status=res.pop("status", None),
                                           sampler=sname, target=tname, **res))
            cost = make_sampler(sname, target).sample(2000, rng=ctx.seed_int(k, 1))
            cost_rows.append([sname, tname, target.n, target.q,
                              float(np.mean(cost.rounds)), float(np.mean(cost.queries)),
                              int(res["num_samples"]), round(secs, 3)])
        except Exception as exc:  # a crash is a failed check, never a hidden one
            out.checks.append(check_record("exactness", cid, "law equals the exact pmf", False,
                                           sampler=sname, target=tname,
                                           detail=f"{type(exc).__name__}: {exc}"))
        bar.update()
    bar.close()
    desc = [[name, builders[name][2]] for name in targets]
    out.sections.append({
        "id": "exactness", "title": "Exactness of every sampler on every built-in target",
        "text": (f"Each sampler's output law is tested against the target's exact pmf on the "
                 f"full table (no cell dropped; a sample on a zero-probability cell fails at "
                 f"once). Sample sizes are planned to detect TV = {cfg.tv:g} with power 0.99. "
                 f"The stage's share of the family-wise alpha, {ctx.alpha:.3g}, is split "
                 f"(Bonferroni) over {len(pairs)} checks: alpha = {alpha:.3g} each."
                 + (" The quick run leaves out the sparse target(s) "
                    f"{', '.join(sorted(_QUICK_SKIP))} (Monte Carlo p-values; full run or "
                    "--targets)." if cfg.quick and cfg.targets is None else "")),
        "tables": [
            {"title": "Targets", "columns": ["target", "description"], "rows": desc},
            {"title": "Cost (mean per sample, 2000 samples)",
             "columns": ["sampler", "target", "n", "q", "rounds", "queries", "test samples",
                         "test seconds"], "rows": cost_rows},
        ],
    })
    return out


def _batch_target(quick: bool) -> tuple[str, Any]:
    """The target of the batch-invariance stage (small: batch size 1 costs one call per
    sample)."""
    n = 4 if quick else 6
    return (f"random-table-{n}", _families().random_table(n, 2, concentration=1.0,
                                                           rng=20261122))


def _batch_samplers(cfg: ValidationConfig) -> list[str]:
    return _select("samplers", cfg.samplers, available_samplers(), list(_SAMPLERS))


def _stage_batch_invariance(ctx: StageContext) -> StageOutput:
    """The law at batch size 1 against the law at the production batch size (issue 18
    item 2): a two-sample test per sampler, :func:`verify.exactness.check_batch_invariance`."""
    from verify.exactness import check_batch_invariance

    cfg = ctx.config
    samplers = _batch_samplers(cfg)
    tname, target = _batch_target(cfg.quick)
    tv = 0.1 if cfg.quick else 0.05
    alpha = ctx.alpha / max(len(samplers), 1)
    out = StageOutput()
    rows: list[list[Any]] = []
    bar = ctx.progress(len(samplers), "batch")
    for k, sname in enumerate(samplers):
        cid = f"{sname}/{tname}"
        bar.set_postfix_str(cid)
        seed = ctx.seed_int(k)
        t0 = time.perf_counter()
        try:
            r = check_batch_invariance(make_sampler(sname, target), target=target, tv=tv,
                                       alpha=alpha, power=0.99, rng=seed)
        except Exception as exc:  # a crash is a failed check, never a hidden one
            out.checks.append(check_record("batch-invariance", cid,
                                           "same law at two batch sizes", False,
                                           sampler=sname, target=tname,
                                           detail=f"{type(exc).__name__}: {exc}"))
            bar.update()
            continue
        secs = time.perf_counter() - t0
        sizes = [int(b) for b in r.batch_sizes]
        out.checks.append(check_record(
            "batch-invariance", cid, "same law at two batch sizes", bool(r.passed),
            status=r.status, sampler=sname, target=tname, method=str(r.method),
            statistic=r.statistic, pvalue=r.pvalue, alpha=r.alpha,
            num_samples=int(r.num_samples), detectable_tv=r.detectable_tv,
            tv_estimate=r.tv_estimate, seed=int(r.seed),
            detail=(f"batch sizes {sizes[0]} and {sizes[1]}, {int(r.num_samples)} samples "
                    "at each"), extra={"batch_sizes": sizes}))
        rows.append([sname, tname, f"{sizes[0]} vs {sizes[1]}", r.pvalue, r.detectable_tv,
                     int(r.num_samples), r.status, round(secs, 3)])
        bar.update()
    bar.close()
    out.sections.append({
        "id": "batch-invariance", "title": "Batch invariance",
        "text": ("A sampler must have the same law whatever the number of rows it is asked "
                 "for in one call. Each sampler's draws at batch size 1 are compared with "
                 "its draws at the production batch size by a two-sample test on the full "
                 f"table of {tname} (detectable TV {tv:g} at power 0.99). The stage's alpha "
                 f"{ctx.alpha:.3g} is split over {len(samplers)} checks: {alpha:.3g} each."),
        "tables": [{"title": "Two-sample tests across batch sizes",
                    "columns": ["sampler", "target", "batch sizes", "p-value",
                                "detectable TV", "samples at each size", "status",
                                "seconds"],
                    "rows": rows}]})
    return out


def _stage_rounds(ctx: StageContext) -> StageOutput:
    """Rounds scaling of the parallel samplers against the sequential n."""
    from verify.rounds import rounds_scaling

    cfg = ctx.config
    samplers = [s for s in _select("samplers", cfg.samplers, available_samplers(),
                                   list(_SAMPLERS)) if s != "sequential"]
    res = rounds_scaling(samplers, quick=cfg.quick, seed=ctx.seed_int(0),
                         progress=ctx.progress)
    return StageOutput(checks=res["checks"], sections=res["sections"])


def available_stages(config: ValidationConfig) -> list[Stage]:
    """The stages of the run, in order; only stages whose module is present."""
    stages = [Stage("exactness", "Exactness (full-table tests)", _stage_exactness,
                    module="verify.validation",
                    num_checks=lambda cfg: len(_exactness_pairs(cfg)[1]))]
    if module_present("verify.exactness"):
        stages.append(Stage("batch-invariance", "Batch invariance (batch size 1 against "
                            "the production size)", _stage_batch_invariance,
                            module="verify.exactness",
                            num_checks=lambda cfg: len(_batch_samplers(cfg))))
    if available_samplers() != ["sequential"]:
        stages.append(Stage("rounds", "Rounds scaling", _stage_rounds, statistical=False,
                            module="verify.rounds"))
    for extra in _optional_stages():
        if extra.module is None or module_present(extra.module):
            stages.append(extra)
    if config.stages is not None:
        names = [s.name for s in stages]
        for want in config.stages:
            if want not in names:
                raise ParameterError(f"`stages` must be among {', '.join(names)}; "
                                     f"got {want!r}.")
        stages = [s for s in stages if s.name in config.stages]
    return stages


def _stage_exact_law(ctx: StageContext) -> StageOutput:
    """Exact output law by enumeration (DESIGN 6.1): TV = 0 proved, or the exact TV."""
    from distributions.table import TableDistribution
    from verify.exact_law import exact_law

    cfg = ctx.config
    samplers = _select("samplers", cfg.samplers, available_samplers(), list(_SAMPLERS))
    targets = {"ramp-2x2x2x2": TableDistribution(np.arange(1.0, 17.0).reshape((2,) * 4))}
    if not cfg.quick:
        targets["ramp-3x3"] = TableDistribution(np.arange(1.0, 10.0).reshape(3, 3))
    if module_present("distributions.families"):
        targets["hardcore-K4"] = _families().hardcore(np.ones((4, 4)) - np.eye(4), 1.0)
        if not cfg.quick:  # q**n = 1024 cells: fixed order only (n! orders otherwise)
            targets["random-2^10"] = _families().random_table(10, 2, rng=10)
    orders = ["identity"] if cfg.quick else ["identity", "random"]
    jobs = [(s, t, o) for t in targets for s in samplers for o in orders
            if not (o == "random" and t == "random-2^10")]
    out = StageOutput()
    rows = []
    bar = ctx.progress(len(jobs), "exact law")
    for sname, tname, order in jobs:
        cid = f"{sname}/{tname}/{order}"
        bar.set_postfix_str(cid)
        mod, attr = _SAMPLERS[sname]
        cls = getattr(importlib.import_module(mod), attr)
        t0 = time.perf_counter()
        try:
            r = exact_law(lambda o, cls=cls, order=order: cls(o, order=order), targets[tname],
                          tol=1e-13, max_paths=1_000_000)
        except Exception as exc:
            out.checks.append(check_record("exact-law", cid, "exact law equals the target",
                                           False, sampler=sname, target=tname,
                                           detail=f"{type(exc).__name__}: {exc}"))
            bar.update()
            continue
        secs = time.perf_counter() - t0
        proved = r.tv_upper <= 1e-9
        refuted = r.tv_lower > 1e-9
        rational = None if r.rational_tv is None else str(r.rational_tv)
        if proved:
            detail = f"TV = {r.tv:.3g} (truncated mass {r.truncated_mass:.3g}): exact"
        elif refuted:
            detail = (f"TV in [{r.tv_lower:.4g}, {r.tv_upper:.4g}]: NOT exact; worst x = "
                      f"{list(r.worst_config)} off by {r.worst_diff:.4g}")
        else:
            detail = (f"inconclusive: TV in [{r.tv_lower:.3g}, {r.tv_upper:.3g}], the "
                      f"enumeration left out mass {r.truncated_mass:.3g}")
        out.checks.append(check_record(
            "exact-law", cid, "exact law equals the target", proved,
            severity="error" if (proved or refuted) else "warning", sampler=sname,
            target=tname, method="enumeration" + (" (rational)" if rational else ""),
            statistic=r.tv, tv_estimate=r.tv, detail=detail + (f"; {r.note}" if r.note else ""),
            extra={"tv_lower": r.tv_lower, "tv_upper": r.tv_upper, "rational_tv": rational,
                   "executions": r.executions, "closures": r.closures}))
        rows.append([sname, tname, order, r.tv, r.truncated_mass, rational, r.executions,
                     r.closures, round(secs, 3)])
        bar.update()
    bar.close()
    out.sections.append({
        "id": "exact-law", "title": "Exact output law (enumeration, no sampling)",
        "text": ("Every random choice of the real sampler code is enumerated (categorical draws,"
                 " coins, permutations) and weighted by its probability; residual loops are "
                 "summed in closed form or truncated with a rigorous bound on the mass left "
                 "out. A check passes when TV(sampler, target) <= 1e-9 is proved; it fails "
                 "when TV > 1e-9 is proved; otherwise it is inconclusive (a warning)."),
        "tables": [{"title": "Exact law", "columns": ["sampler", "target", "order", "TV",
                                                      "truncated mass", "rational TV",
                                                      "executions", "closures", "seconds"],
                    "rows": rows}]})
    return out


def _pinning_jobs(quick: bool) -> list[tuple[str, int]]:
    if quick:
        return [("random-table", 6), ("curie-weiss-1.0", 8)]
    return [("random-table", 8), ("curie-weiss-1.0", 12), ("mixture2", 16),
            ("ising-chain-2", 16), ("product", 16)]


def _stage_pinning(ctx: StageContext) -> StageOutput:
    """Pinning lemma identities/bounds and the round bound (DESIGN 6.3)."""
    from verify.pinning_cli import FAMILIES, compute

    cfg = ctx.config
    jobs = _pinning_jobs(cfg.quick)
    out = StageOutput()
    bar = ctx.progress(len(jobs), "pinning")
    level_rows: list[list[Any]] = []
    rb_rows: list[list[Any]] = []
    figs: list[dict[str, Any]] = []
    prof_series: list[dict[str, Any]] = []
    for k, (fam, n) in enumerate(jobs):
        bar.set_postfix_str(f"{fam} n={n}")
        res = compute(fam, n, seed=ctx.seed_int(k), orders=None if n <= 8 else 64,
                      samples=50 if cfg.quick else 200)
        for c in res["checks"]:
            d = c.to_dict()
            lhs, rhs = d.get("lhs"), d.get("rhs")
            out.checks.append(check_record(
                "pinning", f"{fam}-{n}/{c.name}", c.name, c.passed, target=f"{fam} n={n}",
                method=c.method, detail=(f"{_short(lhs)} {c.relation} {_short(rhs)} "
                                         f"(tol {c.tolerance:g}) {c.detail}").strip()))
        tree, prof, rb = res["tree"], res["profile"], res["round_bound"]
        for d, (v, (lo, hi), nb, ok) in enumerate(zip(
                tree.level_sums, tree.level_intervals, tree.level_blocks, tree.level_passed,
                strict=True)):
            level_rows.append([f"{fam} n={n}", d, int(nb), float(v), float(lo), float(hi),
                               float(tree.level_bound), "yes" if ok else "NO"])
        level_rows.append([f"{fam} n={n}", "tree", int(tree.level_blocks.sum()),
                           float(tree.value), float(tree.interval[0]), float(tree.interval[1]),
                           float(tree.tree_bound), "yes" if tree.passed else "NO"])
        prof_series.append({"label": f"{fam} n={n}", "x": list(range(len(prof.value))),
                            "y": [float(v) for v in prof.value]})
        figs.append({"id": f"pinning-levels-{fam}-{n}", "kind": "line",
                     "title": f"Per-level sum of E TV(mu_S, nu_S): {fam}, n={n}",
                     "xlabel": "recursion level", "ylabel": "sum of E TV",
                     "series": [{"label": "sum E TV", "x": list(range(len(tree.level_sums))),
                                 "y": [float(v) for v in tree.level_sums]},
                                {"label": "bound sqrt(n log q / 2)", "style": "dashed",
                                 "x": list(range(len(tree.level_sums))),
                                 "y": [float(tree.level_bound)] * len(tree.level_sums)}]})
        if rb is not None:
            out.checks.append(check_record(
                "pinning", f"{fam}-{n}/round-bound", "rounds explained by sum TV",
                rb.passed, severity="warning", sampler="autospeculative", target=f"{fam} n={n}",
                method=rb.method, statistic=rb.value, pvalue=rb.excess_pvalue, alpha=rb.alpha,
                num_samples=int(rb.num_samples),
                detail=("flagged: " + "; ".join(rb.reasons)) if rb.flagged else
                f"c = {rb.value:.3g} in E[rounds] = c (1 + E sum TV) log2 n"))
            rb_rows.append([f"{fam} n={n}", int(rb.num_samples), rb.mean_rounds, rb.mean_sum_tv,
                            rb.mean_rejections, rb.value, rb.slope, rb.excess_pvalue,
                            "yes" if rb.flagged else "no"])
        bar.update()
    bar.close()
    figs.insert(0, {"id": "pinning-entropy-profile", "kind": "line",
                    "title": "Entropy profile h_t (nats)", "xlabel": "t (pinned coordinates)",
                    "ylabel": "h_t", "series": prof_series})
    out.sections.append({
        "id": "pinning", "title": "Pinning lemma and the round bound",
        "text": ("h_t = E_sigma H(X_sigma(t+1) | X_sigma(1:t)). Checked: h_t non-increasing, "
                 "sum h_t <= n log q, the per-level bound sum_S E TV(mu_S, nu_S) <= "
                 "sqrt(n log q / 2) and the whole-tree bound ceil(log2 n) sqrt(n log q / 2) "
                 "(exact over all orders for n <= 8, sampled orders with intervals beyond); "
                 "and the autospeculative sampler's rounds against sum TV along its own "
                 "recursion (flagged when first-stage rejections exceed sum TV significantly at "
                 "the pinning module's own alpha, outside this run's error budget: a flag is "
                 "a warning, not a failure)."),
        "tables": [
            {"title": "Round-bound levels", "columns": ["target", "level", "blocks", "sum E TV",
                                                        "low", "high", "bound", "holds"],
             "rows": level_rows},
            {"title": "Rounds against sum TV (autospeculative sampler)",
             "columns": ["target", "samples", "mean rounds", "mean sum TV",
                         "mean rejections", "c", "slope", "excess p", "flagged"],
             "rows": rb_rows},
        ],
        "figures": figs})
    _ = FAMILIES
    return out


def _short(v: Any) -> str:
    if isinstance(v, list):
        if len(v) > 4:
            return f"[{', '.join(f'{x:.3g}' for x in v[:3])}, ... ({len(v)} values)]"
        return "[" + ", ".join(f"{x:.3g}" if isinstance(x, float) else str(x) for x in v) + "]"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _diffusion_jobs(quick: bool) -> list[tuple[str, str, str]]:
    """(check kind, sampler, target) of the diffusion stage."""
    makers = ("euler", "autospeculative", "speculative")
    targets = ("gaussian", "mixture") if quick else ("gaussian", "mixture", "finite-set")
    jobs = [("gaussian-chain", s, "gaussian") for s in makers]
    jobs += [("same-law", s, t) for t in targets if t != "gaussian" for s in makers
             if s == "autospeculative" or (s == "speculative" and not quick)]
    jobs.append(("acceptance", "speculative", "mixture"))
    return jobs


def _stage_diffusion(ctx: StageContext) -> StageOutput:
    """Diffusion samplers: exact Gaussian-chain law, two-sample tests, acceptance law."""
    from distributions.diffusion import FiniteSet, GaussianMixture
    from samplers.diffusion import (
        AutospeculativeDiffusionSampler,
        EulerLocalizationSampler,
        LocalizationGrid,
        SpeculativeDiffusionSampler,
    )
    from verify.continuous import (
        check_gaussian_chain,
        check_same_law,
        check_speculative_acceptance,
    )

    cfg = ctx.config
    grid = LocalizationGrid.uniform(10.0, 32 if cfg.quick else 64)
    mean, cov = [0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]]
    targets: dict[str, Any] = {
        "gaussian": GaussianMixture([1.0], [mean], [cov]),
        "mixture": GaussianMixture([0.3, 0.7], [[0.0, 0.0], [2.0, 1.0]],
                                   [np.eye(2), 0.5 * np.eye(2)]),
    }
    if not cfg.quick:
        targets["finite-set"] = FiniteSet([[0.0, 0.0], [1.0, 2.0], [-1.0, 1.0]],
                                          [0.2, 0.5, 0.3])
    makers = {
        "euler": lambda o: EulerLocalizationSampler(o, grid),
        "autospeculative": lambda o: AutospeculativeDiffusionSampler(o, grid),
        "speculative": lambda o: SpeculativeDiffusionSampler(o, grid, window=8),
    }
    big, small = (1000, 400) if cfg.quick else (4000, 2000)
    jobs = _diffusion_jobs(cfg.quick)
    assert {j[1] for j in jobs} <= set(makers) and {j[2] for j in jobs} <= set(targets)
    alpha = ctx.alpha / len(jobs)
    out = StageOutput()
    rows: list[list[Any]] = []
    bar = ctx.progress(len(jobs), "diffusion")
    for k, (kind, sname, tname) in enumerate(jobs):
        cid = f"{kind}/{sname}/{tname}"
        bar.set_postfix_str(cid)
        num = small if sname == "autospeculative" else big
        target = targets[tname]
        seed = ctx.seed_int(k)
        t0 = time.perf_counter()
        try:
            if kind == "gaussian-chain":
                r = check_gaussian_chain(makers[sname](target), mean, cov, grid,
                                         num_samples=num, alpha=alpha, rng=seed)
                effect = f"detectable Mahalanobis shift {r.detectable_mahalanobis_shift:.3g}"
            elif kind == "same-law":
                r = check_same_law(makers[sname](target), makers["euler"](target),
                                   num_samples=num, alpha=alpha, rng=seed,
                                   max_energy_samples=100 if cfg.quick else 1000)
                effect = (f"detectable sliced-KS distance {r.detectable_ks_distance:.3g}, "
                          f"mean shift {r.detectable_mean_shift:.3g}")
            else:
                r = check_speculative_acceptance(makers[sname](target), num_samples=num,
                                                 alpha=alpha, rng=seed)
                effect = (f"acceptance {r.observed_rate:.4f} observed vs "
                          f"{r.predicted_rate:.4f} predicted; detectable shift "
                          f"{r.detectable_rate_shift:.3g}")
        except Exception as exc:
            out.checks.append(check_record("diffusion", cid, kind, False, sampler=sname,
                                           target=tname, detail=f"{type(exc).__name__}: {exc}"))
            bar.update()
            continue
        secs = time.perf_counter() - t0
        name = {"gaussian-chain": "law equals the exact Euler-chain Gaussian",
                "same-law": "same law as the sequential Euler chain",
                "acceptance": "per-step acceptance equals 2 Phi(-|D|/2)"}[kind]
        out.checks.append(check_record(
            "diffusion", cid, name, bool(r.passed), status=getattr(r, "status", None),
            sampler=sname, target=tname, method=kind, statistic=r.statistic,
            pvalue=r.pvalue, alpha=alpha,
            num_samples=int(getattr(r, "num_samples", getattr(r, "num_steps", num))),
            seed=seed, detail="; ".join([effect, *getattr(r, "notes", ())]),
            extra=({"pvalue_resolution": float(r.pvalue_resolution)}
                   if getattr(r, "pvalue_resolution", None) is not None else None)))
        rows.append([sname, tname, kind, r.pvalue, effect, num, round(secs, 3)])
        bar.update()
    bar.close()
    cost_rows = []
    for sname, make in makers.items():
        res = make(targets["mixture"]).sample(200, rng=ctx.seed_int(99))
        cost_rows.append([sname, float(np.mean(res.rounds)), float(np.mean(res.queries)),
                          grid.num_steps])
    out.sections.append({
        "id": "diffusion", "title": "Diffusion samplers",
        "text": (f"Localization grid: {grid.num_steps} uniform steps to T = {grid.T:g}. For a "
                 "Gaussian target the Euler chain is linear-Gaussian: the output's exact mean "
                 "and covariance are tested (Mahalanobis, chi-square and whitened KS, Holm). "
                 "Otherwise the parallel samplers are compared with the sequential Euler chain "
                 "(energy distance with a permutation null, sliced KS: exact KS per "
                 "projection with Bonferroni over projections, "
                 "per-coordinate KS; Holm). The speculative sampler's per-step acceptance is "
                 "tested against its closed form 2 Phi(-|D|/2). The stage's alpha "
                 f"{ctx.alpha:.3g} is split over {len(jobs)} checks: {alpha:.3g} each."),
        "tables": [
            {"title": "Checks", "columns": ["sampler", "target", "check", "p-value",
                                            "power statement", "samples", "seconds"],
             "rows": rows},
            {"title": "Cost on the mixture (mean per sample, 200 samples)",
             "columns": ["sampler", "rounds", "queries", "grid steps"], "rows": cost_rows},
        ]})
    return out


def _vm_size() -> int:
    """Current virtual memory size of this process in bytes (0 if unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _mutant_checks(quick: bool) -> tuple[str, ...]:
    """The checks of the mutation matrix (the correct sampler's cells split alpha)."""
    return ("gtest", "first-stage") if quick else ("gtest", "chain", "first-stage",
                                                   "exact-law")


def _stage_mutants(ctx: StageContext) -> StageOutput:
    """Mutation matrix: which check catches which plausible wrong sampler (DESIGN 6.2)."""
    import resource

    from verify.mutants import MUTANTS, mutation_matrix

    cfg = ctx.config
    checks = _mutant_checks(cfg.quick)
    tv = 0.05 if cfg.quick else 0.02
    target = _families().random_table(4 if cfg.quick else 5, 2, rng=0)
    alpha = ctx.alpha / len(checks)  # only the correct sampler's cells can false-fail
    names = ["correct", *MUTANTS]
    cells: dict[tuple[str, str], Any] = {}
    out = StageOutput()
    bar = ctx.progress(len(MUTANTS), "mutants")
    # a runaway mutant must raise MemoryError here, not take the machine down
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + 4 * 2**30
    for k, (mname, cls) in enumerate(MUTANTS.items()):
        bar.set_postfix_str(mname)
        try:
            if _vm_size() and (hard == resource.RLIM_INFINITY or hard > cap):
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
            m = mutation_matrix(target, mutants={mname: cls}, checks=checks, tv=tv,
                                alpha=alpha, rng=ctx.seed_int(k))
            for c in m.cells:
                if c.sampler == "correct" and k > 0:
                    continue
                cells[(c.sampler, c.check)] = c
        except (MemoryError, RuntimeError, ValueError) as exc:
            for ch in checks:
                cells[(mname, ch)] = {"caught": True, "pvalue": None, "num_samples": 0,
                                      "detail": f"raised {type(exc).__name__}: {exc}"[:160]}
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        bar.update()
    bar.close()

    def get(c: Any, key: str) -> Any:
        return c[key] if isinstance(c, dict) else getattr(c, key)

    values, notes, rows = [], [], []
    for name in names:
        vrow, nrow, trow = [], [], [name]
        for ch in checks:
            c = cells.get((name, ch))
            if c is None:
                vrow.append(None)
                nrow.append("-")
                trow.append("-")
                continue
            caught = bool(get(c, "caught"))
            good = (not caught) if name == "correct" else caught
            vrow.append(1.0 if good else 0.0)
            size = get(c, "num_samples")
            nrow.append(("CAUGHT" if caught else "pass") + (f"\nN={size}" if size else ""))
            pv = get(c, "pvalue")
            trow.append(("CAUGHT" if caught else "pass") + (f" (p={pv:.2g}, N={size})"
                        if isinstance(pv, float) and pv == pv else f" ({get(c, 'detail')})"))
        values.append(vrow)
        notes.append(nrow)
        rows.append(trow)
    for ch in checks:  # the correct sampler must pass every check
        c = cells.get(("correct", ch))
        if c is not None:
            out.checks.append(check_record(
                "mutants", f"correct/{ch}", f"correct sampler passes {ch}",
                not get(c, "caught"), sampler="autospeculative", target="random_table(4/5, 2)",
                method=ch, statistic=get(c, "statistic") if not isinstance(c, dict) else None,
                pvalue=get(c, "pvalue"), alpha=alpha, num_samples=get(c, "num_samples") or None,
                detail=str(get(c, "detail"))))
    for mname in MUTANTS:
        caught_by = [ch for ch in checks if (mname, ch) in cells
                     and get(cells[(mname, ch)], "caught")]
        out.checks.append(check_record(
            "mutants", f"{mname}/caught", f"mutant {mname} is caught", bool(caught_by),
            severity="warning", sampler=mname, target="random_table(4/5, 2)",
            detail=("caught by " + ", ".join(caught_by)) if caught_by else
            f"no check catches it at TV {tv:g} (sample sizes in the matrix)"))
    out.sections.append({
        "id": "mutants", "title": "Mutation matrix",
        "text": ("Plausible wrong samplers (each overrides one step of the real "
                 "autospeculative sampler) against the checks of the suite at their planned "
                 f"sample sizes (TV {tv:g}, power 0.99, alpha {alpha:.3g} per cell). The correct "
                 "sampler must pass every check (its cells spend this stage's alpha); a mutant "
                 "no check catches is a warning about the suite's power at this size, not a "
                 "failure of the sampler under test."),
        "tables": [{"title": "Which check catches which mutant", "columns": ["sampler", *checks],
                    "rows": rows}],
        "figures": [{"id": "mutation-matrix", "kind": "heatmap",
                     "title": "Mutation matrix (green: the desired outcome, purple: not)",
                     "colorbar_label": "outcome (1 = desired: mutant caught, correct "
                                       "sampler passes)",
                     "colorbar_ticks": [[0, "undesired"], [1, "desired"]],
                     "xlabels": list(checks), "ylabels": names, "values": values,
                     "annotations": notes, "vmin": 0.0, "vmax": 1.0}]})
    return out


def _optional_stages() -> list[Stage]:
    """Stages provided by modules written in parallel (listed once their module exists)."""
    return [
        Stage("exact-law", "Exact law by enumeration", _stage_exact_law, statistical=False,
              module="verify.exact_law"),
        Stage("pinning", "Pinning lemma and round bound", _stage_pinning, statistical=False,
              module="verify.pinning_cli"),
        Stage("mutants", "Mutation matrix", _stage_mutants, module="verify.mutants",
              num_checks=lambda cfg: len(_mutant_checks(cfg.quick))),
        Stage("diffusion", "Diffusion samplers", _stage_diffusion, module="verify.continuous",
              num_checks=lambda cfg: len(_diffusion_jobs(cfg.quick))),
    ]


# ---------------------------------------------------------------------- run
#: Smallest per-check alpha the run's tests support: a Monte Carlo or permutation
#: p-value of :mod:`verify.exactness` has resolution ``1 / (MAX_RESAMPLES + 1)`` and
#: cannot reject below it (checked before any work by :func:`check_alpha`).
def min_check_alpha() -> float:
    """``1 / (MAX_RESAMPLES + 1)`` of :mod:`verify.exactness` (1e-12 without it)."""
    if module_present("verify.exactness"):
        from verify import exactness

        resamples = getattr(exactness, "MAX_RESAMPLES", None)
        if resamples is not None:
            return 1.0 / (int(resamples) + 1)
    return 1e-12


def check_alpha(config: ValidationConfig, stages: Sequence[Stage], *,
                name: str = "alpha") -> dict[str, float]:
    """The per-check alpha of every statistical stage; raises before any work when
    one falls below :func:`min_check_alpha`.

    The family-wise ``config.alpha`` is split equally among the statistical stages
    and, within a stage, among its ``num_checks(config)`` checks (Bonferroni).

    Raises
    ------
    ParameterError
        If ``config.alpha`` is not in (0, 1) or is too small for the run's split.
    """
    alpha = check_float(name, config.alpha, low=0.0, high=1.0, low_open=True,
                        high_open=True)
    stat = [s for s in stages if s.statistical]
    per: dict[str, float] = {}
    ks: dict[str, int] = {}
    for s in stat:
        ks[s.name] = max(int(s.num_checks(config)), 1) if s.num_checks is not None else 1
        per[s.name] = alpha / len(stat) / ks[s.name]
    floor = min_check_alpha()
    if per and min(per.values()) < floor:
        worst = min(per, key=per.__getitem__)
        raise ParameterError(
            f"`{name}` must be >= {floor * len(stat) * ks[worst]:.3g} for this run (it is "
            f"split over {len(stat)} statistical stages and the {ks[worst]} checks of stage "
            f"{worst!r}, and a check's alpha must be >= {floor:.3g}, the resolution of a "
            f"Monte Carlo p-value); got {alpha!r}.")
    return per


def run_validation(
    config: ValidationConfig,
    *,
    progress: Callable[[int, str], Any] | None = None,
    stages: Sequence[Stage] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, float]]]:
    """Run every stage; return (checks, sections, stage timings).

    ``config.seed`` and ``config.alpha`` are checked first (:func:`check_alpha`),
    raising :class:`ParameterError` before any work. A stage that raises is
    recorded as one failing check naming the exception.
    ``progress(total, desc)`` makes the per-stage progress object (``update``,
    ``set_postfix_str``, ``close``); ``log(line)``, when given, receives one line
    when a stage starts and one when it ends (its time and status counts).
    """
    if progress is None:
        progress = lambda total, desc: _NoBar()  # noqa: E731
    check_int("seed", config.seed, low=0)
    stages = list(stages) if stages is not None else available_stages(config)
    check_alpha(config, stages)
    n_stat = sum(1 for s in stages if s.statistical) or 1
    root = np.random.SeedSequence(config.seed)
    children = root.spawn(len(stages))
    checks: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    timings: list[tuple[str, float]] = []
    for i, (stage, child) in enumerate(zip(stages, children, strict=True)):
        ctx = StageContext(config=config, seed=child,
                           alpha=config.alpha / n_stat if stage.statistical else config.alpha,
                           progress=progress)
        if log is not None:
            log(f"stage {i + 1}/{len(stages)} {stage.name}: {stage.title}")
        t0 = time.perf_counter()
        try:
            out = stage.run(ctx)
        except ParameterError:
            raise
        except Exception as exc:
            out = StageOutput(checks=[check_record(
                stage.name, "stage", f"stage {stage.name} ran", False,
                detail=f"{type(exc).__name__}: {exc}")])
        timings.append((stage.name, time.perf_counter() - t0))
        if log is not None:
            k = status_counts(out.checks)
            bad = [c["id"] for c in out.checks if record_status(c) != "pass"]
            log(f"stage {i + 1}/{len(stages)} {stage.name}: done in {timings[-1][1]:.1f} s, "
                f"{len(out.checks)} checks: " + ", ".join(f"{v} {s}" for s, v in k.items())
                + (f"; not passed: {', '.join(bad)}" if bad else ""))
        checks.extend(out.checks)
        sections.extend(out.sections)
    return checks, sections, timings
