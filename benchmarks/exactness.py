"""Benchmark: check_exact on random_table(10, 2) with the autospeculative sampler.

Issue 3 target: tv = 0.01, alpha = 1e-3, power = 0.99 (planned size ~ 7e5) in under
60 s on one core. Prints the planned size, the wall time split into sampling and
testing, and the result.

Run: ``python benchmarks/exactness.py``
"""

from __future__ import annotations

import time

import numpy as np

from distributions.families import random_table
from samplers.autospec import AutospeculativeSampler
from verify.exactness import check_exact, full_table_test, plan_sample_size


def main() -> None:
    target = random_table(10, 2, rng=0)
    sampler = AutospeculativeSampler(target, validate=False)
    num = plan_sample_size(target, tv=0.01, alpha=1e-3, power=0.99)
    print(f"random_table(10, 2): support {int((target.pmf() > 0).sum())} cells; "
          f"planned size at tv=0.01, alpha=1e-3, power=0.99: {num:,}")
    t0 = time.perf_counter()
    res = check_exact(sampler, target, tv=0.01, alpha=1e-3, power=0.99, rng=0)
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    x = target.sample(res.num_samples, rng=1)
    full_table_test(x, target.pmf(), 2, alpha=1e-3, rng=2)
    test_only = time.perf_counter() - t1
    print(f"check_exact: {total:.1f} s total (the test itself ~{test_only:.1f} s), "
          f"method={res.method}, passed={res.passed}, p={res.pvalue:.3g}, "
          f"detectable_tv={res.detectable_tv:.4f}, tv_upper={res.tv_upper:.4f}, "
          f"seed={res.seed}")
    print(f"throughput: {res.num_samples / total:,.0f} samples/s; target < 60 s: "
          f"{'OK' if total < 60 else 'MISSED'}")
    _ = np


if __name__ == "__main__":
    main()
