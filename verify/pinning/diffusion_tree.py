"""The diffusion analogue of the sum-TV round bound (issue 16 item 4).

The autospeculative diffusion sampler recurses over the fixed binary tree of time
intervals ``(a, b)`` (``mid = a + (b - a) // 2``, as the sampler splits). A call
``SAMPLE(a, b, x_a)`` proposes the frozen-drift path ``nu_S`` (drift
``m_a = f(t_a, x_a)`` on every step) for the Euler chain's segment ``mu_S`` and
accepts with probability ``1 - TV(mu_S, nu_S)`` given ``x_a``. By the discrete
Girsanov formula, under ``mu_S``

    log(mu_S / nu_S) = sum_k <f_k - m_a, dx_k> - h_k (|f_k|^2 - |m_a|^2) / 2,
    KL(mu_S || nu_S | x_a) = (1/2) sum_{k=a}^{b-1} h_k E[|f(t_k, x_k) - m_a|^2 | x_a],

the accumulated expected squared drift change along the block (for the exact
process, ``E|f_k - f_a|^2 = v(t_a) - v(t_k)`` with ``v(t) = E tr Cov(Y | x_t)``:
the ``E tr Cov`` budget). This plays the part of ``sum TV(mu_S, nu_S)`` of the
discrete pinning lemma (:mod:`verify.pinning`).

:func:`diffusion_tree_budget` draws Euler paths (exact draws of ``mu``) and, for
every node of the tree with ``b - a >= 2``, estimates from the same paths (no
further oracle call)

- ``KL`` (mean of ``(1/2) sum h_k |f_k - f_a|^2``),
- ``TV = E_mu[(1 - exp(-log(mu_S / nu_S)))_+]`` (unbiased),
- the Pinsker bound ``min(1, sqrt(KL / 2))``,

streaming over the steps (memory ``O(paths * dim * depth)``), and sums them over
the tree and per depth, with 95% Student-t intervals over the paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from distributions.base import DiffusionOracle
from distributions.validation import check_int
from samplers.diffusion import EulerLocalizationSampler, LocalizationGrid
from verify.pinning.inputs import SeedLike, _seed_of
from verify.pinning.numerics import _mean_ci
from verify.results import to_plain

__all__ = ["DiffusionTreeBudget", "diffusion_tree_budget", "tree_nodes"]


def tree_nodes(num_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``(a, b, depth)`` of the sampler's tree over ``num_steps`` steps
    (pre-order, leaves of length 1 included).

    Examples
    --------
    >>> a, b, dep = tree_nodes(3)
    >>> list(zip(a.tolist(), b.tolist(), dep.tolist()))
    [(0, 3, 0), (0, 1, 1), (1, 3, 1), (1, 2, 2), (2, 3, 2)]
    """
    n = check_int("num_steps", num_steps, low=1)
    out: list[tuple[int, int, int]] = []
    stack = [(0, n, 0)]
    while stack:
        a, b, dep = stack.pop()
        out.append((a, b, dep))
        if b - a > 1:
            mid = a + (b - a) // 2
            stack.append((mid, b, dep + 1))
            stack.append((a, mid, dep + 1))
    arr = np.array(out, dtype=np.int64)
    return arr[:, 0], arr[:, 1], arr[:, 2]


