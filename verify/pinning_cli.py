"""``autospeculation pinning --family NAME --n N [--out DIR] [--seed S]`` (issue 4 item 5).

Prints the entropy profile summary, the per-level sums of ``E TV(mu_S, nu_S)``
against ``sqrt(n log q / 2)``, the whole-tree sum against
``ceil(log2 n) sqrt(n log q / 2)``, and (unless ``--samples 0``) the
autospeculative sampler's rounds against ``sum TV`` along its own recursion, and
writes :data:`OUTPUT_FILES` (four PNG figures and ``pinning.json``; file modes follow
the umask) into ``--out`` (default ``./pinning-out``). Every argument and the output
location are checked before any work. Exit code 0 when every check passes, 1
otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distributions._validation import check_int
from distributions.errors import ParameterError
from verify import pinning as P

__all__ = ["FAMILIES", "make_family", "add_pinning_parser", "run_pinning"]


def _mixture(k: int) -> Callable[[int], Any]:
    def make(n: int) -> Any:
        from distributions.scalable import MixtureOfProducts

        if k == 2:  # the benchmark mixture of issue 7: 0.7 / 0.3
            p1 = np.array([0.7, 0.3])
            probs = np.stack([np.tile(p1, (n, 1)), np.tile(p1[::-1], (n, 1))])
        else:  # fixed (seed 8) per-coordinate success probabilities in [0.1, 0.9]
            p = np.random.default_rng(8).uniform(0.1, 0.9, (k, n))
            probs = np.stack([1 - p, p], axis=2)
        return MixtureOfProducts(np.full(k, 1.0 / k), probs)

    return make


def _cw(beta: float) -> Callable[[int], Any]:
    def make(n: int) -> Any:
        from distributions.scalable import CurieWeiss

        return CurieWeiss(n, beta)

    return make


def _chain(n: int) -> Any:
    from distributions.scalable import IsingChain

    return IsingChain(n, 2.0)


def _product(n: int) -> Any:
    from distributions.scalable import Product

    return Product(np.tile([0.3, 0.7], (n, 1)))


def _table(n: int) -> Any:
    from distributions.families import random_table

    return random_table(n, 2, concentration=0.5, rng=0)


#: Files ``pinning`` writes into ``--out``.
OUTPUT_FILES: tuple[str, ...] = (
    "pinning.json",
    "pinning_entropy_profile.png",
    "pinning_block_tv.png",
    "pinning_level_sums.png",
    "pinning_rounds_vs_tv.png",
)

#: Benchmark families (issue 7 item 5) and two small controls.
FAMILIES: dict[str, tuple[str, Callable[[int], Any]]] = {
    "mixture2": ("MixtureOfProducts, 2 components (0.7/0.3)", _mixture(2)),
    "mixture8": ("MixtureOfProducts, 8 components (random probs, seed 8)", _mixture(8)),
    "curie-weiss-0.5": ("CurieWeiss beta = 0.5", _cw(0.5)),
    "curie-weiss-1.0": ("CurieWeiss beta = 1.0 (critical)", _cw(1.0)),
    "ising-chain-2": ("IsingChain coupling 2", _chain),
    "product": ("Product (0.3/0.7): all TV = 0", _product),
    "random-table": ("random_table(n, 2, concentration 0.5, seed 0); n <= 20", _table),
}


def make_family(name: str, n: int) -> Any:
    """The target ``name`` of :data:`FAMILIES` at length ``n``."""
    if name not in FAMILIES:
        raise ParameterError(f"`family` must be one of {', '.join(FAMILIES)}; got {name!r}.")
    n = check_int("n", n, low=2, high=20 if name == "random-table" else None)
    return FAMILIES[name][1](n)


def add_pinning_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``pinning`` subcommand on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "pinning",
        help="pinning-lemma TV tables and the sum-TV round bound; writes files into --out",
        description="Entropy profile h_t, per-level sums of E TV(mu_S, nu_S) against "
        "sqrt(n log q / 2), and the autospeculative sampler's rounds against sum TV "
        "along its own recursion. Prints the tables and writes into --out (default "
        "./pinning-out, created if missing; existing files of these names are replaced; "
        f"file modes follow the umask): {', '.join(OUTPUT_FILES)} (the last figure only "
        "when --samples > 0).",
    )
    p.add_argument("--family", required=True, choices=list(FAMILIES), help="target family")
    p.add_argument("--n", type=int, required=True,
                   help="sequence length, an integer >= 2 (<= 20 for random-table)")
    p.add_argument("--out", metavar="DIR", default="pinning-out",
                   help="directory for the four PNG figures and pinning.json "
                   "(default: ./%(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="root seed, an integer >= 0 (default: %(default)s)")
    p.add_argument("--orders", type=int, default=None,
                   help="random orders / Monte Carlo draws, an integer >= 2 (default: exact "
                   f"when the target has a table and n <= 8, else {P.DEFAULT_ORDERS})")
    p.add_argument("--samples", type=int, default=100,
                   help="sampler runs for the round bound, 0 (skip it) or an integer >= 2 "
                   "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no table and no list of files")
    p.set_defaults(func=run_pinning)
    return p


def _fmt_ci(v: float, lo: float, hi: float) -> str:
    return f"{v:.4f}" if lo == hi else f"{v:.4f} [{lo:.4f}, {hi:.4f}]"


def _grid_sizes(n: int) -> list[int]:
    sizes = sorted({max(2, int(round(f * math.sqrt(n)))) for f in (0.125, 0.25, 0.5, 1, 2, 4, 8)})
    return [s for s in sizes if s <= n] or [n]


def compute(name: str, n: int, *, seed: int, orders: int | None, samples: int) -> dict[str, Any]:
    """All results of one ``pinning`` run (used by :func:`run_pinning`)."""
    target = make_family(name, n)
    gen = np.random.default_rng(seed)
    # exact over all orders is quick up to n = 8; beyond, sample orders
    table_ok = (P._table_of(target) is not None and P._exact_ok(target.n, target.q)
                and target.n <= 8)
    use = orders if orders is not None else (None if table_ok else P.DEFAULT_ORDERS)
    prof = P.entropy_profile(target, orders=use, rng=gen)
    tree = P.tree_tv(target, orders=use, rng=gen)
    prefixes = sorted({0, n // 4, n // 2})
    grid = P.block_tv_grid(target, prefix_lengths=prefixes, sizes=_grid_sizes(n),
                           orders=use if use is None else max(16, use // 2), rng=gen)
    checks = [P.check_entropy_monotone(prof), P.check_entropy_sum(prof),
              P.check_level_bounds(tree), P.check_tree_bound(tree)]
    rb = None
    if samples:
        from samplers.autospec import AutospeculativeSampler

        rb = P.check_round_bound(AutospeculativeSampler(target, trace=True), target,
                                 num_samples=samples, rng=gen)
    return {"target": target, "profile": prof, "tree": tree, "grid": grid,
            "checks": checks, "round_bound": rb}


def _table_text(name: str, res: dict[str, Any]) -> str:
    prof, tree, rb = res["profile"], res["tree"], res["round_bound"]
    lines = [f"pinning: {FAMILIES[name][0]}, n = {tree.n}, q = {tree.q}",
             f"method: {tree.method}", ""]
    h = prof.value
    lines.append(f"h_0 = {h[0]:.4f}, h_(n/2) = {h[len(h) // 2]:.4f}, h_(n-1) = {h[-1]:.4f}, "
                 f"log q = {math.log(prof.q):.4f}")
    lines.append("")
    lines.append(f"{'level':>5} {'blocks':>6} {'sum E TV':>32} {'bound':>9} {'ok':>3}")
    for d, (v, (lo, hi), nb, ok) in enumerate(
        zip(tree.level_sums, tree.level_intervals, tree.level_blocks, tree.level_passed,
            strict=True)
    ):
        lines.append(f"{d:>5} {nb:>6} {_fmt_ci(v, lo, hi):>32} {tree.level_bound:>9.4f} "
                     f"{'yes' if ok else 'NO':>3}")
    lines.append(f"{'tree':>5} {int(tree.level_blocks.sum()):>6} "
                 f"{_fmt_ci(tree.value, *tree.interval):>32} {tree.tree_bound:>9.4f} "
                 f"{'yes' if tree.passed else 'NO':>3}")
    if rb is not None:
        lines += [
            "",
            f"round bound ({rb.num_samples} samples of AutospeculativeSampler):",
            f"  mean rounds {_fmt_ci(rb.mean_rounds, *rb.rounds_interval)}",
            f"  mean sum TV over visited blocks {_fmt_ci(rb.mean_sum_tv, *rb.sum_tv_interval)}; "
            f"mean first-stage rejections {rb.mean_rejections:.4f} "
            f"(excess p = {rb.excess_pvalue:.3g})",
            f"  c in E[rounds] = c (1 + E[sum TV]) log2 n: {_fmt_ci(rb.value, *rb.interval)}",
            f"  slope d rounds / d sumTV: {_fmt_ci(rb.slope, *rb.slope_interval)}, "
            f"intercept {rb.intercept:.3f}",
            f"  flagged: {'YES: ' + '; '.join(rb.reasons) if rb.flagged else 'no'}",
        ]
    lines.append("")
    for c in res["checks"]:
        lines.append(f"[{'pass' if c.passed else 'FAIL'}] {c.name}")
    return "\n".join(lines)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically, with the mode an ordinary ``open`` gives (the umask's)."""
    from verify.pinning_figures import write_file_atomic

    write_file_atomic(path, (json.dumps(payload, indent=1) + "\n").encode())


