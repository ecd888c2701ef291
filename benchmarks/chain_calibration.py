"""Calibration and power of the chain-rule families: marginal (default) vs martingale.

Plain script::

    python benchmarks/chain_calibration.py --target mixture --n 1000 --num 1000 --seeds 200
    python benchmarks/chain_calibration.py --target curie --n 1000 --num 1000 --seeds 200
    python benchmarks/chain_calibration.py --target mixture --n 1000 --num 30869 \
        --seeds 10 --alt 0.52
    python benchmarks/chain_calibration.py --target mixture --n 1000 --num 66408 \
        --seeds 10 --alt 0.52
    python benchmarks/chain_calibration.py --stated-power 100
    python benchmarks/chain_calibration.py --target mixture --alt 0.52 --efficiency 4000
    python benchmarks/chain_calibration.py --target curie-dev --n 1000 --num 2000 \
        --seeds 10 --alt 0.62 --families martingale
    python benchmarks/chain_calibration.py --target ising --n 16 --num 300 --alpha 0.1 \
        --null-draws 9 --seeds 200 --families marginal

Every run draws exact samples of the target with the distributions package's fast
exact samplers (``MixtureOfProducts.sample``: component, then the product;
``CurieWeiss.sample``: the magnetisation from its exact law, then a uniformly random
arrangement; both checked against the oracle's law in
``tests/distributions/test_scalable.py``); ``--alt w`` draws from the alternative
(the mixture with weights ``w, 1 - w`` instead of 0.5, the Ising chain with coupling
``w``, or the Curie-Weiss model with inverse temperature ``w``; the Curie-Weiss model,
beta 0.8, field 0.1, is the target held back while the families were designed;
``curie-dev``, beta 0.6, field 0.05, its stand-in for development). On
the same draws it runs :func:`verify.chain_tests.chain_test` with each family of
``--families`` (the marginal family first, with the generator state right after the
draw, so its figures are those of the default before the martingale family):
``martingale`` (exactly calibrated; ``martingale-early`` / ``martingale-early-directed``:
its early blocks on their own, the Sidak of the early groups / the directed block's
p-value, both exactly uniform under the null), ``marginal`` (the default; Cauchy combination;
``--null-draws B``: with the exact Monte Carlo null, reported as ``mc``) and
``bonferroni`` (the marginal family's Holm p-value). Prints, for each: the mean
p-value, the KS p-value of uniformity, the rejection rates at 0.01, 0.05 and 0.1
(null) or at ``--alpha`` (alternative), and the KS p-value of the p-values below 0.1.

``--efficiency D``: the directed early block's efficiency ``(c^T m)**2 / |m|**2``
against ``--alt`` (``m``: the intercept scores' mean vector, from D alternative
draws; 3 reveal orders). ``--directed-null``: the directed and ``site-max`` blocks
on their own under the null (``--seeds`` runs). ``--stated-power R``: R runs of one
coupled pair of a uniform ``Product(n=40)`` at exactly the martingale family's
stated detectable TV at its planned size for TV 0.25 (the planner's check), and the
rejection rate. ``--pooled-pit``: the KS p-value of each run's pooled randomised
PITs (all ``N n`` of the marginal family's PIT layer, exactly iid uniform under the
null), and the uniformity of those p-values over the seeds (seeds ``[s, 777]``). Writes
``benchmarks/results/chain_calibration_<target>_<n>_<num>[_alt][_families].json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distributions.base import MASK  # noqa: E402
from distributions.scalable import (  # noqa: E402
    CurieWeiss,
    IsingChain,
    MixtureOfProducts,
    Product,
)
from samplers.oracle import CountingOracle  # noqa: E402
from verify.chain_tests import (  # noqa: E402
    chain_detectable_tv,
    chain_test,
    plan_chain_sample_size,
)
from verify.chain_tests.direction import early_direction, reflect  # noqa: E402
from verify.chain_tests.kernels import _chain_pits  # noqa: E402
from verify.chain_tests.scores import martingale_scores  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def make_target(kind: str, n: int, param: float | None):
    if kind == "mixture":
        a = np.random.default_rng(0).uniform(0.15, 0.85, (2, n))
        w = 0.5 if param is None else param
        return MixtureOfProducts([w, 1 - w], np.stack([1 - a, a], axis=-1))
    if kind == "curie":
        return CurieWeiss(n, 0.8 if param is None else param, 0.1)
    if kind == "curie-dev":  # the development stand-in for the held-back kind
        return CurieWeiss(n, 0.6 if param is None else param, 0.05)
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


def stated_power(runs: int, alpha: float) -> None:
    """The martingale family's stated power against one coupled pair (Product(n=40))."""
    n, power = 40, 0.99
    target = Product(np.full((n, 2), 0.5))
    num = plan_chain_sample_size(target, tv=0.25, alpha=alpha, power=power,
                                 family="martingale")
    tv = chain_detectable_tv(n, 2, num, alpha=alpha, power=power, family="martingale")
    gen = np.random.default_rng(15036)
    hits = 0
    t0 = time.perf_counter()
    for _ in range(runs):
        i, j = (int(v) for v in gen.choice(n, 2, replace=False))
        x = gen.integers(0, 2, (num, n))
        e = tv / 2
        cells = gen.choice(4, num, p=[0.25 + e, 0.25 - e, 0.25 - e, 0.25 + e])
        x[:, i], x[:, j] = cells // 2, cells % 2
        res = chain_test(x, target, alpha=alpha, power=power, rng=gen, family="martingale")
        hits += res.status == "fail"
    ci = stats.binomtest(hits, runs).proportion_ci(0.95, method="exact")
    print(f"stated power {power} at TV {tv:.4f}, N = {num}, alpha {alpha:g}: simulated "
          f"{hits}/{runs} = {hits / runs:.3f} [{ci.low:.3f}, {ci.high:.3f}] "
          f"({time.perf_counter() - t0:.0f} s)")


