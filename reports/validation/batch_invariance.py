"""Stage ``batch-invariance``: the law at batch size 1 against the production batch size.

A two-sample test per sampler (:func:`verify.check_batch_invariance`) on the small
target :func:`samplers.catalogue.batch_target` (batch size 1 costs one call per
sample).
"""

from __future__ import annotations

import time
from typing import Any

from reports.records import check_record, to_record
from reports.validation.config import StageContext, StageOutput, ValidationConfig, select_names
from samplers.catalogue import DISCRETE_SAMPLERS, batch_target, make_sampler
from verify.exactness import check_batch_invariance

__all__ = ["batch_samplers", "stage_batch_invariance"]

NAME = "same law at two batch sizes"


def batch_samplers(cfg: ValidationConfig) -> list[str]:
    """The samplers of the batch-invariance stage."""
    return select_names("samplers", cfg.samplers, list(DISCRETE_SAMPLERS))


def stage_batch_invariance(ctx: StageContext) -> StageOutput:
    """Run the batch-invariance stage (see the module docstring)."""
    cfg = ctx.config
    samplers = batch_samplers(cfg)
    tname, target = batch_target(cfg.quick)
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
                                       alpha=alpha, power=0.99, rng=seed, executor=ctx.executor)
        except Exception as exc:  # a crash is a failed check, never a hidden one
            out.checks.append(check_record("batch-invariance", cid, NAME, False,
                                           sampler=sname, target=tname,
                                           detail=f"{type(exc).__name__}: {exc}"))
            bar.update()
            continue
        secs = time.perf_counter() - t0
        sizes = [int(b) for b in r.batch_sizes]
        out.checks.append(to_record(
            r, stage="batch-invariance", cid=cid, name=NAME, sampler=sname, target=tname,
            worst_cells=None,
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
