"""Stage ``rounds``: rounds scaling of the parallel samplers against the sequential ``n``,
and (full run) the causal-order demonstration: fixed-order marginals cannot parallelise.

:func:`verify.rounds_scaling` measures mean rounds per sample for growing ``n`` and
fits a power law (a typed result); :func:`rounds_output` turns that result into the
check records, the tables and the figure of the report (used by this stage and by the
``rounds`` subcommand).
"""

from __future__ import annotations

from typing import Any

from reports.records import to_record
from reports.validation.config import StageContext, StageOutput, select_names
from samplers.catalogue import DISCRETE_SAMPLERS, parallel_samplers
from verify.causal_rounds import ORDERS, CausalOrderResult, causal_order_scaling
from verify.fits import IncrementGrowth
from verify.rounds import RoundsScalingResult, rounds_scaling

__all__ = ["CAUSAL_NS", "causal_output", "rounds_output", "stage_rounds"]

#: Lengths of the causal-order demonstration (full run only).
CAUSAL_NS: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128)


def rounds_output(res: RoundsScalingResult) -> StageOutput:
    """Check records and the report section of a rounds-scaling result.

    Two informational records per sampler: ``sublinear`` (the secant slopes of mean
    rounds decrease: the upper end of the 95% interval of
    :func:`verify.fits.increment_growth`'s contrast below 0; a warning otherwise,
    ``no-power`` with fewer than three lengths) and ``max-within-sequential`` (a warning flags a
    length at which some sample took more rounds than the sequential sampler's
    ``n``). The table gives, per point, the mean with its 95% interval, the median,
    the 99th percentile and the maximum.
    """
    ns = list(res.ns)
    rows: list[list[Any]] = []
    fits: list[list[Any]] = []
    series: list[dict[str, Any]] = [{"label": "sequential (n)", "x": ns, "y": ns,
                                     "style": "dashed"}]
    checks = []
    for s in res.samplers:
        rows += [[s.sampler, p.n, p.num_samples, p.mean_rounds,
                  f"[{p.mean_low:.4g}, {p.mean_high:.4g}]", p.median_rounds, p.p99_rounds,
                  p.max_rounds, p.sequential_rounds,
                  "YES" if p.exceeds_sequential else "no", p.mean_queries, p.seconds]
                 for p in s.points]
        f, g = s.fit, s.growth
        fits.append([s.sampler, f.c, f.gamma, f"[{f.gamma_low:.3f}, {f.gamma_high:.3f}]",
                     f.se_gamma] + ([g.growth, g.exponent, g.contrast,
                                     f"[{g.low:.3g}, {g.high:.3g}]"] if g is not None
                                    else ["", "", "", ""]))
        means = [p.mean_rounds for p in s.points]
        series.append({"label": f"{s.sampler} mean (95% interval)", "x": ns, "y": means,
                       "yerr": [p.mean_high - p.mean_rounds for p in s.points]})
        series.append({"label": f"{s.sampler} median", "x": ns,
                       "y": [p.median_rounds for p in s.points], "style": "points"})
        series.append({"label": f"{s.sampler} p99", "x": ns,
                       "y": [p.p99_rounds for p in s.points], "style": "dashed"})
        series.append({"label": f"{s.sampler} max", "x": ns,
                       "y": [p.max_rounds for p in s.points], "style": "dashed"})
        status = {"pass": "pass", "no-power": "no-power"}.get(s.status, "warn")
        checks.append(to_record(
            s, stage="rounds", cid=f"{s.sampler}/sublinear",
            name="increments of mean rounds grow slower than linear (95% interval)",
            severity="info", status=status, sampler=s.sampler, target=s.target,
            method=None, pvalue=None, alpha=None, detectable_tv=None, seed=None,
            detail=(_growth_text(g) + f" over n = {ns[0]}..{ns[-1]} ({len(ns)} points); "
                    f"fit rounds ~ {f.c:.3g} n^{f.gamma:.3f}; mean rounds {means[-1]:.3g} at "
                    f"n={s.largest_n}")))
        over = s.exceeds_sequential_at
        worst = max(s.points, key=lambda p: p.max_rounds / p.sequential_rounds)
        checks.append(to_record(
            s, stage="rounds", cid=f"{s.sampler}/max-within-sequential",
            name="maximum rounds at most the sequential sampler's n", severity="info",
            status="warn" if over else "pass", statistic=worst.max_rounds / worst.n,
            sampler=s.sampler,
            target=s.target, method=None, pvalue=None, alpha=None, detectable_tv=None,
            seed=None,
            detail=(f"maximum rounds exceed n at n = {', '.join(map(str, over))}; " if over
                    else "maximum rounds at most n at every n; ")
            + f"largest max/n: {worst.max_rounds:.0f} rounds at n={worst.n}"))
    section = {
        "id": "rounds-scaling", "title": "Rounds scaling",
        "text": (f"Rounds per sample (critical-path oracle calls, DESIGN 3.3) on the "
                 f"{res.target}, {res.num_samples} samples per point, against the sequential "
                 "sampler's n: mean with its 95% Student-t interval, median, 99th percentile "
                 "and maximum; a point whose maximum exceeds n is flagged. Fit: least "
                 "squares of log mean rounds on log n, with the Student-t 95% interval of "
                 "the exponent (the curve drawn). Sublinear: the increments D of mean "
                 "rounds between successive n grow by less than the factor 2 of linear "
                 "growth, the whole 95% interval of sum (D_next - 2 D) / 2 below 0; unlike the "
                 "log-log slope, this does not pass an affine law a n + b."),
        "tables": [
            {"title": "Rounds per sample",
             "columns": ["sampler", "n", "samples", "mean rounds", "95% interval",
                         "median", "p99", "max rounds", "sequential (n)", "max > n",
                         "mean queries", "seconds"], "rows": rows},
            {"title": "Power-law fit rounds ~ c n^gamma and the increment test",
             "columns": ["sampler", "c", "gamma", "95% interval", "s.e.(gamma)",
                         "increment growth per doubling (2 = linear)", "implied exponent",
                         "contrast sum (D_next - 2 D) / 2", "95% interval"],
             "rows": fits},
        ],
        "figures": [{"id": "rounds-scaling", "kind": "line",
                     "title": f"Rounds vs n ({res.target})",
                     "xlabel": "n", "ylabel": "rounds per sample", "logx": True,
                     "logy": True, "series": series,
                     "caption": ("Mean with its 95% interval (error bars), median, 99th "
                                 "percentile and maximum per sampler; dashed diagonal: the "
                                 "sequential sampler's n.")}],
    }
    return StageOutput(checks=checks, sections=[section])


