"""Stage ``rounds``: rounds scaling of the parallel samplers against the sequential ``n``.

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
from verify.rounds import RoundsScalingResult, rounds_scaling

__all__ = ["rounds_output", "stage_rounds"]


def rounds_output(res: RoundsScalingResult) -> StageOutput:
    """Check records and the report section of a rounds-scaling result.

    Each sampler's check "mean rounds below n at the largest n" is informational: a
    sampler that is not sublinear at this size is a warning, not a failure.
    """
    ns = list(res.ns)
    rows: list[list[Any]] = []
    fits: list[list[Any]] = []
    series: list[dict[str, Any]] = [{"label": "sequential (n)", "x": ns, "y": ns,
                                     "style": "dashed"}]
    checks = []
    for s in res.samplers:
        rows += [[s.sampler, p.n, p.num_samples, p.mean_rounds, p.se_rounds, p.max_rounds,
                  p.mean_queries, p.seconds] for p in s.points]
        fits.append([s.sampler, s.fit.c, s.fit.gamma, s.fit.se_gamma])
        means = [p.mean_rounds for p in s.points]
        series.append({"label": s.sampler, "x": ns, "y": means,
                       "yerr": [p.se_rounds for p in s.points]})
        checks.append(to_record(
            s, stage="rounds", cid=f"{s.sampler}/sublinear",
            name="mean rounds below n at the largest n", severity="info",
            status="pass" if s.passed else "warn", sampler=s.sampler, target=s.target,
            method=None, pvalue=None, alpha=None, detectable_tv=None, seed=None,
            detail=(f"mean rounds {means[-1]:.3g} at n={s.largest_n}; fit rounds ~ "
                    f"{s.fit.c:.3g} n^{s.fit.gamma:.3f} (se {s.fit.se_gamma:.3f})")))
    section = {
        "id": "rounds-scaling", "title": "Rounds scaling",
        "text": (f"Mean rounds per sample (critical-path oracle calls, DESIGN 3.3) on the "
                 f"{res.target}, {res.num_samples} samples per point, against the sequential "
                 "sampler's n. Fit: least squares of log rounds on log n."),
        "tables": [
            {"title": "Rounds per sample", "columns": ["sampler", "n", "samples", "mean rounds",
                                                       "s.e.", "max rounds", "mean queries",
                                                       "seconds"], "rows": rows},
            {"title": "Power-law fit rounds ~ c n^gamma",
             "columns": ["sampler", "c", "gamma", "s.e.(gamma)"], "rows": fits},
        ],
        "figures": [{"id": "rounds-scaling", "kind": "line",
                     "title": f"Rounds vs n ({res.target})",
                     "xlabel": "n", "ylabel": "mean rounds per sample", "logx": True,
                     "logy": True, "series": series,
                     "caption": "Error bars: one standard error of the mean."}],
    }
    return StageOutput(checks=checks, sections=[section])


def stage_rounds(ctx: StageContext) -> StageOutput:
    """Run the rounds stage (see the module docstring)."""
    cfg = ctx.config
    parallel = parallel_samplers()
    samplers = [s for s in select_names("samplers", cfg.samplers, list(DISCRETE_SAMPLERS))
                if s in parallel]
    return rounds_output(rounds_scaling(samplers, quick=cfg.quick, seed=ctx.seed_int(0),
                                        progress=ctx.progress))