@dataclass(frozen=True, kw_only=True)
class DiffusionTreeBudget:
    """Per-node and summed ``KL`` / ``TV`` of the frozen-drift speculation.

    Attributes
    ----------
    num_steps, num_paths : int
    a, b, depth : ndarray of int, shape (K,)
        The nodes with ``b - a >= 2`` (leaves always accept).
    kl, tv, tv_se, pinsker : ndarray, shape (K,)
        Mean KL, mean TV and its standard error, ``min(1, sqrt(kl / 2))``.
    sum_kl, sum_tv, sum_pinsker : float
    sum_kl_interval, sum_tv_interval : tuple of float
        95% Student-t intervals over the paths.
    level_tv, level_kl : ndarray, shape (depth + 1,)
        Sums per depth (root = 0).
    seed : int or None
    """

    num_steps: int
    num_paths: int
    a: np.ndarray
    b: np.ndarray
    depth: np.ndarray
    kl: np.ndarray
    tv: np.ndarray
    tv_se: np.ndarray
    pinsker: np.ndarray
    sum_kl: float
    sum_tv: float
    sum_pinsker: float
    sum_kl_interval: tuple[float, float]
    sum_tv_interval: tuple[float, float]
    level_tv: np.ndarray
    level_kl: np.ndarray
    seed: int | None

    def rounds_constant(self, mean_rounds: float) -> float:
        """``c`` of ``E[rounds] = c (1 + sum TV) log2(N + 1)`` (the discrete bound's form)."""
        return float(mean_rounds) / ((1.0 + self.sum_tv) * math.log2(self.num_steps + 1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field."""
        return to_plain(self)


def diffusion_tree_budget(
    oracle: DiffusionOracle, grid: Any, *, num_paths: int, rng: SeedLike = None
) -> DiffusionTreeBudget:
    """Estimate ``KL`` and ``TV`` of every speculated block of the recursion tree.

    Parameters
    ----------
    oracle : DiffusionOracle
    grid : LocalizationGrid or array_like of times
    num_paths : int
        Euler paths drawn (``>= 2``); each costs ``N`` oracle rows.
    rng : seed or Generator, optional

    Returns
    -------
    DiffusionTreeBudget
    """
    num = check_int("num_paths", num_paths, low=2)
    euler = EulerLocalizationSampler(oracle, grid)  # validates oracle and grid
    g: LocalizationGrid = euler.grid
    n_steps = g.num_steps
    gen = np.random.default_rng(rng)
    a_all, b_all, dep_all = tree_nodes(n_steps)
    keep = (b_all - a_all) >= 2
    a_n, b_n, dep_n = a_all[keep], b_all[keep], dep_all[keep]
    k_nodes = a_n.shape[0]
    opening: dict[int, list[int]] = {}
    for i, a in enumerate(a_n.tolist()):
        opening.setdefault(a, []).append(i)
    closing: dict[int, list[int]] = {}
    for i, b in enumerate(b_n.tolist()):
        closing.setdefault(b - 1, []).append(i)
    kl_path = np.zeros((k_nodes, num))
    tv_path = np.zeros((k_nodes, num))
    open_nodes: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    x = np.zeros((num, euler.dim))
    for k in range(n_steps):
        f = euler.oracle(np.full(num, g.times[k]), x)
        h = float(g.steps[k])
        dx = h * f + math.sqrt(h) * gen.standard_normal(x.shape)
        fsq = (f * f).sum(axis=1)
        for i in opening.get(k, []):
            open_nodes[i] = (f.copy(), fsq.copy(), np.zeros(num), np.zeros(num))
        for fa, fasq, s1, lr in open_nodes.values():
            diff = f - fa
            s1 += h * (diff * diff).sum(axis=1)
            lr += (diff * dx).sum(axis=1) - 0.5 * h * (fsq - fasq)
        for i in closing.get(k, []):
            _, _, s1, lr = open_nodes.pop(i)
            kl_path[i] = 0.5 * s1
            tv_path[i] = np.maximum(0.0, -np.expm1(-lr))
        x = x + dx
    kl = kl_path.mean(axis=1)
    tv = tv_path.mean(axis=1)
    tv_se = tv_path.std(axis=1, ddof=1) / math.sqrt(num)
    pinsker = np.minimum(1.0, np.sqrt(kl / 2.0))
    levels = int(dep_n.max()) + 1 if k_nodes else 0
    level_tv = np.bincount(dep_n, weights=tv, minlength=levels)
    level_kl = np.bincount(dep_n, weights=kl, minlength=levels)
    tot_tv = tv_path.sum(axis=0)
    tot_kl = kl_path.sum(axis=0)
    _, tv_lo, tv_hi = _mean_ci(tot_tv)
    _, kl_lo, kl_hi = _mean_ci(tot_kl)
    return DiffusionTreeBudget(
        num_steps=n_steps, num_paths=num, a=a_n, b=b_n, depth=dep_n, kl=kl, tv=tv,
        tv_se=tv_se, pinsker=pinsker, sum_kl=float(tot_kl.mean()),
        sum_tv=float(tot_tv.mean()), sum_pinsker=float(pinsker.sum()),
        sum_kl_interval=(float(kl_lo), float(kl_hi)),
        sum_tv_interval=(float(tv_lo), float(tv_hi)), level_tv=level_tv, level_kl=level_kl,
        seed=_seed_of(rng),
    )