def _growth_text(g: IncrementGrowth | None) -> str:
    if g is None:
        return "fewer than three lengths: no increment test"
    return (f"increments of mean rounds grow by {g.growth:.3g} per doubling of n (2 = "
            f"linear; implied exponent {g.exponent:.3f}), contrast sum (D_next - 2 D) / 2 = "
            f"{g.contrast:.3g}, 95% interval [{g.low:.3g}, {g.high:.3g}]")


def causal_output(res: CausalOrderResult) -> StageOutput:
    """The record, table and figures of the causal-order demonstration
    (:func:`verify.causal_rounds.causal_order_scaling`)."""
    ns = list(res.ns)
    rows: list[list[Any]] = []
    rounds_series: list[dict[str, Any]] = [{"label": "sequential (n)", "x": ns, "y": ns,
                                            "style": "dashed"}]
    tv_series: list[dict[str, Any]] = []
    for order in ORDERS:
        sel = [p for p in res.points if p.order == order]
        rf, tf = res.rounds_fits[order], res.sum_tv_fits[order]
        for p in sel:
            r = p.rounds
            rows.append([order, r.n, r.num_samples, r.mean_rounds,
                         f"[{r.mean_low:.4g}, {r.mean_high:.4g}]", r.median_rounds,
                         r.p99_rounds, r.max_rounds, "YES" if r.exceeds_sequential else "no",
                         p.mean_sum_tv, f"[{p.sum_tv_low:.3g}, {p.sum_tv_high:.3g}]"])
        rows.append([f"{order}: fit", "", "", f"n^{rf.gamma:.3f}",
                     f"[{rf.gamma_low:.3f}, {rf.gamma_high:.3f}]", "", "", "", "",
                     f"n^{tf.gamma:.3f}", f"[{tf.gamma_low:.3f}, {tf.gamma_high:.3f}]"])
        rounds_series.append({"label": f"{order} mean (95% interval)", "x": ns,
                              "y": [p.rounds.mean_rounds for p in sel],
                              "yerr": [p.rounds.mean_high - p.rounds.mean_rounds for p in sel]})
        rounds_series.append({"label": f"{order} max", "x": ns,
                              "y": [p.rounds.max_rounds for p in sel], "style": "dashed"})
        tv_series.append({"label": f"{order} mean sum TV (95% interval)", "x": ns,
                          "y": [p.mean_sum_tv for p in sel],
                          "yerr": [p.sum_tv_high - p.mean_sum_tv for p in sel]})
    ident, rand = (res.rounds_fits[o] for o in ORDERS)
    rand_growth = res.rounds_growth[ORDERS[1]]
    check = to_record(
        res, stage="rounds", cid="causal-order/identity-faster-than-random",
        name="identity-order (causal) rounds grow faster than random-order rounds",
        severity="info", status="pass" if res.passed else "warn", target=res.target,
        sampler="autospeculative", method=None, pvalue=None, alpha=None, detectable_tv=None,
        detail=(f"rounds exponent: identity {ident.gamma:.3f} [{ident.gamma_low:.3f}, "
                f"{ident.gamma_high:.3f}], random {rand.gamma:.3f} [{rand.gamma_low:.3f}, "
                f"{rand.gamma_high:.3f}] over n = {ns[0]}..{ns[-1]}; random order's secant "
                f"slopes of mean rounds (not checked): contrast {rand_growth.contrast:.3g}, "
                f"95% interval [{rand_growth.low:.3g}, {rand_growth.high:.3g}] (decreasing, "
                f"i.e. sublinear, if below 0)"))
    section = {
        "id": "causal-order", "title": "Fixed-order marginals cannot parallelise",
        "text": (f"The autospeculative sampler on the {res.target}, {res.num_samples} samples "
                 "per point, in the causal mode (identity order on an oracle that answers "
                 "prefix contexts only: the fixed-order marginals mu(X_i | x_<a)) and in its "
                 "random-order mode. sum TV is the sum of TV(mu_S, nu_S) over the block calls "
                 "each sample made, given their contexts. Fits: least squares in log-log "
                 "with the Student-t 95% interval of the exponent."),
        "tables": [{"title": "Rounds and sum TV per sample against n",
                    "columns": ["order", "n", "samples", "mean rounds", "95% interval",
                                "median", "p99", "max rounds", "max > n", "mean sum TV",
                                "95% interval"], "rows": rows}],
        "figures": [
            {"id": "causal-order-rounds", "kind": "line",
             "title": f"Rounds vs n, identity (causal) against random order ({res.target})",
             "xlabel": "n", "ylabel": "rounds per sample", "logx": True, "logy": True,
             "series": rounds_series,
             "caption": "Mean with its 95% interval and maximum; dashed diagonal: n."},
            {"id": "causal-order-sum-tv", "kind": "line",
             "title": "sum TV(mu_S, nu_S) along the recursion vs n",
             "xlabel": "n", "ylabel": "mean sum TV per sample", "logx": True, "logy": True,
             "series": tv_series, "caption": "Error bars: 95% Student-t intervals."},
        ],
    }
    return StageOutput(checks=[check], sections=[section])


def stage_rounds(ctx: StageContext) -> StageOutput:
    """Run the rounds stage (see the module docstring); the full run adds the
    causal-order demonstration."""
    cfg = ctx.config
    parallel = parallel_samplers()
    samplers = [s for s in select_names("samplers", cfg.samplers, list(DISCRETE_SAMPLERS))
                if s in parallel]
    out = rounds_output(rounds_scaling(samplers, quick=cfg.quick, seed=ctx.seed_int(0),
                                       progress=ctx.progress, executor=ctx.executor))
    if not cfg.quick and "autospeculative" in samplers:
        causal = causal_output(causal_order_scaling(CAUSAL_NS, num=40, seed=ctx.seed_int(1)))
        out.checks.extend(causal.checks)
        out.sections.extend(causal.sections)
    return out
