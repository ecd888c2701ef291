"""Benchmark: the anytime-valid sequential mode and the TV certificate (issue 15, item 1-2).

Full-table test (``check_exact(..., sequential=True)`` on a table):

1. False rejections of a correct sampler with continuous monitoring: the e-process
   alone (every sample looked at, ``1 / alpha`` at alpha = 0.05, 16 cells, 5,000
   samples) and the whole sequential ``check_exact`` (alpha = 0.05, tv = 0.1), each
   over 200 seeds, with the exact (Clopper-Pearson) 95 % interval.
2. Samples to reject on ``random_table(10, 2, rng=20261202)`` (1,024 cells, alpha
   1e-3, threshold ``2 / alpha``): a sampler at TV 0.1 and 0.02 (mass moved between
   the two halves of the mass), against the fixed-size plans at TV 0.01 and at the
   sampler's TV.
3. Certificate sizes (``plan_certificate_size``) against the test's plan, k = 64 and
   1024, eps = 0.05 and 0.01.

Order-conditional test (an oracle without a joint law; ``Inconsistent`` of
``tests/verify/test_relative_exactness.py``):

4. False rejections with continuous monitoring: the PIT e-process on 200 exact null
   streams (``1 / alpha`` at 0.05) and ``check_exact(SequentialSampler(o), o,
   sequential=True)`` over 200 seeds (alpha 0.05, 400 samples at most).
5. Samples to reject a step deviation of TV 0.1 and 0.02 against the fixed plans.
6. Mutants at tv 0.1 (n = 6): how often the sequential mode rejects, with how many
   samples, against the fixed plan, and how often the fixed-size test rejects
   (same seeds).

Prints tables and writes ``benchmarks/results/sequential.json``. Run from the
repository root: ``python benchmarks/sequential.py [--quick]`` (``--quick``: fewer
runs of items 2, 5 and 6).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from distributions.families import random_table  # noqa: E402
from samplers import SequentialSampler  # noqa: E402
from tests.verify.test_relative_exactness import Inconsistent  # noqa: E402
from tests.verify.test_sequential import perturbed, sup_log_e, table_sampler  # noqa: E402
from tests.verify.test_sequential_order_conditional import (  # noqa: E402
    _step_oracle,
    step_perturbed,
)
from tests.verify.test_sequential_order_conditional import (  # noqa: E402
    sup_log_e as pit_sup_log_e,
)
from verify.exactness import check_exact, plan_order_conditional_size  # noqa: E402
from verify.mutants import AGR24_MUTANTS, MUTANTS  # noqa: E402
from verify.planning import plan_support_size  # noqa: E402
from verify.sequential import plan_certificate_size  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SEEDS = 200


def rate(k: int, n: int) -> dict[str, float]:
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    print(f"    {k}/{n} = {k / n:.3f}, 95 % interval {ci.low:.3f}-{ci.high:.3f}")
    return {"count": k, "runs": n, "rate": k / n, "ci_low": ci.low, "ci_high": ci.high}


def summary(used: list[int], fixed: dict[str, int]) -> dict[str, object]:
    u = np.array(used, dtype=float)
    row: dict[str, object] = {"runs": len(used), "mean": u.mean(), "sd": u.std(ddof=1),
                              "max": u.max(), "fixed": fixed,
                              "ratio": {k: v / u.mean() for k, v in fixed.items()}}
    print(f"    mean {u.mean():,.0f} (sd {u.std(ddof=1):,.0f}, max {u.max():,.0f}; "
          f"{len(used)} runs); " + ", ".join(f"fixed {k} {v:,} ({v / u.mean():.1f}x)"
                                             for k, v in fixed.items()))
    return row


def table_part(quick: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    print("1. full table, false rejections (alpha 0.05, 200 seeds)")
    p = random_table(4, 2, rng=1).pmf()
    gen = np.random.default_rng(20261202)
    sups = [sup_log_e(p, p, 5000, gen)[0] for _ in range(SEEDS)]
    print("  e-process alone, every sample looked at, crosses 1/alpha:")
    out["eprocess_false_rejections"] = rate(int(np.sum(np.array(sups) >= math.log(20))),
                                            SEEDS)
    d = random_table(4, 2, rng=3, concentration=5.0)
    rej = sum(not check_exact(table_sampler(d.pmf(), 4, 2), d, sequential=True, tv=0.1,
                              alpha=0.05, rng=seed).passed for seed in range(SEEDS))
    print("  whole sequential check_exact (tv 0.1):")
    out["check_exact_false_rejections"] = rate(rej, SEEDS)
    print("2. samples to reject, random_table(10, 2), alpha 1e-3")
    p = random_table(10, 2, rng=20261202).pmf()
    f001 = plan_support_size(1024, 0.01, 1e-3, 0.99)
    for tv, runs, seed in ((0.1, 20 if quick else 50, 5), (0.02, 5 if quick else 20, 6)):
        gen = np.random.default_rng(seed)
        s = perturbed(p, tv)
        used = [sup_log_e(p, s, f001, gen, stop_at=math.log(2 / 1e-3))[1]
                for _ in range(runs)]
        print(f"  TV {tv}:")
        out[f"tv_{tv}"] = summary(used, {"tv=0.01": f001,
                                         f"tv={tv}": plan_support_size(1024, tv, 1e-3, 0.99)})
    print("3. certificate sizes (alpha 1e-3, power 0.99)")
    certs = []
    for k in (64, 1024):
        for eps in (0.05, 0.01):
            c = plan_certificate_size(k, eps, 1e-3, 0.99)
            t = plan_support_size(k, eps, 1e-3, 0.99)
            print(f"    k {k:5d} eps {eps:<5} certificate {c:>12,} test {t:>9,} "
                  f"ratio {c / t:.1f}")
            certs.append({"k": k, "eps": eps, "certificate": c, "test": t})
    out["certificates"] = certs
    return out


def order_part(quick: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    print("4. order-conditional, false rejections (alpha 0.05, 200 seeds)")
    gen = np.random.default_rng(20261202)
    sups = np.array([pit_sup_log_e(gen, 1000, 4)[0] for _ in range(SEEDS)])
    print("  PIT e-process alone on exact null streams (n 4, 1,000 samples):")
    out["eprocess_false_rejections"] = rate(int(np.sum(sups >= math.log(20))), SEEDS)
    o = Inconsistent(5, seed=3)
    runs = [check_exact(SequentialSampler(o), o, sequential=True, num_samples=400,
                        alpha=0.05, rng=seed) for seed in range(SEEDS)]
    print("  check_exact, e-process stopped (2 / alpha):")
    out["check_exact_early_stops"] = rate(sum(r.stop_reason != "max-size" for r in runs),
                                          SEEDS)
    print("  check_exact, rejected in all:")
    out["check_exact_false_rejections"] = rate(sum(not r.passed for r in runs), SEEDS)
    print("5. samples to reject a step deviation (n 6, alpha 1e-3)")
    so = _step_oracle()
    f001 = plan_order_conditional_size(6, tv=0.01, alpha=1e-3, power=0.99)
    for tv, nruns in ((0.1, 10 if quick else 20), (0.02, 5 if quick else 10)):
        used = [check_exact(step_perturbed(so, tv), so, sequential=True, tv=0.01,
                            rng=100 + r).samples_used for r in range(nruns)]
        print(f"  TV {tv}:")
        out[f"tv_{tv}"] = summary(used, {
            "tv=0.01": f001,
            f"tv={tv}": plan_order_conditional_size(6, tv=tv, alpha=1e-3, power=0.99)})
    print("6. mutants (Inconsistent(6), tv 0.1, alpha 1e-3)")
    o = Inconsistent(6)
    fixed = plan_order_conditional_size(6, tv=0.1, alpha=1e-3, power=0.99)
    muts = {**MUTANTS, **AGR24_MUTANTS}
    rows = []
    nseeds = 5 if quick else 10
    for name, make in muts.items():
        res = [check_exact(make(o), o, sequential=True, tv=0.1, rng=40 + r)
               for r in range(nseeds)]
        early = [r.samples_used for r in res if r.stop_reason != "max-size"]
        caught = sum(not r.passed for r in res)
        fixed_caught = sum(not check_exact(make(o), o, method="order-conditional", tv=0.1,
                                           rng=40 + r).passed for r in range(nseeds))
        med = float(np.median(early)) if early else math.nan
        print(f"    {name:28} rejected {caught}/{nseeds} (fixed-size test {fixed_caught}/"
              f"{nseeds}), stopped early {len(early)}/{nseeds}, median samples when "
              f"stopped {med:,.0f} (fixed plan {fixed:,}, maximum {res[0].max_size:,})")
        rows.append({"mutant": name, "rejected": caught, "fixed_rejected": fixed_caught,
                     "early": len(early), "runs": nseeds, "median_samples_early": med,
                     "fixed": fixed})
    out["mutants"] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    doc = {"quick": args.quick, "table": table_part(args.quick),
           "order_conditional": order_part(args.quick)}
    doc["seconds"] = time.perf_counter() - t0
    print(f"total {doc['seconds']:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sequential.json").write_text(json.dumps(doc, indent=2, default=float))


if __name__ == "__main__":
    main()
