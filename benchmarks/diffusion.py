"""Rounds and queries of the diffusion samplers against N and dimension (DESIGN 5).

Plain script::

    python benchmarks/diffusion.py            # full run (< 10 minutes on 2 cores)
    python benchmarks/diffusion.py --quick    # a smoke run (~1 minute)

Writes ``benchmarks/results/diffusion.json`` and ``benchmarks/results/diffusion_rounds.png``
and prints a table: mean per-sample rounds / queries of the Euler chain, the
autospeculative sampler (with its median, p99 and maximum rounds) and the speculative
sampler (window ``--window``, with its maximum), a star where a maximum exceeds the
Euler chain's N + 1 rounds (the JSON has every sampler's mean with its 95% interval,
median, p99 and maximum), the
speedup over Euler, fitted exponents ``rounds ~ c N^gamma`` and the kernel Stein
discrepancy of the Euler chain's output against the target as a function of N
(the discretisation bias; reported, not a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distributions.diffusion import FiniteSet, GaussianMixture  # noqa: E402
from samplers.diffusion import (  # noqa: E402
    AutospeculativeDiffusionSampler,
    EulerLocalizationSampler,
    LocalizationGrid,
    SpeculativeDiffusionSampler,
)
from verify.continuous import check_stein_discrepancy  # noqa: E402
from verify.fits import fit_power_law  # noqa: E402
from verify.rounds import rounds_point  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def two_modes(dim: int) -> GaussianMixture:
    """Two well-separated isotropic modes at +-3 e_1 (variance 0.05)."""
    means = np.zeros((2, dim))
    means[0, 0], means[1, 0] = -3.0, 3.0
    return GaussianMixture([0.5, 0.5], means, [0.05, 0.05])


def targets(seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    m16 = rng.standard_normal((4, 16))
    m16 *= 3.0 / np.linalg.norm(m16, axis=1, keepdims=True)
    pts = rng.standard_normal((8, 2)) * 2.0
    return {
        "mixture-2d": two_modes(2),
        "mixture-16d": GaussianMixture(np.full(4, 0.25), m16, np.full(4, 0.1)),
        "finite-set-2d": FiniteSet(pts),
    }


def grid(n_steps: int, T: float) -> LocalizationGrid:
    return LocalizationGrid.geometric(T, n_steps, first=min(0.01, T / n_steps))


def run_one(target, g, window: int, num: int, num_auto: int, seed: int) -> dict:
    out = {}
    ss = np.random.SeedSequence(seed).spawn(3)
    for name, smp, n in (
        ("euler", EulerLocalizationSampler(target, g), min(num, 64)),
        ("autospec", AutospeculativeDiffusionSampler(target, g), num_auto),
        ("speculative", SpeculativeDiffusionSampler(target, g, window=window), num),
    ):
        t0 = time.perf_counter()
        res = smp.sample(n, rng=np.random.default_rng(ss[len(out)]))
        # the one tail summary of verify.rounds: mean with its 95% interval, median,
        # p99, max, and whether the max exceeds the Euler chain's N + 1 rounds
        pt = rounds_point(g.num_steps, res.rounds, res.queries, g.num_steps + 1,
                          time.perf_counter() - t0)
        out[name] = {
            "num_samples": n,
            "rounds_mean": pt.mean_rounds,
            "rounds_interval": [pt.mean_low, pt.mean_high],
            "rounds_se": pt.se_rounds,
            "rounds_median": pt.median_rounds,
            "rounds_p99": pt.p99_rounds,
            "rounds_max": pt.max_rounds,
            "max_above_euler": bool(pt.exceeds_sequential),
            "queries_mean": pt.mean_queries,
            "wall_seconds": pt.seconds,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--window", type=int, default=16, help="speculative window L")
    ap.add_argument("--T", type=float, default=100.0, help="final localization time")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    if args.quick:
        n_list, d_list, d_steps = [64, 256, 1024], [1, 4, 16], 128
        num, auto_budget, ksd_n = 64, 16, [16, 128]
    else:
        n_list, d_list = [64, 128, 256, 512, 1024, 2048, 4096], [1, 2, 4, 8, 16, 32, 64]
        d_steps = 256
        num, auto_budget, ksd_n = 128, 16, [16, 64, 256, 1024]
    tg = targets(args.seed)
    record: dict = {
        "config": {"quick": args.quick, "seed": args.seed, "window": args.window, "T": args.T,
                   "grid": "geometric, first = min(0.01, T / N)", "rho": "1 / log2(N)",
                   "cost_model": "per-sample rounds/queries, DESIGN 3.3; Euler = N + 1"},
        "vs_steps": {}, "vs_dim": {}, "exponents": {}, "ksd_bias": {},
    }
    print(f"{'target':<14} {'N':>5} {'d':>3} | {'euler':>6} | {'autospec':>9} {'x':>5} "
          f"{'med':>6} {'p99':>6} {'max':>7} {'queries':>8} | {'specul.':>8} {'x':>5} "
          f"{'max':>7} {'queries':>8}   (* max above Euler's N + 1)")
    def show(tname: str, n_steps: int, d: int, r: dict) -> None:
        e, a, s = r["euler"], r["autospec"], r["speculative"]
        print(f"{tname:<14} {n_steps:>5} {d:>3} | {e['rounds_mean']:>6.0f} | "
              f"{a['rounds_mean']:>9.1f} {e['rounds_mean'] / a['rounds_mean']:>5.2f} "
              f"{a['rounds_median']:>6.0f} {a['rounds_p99']:>6.0f} "
              f"{a['rounds_max']:>6.0f}{'*' if a['max_above_euler'] else ' '} "
              f"{a['queries_mean']:>8.0f} | {s['rounds_mean']:>8.1f} "
              f"{e['rounds_mean'] / s['rounds_mean']:>5.2f} "
              f"{s['rounds_max']:>6.0f}{'*' if s['max_above_euler'] else ' '} "
              f"{s['queries_mean']:>8.0f}", flush=True)

    for tname, target in tg.items():
        record["vs_steps"][tname] = {}
        for n_steps in n_list:
            # the autospeculative sampler's wall time grows ~ N: fewer samples at large N
            num_auto = max(16, min(num, auto_budget * 1024 // n_steps))
            r = run_one(target, grid(n_steps, args.T), args.window, num, num_auto, args.seed)
            record["vs_steps"][tname][str(n_steps)] = r
            show(tname, n_steps, target.dim, r)
        rows = record["vs_steps"][tname]
        record["exponents"][tname] = {
            k: fit_power_law(n_list, [rows[str(n)][k]["rounds_mean"] for n in n_list]).gamma
            for k in ("euler", "autospec", "speculative")
        }
    for d in d_list:
        target = two_modes(d)
        r = run_one(target, grid(d_steps, args.T), args.window, num,
                    max(8, min(num, auto_budget * 1024 // d_steps)), args.seed + d)
        record["vs_dim"][str(d)] = r
        show(f"two-modes-{d}d", d_steps, d, r)
    for n_steps in ksd_n:
        target = tg["mixture-2d"]
        smp = EulerLocalizationSampler(target, grid(n_steps, args.T))
        res = check_stein_discrepancy(smp, target, num_samples=400, rng=args.seed, alpha=0.01)
        record["ksd_bias"][str(n_steps)] = {"ksd2": res.statistic, "pvalue": res.pvalue}
    print("\nfitted exponents rounds ~ c N^gamma:")
    for tname, ex in record["exponents"].items():
        print(f"  {tname:<14} " + "  ".join(f"{k}={v:.2f}" for k, v in ex.items()))
    print("\nKSD^2 of the Euler chain output vs the target (mixture-2d), discretisation bias:")
    for n_steps, v in record["ksd_bias"].items():
        print(f"  N={n_steps:>5}: KSD^2={v['ksd2']:.4f} (wild-bootstrap p={v['pvalue']:.3g})")
    record["wall_seconds"] = time.perf_counter() - t_start
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "diffusion.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, args.out / "diffusion.json")
    plot(record, n_list, d_list, args.out / "diffusion_rounds.png")
    print(f"\nwrote {args.out / 'diffusion.json'} and diffusion_rounds.png "
          f"in {record['wall_seconds']:.0f} s")
    return 0


def plot(record: dict, n_list: list[int], d_list: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"euler": "-", "autospec": "--", "speculative": ":"}
    for i, (tname, rows) in enumerate(record["vs_steps"].items()):
        for k, ls in styles.items():
            if k == "euler" and i:
                continue  # N + 1 for every target
            axes[0].loglog(n_list, [rows[str(n)][k]["rounds_mean"] for n in n_list], ls,
                           color="k" if k == "euler" else f"C{i}", marker="o", ms=3,
                           label="euler (N + 1)" if k == "euler" else f"{k} / {tname}")
    axes[0].set_xlabel("steps N")
    axes[0].set_ylabel("mean rounds per sample")
    axes[0].set_title("rounds vs N")
    axes[0].legend(fontsize=6)
    for k, ls in styles.items():
        axes[1].semilogx(d_list, [record["vs_dim"][str(d)][k]["rounds_mean"] for d in d_list], ls,
                         marker="o", label=k, base=2)
    axes[1].set_xlabel("dimension (two modes)")
    axes[1].set_ylabel("mean rounds per sample")
    axes[1].set_title("rounds vs dimension")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