def check_args(args: argparse.Namespace) -> tuple[int, int | None, int]:
    """Every ``pinning`` argument and the output location, before any work.

    Returns ``(seed, orders, samples)``; raises :class:`ParameterError`.
    """
    from verify.cli import check_output_location

    if args.family not in FAMILIES:
        raise ParameterError(f"`--family` must be one of {', '.join(FAMILIES)}; "
                             f"got {args.family!r}.")
    check_int("--n", args.n, low=2, high=20 if args.family == "random-table" else None)
    seed = check_int("--seed", args.seed, low=0)
    orders = None if args.orders is None else check_int("--orders", args.orders, low=2)
    samples = check_int("--samples", args.samples, low=0)
    if samples == 1:
        raise ParameterError("`--samples` must be 0 (skip) or an integer >= 2; got 1.")
    check_output_location("--out", args.out)
    return seed, orders, samples


def run_pinning(args: argparse.Namespace) -> int:
    """Run the ``pinning`` subcommand; returns 0 when every check passes, else 1."""
    from verify import pinning_figures as F

    seed, orders, samples = check_args(args)
    res = compute(args.family, args.n, seed=seed, orders=orders, samples=samples)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    label = args.family
    files = [
        F.plot_entropy_profile(res["profile"], out / "pinning_entropy_profile.png", label=label),
        F.plot_block_tv(res["grid"], out / "pinning_block_tv.png", label=label),
        F.plot_level_sums(res["tree"], out / "pinning_level_sums.png", label=label),
    ]
    if res["round_bound"] is not None:
        files.append(F.plot_rounds_vs_tv(res["round_bound"], out / "pinning_rounds_vs_tv.png",
                                         label=label))
    payload = {
        "family": args.family, "n": args.n, "seed": seed,
        "profile": res["profile"].to_dict(), "tree": res["tree"].to_dict(),
        "grid": res["grid"].to_dict(),
        "round_bound": None if res["round_bound"] is None else res["round_bound"].to_dict(),
        "checks": [c.to_dict() for c in res["checks"]],
    }
    _write_json(out / "pinning.json", payload)
    passed = all(c.passed for c in res["checks"])
    rb = res["round_bound"]
    passed = passed and (rb is None or not rb.flagged)
    if not getattr(args, "quiet", False):
        print(_table_text(args.family, res))
        print("")
        for f in [*files, out / "pinning.json"]:
            print(f"wrote {f}")
    return 0 if passed else 1
