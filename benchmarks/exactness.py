"""Benchmark: the statistical cost of check_exact, its caps and the batch-size check.

1. check_exact on random_table(10, 2) with the autospeculative sampler at tv = 0.01,
   alpha = 1e-3, power = 0.99 (planned size ~ 7e5): wall time split into sampling
   and testing (issue 3 target: under 60 s on one core).
2. The sparse regime (issue 19 item 1): the Monte Carlo test on a Potts table of 729
   cells at N = 400: the noncentral chi-square detectable TV stated before, the
   detectable TV stated now (simulated power of the test as run), and the time.
3. Bounded cost (issue 19 item 3): time to refuse alpha = 1e-300, alpha = 1e-6 in the
   sparse regime and tv = 1e-6 (a 2.4e13-sample plan), and the resample cap.
4. check_batch_invariance of the autospeculative sampler at batch sizes 1 and 4096.
5. The sparse planner (issue 14): on the plans that start in the sparse regime, of
   ``random_table(n, 2, rng=s)``, n = 5-8, s = 0-5, at TV 0.1 and 0.05 (alpha 1e-3,
   power 0.99), and of 40 small Dirichlet tables (20-150 cells, TV 0.15-0.35, alpha
   0.05, power 0.8 or 0.95; sizes of 100-600), the simulations, CPU time and size of
   the screened planner against the growth alone (``_plan_sparse(..., screen=False)``),
   in the same run (memo cleared per plan).

Prints a table and writes ``benchmarks/results/exactness.json``.

Run: ``python benchmarks/exactness.py [--quick]`` (``--quick`` skips item 1).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from distributions.errors import ParameterError  # noqa: E402
from distributions.families import potts, random_table  # noqa: E402
from samplers.autospec import AutospeculativeSampler  # noqa: E402
from verify.exactness import (  # noqa: E402
    MAX_RESAMPLES,
    MAX_SAMPLES,
    check_batch_invariance,
    check_exact,
    detectable_tv,
    full_table_test,
    plan_sample_size,
)

OUT = pathlib.Path(__file__).resolve().parent / "results" / "exactness.json"


def _cycle(n: int) -> np.ndarray:
    j = np.zeros((n, n))
    for i in range(n):
        j[i, (i + 1) % n] = j[(i + 1) % n, i] = 1
    return j


def planned_run() -> dict[str, float]:
    target = random_table(10, 2, rng=0)
    sampler = AutospeculativeSampler(target, validate=False)
    num = plan_sample_size(target, tv=0.01, alpha=1e-3, power=0.99)
    t0 = time.perf_counter()
    res = check_exact(sampler, target, tv=0.01, alpha=1e-3, power=0.99, rng=0)
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    x = target.sample(res.num_samples, rng=1)
    full_table_test(x, target.pmf(), 2, alpha=1e-3, rng=2)
    test_only = time.perf_counter() - t1
    print(f"1. random_table(10, 2), tv=0.01: planned N={num:,}; check_exact {total:.1f} s "
          f"(test ~{test_only:.1f} s), method={res.method}, status={res.status}, "
          f"p={res.pvalue:.3g}, detectable_tv={res.detectable_tv:.4f}, seed={res.seed}")
    return {"num_samples": float(num), "seconds": total, "test_seconds": test_only,
            "detectable_tv": res.detectable_tv}


def sparse_run() -> dict[str, float]:
    d = potts(_cycle(6), 3, beta=0.8)
    t0 = time.perf_counter()
    res = check_exact(lambda k, g: d.sample(k, rng=g), d, num_samples=400, alpha=1e-3,
                      power=0.99, rng=0)
    sec = time.perf_counter() - t0
    old = detectable_tv(729, 400, alpha=1e-3, power=0.99)
    print(f"2. Potts 729 cells, N=400, Monte Carlo: detectable TV stated before {old:.3f}, "
          f"now {res.detectable_tv:.3f} (simulated power {res.details['simulated_power']:.3f}"
          f"), {int(res.details['resamples']):,} resamples, {sec:.1f} s")
    return {"old_detectable_tv": old, "detectable_tv": res.detectable_tv, "seconds": sec,
            "simulated_power": res.details["simulated_power"]}


def refusals() -> dict[str, float]:
    d = random_table(6, 2, rng=0)
    f = lambda k, g: d.sample(k, rng=g)  # noqa: E731
    out = {}
    for label, kw in [("alpha=1e-300", {"alpha": 1e-300}),
                      ("alpha=1e-6, N=50 (Monte Carlo)", {"alpha": 1e-6, "num_samples": 50}),
                      ("tv=1e-6", {"tv": 1e-6})]:
        t0 = time.perf_counter()
        try:
            check_exact(f, d, rng=0, **kw)
            msg = "ran"
        except ParameterError as exc:
            msg = str(exc)
        sec = time.perf_counter() - t0
        out[label] = sec
        print(f"3. {label}: refused in {1e3 * sec:.1f} ms: {msg}")
    print(f"   caps: max_samples={MAX_SAMPLES:,}, max_resamples={MAX_RESAMPLES:,}")
    return out


def batch_run() -> dict[str, float]:
    d = random_table(6, 2, rng=0)
    s = AutospeculativeSampler(d, validate=False)
    t0 = time.perf_counter()
    r = check_batch_invariance(s, target=d, batch_sizes=(1, 4096), tv=0.1, rng=0)
    sec = time.perf_counter() - t0
    print(f"4. batch invariance, autospec on random_table(6, 2), sizes (1, 4096), tv=0.1: "
          f"N={r.num_samples:,} per size, {r.method}, status={r.status}, p={r.pvalue:.3g}, "
          f"detectable_tv={r.detectable_tv:.3f}, {sec:.1f} s")
    return {"num_samples": float(r.num_samples), "seconds": sec,
            "detectable_tv": r.detectable_tv}


def _planner_cases() -> list[tuple[str, np.ndarray, float, float, float]]:
    """(family, support law, tv, alpha, power) of item 5's plans that start sparse."""
    from verify.planning import plan_support_size

    cases = []
    for n in (5, 6, 7, 8):
        for s in range(6):
            for tv in (0.1, 0.05):
                pmf = random_table(n, 2, rng=s).pmf()
                cases.append(("random_table", pmf[pmf > 0] / pmf[pmf > 0].sum(), tv, 1e-3,
                              0.99))
    rng = np.random.default_rng(20261203)
    for _ in range(40):  # small Dirichlet tables at alpha 0.05: sizes of 100-600
        k = int(rng.choice([20, 60, 150]))
        p = rng.dirichlet(np.full(k, float(rng.choice([0.3, 1.0, 5.0]))))
        p = p[p > 0] / p[p > 0].sum()
        cases.append(("dirichlet", p, float(rng.choice([0.15, 0.25, 0.35])), 0.05,
                      float(rng.choice([0.8, 0.95]))))
    return [c for c in cases
            if plan_support_size(c[1].size, c[2], c[3], c[4]) * float(c[1].min()) < 5]


