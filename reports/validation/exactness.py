"""Stage ``exactness``: every catalogue sampler on every built-in target, full-table tests.

Each sampler's output law is tested against the target's exact pmf by
:func:`verify.check_exact` at the sample size planned to detect the run's TV with
power 0.99; the records come from :func:`reports.records.to_record`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from reports.records import check_record, to_record
from reports.validation.config import StageContext, StageOutput, ValidationConfig, select_names
from samplers.catalogue import (
    DISCRETE_SAMPLERS,
    QUICK_SKIP,
    TARGETS,
    make_sampler,
    make_target,
    target_names,
)
from verify.exactness import check_exact

__all__ = ["exactness_pairs", "stage_exactness"]

NAME = "law equals the exact pmf"


def exactness_pairs(cfg: ValidationConfig) -> tuple[list[str], list[tuple[str, str]]]:
    """(targets, (sampler, target) pairs) of the exactness stage.

    The quick run without ``targets`` leaves out :data:`samplers.catalogue.QUICK_SKIP`
    (Monte Carlo p-values at a tiny alpha are slow).
    """
    samplers = select_names("samplers", cfg.samplers, list(DISCRETE_SAMPLERS))
    targets = select_names("targets", cfg.targets, list(TARGETS),
                           target_names(cfg.quick, default_run=True))
    return targets, [(s, t) for t in targets for s in samplers]


def _shard_log(ctx: StageContext, cid: str, bar: Any) -> Callable[[int, int, int], None]:
    """The progress of a check of several shards (shards done / total, samples/s): in
    the bar's postfix (a terminal) and as one log line per shard (off a terminal)."""
    t0 = time.perf_counter()

    def progress(done: int, total: int, rows: int) -> None:
        if total > 1:
            rate = rows / max(time.perf_counter() - t0, 1e-9)
            text = f"{cid}: shard {done}/{total}, {rows:,} samples, {rate:,.0f} samples/s"
            bar.set_postfix_str(text)
            if ctx.log is not None:
                ctx.log(f"exactness {text}")

    return progress


def stage_exactness(ctx: StageContext) -> StageOutput:
    """Run the exactness stage (see the module docstring)."""
    cfg = ctx.config
    targets, pairs = exactness_pairs(cfg)
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
                built[tname] = make_target(tname, quick=cfg.quick)
            target = built[tname]
            seed = ctx.seed_int(k)
            t0 = time.perf_counter()
            r = check_exact(make_sampler(sname, target), target, tv=cfg.tv, alpha=alpha,
                            power=0.99, rng=seed, executor=ctx.executor,
                            progress=_shard_log(ctx, cid, bar))
            bar.set_postfix_str(cid)
            secs = time.perf_counter() - t0
            batch = getattr(r, "batch_size", None)
            out.checks.append(to_record(
                r, stage="exactness", cid=cid, name=NAME, sampler=sname, target=tname,
                seed=seed, detail=f"TV upper bound {r.tv_upper:.3g}",
                extra={"batch_size": int(batch)} if batch is not None else None))
            cost = make_sampler(sname, target).sample(2000, rng=ctx.seed_int(k, 1))
            cost_rows.append([sname, tname, target.n, target.q,
                              float(np.mean(cost.rounds)), float(np.mean(cost.queries)),
                              int(r.num_samples), round(secs, 3)])
        except Exception as exc:  # a crash is a failed check, never a hidden one
            out.checks.append(check_record("exactness", cid, NAME, False,
                                           sampler=sname, target=tname,
                                           detail=f"{type(exc).__name__}: {exc}"))
        bar.update()
    bar.close()
    desc = [[name, TARGETS[name].description] for name in targets]
    out.sections.append({
        "id": "exactness", "title": "Exactness of every sampler on every built-in target",
        "text": (f"Each sampler's output law is tested against the target's exact pmf on the "
                 f"full table (no cell dropped; a sample on a zero-probability cell fails at "
                 f"once). Sample sizes are planned to detect TV = {cfg.tv:g} with power 0.99. "
                 f"The stage's share of the family-wise alpha, {ctx.alpha:.3g}, is split "
                 f"(Bonferroni) over {len(pairs)} checks: alpha = {alpha:.3g} each."
                 + (" The quick run leaves out the sparse target(s) "
                    f"{', '.join(sorted(QUICK_SKIP))} (Monte Carlo p-values; full run or "
                    "--targets)." if cfg.quick and cfg.targets is None else "")),
        "tables": [
            {"title": "Targets", "columns": ["target", "description"], "rows": desc},
            {"title": "Cost (mean per sample, 2000 samples)",
             "columns": ["sampler", "target", "n", "q", "rounds", "queries", "test samples",
                         "test seconds"], "rows": cost_rows},
        ],
    })
    return out
