"""Exact pinning quantities over all ``n!`` orders, from subset marginals.

``TV(mu_S, nu_S)`` and ``KL(mu_S || nu_S)`` depend on the order only through the
sets ``P`` (prefix) and ``S`` (block), so the average over all orders is an average
over uniformly random pairs of disjoint sets, computed exactly from the marginals
of the table on subsets of coordinates. Every subset marginal is computed once
(from a marginal one coordinate larger) and cached; ``h_t = Hbar_{t+1} - Hbar_t``
with ``Hbar_k`` the mean joint entropy of the ``k``-subsets.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from distributions.base import DiscreteOracle
from verify.pinning.numerics import _xlogx_sum

#: Method string of every exact result.
_EXACT = "exact: all n! orders via set symmetry (subset marginals), exact over x"


def _pairs_tv_kl_sum(J: np.ndarray, s: int) -> tuple[float, float]:
    """Sum over a stack of ``E_{x_P} TV`` and ``E_{x_P} KL`` from joints of ``(x_P, x_S)``.

    ``J`` has shape ``(C, QP) + (q,)*s``: ``C`` set pairs, rows are prefix values.
    """
    if s <= 1:
        return 0.0, 0.0
    C, QP = J.shape[:2]
    mu_p = J.reshape(C, QP, -1).sum(axis=2)
    safe = np.where(mu_p > 0, mu_p, 1.0)
    nu = mu_p.reshape((C, QP) + (1,) * s)
    axes = tuple(range(2, s + 2))
    for k in range(s):
        others = tuple(ax for ax in axes if ax != k + 2)
        m_k = J.sum(axis=others) / safe[..., None]  # (C, QP, q): mu(x_i | x_P)
        shape = [C, QP] + [1] * s
        shape[k + 2] = J.shape[k + 2]
        nu = nu * m_k.reshape(shape)
    tv = 0.5 * float(np.abs(J - nu).sum())
    pos = J > 0
    kl = float((J[pos] * (np.log(J[pos]) - np.log(nu[pos]))).sum())
    return tv, max(kl, 0.0)


def _pair_tv_kl(joint: np.ndarray, s: int) -> tuple[float, float]:
    """``E_{x_P} TV`` and ``E_{x_P} KL`` from one joint of shape ``(QP,) + (q,)*s``."""
    return _pairs_tv_kl_sum(joint[None], s)


class _Subsets:
    """Cached marginals and entropies of every subset of coordinates (bit masks)."""

    def __init__(self, table: np.ndarray) -> None:
        self.n = table.ndim
        self.q = table.shape[0]
        self.full = (1 << self.n) - 1
        self._marg: dict[int, np.ndarray] = {self.full: table}
        self._ent: dict[int, float] = {}
        self.blocks: dict[tuple[int, int], tuple[float, float]] = {}

    def marginal(self, mask: int) -> np.ndarray:
        """Marginal on ``mask``; axes are the coordinates in increasing order."""
        hit = self._marg.get(mask)
        if hit is not None:
            return hit
        missing = self.full & ~mask
        i = (missing & -missing).bit_length() - 1  # lowest missing coordinate
        sup = mask | (1 << i)
        axis = bin(sup & ((1 << i) - 1)).count("1")
        out = self.marginal(sup).sum(axis=axis)
        self._marg[mask] = out
        return out

    def entropy(self, mask: int) -> float:
        hit = self._ent.get(mask)
        if hit is None:
            hit = _xlogx_sum(self.marginal(mask)) if mask else 0.0
            self._ent[mask] = hit
        return hit

    def joint(self, first: Sequence[int], second: Sequence[int]) -> np.ndarray:
        """Joint of ``(X_first, X_second)`` shaped ``(q**len(first),) + (q,)*len(second)``."""
        coords = sorted(first) + sorted(second)
        mask = 0
        for c in coords:
            mask |= 1 << c
        marg = self.marginal(mask)
        kept = sorted(coords)
        arr = np.transpose(marg, [kept.index(c) for c in coords])
        return arr.reshape((self.q ** len(first),) + (self.q,) * len(second))


_SUBSET_CACHE: dict[int, tuple[DiscreteOracle, _Subsets]] = {}


def _subsets_for(target: DiscreteOracle, table: np.ndarray) -> _Subsets:
    """One subset cache per live target object (the last few are kept)."""
    key = id(target)
    hit = _SUBSET_CACHE.get(key)
    if hit is not None and hit[0] is target:
        return hit[1]
    sub = _Subsets(table)
    if len(_SUBSET_CACHE) >= 2:
        _SUBSET_CACHE.pop(next(iter(_SUBSET_CACHE)))
    _SUBSET_CACHE[key] = (target, sub)
    return sub


def _masks_of_size(n: int, k: int) -> list[int]:
    return [sum(1 << c for c in comb) for comb in itertools.combinations(range(n), k)]


def _exact_profile(sub: _Subsets) -> np.ndarray:
    n = sub.n
    hbar = np.array([np.mean([sub.entropy(m) for m in _masks_of_size(n, k)]) for k in range(n + 1)])
    return np.diff(hbar)


def _exact_block(sub: _Subsets, a: int, b: int) -> tuple[float, float]:
    """Exact ``(E TV, E KL)`` of block ``(a, b)``: mean over disjoint set pairs."""
    n = sub.n
    if b - a <= 1:
        return 0.0, 0.0
    hit = sub.blocks.get((a, b))
    if hit is not None:
        return hit
    q = sub.q
    splits = [list(P) + [c for c in range(b) if c not in P]
              for P in itertools.combinations(range(b), a)]
    shape = (q**a,) + (q,) * (b - a)
    step = max(1, (1 << 22) // q**b)
    tv_sum = kl_sum = 0.0
    count = 0
    for U in itertools.combinations(range(n), b):
        marg = sub.marginal(sum(1 << c for c in U))  # axes: U in increasing order
        for i in range(0, len(splits), step):
            J = np.stack([np.transpose(marg, perm).reshape(shape) for perm in splits[i : i + step]])
            tv, kl = _pairs_tv_kl_sum(J, b - a)
            tv_sum += tv
            kl_sum += kl
            count += J.shape[0]
    sub.blocks[(a, b)] = (tv_sum / count, kl_sum / count)
    return sub.blocks[(a, b)]


def _exact_cmi(sub: _Subsets, t: int) -> float:
    """Average of ``I(X_i; X_j | X_P)`` over ``|P| = t`` and pairs ``i < j`` outside P."""
    n = sub.n
    total = 0.0
    count = 0
    for P in itertools.combinations(range(n), t):
        rest = [c for c in range(n) if c not in P]
        for i, j in itertools.combinations(rest, 2):
            joint = sub.joint(P, [i, j])  # (QP, q, q)
            p_p = joint.sum(axis=(1, 2))[:, None, None]
            p_i = joint.sum(axis=2)[:, :, None]
            p_j = joint.sum(axis=1)[:, None, :]
            pos = joint > 0
            num = joint * p_p
            den = p_i * p_j
            total += float((joint[pos] * (np.log(num[pos]) - np.log(den[pos]))).sum())
            count += 1
    return total / count


