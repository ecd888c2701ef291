"""Calibration and power of the chain-rule family, Cauchy combination vs Bonferroni.

Plain script::

    python benchmarks/chain_calibration.py --target mixture --n 1000 --num 1000 --seeds 200
    python benchmarks/chain_calibration.py --target ising --n 200 --seeds 200
    python benchmarks/chain_calibration.py --target curie --n 200 --seeds 200
    python benchmarks/chain_calibration.py --target mixture --n 1000 --num 30869 \
        --seeds 10 --alt 0.52
    python benchmarks/chain_calibration.py --target ising --n 16 --num 300 --alpha 0.1 \
        --null-draws 9 --seeds 200

Every run draws exact samples of the target (``--alt w``: of the alternative, the
mixture with weights ``w, 1 - w`` instead of 0.5, the Ising chain with coupling
``w``, or the Curie-Weiss model with inverse temperature ``w``; the Curie-Weiss model,
beta 0.8, field 0.1, is the target held back while the family was designed) and runs
:func:`verify.chain_tests.chain_test` once (``--null-draws B``: with the exact Monte
Carlo null from the oracle, reported as ``mc``); the family p-value
(Cauchy combination) and the Bonferroni / Holm p-value it replaces
(``pvalues["bonferroni"]``) come from the same run. Prints, for both: the mean
p-value, the KS p-value of uniformity, the rejection rates at 0.01, 0.05 and 0.1
(null) or at ``--alpha`` (alternative), and the KS p-value of the p-values below 0.1
(uniform on (0, 0.1) when the combination is calibrated in the tail). Writes
``benchmarks/results/chain_calibration_<target>_<n>_<num>[_alt].json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts  # noqa: E402
from verify.chain_tests import chain_test  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def make_target(kind: str, n: int, param: float | None):
    if kind == "mixture":
        a = np.random.default_rng(0).uniform(0.15, 0.85, (2, n))
        w = 0.5 if param is None else param
        return MixtureOfProducts([w, 1 - w], np.stack([1 - a, a], axis=-1))
    if kind == "curie":
        return CurieWeiss(n, 0.8 if param is None else param, 0.1)
    return IsingChain(n, 0.5 if param is None else param, 0.2)


def summary(p: np.ndarray, alpha: float) -> dict[str, float]:
    tail = p[p <= 0.1] / 0.1
    return {
        "mean": float(p.mean()),
        "ks_uniform_p": float(stats.kstest(p, "uniform").pvalue),
        "rate_0.01": float(np.mean(p <= 0.01)),
        "rate_0.05": float(np.mean(p <= 0.05)),
        "rate_0.1": float(np.mean(p <= 0.1)),
        f"rate_{alpha:g}": float(np.mean(p <= alpha)),
        "tail_count": int(tail.size),
        "ks_tail_p": float(stats.kstest(tail, "uniform").pvalue) if tail.size > 1 else 1.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", choices=("mixture", "ising", "curie"), default="mixture")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--num", type=int, default=1000, help="samples per run")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--alt", type=float, default=None,
                    help="draw from the alternative (mixture weight / Ising coupling)")
    ap.add_argument("--alpha", type=float, default=1e-3)
    ap.add_argument("--null-draws", type=int, default=0,
                    help="B > 0: also the exact Monte Carlo null (needs B >= 1/alpha - 1)")
    args = ap.parse_args()
    target = make_target(args.target, args.n, None)
    source = make_target(args.target, args.n, args.alt) if args.alt is not None else target
    cauchy, bonf, mc = [], [], []
    t0 = time.perf_counter()
    for s in range(args.seeds):
        gen = np.random.default_rng([s, 20261202])
        x = source.sample(args.num, rng=gen)
        res = chain_test(x, target, alpha=args.alpha, null_draws=args.null_draws, rng=gen)
        cauchy.append(res.pvalues.get("cauchy", 0.0))
        bonf.append(res.pvalues["bonferroni"])
        mc.append(res.pvalue)
    secs = time.perf_counter() - t0
    out = {
        "target": args.target, "n": args.n, "num": args.num, "seeds": args.seeds,
        "alt": args.alt, "alpha": args.alpha, "null_draws": args.null_draws, "seconds": secs,
        "cauchy": summary(np.array(cauchy), args.alpha),
        "bonferroni": summary(np.array(bonf), args.alpha),
    }
    names = ["cauchy", "bonferroni"]
    if args.null_draws:
        out["mc"] = summary(np.array(mc), args.alpha)
        names.append("mc")
    for name in names:
        print(f"{args.target} n={args.n} N={args.num} seeds={args.seeds} alt={args.alt} "
              f"{name:>10}: " + ", ".join(f"{k} {v:.3g}" for k, v in out[name].items()))
    print(f"{secs:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    tag = (f"{args.target}_{args.n}_{args.num}" + ("" if args.alt is None else f"_alt{args.alt:g}")
           + (f"_mc{args.null_draws}" if args.null_draws else ""))
    (RESULTS / f"chain_calibration_{tag}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
