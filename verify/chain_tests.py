"""Chain-rule and low-order marginal tests for targets without a table (large ``n``).

A target that is only a :class:`~distributions.base.DiscreteOracle` (e.g.
``MixtureOfProducts`` at ``n = 1000``) cannot be tabulated. :func:`chain_test` tests
samples ``x^(1..N)`` against it with a family of sub-tests, each calibrated under
the null "the samples are iid from the oracle's law", combined by Holm's method
(``statsmodels.stats.multitest.multipletests``); the family's p-value is the
smallest Holm-adjusted p-value (= Bonferroni's global p-value), valid under any
dependence between the sub-tests.

Sub-tests
---------
``chain-pit[g]`` (exact calibration)
    Every sample's coordinates are revealed in an independent uniform random order.
    Step ``t`` reveals position ``sigma(t)``; under the null its value has law
    ``p_t = mu(X_sigma(t) | revealed values)`` (the oracle's chain rule, one
    ``conditionals_at(..., chain_values=...)`` call per chunk). The randomised
    probability-integral transform ``U = F_t(v - 1) + V p_t(v)`` (``V`` uniform) is
    then exactly iid Uniform(0, 1) over all steps and samples. Steps are grouped
    geometrically (``t = 1``, ``2``, ``3-4``, ``5-8``, ...) so that early steps, where
    most of a global deviation shows, are not diluted; each group's PITs are binned
    into equiprobable bins and tested with Pearson's chi-square. A revealed value
    with conditional probability 0 is an immediate failure.
``chain-score`` (martingale CLT)
    ``sum_t [log p_t(v_t) + H(p_t)] / sqrt(sum_t Var_{p_t} log p_t)`` is asymptotically
    N(0, 1); detects tempered / sharpened samplers.
``site[i]`` (exact binomial)
    Counts of ``X_i = v`` against the exact one-site marginal (one oracle call).
``pair[i,j]`` (exact binomial)
    Counts of each cell of ``(X_i, X_j)`` for up to :data:`MAX_PAIRS` random pairs
    against the exact two-site marginal ``mu(X_i = a) mu(X_j = b | X_i = a)``.
``moment-top`` / ``moment-all`` (CLT, Hotelling with known covariance)
    The one-hot features ``f(x) = (1[x_i = v])_{i, v >= 1}`` have exact mean and
    covariance from the one- and two-site marginals; ``N (u_k . (f_bar - m))**2 /
    lambda_k`` summed over the top :data:`TOP_PCS` principal directions (and over
    all directions of the covariance) is asymptotically chi-square. Mixture-type
    deviations (wrong component weights) live in the top directions.

Planning
--------
:func:`plan_chain_sample_size` gives the size at which a deviation of TV ``tv`` in
any tested two-site marginal is detected with probability ``power`` at family-wise
level ``alpha`` (the worst cell of a ``q**2`` table deviates by at least
``2 tv / q**2``; exact binomial test at the Bonferroni level, normal
approximation with the worst variance 1/4). A joint deviation at TV ``tv`` need
not show in a low-order marginal; ``tests/test_chain_tests.py`` checks that
samplers at joint TV >= 0.05 from a ``MixtureOfProducts(n=1000)`` fail at this size.
Figure: ``n = 1000, q = 2, tv = 0.05, alpha = 1e-3, power = 0.99 -> N = 22,622``
(family of 1,214 sub-tests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import linalg, stats
from scipy.sparse import linalg as sparse_linalg
from statsmodels.stats.multitest import multipletests

from distributions.base import MASK
from samplers.oracle import CountingOracle
from verify.exactness import WorstCell

__all__ = [
    "ChainTestResult",
    "chain_test",
    "plan_chain_sample_size",
    "chain_detectable_tv",
    "MAX_PAIRS",
    "TOP_PCS",
]

#: Random pairs tested by the two-site sub-tests.
MAX_PAIRS: int = 200
#: Principal directions of the ``moment-top`` sub-test.
TOP_PCS: int = 10
#: Largest ``(n q)**2`` for the two-site marginal table (else a random subset of sites).
_MAX_PAIR_TABLE: int = 2**24
#: Elements per oracle answer chunk.
_CHUNK_ELEMS: int = 2**22


# ---------------------------------------------------------------------- planning
def _num_sites(n: int, q: int) -> int:
    return min(n, max(2, int(math.isqrt(_MAX_PAIR_TABLE) // q)))


def _num_groups(n: int) -> int:
    return len(_groups(n))


def _family_size(n: int, q: int) -> int:
    ns = _num_sites(n, q)
    pairs = min(ns * (ns - 1) // 2, MAX_PAIRS)
    per_site = 1 if q == 2 else q
    moments = 2 if ns * (q - 1) > TOP_PCS else 1
    return _num_groups(n) + 1 + n * per_site + pairs + moments


def _cell_z(n: int, q: int, alpha: float, power: float) -> tuple[float, float]:
    # a pair's p-value is Bonferroni over its q*q cells, the family Holm/Bonferroni
    m = _family_size(n, q) * q * q
    return float(stats.norm.isf(alpha / (2.0 * m))), float(stats.norm.isf(1.0 - power))


def plan_chain_sample_size(oracle: Any, *, tv: float, alpha: float, power: float) -> int:
    """Sample size of the chain-rule family (see the module docstring).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> plan_chain_sample_size(SimpleNamespace(n=1000, q=2), tv=0.05, alpha=1e-3, power=0.99)
    22622
    """
    za, zb = _cell_z(int(oracle.n), int(oracle.q), alpha, power)
    delta = 2.0 * tv / (oracle.q * oracle.q)
    return max(1, math.ceil((0.5 * (za + zb) / delta) ** 2))


def chain_detectable_tv(n: int, q: int, num_samples: int, *, alpha: float, power: float) -> float:
    """Two-site-marginal TV detected with probability ``power`` at ``num_samples``."""
    za, zb = _cell_z(n, q, alpha, power)
    delta = 0.5 * (za + zb) / math.sqrt(num_samples)
    return float(min(1.0, delta * q * q / 2.0))


# ---------------------------------------------------------------------- result
@dataclass(frozen=True)
class ChainTestResult:
    """Outcome of :func:`chain_test`.

    Attributes
    ----------
    statistic : float
        ``-log10(pvalue)``.
    pvalue : float
        Smallest Holm-adjusted p-value of the family (0 after an impossible value).
    pvalues : mapping of str to float
        Raw p-value of every sub-test (sites and pairs summarised by their minimum:
        ``site-min``, ``pair-min``; every one is in the Holm family).
    num_samples, n, q : int
    family_size : int
    alpha : float
    tv_estimate : float
        Largest bias-corrected one- or two-site marginal TV (a lower-bound proxy).
    worst_cells : tuple of WorstCell
        The sub-tests with the smallest p-values.
    impossible : str
        Description of the first zero-probability observation, or ``""``.
    """

    statistic: float
    pvalue: float
    pvalues: Mapping[str, float]
    num_samples: int
    n: int
    q: int
    family_size: int
    alpha: float
    tv_estimate: float
    worst_cells: tuple[WorstCell, ...]
    impossible: str = ""
    rejected: tuple[str, ...] = field(default_factory=tuple)

    def detectable_tv(self, power: float) -> float:
        return chain_detectable_tv(self.n, self.q, self.num_samples, alpha=self.alpha,
                                   power=power)


# ---------------------------------------------------------------------- kernels
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


def _groups(n: int) -> list[tuple[int, int]]:
    out, s = [], 0
    while s < n:
        e = min(n, 1 if s == 0 else 2 * s)
        out.append((s, e))
        s = e
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


def _pit_group_test(u: np.ndarray) -> tuple[float, float, int]:
    cnt = u.size
    bins = int(max(2, min(20, cnt // 10)))
    idx = np.minimum((u * bins).astype(np.int64), bins - 1)
    obs = np.bincount(idx, minlength=bins).astype(np.float64)
    exp = cnt / bins
    x2 = float(((obs - exp) ** 2).sum() / exp)
    return x2, float(stats.chi2.sf(x2, bins - 1)), bins


def _pair_table(
    oracle: CountingOracle, sites: np.ndarray, single: np.ndarray
) -> np.ndarray:
    """``P(X_i = a, X_j = b)`` for i, j in ``sites``: shape (S, q, S, q), symmetrised."""
    n, q = oracle.n, oracle.q
    S = sites.size
    ctx = np.full((S * q, n), MASK, dtype=np.int64)
    ctx[np.arange(S * q), np.repeat(sites, q)] = np.tile(np.arange(q), S)
    flat = np.empty((S * q, S, q))
    chunk = max(1, _CHUNK_ELEMS // (n * q))
    for s in range(0, S * q, chunk):
        # full conditionals: pinned sites come back as their one-hot (contract)
        flat[s : s + chunk] = oracle.conditionals(ctx[s : s + chunk])[:, sites, :]
    cond = flat.reshape(S, q, S, q)
    out = single[sites][:, :, None, None] * cond
    return 0.5 * (out + out.transpose(2, 3, 0, 1))


def _hotelling(cov: np.ndarray, d: np.ndarray, num: int) -> tuple[float, int]:
    """``num d^T cov^+ d`` and the rank: Cholesky when positive definite, else eigh."""
    scale = float(np.max(np.diag(cov))) if cov.size else 0.0
    if scale <= 0:
        return 0.0, 0
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


def chain_test(
    samples: np.ndarray, oracle: Any, *, alpha: float = 1e-3, rng: Any = None
) -> ChainTestResult:
    """Chain-rule, marginal and moment tests of ``samples`` against ``oracle``.

    Parameters
    ----------
    samples : ndarray of int, shape (N, n)
    oracle : DiscreteOracle
        The target (its ``conditionals_at`` fast path is used when present).
    alpha : float
        Family-wise level used for the ``rejected`` list.
    rng : seed, Generator or SeedSequence
        Reveal orders, PIT randomisation and the choice of pairs.

    Returns
    -------
    ChainTestResult
    """
    gen = np.random.default_rng(rng)
    co = CountingOracle(oracle, validate=False)
    x = np.asarray(samples, dtype=np.int64)
    N, n = x.shape
    q = co.q
    pvals: dict[str, float] = {}
    info: dict[str, tuple[float, float]] = {}  # label -> (observed, expected)
    # ---- chain rule (PIT by reveal-step group, score)
    pits, score, var, impossible = _chain_pits(x, co, gen)
    for s, e in _groups(n):
        label = f"chain-pit[steps {s + 1}-{e}]"
        _, pv, bins = _pit_group_test(pits[:, s:e].ravel())
        pvals[label] = pv
        info[label] = (float("nan"), float(N * (e - s)) / bins)
    tot_var = float(var.sum())
    if tot_var > 0:
        z = float(score.sum()) / math.sqrt(tot_var)
        pvals["chain-score"] = float(2.0 * stats.norm.sf(abs(z)))
        info["chain-score"] = (float(score.sum()), 0.0)
    # ---- one-site marginals
    empty = np.full((1, n), MASK, dtype=np.int64)
    single = co.conditionals_at(empty, np.arange(n)[None, :])[0]  # (n, q)
    counts = np.stack([(x == v).sum(axis=0) for v in range(q)], axis=1).astype(np.float64)
    vals = [q - 1] if q == 2 else list(range(q))
    site_p = _binom_two_sided(counts[:, vals], N, single[:, vals])  # (n, len(vals))
    tvs = [0.5 * np.abs(counts / N - single).sum(axis=1)
           - 0.5 * np.sqrt(2 * single * (1 - single) / (math.pi * N)).sum(axis=1)]
    for i in range(n):
        for j, v in enumerate(vals):
            label = f"site[{i}]" if q == 2 else f"site[{i}]={v}"
            pvals[label] = float(site_p[i, j])
            info[label] = (float(counts[i, v]), float(N * single[i, v]))
    if not impossible and ((single == 0) & (counts > 0)).any():
        i, v = (int(k) for k in np.argwhere((single == 0) & (counts > 0))[0])
        impossible = f"site {i} took value {v}, which has marginal probability 0"
    # ---- two-site marginals and moments
    ns = _num_sites(n, q)
    sites = np.arange(n) if ns == n else np.sort(gen.choice(n, ns, replace=False))
    if ns >= 2:
        joint = _pair_table(co, sites, single)  # (S, q, S, q)
        S = sites.size
        iu, ju = np.triu_indices(S, k=1)
        npairs = min(iu.size, MAX_PAIRS)
        pick = gen.choice(iu.size, npairs, replace=False)
        for k in np.sort(pick):
            a, b = int(iu[k]), int(ju[k])
            i, j = int(sites[a]), int(sites[b])
            cell = x[:, i] * q + x[:, j]
            obs = np.bincount(cell, minlength=q * q).astype(np.float64)
            exp_p = joint[a, :, b, :].reshape(-1)
            pv = _binom_two_sided(obs, N, exp_p)
            c = int(np.argmin(pv))
            label = f"pair[{i},{j}]"
            pvals[label] = float(pv.min()) if pv.size else 1.0
            # the min over q*q cells is Bonferroni-corrected within the pair
            pvals[label] = float(min(1.0, pvals[label] * q * q))
            info[label] = (float(obs[c]), float(N * exp_p[c]))
            tvs.append(np.array([0.5 * np.abs(obs / N - exp_p).sum()
                                 - 0.5 * np.sqrt(2 * exp_p * (1 - exp_p) / (math.pi * N)).sum()]))
            if not impossible and ((exp_p == 0) & (obs > 0)).any():
                impossible = f"pair ({i}, {j}) took a value of probability 0"
        # moments: features 1[x_i = v], v = 1..q-1
        feat_v = np.arange(1, q)
        mean = single[sites][:, feat_v].reshape(-1)
        second = joint[:, feat_v][:, :, :, feat_v].reshape(mean.size, mean.size)
        diag = np.arange(mean.size)
        second[diag, diag] = mean
        cov = second - np.outer(mean, mean)
        cov = 0.5 * (cov + cov.T)
        fbar = np.stack([(x[:, sites] == v).mean(axis=0) for v in feat_v], axis=1).reshape(-1)
        d = fbar - mean
        dim = mean.size
        top = min(TOP_PCS, dim)
        if dim <= 4 * TOP_PCS:
            lam, vec = linalg.eigh(cov, subset_by_index=[dim - top, dim - 1])
        else:  # Lanczos: a few mat-vecs instead of a full dense eigendecomposition
            lam, vec = sparse_linalg.eigsh(cov, k=top, which="LA", v0=np.ones(dim), tol=1e-6)
        keep = lam > 1e-10 * max(float(lam.max()), 1e-300)
        if keep.any():
            t_top = float(N * ((vec[:, keep].T @ d) ** 2 / lam[keep]).sum())
            r_top = int(keep.sum())
            pvals["moment-top"] = float(stats.chi2.sf(t_top, r_top))
            info["moment-top"] = (t_top, float(r_top))
        if dim > TOP_PCS:
            t_all, r_all = _hotelling(cov, d, N)
            if r_all > 0:
                pvals["moment-all"] = float(stats.chi2.sf(t_all, r_all))
                info["moment-all"] = (t_all, float(r_all))
    labels = list(pvals)
    raw = np.array([pvals[k] for k in labels])
    if impossible:
        pvalue = 0.0
        reject = np.zeros(raw.size, bool)
    else:
        reject, adj, _, _ = multipletests(raw, alpha=alpha, method="holm")
        pvalue = float(adj.min())
    order = np.argsort(raw, kind="stable")[:5]
    worst = []
    if impossible:
        worst.append(WorstCell(impossible, None, 1.0, 0.0, math.inf, True))
    for k in order:
        lab = labels[k]
        o, e = info.get(lab, (math.nan, math.nan))
        worst.append(WorstCell(lab, None, o, e, float(-math.log10(max(raw[k], 1e-300)))))
    summary: dict[str, float] = {
        k: v for k, v in pvals.items() if not k.startswith(("site[", "pair["))
    }
    site_keys = [k for k in pvals if k.startswith("site[")]
    pair_keys = [k for k in pvals if k.startswith("pair[")]
    if site_keys:
        summary["site-min"] = min(pvals[k] for k in site_keys)
    if pair_keys:
        summary["pair-min"] = min(pvals[k] for k in pair_keys)
    tv_est = float(max(0.0, max(float(np.max(t)) for t in tvs)))
    return ChainTestResult(
        statistic=float(-math.log10(max(pvalue, 1e-300))),
        pvalue=pvalue,
        pvalues=summary,
        num_samples=N,
        n=n,
        q=q,
        family_size=len(labels),
        alpha=alpha,
        tv_estimate=tv_est,
        worst_cells=tuple(worst),
        impossible=impossible,
        rejected=tuple(lab for lab, r in zip(labels, reject, strict=True) if r),
    )
