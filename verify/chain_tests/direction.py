"""The direction of the martingale family's directed early block (global deviations).

A global deviation (wrong mixture weights, a shifted magnetisation) moves the
conditional laws of the first revealed sites all together, each in the direction of
its loading on the target's common factor, and fades as the revealed values pin the
factor down. The geometric chi-square groups of the first 16 steps lost that sign
pattern and spread the signal over degrees of freedom; one fixed unit vector ``c``
over the first ``E`` steps' intercept scores ``W_E`` collects it in one score
``W_dir = c^T W_E``. Under the null ``W_E ~ N(0, I)`` exactly
(:mod:`verify.chain_tests.scores`) and ``c`` is fixed before the data (a function of
the reveal order and of the oracle's **exact** one- and two-site marginals only), so
``W_dir ~ N(0, 1)`` exactly: the block ``early-directed[steps 1-E]``, two-sided.

**The other ``E - 1`` directions** (:func:`reflect`): the Householder reflection
``H`` that maps ``c`` to a coordinate vector ``e_p`` (``p`` the largest ``|c_p|``)
is orthogonal, so ``H W_E`` is again exactly iid N(0, 1): coordinate ``p`` is
``+-W_dir`` and the others, independent of it, are ``W_i - c_i (v^T W_E) / (1 +
|c_p|)`` (``v = c + sign(c_p) e_p``), step ``i``'s own score up to a term of weight
``c_i``. They join the later intercept scores in ``site-max``
(:func:`~verify.chain_tests.layout.score_blocks`). This replaces the lead's first
design (a chi-square block on ``|W_E|**2 - W_dir**2``): it keeps every step's
one-site test in the Sidak maximum (a chi-square on ``E - 1`` degrees of freedom
needs about twice the noncentrality to see one site), so ``E`` can be as long as the
factor needs (all ``n`` steps for a weak common factor such as a Curie-Weiss model
at high temperature, where the signal is spread over the whole order), and the
early share of the family's level goes to ``W_dir`` whole.

**Derivation of ``c``** (``q = 2``; a target with ``q > 2`` keeps the early
groups). Let ``y`` be the indicators ``1[x = 1]`` in reveal order, with exact means
``p`` and covariances from the oracle: the first :data:`DIRECTED_ANCHORS` revealed
sites ("anchors") are each pinned to 1 once and the conditionals at every site give
``Cov(y_anchor, y_j) = p_anchor (P(y_j = 1 | y_anchor = 1) - p_j)``. Fit the
one-factor model ``Sigma = l l^T + D`` (``D`` diagonal) on the anchors' correlation
matrix (unweighted least squares on the off-diagonal entries by principal-axis
iteration, :func:`one_factor`); the other sites' loadings by weighted least squares
on their covariances with the anchors (exact when the model holds). In the Gaussian
model ``y = p + l f + e``, ``f ~ N(0, 1)``, ``e ~ N(0, D)``, the posterior of ``f``
after ``j - 1`` reveals has precision ``1 + S_{j-1}``, ``S_{j-1} = sum_{k<j} l_k**2 /
D_k``, so shifting the factor's mean by ``mu`` (the alternative) moves the step-``j``
conditional mean by ``l_j mu / (1 + S_{j-1})`` (the posterior-variance shrinkage)
for every past. A binary decision whose probability moves by ``delta`` moves its
PIT score's mean by exactly ``delta h(b)``, ``h(b) = phi(ndtri(b)) / (b (1 - b))``,
taken at the site's marginal ``b = p_j``. Hence

    ``c_j  proportional to  h(p_j) l_j / (1 + S_{j-1})``,

the mean direction of ``W_E`` under a factor shift (the most powerful direction for
a known mean direction). The share of the directed signal's square collected by
step ``E`` is about ``1 - 1 / (1 + S_E)``; ``E`` is the first step ``>= EARLY_STEPS``
with ``1 / (1 + S_E) <= SHRINK_STOP``, else ``n``. ``c`` is rounded to a grid of
``1e-9`` of its largest entry (an oracle whose answers differ in the last bit
between calls, e.g. a lazily built table, gives the same ``c``). When the target has
no common factor (every anchor's correlation with every site at most
:data:`FACTOR_TOL`: a product law) there is no direction and the family keeps the
early groups, so a product target's blocks, planner and stated power are unchanged.

The Gaussian model only chooses ``c``; exactness never depends on it. Measured
efficiency ``(c^T m)**2 / |m|**2`` against the exact mean vector ``m`` of the
intercept scores (estimated from 4,000 alternative draws along each order, 3
orders): 0.89 for MixtureOfProducts(1000) with weights 0.52 / 0.48 (the component's
posterior concentrates faster than ``1 / (1 + S)``, so the signal fades sooner than
``c`` assumes), 1.00 for CurieWeiss(1000, 0.6, 0.05) sampled at beta 0.65 (an
exchangeable target: one factor exactly). For a chain with short-range coupling one
factor is a poor summary: ``c`` then collects little, and the block is still exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from distributions.base import MASK
from samplers.oracle import CountingOracle
from verify.chain_tests.kernels import _CHUNK_ELEMS
from verify.chain_tests.layout import EARLY_STEPS

#: First revealed sites on which the one-factor model is fitted (the others' loadings
#: by regression on them).
DIRECTED_ANCHORS: int = 256
#: Shrinkage ``1 / (1 + S_E)`` at which the directed block stops.
SHRINK_STOP: float = 0.05
#: Largest off-diagonal correlation of a target treated as having no common factor.
FACTOR_TOL: float = 1e-9
_ITER, _MAX_COMMUNALITY, _GRID_DECIMALS = 200, 1.0 - 1e-6, 9


@dataclass(frozen=True)
class Direction:
    """The directed block's unit vector ``c`` over the first ``steps`` intercept scores.

    ``shrink``: ``1 / (1 + S_steps)``, the factor's posterior-variance shrinkage
    after the block (the Gaussian model's share of the directed signal left out).
    """

    c: np.ndarray
    steps: int
    shrink: float

    @property
    def pivot(self) -> int:
        """The step whose coordinate :func:`reflect` gives to the directed score."""
        return _pivot(self.c)


def _pivot(c: np.ndarray) -> int:
    """The largest ``|c_p|``: the coordinate :func:`reflect` maps ``c`` onto."""
    return int(np.argmax(np.abs(c)))


def one_factor(corr: np.ndarray) -> np.ndarray:
    """Loadings ``g`` of ``corr ~ g g^T + diag(1 - g**2)`` (principal-axis iteration).

    Each iteration is one power step on ``off + diag(g**2) + s I`` (``off`` the
    off-diagonal part, ``s`` its largest absolute row sum, so that every eigenvalue is
    ``>= 0`` and the step moves towards the top eigenvector), started from the row of
    ``off`` of largest absolute sum; a fixed number of iterations, so that answers differing
    in the last bit cannot change when it stops.
    """
    m = corr.shape[0]
    off = corr - np.diag(np.diag(corr))
    rows = np.abs(off).sum(axis=1)
    shift = float(rows.max())
    u = off[int(np.argmax(rows))].copy()  # ~ g (one entry missing) under one factor
    u[int(np.argmax(rows))] = shift / max(m - 1, 1)
    u /= np.linalg.norm(u)
    h2 = np.zeros(m)
    for _ in range(_ITER):
        mu = off @ u + h2 * u
        lam = float(u @ mu)
        h2 = np.minimum(max(lam, 0.0) * u * u, _MAX_COMMUNALITY)
        u = mu + shift * u
        u /= np.linalg.norm(u)
    return np.sqrt(max(float(u @ (off @ u + h2 * u)), 0.0)) * u


def _cross_cov(co: CountingOracle, anchors: np.ndarray, single: np.ndarray) -> np.ndarray:
    """``Cov(y_i, y_j)`` for ``i`` in ``anchors``, ``j`` over all sites, shape (K, n):
    ``p_i (P(x_j = 1 | x_i = 1) - p_j)`` from one pinned context per anchor (exact)."""
    n = co.n
    K = anchors.size
    out = np.empty((K, n))
    chunk = max(1, _CHUNK_ELEMS // (2 * n))
    for s in range(0, K, chunk):
        r = np.arange(s, min(K, s + chunk))
        ctx = np.full((r.size, n), MASK, dtype=np.int64)
        ctx[np.arange(r.size), anchors[r]] = 1
        cond = co.conditionals(ctx)[..., 1]  # (B, n); the pinned site is overwritten below
        out[r] = single[anchors[r], 1][:, None] * (cond - single[None, :, 1])
    p = single[anchors, 1]
    out[np.arange(K), anchors] = p * (1.0 - p)
    return out


def early_direction(
    co: CountingOracle, order: np.ndarray, single: np.ndarray
) -> Direction | None:
    """The directed block along ``order`` (module docstring), or ``None`` when the
    target has no common factor (or ``q > 2``)."""
    n, q = co.n, co.q
    if q != 2 or n < 2:
        return None
    anchors = np.asarray(order[: min(n, DIRECTED_ANCHORS)], dtype=np.int64)
    K = anchors.size
    p = single[order, 1]  # in reveal order
    var = p * (1.0 - p)
    live = var > 1e-12
    cross = _cross_cov(co, anchors, single)[:, order]  # (K, n), columns in reveal order
    sd = np.sqrt(np.where(live, var, 1.0))
    corr = np.where(live[:K, None] & live[None, :], cross / np.outer(sd[:K], sd), 0.0)
    block = 0.5 * (corr[:, :K] + corr[:, :K].T)
    np.fill_diagonal(block, 0.0)
    corr[:, :K] = block
    if float(np.abs(corr).max()) <= FACTOR_TOL or live[:K].sum() < 2:
        return None
    g = np.zeros(n)
    ka = np.flatnonzero(live[:K])
    g[ka] = one_factor(block[np.ix_(ka, ka)] + np.eye(ka.size))
    ga = np.minimum(g[:K] ** 2, _MAX_COMMUNALITY)
    wa = np.where(live[:K], g[:K] / (1.0 - ga), 0.0)  # g_k / (1 - g_k**2)
    den = float(wa @ g[:K])
    if not den > 0.0:
        return None
    rest = np.arange(K, n)
    g[rest] = np.where(live[rest], wa @ corr[:, rest] / den, 0.0)  # weighted regression
    g2 = np.minimum(g * g, _MAX_COMMUNALITY)
    ratio = g2 / (1.0 - g2)  # l_j**2 / D_j
    s_after = np.cumsum(ratio)
    s_before = s_after - ratio
    b = np.minimum(p, 1.0 - p)
    h = np.where(live, np.exp(-0.5 * special.ndtri(np.maximum(b, 1e-300)) ** 2)
                 / np.sqrt(2 * np.pi) / np.where(live, var, 1.0), 0.0)
    c = h * g * np.sqrt(np.where(live, var, 0.0)) / (1.0 + s_before)
    lo = min(n, EARLY_STEPS)
    stop = np.flatnonzero(1.0 / (1.0 + s_after[lo - 1 :]) <= SHRINK_STOP)
    steps = lo + int(stop[0]) if stop.size else n
    c = c[:steps]
    top = float(np.abs(c).max())
    if not top > 0.0:
        return None
    # on a grid of 1e-9 of the largest entry, normalised by an exactly rounded sum, so
    # that an oracle whose answers differ in the last bit between calls (a lazily built
    # table) gives the same ``c``, hence the same p-value for the same ``rng``
    c = np.round(c / top, _GRID_DECIMALS)
    return Direction(c / math.sqrt(math.fsum(c * c)), steps,
                     float(1.0 / (1.0 + s_after[steps - 1])))


def reflect(w: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray]:
    """``(c^T w, the other coordinates of H w)``: ``H`` the Householder reflection that
    maps ``c`` to ``+-e_p`` (``p`` the largest ``|c_p|``). ``H`` is orthogonal, so for
    ``w ~ N(0, I)`` the ``len(c)`` outputs are exactly iid N(0, 1); coordinate ``i !=
    p`` is ``w_i - c_i (v^T w) / (1 + |c_p|)``, ``v = c + sign(c_p) e_p``: about step
    ``i``'s own score when ``c`` is spread out."""
    piv = _pivot(c)
    sgn = 1.0 if c[piv] >= 0 else -1.0
    v = c.copy()
    v[piv] += sgn
    out = w - v * (float(v @ w) / (1.0 + abs(float(c[piv]))))
    return float(c @ w), np.delete(out, piv)
