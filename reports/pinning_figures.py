"""PNG figures of the pinning-lemma quantities (issue 4 item 4).

Each function takes result objects of :mod:`verify.pinning` and an output path,
draws with the Agg backend and writes the file atomically (temporary file in the
same directory, then :func:`os.replace`) with the usual permissions (``0o666`` less
the umask, as :func:`open` would give; see :func:`reports.io.write_file_atomic`). Each returns
the path written. Axes that count something (recursion levels, pinned coordinates,
rounds) have integer ticks.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from distributions.errors import ReportError  # noqa: E402
from reports.io import write_file_atomic  # noqa: E402
from verify.pinning import (  # noqa: E402
    BlockTVGrid,
    EntropyProfileResult,
    RoundBoundResult,
    TreeTVResult,
)

__all__ = [
    "plot_entropy_profile",
    "plot_block_tv",
    "plot_level_sums",
    "plot_rounds_vs_tv",
    "save_figure",
]


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and close it."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        plt.close(fig)
        raise ReportError(f"`path` must end in .png; got {str(out)!r}.")
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return write_file_atomic(out, buf.getvalue())


def _check(obj: object, cls: type, name: str) -> None:
    if not isinstance(obj, cls):
        raise ReportError(f"`{name}` must be a {cls.__name__}; got {type(obj).__name__}.")


def plot_entropy_profile(
    profile: EntropyProfileResult, path: str | os.PathLike[str], *, label: str = ""
) -> Path:
    """``h_t`` against ``t`` (with its 95% band when estimated) and ``log q``."""
    _check(profile, EntropyProfileResult, "profile")
    t = np.arange(profile.n)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t, profile.value, marker="." if profile.n <= 64 else None, label="h_t")
    if not profile.exact:
        ax.fill_between(t, profile.interval[0], profile.interval[1], alpha=0.3, label="95% CI")
    ax.axhline(math.log(profile.q), color="grey", ls="--", lw=1, label="log q")
    ax.set_xlabel("t (pinned coordinates)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("h_t (nats)")
    ax.set_title(f"Entropy profile {label} (n={profile.n}, q={profile.q})".replace("  ", " "))
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_block_tv(grid: BlockTVGrid, path: str | os.PathLike[str], *, label: str = "") -> Path:
    """``E TV(mu_S, nu_S)`` against ``|S| / sqrt(n)``, one line per prefix length."""
    _check(grid, BlockTVGrid, "grid")
    x = grid.sizes / math.sqrt(grid.n)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, a in enumerate(grid.prefix_lengths):
        ok = np.isfinite(grid.value[i])
        if not ok.any():
            continue
        lo = grid.value[i] - grid.interval[0][i]
        hi = grid.interval[1][i] - grid.value[i]
        ax.errorbar(x[ok], grid.value[i][ok], yerr=[lo[ok], hi[ok]], marker="o", ms=3,
                    capsize=2, label=f"a = {int(a)}")
    ax.set_xscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:.2g}" for v in x])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("|S| / sqrt(n)")
    ax.set_ylabel("E TV(mu_S, nu_S)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Block TV {label} (n={grid.n})".replace("  ", " "))
    ax.legend(fontsize=8, title="prefix length")
    return save_figure(fig, path)


def plot_level_sums(tree: TreeTVResult, path: str | os.PathLike[str], *, label: str = "") -> Path:
    """Per-level sums of ``E TV`` with intervals against ``sqrt(n log q / 2)``."""
    _check(tree, TreeTVResult, "tree")
    d = np.arange(tree.level_sums.size)
    fig, ax = plt.subplots(figsize=(6, 4))
    yerr = [
        tree.level_sums - tree.level_intervals[:, 0],
        tree.level_intervals[:, 1] - tree.level_sums,
    ]
    ax.errorbar(d, tree.level_sums, yerr=yerr, marker="o", capsize=3,
                label="sum over level of E TV")
    ax.axhline(tree.level_bound, color="red", ls="--", label="sqrt(n log q / 2)")
    ax.set_xlabel("recursion level")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("sum of E TV(mu_S, nu_S)")
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"Per-level TV {label} (n={tree.n}; tree {tree.value:.3g} <= {tree.tree_bound:.3g})"
        .replace("  ", " ")
    )
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_rounds_vs_tv(
    result: RoundBoundResult, path: str | os.PathLike[str], *, label: str = ""
) -> Path:
    """Per-sample rounds against per-sample ``sum TV`` along the sampler's recursion."""
    _check(result, RoundBoundResult, "result")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(result.sum_tv, result.rounds, s=8, alpha=0.5, label="samples")
    xs = np.linspace(0.0, max(float(result.sum_tv.max(initial=0.0)), 1e-9), 50)
    ax.plot(xs, result.intercept + result.slope * xs, color="C1",
            label=f"fit {result.intercept:.3g} + {result.slope:.3g} sumTV")
    ax.plot(xs, result.value * (1 + xs) * max(math.log2(result.n), 1.0), color="C2", ls="--",
            label=f"c (1 + sumTV) log2 n, c = {result.value:.3g}")
    ax.set_xlabel("sum over visited blocks of TV(mu_S, nu_S)")
    ax.set_ylabel("rounds")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    flag = " FLAGGED" if result.flagged else ""
    ax.set_title(f"Rounds vs sum TV {label} (n={result.n}){flag}".replace("  ", " "))
    ax.legend(fontsize=8)
    return save_figure(fig, path)