def planner_run() -> dict[str, dict[str, float]]:
    import statistics

    from verify.exactness import montecarlo
    from verify.exactness.full_table import _plan_sparse
    from verify.planning import plan_support_size
    from verify.sampling import Deadline

    rows: dict[str, list[list[tuple[int, float, int]]]] = {}
    for family, p, tv, alpha, power in _planner_cases():
        start = plan_support_size(p.size, tv, alpha, power)
        got = []
        for screen in (True, False):
            montecarlo._DETECTABLE_CACHE.clear()
            t0 = time.process_time()
            size, _ = _plan_sparse(p, start, "auto", tv, alpha, power, None, 10**5,
                                   Deadline(None, "benchmark"), screen=screen)
            got.append((size, time.process_time() - t0, len(montecarlo._DETECTABLE_CACHE)))
        rows.setdefault(family, []).append(got)
    out = {}
    for family, fam_rows in rows.items():
        ratio = [a[0] / b[0] for a, b in fam_rows]
        res = out[family] = {
            "plans": float(len(fam_rows)),
            "one_simulation": float(sum(a[2] == 1 for a, _ in fam_rows)),
            "simulations_screened": float(sum(a[2] for a, _ in fam_rows)),
            "simulations_growth": float(sum(b[2] for _, b in fam_rows)),
            "cpu_screened": sum(a[1] for a, _ in fam_rows),
            "cpu_growth": sum(b[1] for _, b in fam_rows),
            "size_ratio_median": statistics.median(ratio),
            "size_ratio_min": min(ratio),
            "size_ratio_max": max(ratio),
        }
        print(f"5. sparse planner, {family}, {len(fam_rows)} plans: one simulation in "
              f"{res['one_simulation']:.0f}; simulations {res['simulations_screened']:.0f} "
              f"(growth alone {res['simulations_growth']:.0f}); CPU "
              f"{res['cpu_screened']:.1f} s ({res['cpu_growth']:.1f} s); size / growth's: "
              f"median {res['size_ratio_median']:.3f}, {res['size_ratio_min']:.2f}-"
              f"{res['size_ratio_max']:.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 7e5-sample run")
    args = ap.parse_args()
    res: dict[str, object] = {}
    if not args.quick:
        res["planned"] = planned_run()
    res["sparse"] = sparse_run()
    res["refusals_seconds"] = refusals()
    res["batch_invariance"] = batch_run()
    res["planner"] = planner_run()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
