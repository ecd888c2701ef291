"""Stage ``exact-law``: the exact output law by enumeration (no sampling).

:func:`verify.exact_law` runs the real sampler code with every random choice
enumerated, on the small targets of :data:`samplers.catalogue.EXACT_LAW_TARGETS`. A
check passes when TV(sampler, target) <= 1e-9 is proved, fails when TV > 1e-9 is
proved, and is otherwise inconclusive (a warning).
"""

from __future__ import annotations

import time

from reports.records import check_record
from reports.validation.config import StageContext, StageOutput, select_names
from samplers.catalogue import DISCRETE_SAMPLERS, EXACT_LAW_TARGETS, make_sampler
from verify.exact_law import exact_law

__all__ = ["stage_exact_law"]

NAME = "exact law equals the target"


def stage_exact_law(ctx: StageContext) -> StageOutput:
    """Run the exact-law stage (see the module docstring)."""
    cfg = ctx.config
    samplers = select_names("samplers", cfg.samplers, list(DISCRETE_SAMPLERS))
    targets = {name: build() for name, (in_quick, build) in EXACT_LAW_TARGETS.items()
               if in_quick or not cfg.quick}
    orders = ["identity"] if cfg.quick else ["identity", "random"]
    jobs = [(s, t, o) for t in targets for s in samplers for o in orders
            if not (o == "random" and t == "random-2^10")]
    out = StageOutput()
    rows = []
    bar = ctx.progress(len(jobs), "exact law")
    for sname, tname, order in jobs:
        cid = f"{sname}/{tname}/{order}"
        bar.set_postfix_str(cid)
        t0 = time.perf_counter()
        try:
            r = exact_law(lambda o, sname=sname, order=order: make_sampler(sname, o, order=order),
                          targets[tname], tol=1e-13, max_paths=1_000_000)
        except Exception as exc:
            out.checks.append(check_record("exact-law", cid, NAME, False, sampler=sname,
                                           target=tname, detail=f"{type(exc).__name__}: {exc}"))
            bar.update()
            continue
        secs = time.perf_counter() - t0
        proved = r.status == "pass"
        refuted = r.status == "fail"
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
            "exact-law", cid, NAME, proved,
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


