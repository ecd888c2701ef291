"""Stage ``pinning``: the pinning-lemma identities and bounds, and the round bound.

For each job of :func:`pinning_jobs`, :func:`reports.pinning_run.compute` runs the
checks of :mod:`verify.pinning` (entropy profile, per-level and whole-tree sums of
``E TV(mu_S, nu_S)``, the autospeculative sampler's rounds against ``sum TV``); this
stage turns them into records, tables and figure specifications.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reports.pinning_run import compute
from reports.records import check_record, to_record
from reports.validation.config import StageContext, StageOutput

__all__ = ["pinning_jobs", "stage_pinning"]


def pinning_jobs(quick: bool) -> list[tuple[str, int]]:
    """(family, n) of the pinning stage (families of
    :data:`samplers.catalogue.PINNING_FAMILIES`)."""
    if quick:
        return [("random-table", 6), ("curie-weiss-1.0", 8)]
    return [("random-table", 8), ("curie-weiss-1.0", 12), ("mixture2", 16),
            ("ising-chain-2", 16), ("product", 16)]


def stage_pinning(ctx: StageContext) -> StageOutput:
    """Run the pinning stage (see the module docstring)."""
    cfg = ctx.config
    jobs = pinning_jobs(cfg.quick)
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
            # a flag is a warning (the pinning module's own alpha, outside the run's
            # error budget); no size is planned and the seed is the job's
            out.checks.append(to_record(
                rb, stage="pinning", cid=f"{fam}-{n}/round-bound",
                name="rounds explained by sum TV", severity="warning",
                status="pass" if rb.passed else "warn", sampler="autospeculative",
                target=f"{fam} n={n}", detectable_tv=None, seed=None,
                detail=("flagged: " + "; ".join(rb.reasons)) if rb.flagged else
                f"c = {rb.value:.3g} in E[rounds] = c (1 + E sum TV) log2 n"))
            r = np.asarray(rb.rounds, dtype=np.float64)
            rb_rows.append([f"{fam} n={n}", int(rb.num_samples), rb.mean_rounds,
                            f"[{rb.rounds_interval[0]:.4g}, {rb.rounds_interval[1]:.4g}]",
                            float(np.median(r)), float(np.percentile(r, 99)), float(r.max()),
                            "yes" if r.max() > n else "no", rb.mean_sum_tv,
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
             "columns": ["target", "samples", "mean rounds", "95% interval", "median",
                         "p99", "max", "max > n (sequential)", "mean sum TV",
                         "mean rejections", "c", "slope", "excess p", "flagged"],
             "rows": rb_rows},
        ],
        "figures": figs})
    return out


def _short(v: Any) -> str:
    if isinstance(v, list):
        if len(v) > 4:
            return f"[{', '.join(f'{x:.3g}' for x in v[:3])}, ... ({len(v)} values)]"
        return "[" + ", ".join(f"{x:.3g}" if isinstance(x, float) else str(x) for x in v) + "]"
    return f"{v:.4g}" if isinstance(v, float) else str(v)
