"""Kernels of the chain-rule family: PITs, exact binomial tables, pair counts, moments."""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg, special, stats

from distributions.base import MASK
from samplers.oracle import CountingOracle
from verify.chain_tests.layout import TOP_PCS

#: Elements per oracle answer chunk.
_CHUNK_ELEMS: int = 2**22



def _binom_two_sided(c: np.ndarray, num: int, p: np.ndarray) -> np.ndarray:
    """Exact two-sided binomial p-values (doubling), vectorised; p = 0/1 handled."""
    c = np.asarray(c, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    pc = np.clip(p, 0.0, 1.0)
    lo = stats.binom.cdf(c, num, pc)
    hi = stats.binom.sf(c - 1, num, pc)
    out = np.minimum(1.0, 2.0 * np.minimum(lo, hi))
    out = np.where((pc <= 0.0) & (c > 0), 0.0, out)
    out = np.where((pc >= 1.0) & (c < num), 0.0, out)
    return out


def _chain_pits(
    samples: np.ndarray, oracle: CountingOracle, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """PITs (N, n) by reveal step, score increments and variances, impossible note."""
    N, n = samples.shape
    q = oracle.q
    pits = np.empty((N, n))
    score = np.empty((N, n))
    var = np.empty((N, n))
    chunk = max(1, _CHUNK_ELEMS // (n * q))
    impossible = ""
    for s in range(0, N, chunk):
        x = samples[s : s + chunk]
        B = x.shape[0]
        perm = np.argsort(gen.random((B, n)), axis=1)
        vals = np.take_along_axis(x, perm, axis=1)
        ctx = np.full((B, n), MASK, dtype=np.int64)
        p = oracle.conditionals_at(ctx, perm, vals)  # (B, n, q)
        pv = np.take_along_axis(p, vals[..., None], axis=2)[..., 0]
        cdf_below = np.cumsum(p, axis=2) - p
        below = np.take_along_axis(cdf_below, vals[..., None], axis=2)[..., 0]
        pits[s : s + B] = np.clip(below + gen.random((B, n)) * pv, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
        ent = -(p * logp).sum(axis=2)
        second = (p * logp**2).sum(axis=2)
        with np.errstate(divide="ignore"):
            score[s : s + B] = np.where(pv > 0, np.log(np.where(pv > 0, pv, 1.0)), 0.0) + ent
        var[s : s + B] = np.maximum(second - ent**2, 0.0)
        if not impossible and (pv <= 0).any():
            b, t = (int(i) for i in np.argwhere(pv <= 0)[0])
            impossible = (
                f"sample {s + b}: revealed value {int(vals[b, t])} at position "
                f"{int(perm[b, t])} (reveal step {t + 1}) has conditional probability 0"
            )
    return pits, score, var, impossible


def _pit_group_test(u: np.ndarray, gen: np.random.Generator) -> tuple[float, float, int]:
    """Exact uniformity test of one group of PITs: ``(statistic, p-value, bins)``.

    Under the null the ``M = u.size`` PITs are iid Uniform(0, 1), whatever the target.
    They are binned into ``b = 2**k`` equiprobable bins (``b <= 16``, about ten per bin
    or more) and the Multinomial(M, 1/b) counts are split along the dyadic tree: at
    each of the ``b - 1`` internal nodes the left child's count given the node's is
    Binomial(count, 1/2) (the multinomial's chain rule), so the randomised PITs of the
    ``b - 1`` node counts, ``F(c - 1) + V P(c)``, are exactly iid Uniform(0, 1), their
    normal scores ``z`` exactly iid N(0, 1), and ``sum z**2`` (Pearson's statistic in
    the Haar basis) exactly chi-square with ``b - 1`` degrees of freedom. The p-value
    is therefore exactly Uniform(0, 1) under the null, at every level, with no
    simulation; groups hold disjoint PITs, so their p-values are independent.
    """
    cnt = u.size
    k = int(min(4, max(1, math.floor(math.log2(max(cnt, 2) / 10.0))))) if cnt >= 20 else 1
    bins = 1 << k
    idx = np.minimum((u * bins).astype(np.int64), bins - 1)
    level = np.bincount(idx, minlength=bins).astype(np.float64)
    lefts, parents = [], []
    while level.size > 1:
        lefts.append(level[0::2])
        level = level[0::2] + level[1::2]
        parents.append(level)
    c = np.concatenate(lefts).astype(np.int64)
    m = np.concatenate(parents).astype(np.int64)
    v = gen.random(c.size)
    # randomised PIT w = F(c - 1) + V P(c) of Binomial(m, 1/2), and 1 - w from the upper
    # tail, so that both tails keep their precision
    lo = np.where(c > 0, special.bdtr(np.maximum(c - 1, 0), m, 0.5), 0.0)
    hi_c = special.bdtrc(c, m, 0.5)  # P(X > c)
    lo_c = np.where(c > 0, special.bdtrc(np.maximum(c - 1, 0), m, 0.5), 1.0)  # P(X >= c)
    w = lo + v * (lo_c - hi_c)
    w_up = hi_c + (1.0 - v) * (lo_c - hi_c)
    z = np.where(w < 0.5, special.ndtri(np.maximum(w, 1e-300)),
                 -special.ndtri(np.maximum(w_up, 1e-300)))
    z2 = float((z**2).sum())
    return z2, float(stats.chi2.sf(z2, bins - 1)), bins


def _pair_table(
    oracle: CountingOracle, sites: np.ndarray, single: np.ndarray
) -> np.ndarray:
    """``P(X_i = a, X_j = b)`` for i, j in ``sites``: shape (S, q, S, q), symmetrised.

    Row ``(i, a)`` pins site ``i`` to ``a`` and asks for the conditionals at the other
    pair sites (``conditionals_at`` when the oracle has it, so the cost does not grow
    with ``n``; else full conditionals). Contexts are built per chunk.
    """
    n, q = oracle.n, oracle.q
    S = sites.size
    rows = S * q
    pin = np.repeat(np.arange(S), q)
    val = np.tile(np.arange(q), S)
    flat = np.zeros((rows, S, q))
    flat[np.arange(rows), pin, val] = 1.0  # the pinned site's one-hot (contract)
    fast = callable(getattr(oracle.inner, "conditionals_at", None))
    others = np.array([np.delete(np.arange(S), a) for a in range(S)]).reshape(S, S - 1)
    chunk = max(1, _CHUNK_ELEMS // (n * (1 if fast else q)))
    for s in range(0, rows, chunk):
        r = np.arange(s, min(rows, s + chunk))
        ctx = np.full((r.size, n), MASK, dtype=np.int64)
        ctx[np.arange(r.size), sites[pin[r]]] = val[r]
        if fast:
            idx = others[pin[r]]  # (B, S - 1) indices into sites
            ans = oracle.conditionals_at(ctx, sites[idx])  # (B, S - 1, q)
            flat[r[:, None], idx] = ans
        else:
            flat[r] = oracle.conditionals(ctx)[:, sites, :]
    cond = flat.reshape(S, q, S, q)
    out = single[sites][:, :, None, None] * cond
    return 0.5 * (out + out.transpose(2, 3, 0, 1))


def _pair_counts(xs: np.ndarray, q: int) -> np.ndarray:
    """Counts ``C[i, a, j, b]`` of ``(X_i, X_j) = (a, b)``, shape (S, q, S, q).

    One Gram matrix of the one-hot features of the values ``1..q-1`` (float32 blocks:
    every partial sum is an integer below ``2**24``, hence exact); the cells with a 0
    follow from the one-site counts.
    """
    N, S = xs.shape
    k = q - 1
    gram = np.zeros((S * k, S * k))
    rows = max(1, min(1 << 20, _CHUNK_ELEMS // (S * k)))
    for s in range(0, N, rows):
        blk = xs[s : s + rows]
        feat = np.zeros((blk.shape[0], S, k), dtype=np.float32)
        for v in range(1, q):
            feat[:, :, v - 1] = blk == v
        feat = feat.reshape(blk.shape[0], S * k)
        gram += (feat.T @ feat).astype(np.float64)
    inner = gram.reshape(S, k, S, k)
    single = np.stack([(xs == v).sum(axis=0) for v in range(1, q)], axis=1).astype(np.float64)
    out = np.empty((S, q, S, q))
    out[:, 1:, :, 1:] = inner
    out[:, 1:, :, 0] = single[:, :, None] - inner.sum(axis=3)
    out[:, 0, :, 1:] = single[None, :, :] - inner.sum(axis=1)
    tot = single.sum(axis=1)
    out[:, 0, :, 0] = N - tot[:, None] - tot[None, :] + inner.sum(axis=(1, 3))
    return out


def _moment_tests(
    xs: np.ndarray,
    single: np.ndarray,
    joint: np.ndarray,
    num: int,
    pvals: dict[str, float],
    info: dict[str, tuple[float, float]],
    notes: list[str],
) -> None:
    """``moment-top`` / ``moment-all`` on the one-hot features of the pair sites.

    Features: ``1[x_i = v]`` for the values ``v`` other than site ``i``'s most
    probable one (the affine span is that of all indicators; rare-value indicators
    keep the covariance free of cancellation at near-deterministic sites). Features
    of variance below ``1e-10`` of the largest are dropped (their sites are covered
    exactly by the site and pair tests); top directions by a partial
    eigendecomposition, the full quadratic form by Cholesky (eigh when singular).
    """
    S, q = single.shape
    ref = np.argmax(single, axis=1)
    vals = np.array([[v for v in range(q) if v != ref[i]] for i in range(S)], dtype=np.int64)
    si = np.repeat(np.arange(S), q - 1)
    vi = vals.reshape(-1)
    mean = single[si, vi]
    cov = joint[si[:, None], vi[:, None], si[None, :], vi[None, :]] - np.outer(mean, mean)
    cov = 0.5 * (cov + cov.T)
    fbar = (xs[:, si] == vi[None, :]).mean(axis=0)
    d = fbar - mean
    diag = np.diag(cov)
    scale = float(diag.max()) if diag.size and np.isfinite(cov).all() else 0.0
    if not scale > 0.0:
        notes.append("moment tests omitted: the feature covariance of the pair sites is "
                     "zero (deterministic one- and two-site marginals)")
        return
    live = diag > 1e-10 * scale
    cov, d = cov[np.ix_(live, live)], d[live]
    dim = int(live.sum())
    top = min(TOP_PCS, dim)
    lam, vec = linalg.eigh(cov, subset_by_index=[dim - top, dim - 1])
    if lam.size < top:  # LAPACK's subset driver can return nothing on a highly
        # degenerate spectrum (an exchangeable target: n - 1 equal eigenvalues)
        lam, vec = np.linalg.eigh(cov)
        lam, vec = lam[dim - top :], vec[:, dim - top :]
    good = lam > 1e-10 * float(lam.max())
    t_top = float(num * ((vec[:, good].T @ d) ** 2 / lam[good]).sum())
    r_top = int(good.sum())
    pvals["moment-top"] = float(stats.chi2.sf(t_top, r_top))
    info["moment-top"] = (t_top, float(r_top))
    if mean.size > TOP_PCS:
        t_all, r_all = _hotelling(cov, d, num)
        pvals["moment-all"] = float(stats.chi2.sf(t_all, r_all))
        info["moment-all"] = (t_all, float(r_all))


def _hotelling(cov: np.ndarray, d: np.ndarray, num: int) -> tuple[float, int]:
    """``num d^T cov^+ d`` and the rank: Cholesky when positive definite, else eigh."""
    scale = float(np.max(np.diag(cov)))
    try:
        chol = np.linalg.cholesky(cov)
        if float(np.min(np.diag(chol))) ** 2 > 1e-10 * scale:
            z = linalg.solve_triangular(chol, d, lower=True)
            return float(num * z @ z), int(d.size)
    except np.linalg.LinAlgError:
        pass
    lam, vec = np.linalg.eigh(cov)
    keep = lam > 1e-10 * scale
    return float(num * ((vec[:, keep].T @ d) ** 2 / lam[keep]).sum()), int(keep.sum())
