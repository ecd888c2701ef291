"""Stage ``diffusion``: the diffusion samplers of :data:`samplers.catalogue.DIFFUSION_SAMPLERS`.

For the Gaussian target the Euler chain is linear-Gaussian and the output's exact mean
and covariance are tested (:func:`verify.check_gaussian_chain`); otherwise the parallel
samplers are compared with the sequential Euler chain (:func:`verify.check_same_law`);
the speculative sampler's per-step acceptance is tested against its closed form
(:func:`verify.check_speculative_acceptance`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from distributions.diffusion import GaussianMixture
from reports.records import check_record, to_record
from reports.validation.config import StageContext, StageOutput
from samplers.catalogue import DIFFUSION_SAMPLERS, DIFFUSION_TARGETS, GAUSSIAN_COV, GAUSSIAN_MEAN
from samplers.diffusion import LocalizationGrid, SpeculativeDiffusionSampler
from verify.continuous import (
    check_gaussian_chain,
    check_same_law,
    check_speculative_acceptance,
)

__all__ = ["diffusion_jobs", "stage_diffusion"]


def diffusion_jobs(quick: bool) -> list[tuple[str, str, str]]:
    """(check kind, sampler, target) of the diffusion stage."""
    makers = ("euler", "autospeculative", "speculative")
    targets = ("gaussian", "mixture") if quick else ("gaussian", "mixture", "finite-set")
    jobs = [("gaussian-chain", s, "gaussian") for s in makers]
    jobs += [("same-law", s, t) for t in targets if t != "gaussian" for s in makers
             if s == "autospeculative" or (s == "speculative" and not quick)]
    jobs.append(("acceptance", "speculative", "mixture"))
    return jobs


def stage_diffusion(ctx: StageContext) -> StageOutput:
    """Run the diffusion stage (see the module docstring)."""
    cfg = ctx.config
    grid = LocalizationGrid.uniform(10.0, 32 if cfg.quick else 64)
    mean, cov = list(GAUSSIAN_MEAN), [list(r) for r in GAUSSIAN_COV]
    targets = {name: build() for name, (in_quick, build) in DIFFUSION_TARGETS.items()
               if in_quick or not cfg.quick}
    makers = {name: (lambda o, build=build: build(o, grid))
              for name, build in DIFFUSION_SAMPLERS.items()}
    big, small = (1000, 400) if cfg.quick else (4000, 2000)
    jobs = diffusion_jobs(cfg.quick)
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
                                         num_samples=num, alpha=alpha, rng=seed,
                                         executor=ctx.executor)
                effect = f"detectable Mahalanobis shift {r.detectable_mahalanobis_shift:.3g}"
            elif kind == "same-law":
                r = check_same_law(makers[sname](target), makers["euler"](target),
                                   num_samples=num, alpha=alpha, rng=seed,
                                   max_energy_samples=100 if cfg.quick else 1000,
                                   executor=ctx.executor)
                effect = (f"detectable sliced-KS distance {r.detectable_ks_distance:.3g}, "
                          f"mean shift {r.detectable_mean_shift:.3g}")
            else:
                r = check_speculative_acceptance(makers[sname](target), num_samples=num,
                                                 alpha=alpha, rng=seed, executor=ctx.executor)
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
        # the acceptance test's unit is the localization step (num_steps), the
        # others' the sample; the stated effect is in ``detail``, not detectable_tv
        out.checks.append(to_record(
            r, stage="diffusion", cid=cid, name=name, sampler=sname, target=tname,
            method=kind, alpha=alpha, seed=seed, detectable_tv=None, tv_estimate=None,
            worst_cells=None,
            num_samples=int(r.num_steps) if kind == "acceptance" else int(r.num_samples),
            detail="; ".join([effect, *r.notes]),
            extra=({"pvalue_resolution": float(r.pvalue_resolution)}
                   if getattr(r, "pvalue_resolution", None) is not None else None)))
        rows.append([sname, tname, kind, r.pvalue, effect, num, round(secs, 3)])
        bar.update()
    bar.close()
    cost_rows = []
    mix = targets["mixture"]
    # an independent draft model: one Gaussian with the mixture's mean and covariance
    draft = GaussianMixture([1.0], [mix.prior_mean], [np.cov(mix.sample(4000, rng=0).T)])
    costed = {**{k: m(mix) for k, m in makers.items()},
              "speculative, draft = one Gaussian": SpeculativeDiffusionSampler(
                  mix, grid, window=8, draft=draft)}
    for sname, smp in costed.items():
        res = smp.sample(200, rng=ctx.seed_int(99))
        dq = "-" if res.draft_queries is None else float(np.mean(res.draft_queries))
        cost_rows.append([sname, float(np.mean(res.rounds)), float(np.mean(res.queries)), dq,
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
            {"title": "Cost on the mixture (mean per sample, 200 samples; target and draft "
                      "queries counted apart, '-' = no draft)",
             "columns": ["sampler", "rounds", "target queries", "draft queries",
                         "grid steps"], "rows": cost_rows},
        ]})
    return out