def efficiency(target, alt, draws: int, orders: int) -> None:
    """``(c^T m)**2 / |m|**2``: the directed block's direction ``c`` against the mean
    vector ``m`` of the intercept scores under ``alt`` (per unit ``sqrt(N)``: ``m_j =
    E_alt[(b_alt - b) h(b)]`` along the order, ``b`` the target's conditional, ``h``
    the PIT score's slope; estimated from ``draws`` alternative samples), per order."""
    n = target.n
    co = CountingOracle(target, validate=False)
    single = co.conditionals_at(np.full((1, n), MASK), np.arange(n)[None, :])[0]
    for seed in range(orders):
        order = np.random.default_rng(seed).permutation(n)
        d = early_direction(co, order, single)
        if d is None:
            print(f"order {seed}: no common factor, no directed block")
            continue
        vals = alt.sample(draws, rng=seed + 10)[:, order]
        ctx = np.full(vals.shape, MASK)
        pos = np.broadcast_to(order, vals.shape)
        b = np.clip(target.conditionals_at(ctx, pos, vals)[..., 1], 1e-12, 1 - 1e-12)
        b_alt = alt.conditionals_at(ctx, pos, vals)[..., 1]
        h = np.exp(-0.5 * special.ndtri(b) ** 2) / np.sqrt(2 * np.pi) / (b * (1 - b))
        m = ((b_alt - b) * h).mean(axis=0)
        cm = float(d.c @ m[: d.steps])
        print(f"order {seed}: E = {d.steps}, shrink {d.shrink:.3f}, |m| {np.linalg.norm(m):.4f}, "
              f"|c.m| {abs(cm):.4f}, efficiency {cm**2 / float(m @ m):.3f}, first 16 steps' "
              f"|m| {np.linalg.norm(m[:16]):.4f}")


