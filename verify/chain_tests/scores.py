"""Kernel of the martingale family: exactly iid N(0, 1) scores by predictable conditioning.

One reveal order ``pi`` (from the test's ``rng``) for all samples. Step ``j`` reveals
site ``pi(j)`` in every sample; its value is split into ``q - 1`` binary decisions
``D_v = 1[x > v]`` given ``x >= v`` (``v = 0 .. q - 2``; one decision when ``q = 2``).
Under the null (the samples iid from the oracle's chain rule along ``pi``), decision
``v`` of sample ``s`` is Bernoulli(``b``), ``b = P(x > v | x >= v, revealed past)``,
and the randomised PIT ``u = D (1 - b) + V P(D)`` (``V`` uniform from the rng) is
exactly Uniform(0, 1) given everything revealed before (all samples' earlier steps
and decisions, all earlier randomisation); a sample whose value was decided by an
earlier decision (``x < v``) gets ``u = V``. So ``z = ndtri(u)`` is, given the past,
exactly iid N(0, 1) over the ``N`` samples.

Feature columns over the samples, fixed before step ``j`` (predictable): the intercept,
the one-hot indicators ``1[x_k = b]`` (``b = 1 .. q - 1``) of every *pair site* ``k``
revealed before step ``j``, and a per-decision **sharpness** column ``c = phi(ndtri(b))
(E[log p(w) | w > v] - log p(v))`` (the derivative of ``E z`` along a tempering of the
conditional law). The intercept and pair columns are orthonormalised in reveal order
(``Q R`` with ``R`` the Cholesky factor of their Gram matrix of integer counts; a
column whose squared residual is below ``DROP_TOL`` times its squared norm is dropped,
a decision that depends on revealed values only); the sharpness column is
orthogonalised against them. Every score ``W = <e, z>`` with a unit predictable ``e``
orthogonal to the step's other columns is then, given the past, iid N(0, 1), and by the
tower rule **all scores of all steps are jointly iid N(0, 1)** under the null, whatever
the dependence of the target's coordinates. Cost: ``O(N d n (q - 1))`` in BLAS
products ``A^T Z`` accumulated over chunks of samples (``A`` the ``N x d`` columns,
never stored whole), plus ``O(d**3)`` for ``R``; memory ``O(d n (q - 1) + d**2)``
floats and one chunk (``d = 1 + S (q - 1)``, ``S <= MAX_PAIR_FEATURES / (q - 1)`` pair
sites).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from distributions.base import MASK
from samplers.oracle import CountingOracle
from verify.chain_tests.kernels import _CHUNK_ELEMS

#: Relative squared-residual norm below which a feature column is dropped.
DROP_TOL: float = 1e-6
#: Pair scores of largest ``|W|`` kept for the report (``Scores.pair_top``).
TOP: int = 20
_TINY: float = 1e-300


@dataclass
class Scores:
    """All scores of one run (steps ``j``, decisions ``v``; flat index ``j (q - 1) + v``).

    Attributes
    ----------
    order : ndarray (n,)
        Reveal order ``pi``.
    intercept : ndarray (n (q - 1),)
        The intercept score of every decision.
    pair_top : list of (score, column, decision)
        The :data:`TOP` pair-column scores of largest ``|W|`` (column: index into
        ``col_site`` / ``col_val``; decision: flat index).
    pair_count, pair_max : int
        Pair scores computed, and their number had no column been dropped (fixed
        given ``pi``).
    sharp : ndarray (n (q - 1),)
        Sharpness score of every decision (0 where the column was dropped);
        ``sharp_kept`` says which were kept.
    impossible : str
        The first observed value of conditional probability 0, or ``""``.
    """

    order: np.ndarray
    intercept: np.ndarray
    pair_top: list[tuple[float, int, int]]
    pair_count: int
    pair_max: int
    col_site: np.ndarray
    col_val: np.ndarray
    sharp: np.ndarray
    sharp_kept: np.ndarray
    impossible: str


def _columns(x: np.ndarray, col_site: np.ndarray, col_val: np.ndarray) -> np.ndarray:
    a = np.empty((x.shape[0], col_site.size + 1))
    a[:, 0] = 1.0
    a[:, 1:] = x[:, col_site] == col_val[None, :]
    return a


def _decision_z(
    p: np.ndarray, vals: np.ndarray, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``z`` and the sharpness columns of every decision, shape (B, n, q - 1) each."""
    B, n, q = p.shape
    z = np.empty((B, n, q - 1))
    c = np.zeros((B, n, q - 1))
    tail = np.cumsum(p[..., ::-1], axis=2)[..., ::-1]  # P(x >= v)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    plogp_tail = np.cumsum((p * logp)[..., ::-1], axis=2)[..., ::-1]  # sum_{w >= v}
    for v in range(q - 1):
        active = vals >= v
        s_v = tail[..., v]
        above = tail[..., v + 1]  # P(x > v)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(s_v > 0, 1.0 / np.where(s_v > 0, s_v, 1.0), 0.0)
        p0 = np.clip(p[..., v] * inv, 0.0, 1.0)  # P(D = 0): x = v given x >= v
        p1 = np.clip(above * inv, 0.0, 1.0)  # P(D = 1), not 1 - p0 (precision)
        d = vals > v
        pd = np.where(d, p1, p0)
        w = gen.random((B, n))
        u = np.where(d, p0, 0.0) + w * pd
        u_up = np.where(d, 0.0, p1) + (1.0 - w) * pd  # 1 - u, from the other tail
        live = active & (pd > 0)
        u = np.where(live, u, w)
        u_up = np.where(live, u_up, 1.0 - w)
        z[..., v] = np.where(u < 0.5, special.ndtri(np.maximum(u, _TINY)),
                             -special.ndtri(np.maximum(u_up, _TINY)))
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_above = np.where(above > 0, plogp_tail[..., v + 1] / np.where(
                above > 0, above, 1.0), 0.0)
        inner = (p0 > 0) & (p1 > 0) & active
        small = np.where(inner, np.minimum(p0, p1), 0.5)  # phi(ndtri(b)) is symmetric
        dens = np.exp(-0.5 * special.ndtri(small) ** 2) / np.sqrt(2 * np.pi)
        c[..., v] = np.where(inner, dens * (mean_above - logp[..., v]), 0.0)
    return z, c


