"""Stage ``mutants``: the mutation matrix, which check catches which wrong sampler.

Plausible wrong samplers (:data:`verify.mutants.MUTANTS`) are run against the checks of
the suite by :func:`verify.mutation_matrix`; the correct sampler's cells spend this
stage's alpha, a mutant no check catches is a warning about the suite's power.

Why the memory guard: a mutant is a deliberately wrong sampler, and some (a residual
never accepted, a loop that never shrinks) can grow their arrays without bound. The
address-space limit (``RLIMIT_AS``, current size from ``/proc/self/status`` plus 4 GiB,
set only where ``/proc`` exists) turns that into a ``MemoryError`` recorded as the
mutant being caught, instead of taking the machine down; the limit is restored after
each mutant.
"""

from __future__ import annotations

import resource
from typing import Any

from reports.records import check_record
from reports.validation.config import StageContext, StageOutput
from samplers.catalogue import mutants_target
from verify.mutants import MUTANTS, mutation_matrix

__all__ = ["mutant_checks", "stage_mutants"]


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


def mutant_checks(quick: bool) -> tuple[str, ...]:
    """The checks of the mutation matrix (the correct sampler's cells split alpha)."""
    return ("gtest", "first-stage") if quick else ("gtest", "chain", "first-stage",
                                                   "exact-law")


def stage_mutants(ctx: StageContext) -> StageOutput:
    """Run the mutation-matrix stage (see the module docstring)."""
    cfg = ctx.config
    checks = mutant_checks(cfg.quick)
    tv = 0.05 if cfg.quick else 0.02
    label, target = mutants_target(cfg.quick)
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
                                alpha=alpha, rng=ctx.seed_int(k), executor=ctx.executor)
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
                not get(c, "caught"), sampler="autospeculative", target=label,
                method=ch, statistic=get(c, "statistic") if not isinstance(c, dict) else None,
                pvalue=get(c, "pvalue"), alpha=alpha, num_samples=get(c, "num_samples") or None,
                detail=str(get(c, "detail"))))
    for mname in MUTANTS:
        caught_by = [ch for ch in checks if (mname, ch) in cells
                     and get(cells[(mname, ch)], "caught")]
        out.checks.append(check_record(
            "mutants", f"{mname}/caught", f"mutant {mname} is caught", bool(caught_by),
            severity="warning", sampler=mname, target=label,
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
