""":func:`chain_test`: the chain-rule, marginal and moment family of sub-tests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_discrete_oracle, check_float
from samplers.oracle import CountingOracle
from verify.chain_tests.combine import CAUCHY_MAX_ALPHA, cauchy_combine, randomized_binom
from verify.chain_tests.kernels import (
    _binom_two_sided,
    _chain_pits,
    _moment_tests,
    _pair_counts,
    _pair_table,
    _pit_group_test,
)
from verify.chain_tests.layout import (
    INTERACTION_ORDERS,
    _groups,
    _power_statement,
    cell_weights,
    chain_detectable_tv,
    chain_layout,
)
from verify.chain_tests.results import ChainTestResult
from verify.results import WorstCell, status_of
from verify.sampling import SeedLike, int_seed


def _iv(samples: Any, oracle: Any, alpha: Any, power: Any) -> tuple[np.ndarray, float, float]:
    check_discrete_oracle("oracle", oracle)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    x = np.asarray(samples)
    n, q = int(oracle.n), int(oracle.q)
    if x.ndim != 2 or x.shape[1] != n or x.shape[0] < 1:
        raise ParameterError(
            f"`samples` must be an array of shape (N, {n}) with N >= 1; got shape {x.shape}."
        )
    if not np.issubdtype(x.dtype, np.integer):
        raise ParameterError(f"`samples` must be an integer array; got dtype {x.dtype}.")
    if x.size and (x.min() < 0 or x.max() >= q):
        raise ParameterError(
            f"`samples` values must be in [0, {q - 1}]; got values in "
            f"[{int(x.min())}, {int(x.max())}]."
        )
    return x.astype(np.int64, copy=False), alpha, power


def chain_test(
    samples: np.ndarray,
    oracle: DiscreteOracle,
    *,
    alpha: float = 1e-3,
    power: float = 0.99,
    rng: SeedLike = None,
) -> ChainTestResult:
    """Chain-rule, marginal and moment tests of ``samples`` against ``oracle``.

    The stated power covers one-site marginals of all sites and two-site marginals
    of every tested pair only (``interaction_orders = (1, 2)``); deviations of higher
    order that leave those marginals unchanged are not covered (module docstring),
    and the result's ``power_against`` says so.

    Parameters
    ----------
    samples : ndarray of int, shape (N, n)
    oracle : DiscreteOracle
        The target (its ``conditionals_at`` fast path is used when present).
    alpha : float in (0, 1)
        Family-wise level (status and the ``rejected`` list).
    power : float in (0, 1), default 0.99
        Power of the stated detectable TV; a size with detectable TV >= 1 gets status
        ``"no-power"`` unless the family rejects.
    rng : seed, Generator or SeedSequence
        Reveal orders, PIT randomisation and the choice of pair sites (when not all).

    Returns
    -------
    ChainTestResult
    """
    x, alpha, power = _iv(samples, oracle, alpha, power)
    gen = np.random.default_rng(rng)
    co = CountingOracle(oracle, validate=False)
    N, n = x.shape
    q = co.q
    lay = chain_layout(n, q)
    pvals: dict[str, float] = {}
    info: dict[str, tuple[float, float]] = {}  # label -> (observed, expected)
    notes: list[str] = []
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
    else:
        notes.append("chain-score omitted: log p_t is constant under every revealed "
                     "conditional (deterministic or uniform conditionals: zero variance)")
    # ---- one-site marginals
    empty = np.full((1, n), MASK, dtype=np.int64)
    single = co.conditionals_at(empty, np.arange(n)[None, :])[0]  # (n, q)
    counts = np.stack([(x == v).sum(axis=0) for v in range(q)], axis=1).astype(np.float64)
    vals = [q - 1] if q == 2 else list(range(q))
    site_p = _binom_two_sided(counts[:, vals], N, single[:, vals])  # (n, len(vals))
    site_labels = [f"site[{i}]" if q == 2 else f"site[{i}]={v}" for i in range(n) for v in vals]
    site_obs = counts[:, vals].reshape(-1)
    site_exp = (N * single[:, vals]).reshape(-1)
    tvs = [float(np.max(0.5 * np.abs(counts / N - single).sum(axis=1)
                        - 0.5 * np.sqrt(2 * single * (1 - single) / (math.pi * N)).sum(axis=1)))]
    if not impossible and ((single == 0) & (counts > 0)).any():
        i, v = (int(k) for k in np.argwhere((single == 0) & (counts > 0))[0])
        impossible = f"site {i} took value {v}, which has marginal probability 0"
    # ---- two-site marginals (every pair of the pair sites) and moments
    ns = lay.pair_sites
    sites = np.arange(n) if ns == n else np.sort(gen.choice(n, ns, replace=False))
    pair_p = pair_obs = pair_exp = pair_u = np.empty(0)
    pair_i = pair_j = np.empty(0, dtype=np.int64)  # sites of each tested pair
    if ns >= 2:
        joint = _pair_table(co, sites, single)  # (S, q, S, q)
        S = sites.size
        iu, ju = np.triu_indices(S, k=1)
        cnt = _pair_counts(x[:, sites], q)
        obs = cnt[iu, :, ju, :].reshape(iu.size, q * q)
        exp_p = np.clip(joint[iu, :, ju, :].reshape(iu.size, q * q), 0.0, 1.0)
        pv = np.empty_like(obs)
        step = max(1, (1 << 20) // (q * q))
        for s in range(0, iu.size, step):
            pv[s : s + step] = _binom_two_sided(obs[s : s + step], N, exp_p[s : s + step])
        worst_c = np.argmin(pv, axis=1)
        # the min over q*q cells is Bonferroni-corrected within the pair
        pair_p = np.minimum(1.0, pv[np.arange(iu.size), worst_c] * q * q)
        pair_u = np.concatenate([
            randomized_binom(obs[s : s + step], N, exp_p[s : s + step],
                             gen.random(obs[s : s + step].shape)).ravel()
            for s in range(0, iu.size, step)])
        pair_i, pair_j = sites[iu], sites[ju]
        rows = np.arange(iu.size)
        pair_obs = obs[rows, worst_c]
        pair_exp = N * exp_p[rows, worst_c]
        ptv = (0.5 * np.abs(obs / N - exp_p).sum(axis=1)
               - 0.5 * np.sqrt(2 * exp_p * (1 - exp_p) / (math.pi * N)).sum(axis=1))
        tvs.append(float(ptv.max()))
        bad = ((exp_p == 0) & (obs > 0)).any(axis=1)
        if not impossible and bad.any():
            k = int(np.argmax(bad))
            impossible = (f"pair ({int(pair_i[k])}, {int(pair_j[k])}) took a value of "
                          "probability 0")
        _moment_tests(x[:, sites], single[sites], joint, N, pvals, info, notes)
    labels = list(pvals)
    raw = np.concatenate([np.array([pvals[k] for k in labels]), site_p.reshape(-1), pair_p])
    n_named, n_site = len(labels), site_p.size

    def label_of(k: int) -> str:
        if k < n_named:
            return labels[k]
        if k < n_named + n_site:
            return site_labels[k - n_named]
        m = k - n_named - n_site
        return f"pair[{int(pair_i[m])},{int(pair_j[m])}]"

    def obs_exp(k: int) -> tuple[float, float]:
        if k < n_named:
            return info.get(labels[k], (math.nan, math.nan))
        if k < n_named + n_site:
            return float(site_obs[k - n_named]), float(site_exp[k - n_named])
        m = k - n_named - n_site
        return float(pair_obs[m]), float(pair_exp[m])

    site_u = randomized_binom(counts[:, vals], N, single[:, vals],
                              gen.random((n, len(vals)))).ravel()
    w_site, w_pair = cell_weights(lay)
    w_chain = 1.0 - w_site * site_u.size - w_pair * pair_u.size
    cauchy_p = np.concatenate([np.array([pvals[k] for k in labels]), site_u, pair_u])
    cauchy_w = np.concatenate([np.full(n_named, w_chain / n_named), np.full(site_u.size, w_site),
                               np.full(pair_u.size, w_pair)])
    block_p: dict[str, float] = {}
    if impossible:
        pvalue = bonferroni = 0.0
        reject = np.zeros(raw.size, bool)
    else:
        reject, adj, _, _ = multipletests(raw, alpha=alpha, method="holm")
        bonferroni = float(adj.min())
        cauchy = cauchy_combine(cauchy_p, cauchy_w)[1]
        block_p["cauchy"] = cauchy
        # the combination's validity region (combine.CAUCHY_MAX_ALPHA); Holm above it
        pvalue = cauchy if alpha <= CAUCHY_MAX_ALPHA else bonferroni
        blocks = (("chain", 0, n_named), ("site", n_named, n_named + site_u.size),
                  ("pair", n_named + site_u.size, cauchy_p.size))
        for name, lo, hi in blocks:
            if hi > lo:
                w = cauchy_w[lo:hi]
                block_p[f"cauchy-{name}"] = cauchy_combine(cauchy_p[lo:hi], w / w.sum())[1]
    order = np.argsort(raw, kind="stable")[:5]
    worst = []
    if impossible:
        worst.append(WorstCell(impossible, None, 1.0, 0.0, math.inf, True))
    for k in order:
        o, e = obs_exp(int(k))
        worst.append(WorstCell(label_of(int(k)), None, o, e,
                               float(-math.log10(max(raw[k], 1e-300)))))
    summary: dict[str, float] = dict(pvals)
    summary["bonferroni"] = bonferroni
    summary.update(block_p)
    if site_p.size:
        summary["site-min"] = float(site_p.min())
    if pair_p.size:
        summary["pair-min"] = float(pair_p.min())
    if not impossible and bonferroni >= 1.0:
        notes.append(
            f"Bonferroni p-value 1 (details 'bonferroni'; at alpha <= {CAUCHY_MAX_ALPHA} "
            "the family p-value is the Cauchy combination): Holm's adjustment "
            f"min(1, m p_min) with m = {raw.size} "
            f"and smallest raw p-value {float(raw.min()):.3g} >= 1/m")
    frozen = int(np.count_nonzero(N * (1.0 - single.max(axis=1)) <= 1e-3))
    if frozen:
        notes.append(
            f"{frozen} of {n} sites are (nearly) deterministic at this size (N (1 - max_v "
            "mu(X_i = v)) <= 1e-3): their site and pair tests fail only on a value of "
            "(nearly) zero probability")
    failed = bool(impossible) or pvalue <= alpha
    dtv = chain_detectable_tv(n, q, N, alpha=alpha, power=power)
    status = status_of(failed, dtv)
    return ChainTestResult(
        method="chain",
        detectable_tv=dtv,
        seed=int_seed(rng),
        statistic=float(-math.log10(max(pvalue, 1e-300))),
        pvalue=pvalue,
        pvalues=summary,
        num_samples=N,
        n=n,
        q=q,
        family_size=int(raw.size),
        alpha=alpha,
        tv_estimate=float(max(0.0, max(tvs))),
        worst_cells=tuple(worst),
        impossible=impossible,
        rejected=tuple(label_of(int(k)) for k in np.flatnonzero(reject)),
        status=status,
        passed=status == "pass",
        power=power,
        interaction_orders=INTERACTION_ORDERS,
        power_against=_power_statement(lay, N, alpha, power),
        pair_sites=tuple(int(s) for s in sites) if ns >= 2 else (),
        pairs_tested=lay.pairs_tested if ns >= 2 else 0,
        pairs_total=lay.pairs_total,
        notes=tuple(notes),
    )
