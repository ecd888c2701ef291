"""``autospeculation pinning --family NAME --n N [--out DIR] [--seed S]`` (issue 4 item 5).

Prints the entropy profile summary, the per-level sums of ``E TV(mu_S, nu_S)``
against ``sqrt(n log q / 2)``, the whole-tree sum against
``ceil(log2 n) sqrt(n log q / 2)``, and (unless ``--samples 0``) the
autospeculative sampler's rounds against ``sum TV`` along its own recursion, and
writes :data:`OUTPUT_FILES` (four PNG figures and ``pinning.json``; file modes follow
the umask) into ``--out`` (default ``./pinning-out``). Every argument and the output
location are checked before any work (``--n`` against the memory cap of
:data:`verify.sampling.MAX_SAMPLE_ENTRIES` floats over ``max(orders, samples)`` rows of
``n``). Exit code 0 when every check passes, 1
otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from distributions.errors import ParameterError
from distributions.validation import check_int
from reports import pinning_figures as F
from reports import pinning_run
from reports.cli.console import Console, SubParsers
from reports.cli.inputs import check_output_location, check_seed
from reports.io import write_file_atomic
from reports.schema import jsonable
from samplers.catalogue import PINNING_FAMILIES
from verify.pinning import DEFAULT_ORDERS
from verify.sampling import MAX_SAMPLE_ENTRIES, check_memory

__all__ = ["OUTPUT_FILES", "add_parser", "check_args", "run"]


#: Files ``pinning`` writes into ``--out``.
OUTPUT_FILES: tuple[str, ...] = (
    "pinning.json",
    "pinning_entropy_profile.png",
    "pinning_block_tv.png",
    "pinning_level_sums.png",
    "pinning_rounds_vs_tv.png",
)

def add_parser(subparsers: SubParsers) -> argparse.ArgumentParser:
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
    p.add_argument("--family", required=True, choices=list(PINNING_FAMILIES),
                   help="target family")
    p.add_argument("--n", type=int, required=True,
                   help="sequence length, an integer >= 2 (<= 20 for random-table; at most "
                   "2**30 / max(orders, samples), the memory cap)")
    p.add_argument("--out", metavar="DIR", default="pinning-out",
                   help="directory for the four PNG figures and pinning.json "
                   "(default: ./%(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="root seed, an integer >= 0 (default: %(default)s)")
    p.add_argument("--orders", type=int, default=None,
                   help="random orders / Monte Carlo draws, an integer >= 2 (default: exact "
                   f"when the target has a table and n <= 8, else {DEFAULT_ORDERS})")
    p.add_argument("--samples", type=int, default=100,
                   help="sampler runs for the round bound, 0 (skip it) or an integer >= 2 "
                   "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no table and no list of files")
    p.set_defaults(func=run)
    return p


def _fmt_ci(v: float, lo: float, hi: float) -> str:
    return f"{v:.4f}" if lo == hi else f"{v:.4f} [{lo:.4f}, {hi:.4f}]"


def _table_text(name: str, res: dict[str, Any]) -> str:
    prof, tree, rb = res["profile"], res["tree"], res["round_bound"]
    lines = [f"pinning: {PINNING_FAMILIES[name].description}, n = {tree.n}, q = {tree.q}",
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
            f"  mean rounds {_fmt_ci(rb.mean_rounds, *rb.rounds_interval)}; median "
            f"{float(np.median(rb.rounds)):.4g}, p99 {float(np.percentile(rb.rounds, 99)):.4g}, "
            f"max {float(np.max(rb.rounds)):.4g}"
            + (f" (above the sequential sampler's n = {rb.n})" if np.max(rb.rounds) > rb.n
               else ""),
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


def check_args(args: argparse.Namespace) -> tuple[int, int | None, int]:
    """Every ``pinning`` argument and the output location, before any work.

    Returns ``(seed, orders, samples)``; raises :class:`ParameterError`.
    """
    if args.family not in PINNING_FAMILIES:
        raise ParameterError(f"`--family` must be one of {', '.join(PINNING_FAMILIES)}; "
                             f"got {args.family!r}.")
    n = check_int("--n", args.n, low=2, high=PINNING_FAMILIES[args.family].max_n)
    seed = check_seed("--seed", args.seed)
    orders = None if args.orders is None else check_int("--orders", args.orders, low=2)
    samples = check_int("--samples", args.samples, low=0)
    if samples == 1:
        raise ParameterError("`--samples` must be 0 (skip) or an integer >= 2; got 1.")
    # the library's memory rule (verify.sampling.check_memory) on the run's largest
    # arrays: the sampled orders' (or Monte Carlo draws') per-position values and the
    # sampler runs' samples, `rows x n` floats
    rows = max(DEFAULT_ORDERS if orders is None else orders, samples)
    check_memory(rows, n, "the pinning run", rows="rows (random orders or sampler runs)",
                 advice=f"use `--n` <= {MAX_SAMPLE_ENTRIES // rows:,} (or fewer `--orders` "
                 f"/ `--samples`); got `--n` {n:,}")
    check_output_location("--out", args.out)
    return seed, orders, samples


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the ``pinning`` subcommand; returns 0 when every check passes, else 1."""
    seed, orders, samples = check_args(args)
    res = pinning_run.compute(args.family, args.n, seed=seed, orders=orders, samples=samples)
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
    text = json.dumps(jsonable(payload), indent=1, allow_nan=False) + "\n"
    write_file_atomic(out / "pinning.json", text.encode())
    passed = all(c.passed for c in res["checks"])
    rb = res["round_bound"]
    passed = passed and (rb is None or not rb.flagged)
    console.say(_table_text(args.family, res))
    console.say("")
    for f in [*files, out / "pinning.json"]:
        console.say(f"wrote {f}")
    return 0 if passed else 1