def martingale_scores(
    x: np.ndarray, co: CountingOracle, pair_sites: np.ndarray, gen: np.random.Generator,
    order: np.ndarray | None = None,
) -> Scores:
    """Every score of the martingale family on ``x`` (module docstring); ``order``:
    the reveal order (default: ``gen.permutation(n)``)."""
    N, n = x.shape
    q = co.q
    k = q - 1
    order = gen.permutation(n) if order is None else np.asarray(order, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    ps = (pair_sites[np.argsort(pos[pair_sites], kind="stable")] if pair_sites.size >= 2
          else np.empty(0, dtype=np.int64))
    col_site = np.repeat(ps, k)
    col_val = np.tile(np.arange(1, q), ps.size)
    d = col_site.size + 1
    rows = max(1, _CHUNK_ELEMS // (n * q + d))
    gram = np.zeros((d, d))
    for s in range(0, N, rows):  # Gram matrix of integer counts: exact in float64
        a = _columns(x[s : s + rows], col_site, col_val)
        gram += a.T @ a
    kept, r = _cholesky_keep(gram)
    kc = kept[1:] - 1  # kept pair columns
    avail = np.concatenate([[0], pos[col_site[kc]] + 1])  # first step using the column
    m = n * k
    atz = np.zeros((kept.size, m))
    atc = np.zeros((kept.size, m))
    cz = np.zeros(m)
    cc = np.zeros(m)
    impossible = ""
    for s in range(0, N, rows):
        xb = x[s : s + rows]
        B = xb.shape[0]
        vals = xb[:, order]
        ctx = np.full((B, n), MASK, dtype=np.int64)
        p = co.conditionals_at(ctx, np.broadcast_to(order, (B, n)), vals)  # (B, n, q)
        pv = np.take_along_axis(p, vals[..., None], axis=2)[..., 0]
        if not impossible and (pv <= 0).any():
            b, t = (int(i) for i in np.argwhere(pv <= 0)[0])
            impossible = (f"sample {s + b}: revealed value {int(vals[b, t])} at site "
                          f"{int(order[t])} (reveal step {t + 1}) has conditional "
                          "probability 0")
        z, c = _decision_z(p, vals, gen)
        z, c = z.reshape(B, m), c.reshape(B, m)
        a = _columns(xb, col_site[kc], col_val[kc])
        atz += a.T @ z
        atc += a.T @ c
        cz += np.einsum("bm,bm->m", c, z)
        cc += np.einsum("bm,bm->m", c, c)
    inv_rt = linalg.solve_triangular(r, np.eye(kept.size), trans="T")  # R^{-T}, lower
    steps = np.repeat(np.arange(n), k)  # step of each flat decision
    intercept = np.empty(m)
    sharp = np.zeros(m)
    sharp_kept = np.zeros(m, dtype=bool)
    top: list[tuple[float, int, int]] = []
    count = 0
    blk = max(1, (1 << 22) // max(1, kept.size))
    for s in range(0, m, blk):
        sl = slice(s, min(m, s + blk))
        valid = avail[:, None] <= steps[None, sl]  # leading blocks: Q^T z, Q^T c
        w = np.where(valid, inv_rt @ atz[:, sl], 0.0)
        proj = np.where(valid, inv_rt @ atc[:, sl], 0.0)
        intercept[sl] = w[0]
        resid = cc[sl] - (proj**2).sum(axis=0)
        keep = (cc[sl] > 0) & (resid > DROP_TOL * cc[sl])
        sharp_kept[sl] = keep
        with np.errstate(divide="ignore", invalid="ignore"):
            sharp[sl] = np.where(keep, (cz[sl] - (proj * w).sum(axis=0))
                                 / np.sqrt(np.where(keep, resid, 1.0)), 0.0)
        rr, dd = np.nonzero(valid[1:])
        count += rr.size
        if rr.size:
            vals_w = w[1:][rr, dd]
            best = np.argsort(-np.abs(vals_w), kind="stable")[:TOP]
            top.extend((float(vals_w[i]), int(kc[rr[i]]), int(s + dd[i])) for i in best)
            top = sorted(top, key=lambda t: -abs(t[0]))[:TOP]
    per_step = np.searchsorted(np.sort(pos[ps]), np.arange(n), side="left") * k * k
    return Scores(order, intercept, top, count, int(per_step.sum()), col_site, col_val,
                  sharp, sharp_kept, impossible)


def _cholesky_keep(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns kept by the Cholesky factorisation in order, dropping a column whose
    squared residual is below ``DROP_TOL`` of its squared norm (index 0: intercept),
    and the factor ``R`` of the kept columns (upper triangular)."""
    d = gram.shape[0]
    kept = [0]
    r = np.zeros((d, d))
    r[0, 0] = np.sqrt(gram[0, 0])
    for col in range(1, d):
        i = len(kept)
        rc = linalg.solve_triangular(r[:i, :i], gram[kept, col], trans="T")
        piv = gram[col, col] - rc @ rc
        if gram[col, col] > 0 and piv > DROP_TOL * gram[col, col]:
            r[:i, i] = rc
            r[i, i] = np.sqrt(piv)
            kept.append(col)
    i = len(kept)
    return np.array(kept, dtype=np.int64), r[:i, :i].copy()