def directed_null(target, num: int, seeds: int) -> None:
    """The directed block and ``site-max`` (with the reflected early scores) on their
    own under the null, from :func:`martingale_scores` without pair columns (the
    cheap part of the family; seeds ``[s, 31337]``): mean, KS p-value, rates."""
    n = target.n
    co = CountingOracle(target, validate=False)
    single = co.conditionals_at(np.full((1, n), MASK), np.arange(n)[None, :])[0]
    got: dict[str, list[float]] = {"directed": [], "site-max": []}
    t0 = time.perf_counter()
    for s in range(seeds):
        gen = np.random.default_rng([s, 31337])
        x = target.sample(num, rng=gen)
        order = gen.permutation(n)
        d = early_direction(co, order, single)
        if d is None:
            print("no common factor: no directed block")
            return
        sc = martingale_scores(x, co, np.empty(0, dtype=np.int64), gen, order)
        w_dir, rest = reflect(sc.intercept[: d.steps], d.c)
        late = np.concatenate([rest, sc.intercept[d.steps :]])
        got["directed"].append(float(special.erfc(abs(w_dir) / np.sqrt(2.0))))
        single_p = special.erfc(float(np.abs(late).max()) / np.sqrt(2.0))
        got["site-max"].append(float(-np.expm1(late.size * np.log1p(-single_p))))
    for name, vals in got.items():
        p = np.array(vals)
        print(f"{name}: {target!r}, N = {num}, {seeds} seeds: mean {p.mean():.3f}, KS p "
              f"{stats.kstest(p, 'uniform').pvalue:.3g}, rates {np.mean(p <= 0.01):.3f} / "
              f"{np.mean(p <= 0.05):.3f} / {np.mean(p <= 0.1):.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


def pooled_pit(target: MixtureOfProducts | CurieWeiss | IsingChain, num: int,
               seeds: int) -> None:
    """KS p-value of the pooled PITs per run, and their uniformity over the runs."""
    co = CountingOracle(target, validate=False)
    ps = []
    t0 = time.perf_counter()
    for s in range(seeds):
        gen = np.random.default_rng([s, 777])
        pits = _chain_pits(target.sample(num, rng=gen), co, gen)[0]
        ps.append(stats.kstest(pits.ravel(), "uniform").pvalue)
    p = np.array(ps)
    print(f"pooled PITs, {target!r}, N = {num}, {seeds} seeds: KS p-values mean "
          f"{p.mean():.3f}, rate at 0.05 {np.mean(p <= 0.05):.3f}, their uniformity KS p "
          f"{stats.kstest(p, 'uniform').pvalue:.3g} ({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", choices=("mixture", "ising", "curie", "curie-dev"),
                    default="mixture")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--num", type=int, default=1000, help="samples per run")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--salt", type=int, default=20261202,
                    help="run s draws from default_rng([s, SALT]); another salt: fresh seeds")
    ap.add_argument("--alt", type=float, default=None,
                    help="draw from the alternative (mixture weight / Ising coupling)")
    ap.add_argument("--alpha", type=float, default=1e-3)
    ap.add_argument("--null-draws", type=int, default=0,
                    help="B > 0: the marginal family's exact Monte Carlo null")
    ap.add_argument("--families", default="martingale,marginal",
                    help="comma-separated: martingale, marginal")
    ap.add_argument("--pooled-pit", action="store_true",
                    help="only the pooled-PIT KS check of the marginal family's PIT layer")
    ap.add_argument("--efficiency", type=int, default=0, metavar="DRAWS",
                    help="only the directed block's efficiency against --alt (3 orders)")
    ap.add_argument("--directed-null", action="store_true",
                    help="only the directed and site-max blocks under the null")
    ap.add_argument("--stated-power", type=int, default=0, metavar="RUNS",
                    help="only the stated-power check, with this many runs")
    args = ap.parse_args()
    if args.stated_power:
        stated_power(args.stated_power, args.alpha)
        return
    if args.efficiency:
        efficiency(make_target(args.target, args.n, None),
                   make_target(args.target, args.n, args.alt), args.efficiency, 3)
        return
    if args.directed_null:
        directed_null(make_target(args.target, args.n, None), args.num, args.seeds)
        return
    if args.pooled_pit:
        pooled_pit(make_target(args.target, args.n, None), args.num, args.seeds)
        return
    families = [f for f in ("marginal", "martingale") if f in args.families.split(",")]
    target = make_target(args.target, args.n, None)
    source = make_target(args.target, args.n, args.alt) if args.alt is not None else target
    got: dict[str, list[float]] = {}
    secs = dict.fromkeys(families, 0.0)
    for s in range(args.seeds):
        gen = np.random.default_rng([s, args.salt])
        x = source.sample(args.num, rng=gen)
        for fam in families:
            t0 = time.perf_counter()
            res = chain_test(x, target, alpha=args.alpha, family=fam, rng=gen,
                             null_draws=args.null_draws if fam == "marginal" else 0)
            secs[fam] += time.perf_counter() - t0
            if fam == "martingale":
                got.setdefault("martingale", []).append(res.pvalue)
                early = [p for b, p in res.pvalues.items() if b.startswith("early[")]
                if early:  # the early groups on their own: their Sidak (exactly uniform)
                    got.setdefault("martingale-early", []).append(
                        float(-np.expm1(len(early) * np.log1p(-min(early)))))
                for b, p in res.pvalues.items():
                    if b.startswith("early-directed"):
                        got.setdefault("martingale-early-directed", []).append(p)
            else:
                got.setdefault("marginal", []).append(res.pvalues.get("cauchy", 0.0))
                got.setdefault("bonferroni", []).append(res.pvalues["bonferroni"])
                if args.null_draws:
                    got.setdefault("mc", []).append(res.pvalue)
    out = {
        "target": args.target, "n": args.n, "num": args.num, "seeds": args.seeds,
        "alt": args.alt, "alpha": args.alpha, "null_draws": args.null_draws, "salt": args.salt,
        "seconds_per_run": {f: v / args.seeds for f, v in secs.items()},
    }
    for name, vals in got.items():
        out[name] = {**summary(np.array(vals), args.alpha), "pvalues": vals}
        print(f"{args.target} n={args.n} N={args.num} seeds={args.seeds} alt={args.alt} "
              f"{name:>10}: " + ", ".join(f"{k} {v:.3g}" for k, v in out[name].items()
                                          if k != "pvalues"))
    print(", ".join(f"{f} {v / args.seeds:.1f} s/run" for f, v in secs.items()))
    RESULTS.mkdir(exist_ok=True)
    tag = (f"{args.target}_{args.n}_{args.num}" + ("" if args.alt is None else f"_alt{args.alt:g}")
           + (f"_mc{args.null_draws}" if args.null_draws else "")
           + ("" if args.salt == 20261202 else f"_salt{args.salt}") + "_" + "-".join(families))
    (RESULTS / f"chain_calibration_{tag}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
