""":func:`chain_test`: the chain-rule, marginal and moment family of sub-tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from distributions.scalable import MixtureOfProducts
from distributions.validation import check_discrete_oracle, check_float, check_int
from samplers.oracle import CountingOracle
from samplers.sequential import SequentialSampler
from verify.chain_tests.combine import (
    CAUCHY_MAX_ALPHA,
    cauchy_combine,
    holm_reject,
    mc_pvalue,
    randomized_binom,
    sidak,
)
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
    ChainLayout,
    _groups,
    _power_statement,
    cell_weights,
    chain_detectable_tv,
    chain_layout,
    check_family,
)
from verify.chain_tests.martingale import martingale_family
from verify.chain_tests.results import ChainTestResult
from verify.results import WorstCell, status_of
from verify.sampling import SeedLike, int_seed


def _iv(
    samples: Any, oracle: Any, alpha: Any, power: Any, null_draws: Any, family: Any
) -> tuple[np.ndarray, float, float, int]:
    check_discrete_oracle("oracle", oracle)
    check_family(family)
    if family == "martingale" and null_draws != 0:
        raise ParameterError(
            "`null_draws` applies to family='marginal' only (the martingale family is "
            f"exactly calibrated without simulation); got null_draws={null_draws!r}.")
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    null_draws = check_int("null_draws", null_draws, low=0)
    if null_draws and (null_draws + 1) * alpha < 1.0:
        need = math.ceil(1.0 / alpha - 1.0 - 1e-9)
        raise ParameterError(
            f"`null_draws` must be 0 or at least 1/alpha - 1 = {need} at alpha = {alpha:g} "
            f"(the resolution of the Monte Carlo p-value); got {null_draws}."
        )
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
    return x.astype(np.int64, copy=False), alpha, power, null_draws


@dataclass
class _Prep:
    """What every evaluation of the family shares: layout, pair sites, exact marginals."""

    lay: ChainLayout
    sites: np.ndarray
    single: np.ndarray  # (n, q) one-site marginals
    joint: np.ndarray | None  # (S, q, S, q) two-site marginals of the pair sites


@dataclass
class _Eval:
    """One evaluation of the family on one sample matrix."""

    pvals: dict[str, float]
    info: dict[str, tuple[float, float]]
    notes: list[str]
    impossible: str
    counts: np.ndarray
    site_p: np.ndarray
    site_u: np.ndarray
    pair_p: np.ndarray
    pair_u: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray
    pair_obs: np.ndarray
    pair_exp: np.ndarray
    tvs: list[float]
    cauchy_p: np.ndarray
    cauchy_w: np.ndarray
    n_named: int

    @property
    def cauchy_t(self) -> float:
        return math.inf if self.impossible else cauchy_combine(self.cauchy_p, self.cauchy_w)[0]


def _prepare(co: CountingOracle, gen: np.random.Generator) -> _Prep:
    n, q = co.n, co.q
    lay = chain_layout(n, q)
    empty = np.full((1, n), MASK, dtype=np.int64)
    single = co.conditionals_at(empty, np.arange(n)[None, :])[0]  # (n, q)
    ns = lay.pair_sites
    sites = np.arange(n) if ns == n else np.sort(gen.choice(n, ns, replace=False))
    joint = _pair_table(co, sites, single) if ns >= 2 else None
    return _Prep(lay, sites, single, joint)




def _evaluate(x: np.ndarray, co: CountingOracle, prep: _Prep, gen: np.random.Generator) -> _Eval:
    """Every sub-test of the family on ``x`` (the oracle's marginals from ``prep``)."""
    N, n = x.shape
    q = co.q
    single, sites, lay = prep.single, prep.sites, prep.lay
    pvals: dict[str, float] = {}
    info: dict[str, tuple[float, float]] = {}  # label -> (observed, expected)
    notes: list[str] = []
    # ---- chain rule (PIT by reveal-step group: exact, independent; score)
    pits, score, var, impossible = _chain_pits(x, co, gen)
    group_p = []
    for s, e in _groups(n):
        label = f"chain-pit[steps {s + 1}-{e}]"
        _, pv, bins = _pit_group_test(pits[:, s:e].ravel(), gen)
        pvals[label] = pv
        group_p.append(pv)
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
    counts = np.stack([(x == v).sum(axis=0) for v in range(q)], axis=1).astype(np.float64)
    vals = [q - 1] if q == 2 else list(range(q))
    site_p = _binom_two_sided(counts[:, vals], N, single[:, vals])  # (n, len(vals))
    tvs = [float(np.max(0.5 * np.abs(counts / N - single).sum(axis=1)
                        - 0.5 * np.sqrt(2 * single * (1 - single) / (math.pi * N)).sum(axis=1)))]
    if not impossible and ((single == 0) & (counts > 0)).any():
        i, v = (int(k) for k in np.argwhere((single == 0) & (counts > 0))[0])
        impossible = f"site {i} took value {v}, which has marginal probability 0"
    # ---- two-site marginals (every pair of the pair sites) and moments
    pair_p = pair_obs = pair_exp = pair_u = np.empty(0)
    pair_i = pair_j = np.empty(0, dtype=np.int64)  # sites of each tested pair
    if prep.joint is not None:
        joint = prep.joint
        iu, ju = np.triu_indices(sites.size, k=1)
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
    site_u = randomized_binom(counts[:, vals], N, single[:, vals],
                              gen.random((n, len(vals)))).ravel()
    labels = list(pvals)
    n_named = len(labels)
    w_site, w_pair = cell_weights(lay)
    w_chain = 1.0 - w_site * site_u.size - w_pair * pair_u.size
    cauchy_p = np.concatenate([np.array([pvals[k] for k in labels]), site_u, pair_u])
    cauchy_w = np.concatenate([np.full(n_named, w_chain / n_named), np.full(site_u.size, w_site),
                               np.full(pair_u.size, w_pair)])
    pvals["chain-pit"] = sidak(np.array(group_p))
    return _Eval(pvals, info, notes, impossible, counts, site_p, site_u, pair_p, pair_u,
                 pair_i, pair_j, pair_obs, pair_exp, tvs, cauchy_p, cauchy_w, n_named)


def _frozen_note(single: np.ndarray, num: int, what: str) -> list[str]:
    """A note on the (nearly) deterministic sites at this size, if any."""
    frozen = int(np.count_nonzero(num * (1.0 - single.max(axis=1)) <= 1e-3))
    if not frozen:
        return []
    return [f"{frozen} of {single.shape[0]} sites are (nearly) deterministic at this size "
            f"(N (1 - max_v mu(X_i = v)) <= 1e-3): their {what} fail only on a value of "
            "(nearly) zero probability"]


def is_product(oracle: object) -> bool:
    """True when ``oracle`` is a product law (a one-component mixture of products)."""
    return isinstance(oracle, MixtureOfProducts) and len(oracle.weights) == 1


def chain_test(
    samples: np.ndarray,
    oracle: DiscreteOracle,
    *,
    alpha: float = 1e-3,
    power: float = 0.99,
    null_draws: int = 0,
    family: str = "marginal",
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
    null_draws : int, default 0
        ``B > 0``: the family p-value is the exact Monte Carlo p-value of the Cauchy
        statistic against ``B`` data sets of ``N`` exact draws from the oracle's own
        chain rule (:class:`~samplers.sequential.SequentialSampler`, identity order),
        each put through the whole family: exactly Uniform(0, 1) under the null and
        valid at every ``alpha`` (randomised ties), whatever the sub-tests'
        dependence. Needs ``B >= 1/alpha - 1``. Cost: ``B + 1`` evaluations of the
        family and ``B N n`` oracle conditionals (module docstring). ``0``: the
        analytic Cauchy p-value (tail approximation, ``alpha <= CAUCHY_MAX_ALPHA``;
        Holm above).
    family : {"marginal", "martingale"}, default "marginal"
        ``"marginal"``: site, pair, PIT-group and moment sub-tests, Cauchy
        combination (``null_draws`` applies to it only); stated power for any target.
        ``"martingale"``: exactly iid N(0, 1) scores along one reveal order, combined
        by a weighted Sidak (:mod:`verify.chain_tests.martingale`): exactly
        calibrated at every level with no simulation, but power stated for product
        targets only (``detectable_tv = 1`` on any other); global deviations
        (mixture weights, magnetisation) through its directed early block.
    rng : seed, Generator or SeedSequence
        Reveal orders, PIT randomisation, the choice of pair sites (when not all) and
        the null draws.

    Returns
    -------
    ChainTestResult
    """
    x, alpha, power, null_draws = _iv(samples, oracle, alpha, power, null_draws, family)
    gen = np.random.default_rng(rng)
    co = CountingOracle(oracle, validate=False)
    N, n = x.shape
    q = co.q
    if family == "martingale":
        return _martingale_result(x, co, alpha, power, gen, int_seed(rng))
    prep = _prepare(co, gen)
    lay, sites, single = prep.lay, prep.sites, prep.single
    ev = _evaluate(x, co, prep, gen)
    pvals, info, notes, impossible = ev.pvals, ev.info, ev.notes, ev.impossible
    labels = [k for k in pvals if k != "chain-pit"]
    site_p, pair_p = ev.site_p, ev.pair_p
    vals = [q - 1] if q == 2 else list(range(q))
    site_labels = [f"site[{i}]" if q == 2 else f"site[{i}]={v}" for i in range(n) for v in vals]
    site_obs = ev.counts[:, vals].reshape(-1)
    site_exp = (N * single[:, vals]).reshape(-1)
    raw = np.concatenate([np.array([pvals[k] for k in labels]), site_p.reshape(-1), pair_p])
    n_named, n_site = len(labels), site_p.size

    def label_of(k: int) -> str:
        if k < n_named:
            return labels[k]
        if k < n_named + n_site:
            return site_labels[k - n_named]
        m = k - n_named - n_site
        return f"pair[{int(ev.pair_i[m])},{int(ev.pair_j[m])}]"

    def obs_exp(k: int) -> tuple[float, float]:
        if k < n_named:
            return info.get(labels[k], (math.nan, math.nan))
        if k < n_named + n_site:
            return float(site_obs[k - n_named]), float(site_exp[k - n_named])
        m = k - n_named - n_site
        return float(ev.pair_obs[m]), float(ev.pair_exp[m])

    cauchy_p, cauchy_w = ev.cauchy_p, ev.cauchy_w
    block_p: dict[str, float] = {}
    critical = math.nan
    if impossible:
        pvalue = bonferroni = 0.0
        reject = np.zeros(raw.size, bool)
    else:
        reject, adj = holm_reject(raw, alpha)
        bonferroni = float(adj.min())
        t_obs, cauchy = cauchy_combine(cauchy_p, cauchy_w)
        block_p["cauchy"] = cauchy
        if null_draws:
            t_null = _null_statistics(co, prep, N, null_draws, gen)
            pvalue = mc_pvalue(t_obs, t_null, gen)
            block_p["cauchy-mc"] = pvalue
            # the smallest statistic sure to reject: the floor(alpha (B + 1))-th largest
            critical = float(np.sort(t_null)[::-1][int(math.floor(alpha * (null_draws + 1))) - 1])
        else:
            # the combination's validity region (combine.CAUCHY_MAX_ALPHA); Holm above it
            pvalue = cauchy if alpha <= CAUCHY_MAX_ALPHA else bonferroni
        blocks = (("chain", 0, ev.n_named), ("site", ev.n_named, ev.n_named + ev.site_u.size),
                  ("pair", ev.n_named + ev.site_u.size, cauchy_p.size))
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
            f"Bonferroni p-value 1 (details 'bonferroni'; the family p-value is the Cauchy "
            f"combination at alpha <= {CAUCHY_MAX_ALPHA} or with null_draws): Holm's "
            f"adjustment min(1, m p_min) with m = {raw.size} "
            f"and smallest raw p-value {float(raw.min()):.3g} >= 1/m")
    notes += _frozen_note(single, N, "site and pair tests")
    failed = bool(impossible) or pvalue <= alpha
    dtv = chain_detectable_tv(n, q, N, alpha=alpha, power=power,
                              critical=critical if null_draws else None, family="marginal")
    status = status_of(failed, dtv)
    ns = lay.pair_sites
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
        tv_estimate=float(max(0.0, max(ev.tvs))),
        worst_cells=tuple(worst),
        impossible=impossible,
        rejected=tuple(label_of(int(k)) for k in np.flatnonzero(reject)),
        status=status,
        passed=status == "pass",
        power=power,
        interaction_orders=INTERACTION_ORDERS,
        power_against=_power_statement(lay, N, alpha, power, "marginal"),
        pair_sites=tuple(int(s) for s in sites) if ns >= 2 else (),
        pairs_tested=lay.pairs_tested if ns >= 2 else 0,
        pairs_total=lay.pairs_total,
        null_draws=null_draws,
        critical=critical,
        notes=tuple(notes),
        family="marginal",
    )


def _martingale_result(
    x: np.ndarray, co: CountingOracle, alpha: float, power: float,
    gen: np.random.Generator, seed: int | None,
) -> ChainTestResult:
    N, n = x.shape
    q = co.q
    lay = chain_layout(n, q)
    empty = np.full((1, n), MASK, dtype=np.int64)
    single = co.conditionals_at(empty, np.arange(n)[None, :])[0]  # (n, q)
    ns = lay.pair_sites
    sites = np.arange(n) if ns == n else np.sort(gen.choice(n, ns, replace=False))
    fam = martingale_family(x, co, sites if ns >= 2 else sites[:0], alpha, gen, single)
    counts = fam["counts"].astype(np.float64)
    tv = float(np.max(0.5 * np.abs(counts / N - single).sum(axis=1)
                      - 0.5 * np.sqrt(2 * single * (1 - single) / (math.pi * N)).sum(axis=1)))
    pvalue = float(fam["pvalue"])
    pvals = dict(fam["pvalues"], martingale=pvalue, bonferroni=fam["bonferroni"])
    notes = list(fam["notes"])
    notes += _frozen_note(single, N, "scores")
    failed = bool(fam["impossible"]) or pvalue <= alpha
    if is_product(co.inner):
        dtv = chain_detectable_tv(n, q, N, alpha=alpha, power=power, family="martingale")
    else:
        # the plan's derivation assumes independent sites: no stated power otherwise
        dtv = 1.0
        notes.append(
            "the martingale family's stated power is derived for product targets only; "
            f"{type(co.inner).__name__} is not known to be one, so no detectable TV is "
            "stated (the p-value is exactly calibrated all the same)")
    status = status_of(failed, dtv)
    return ChainTestResult(
        method="chain", detectable_tv=dtv, seed=seed,
        statistic=float(-math.log10(max(pvalue, 1e-300))), pvalue=pvalue, pvalues=pvals,
        num_samples=N, n=n, q=q, family_size=int(fam["family_size"]), alpha=alpha,
        tv_estimate=max(0.0, tv), worst_cells=fam["worst"], impossible=fam["impossible"],
        rejected=fam["rejected"], status=status, passed=status == "pass", power=power,
        interaction_orders=INTERACTION_ORDERS,
        power_against=_power_statement(lay, N, alpha, power, "martingale"),
        pair_sites=tuple(int(s) for s in sites) if ns >= 2 else (),
        pairs_tested=lay.pairs_tested if ns >= 2 else 0, pairs_total=lay.pairs_total,
        notes=tuple(notes), family="martingale",
    )


def _null_statistics(
    co: CountingOracle, prep: _Prep, num: int, draws: int, gen: np.random.Generator
) -> np.ndarray:
    """The family's Cauchy statistic on ``draws`` data sets of ``num`` exact draws from
    the oracle's chain rule (one spawned stream each)."""
    drawer = SequentialSampler(co.inner, order="identity", validate=False)
    out = np.empty(draws)
    for b, child in enumerate(np.random.SeedSequence(int(gen.integers(2**63))).spawn(draws)):
        g = np.random.default_rng(child)
        out[b] = _evaluate(drawer.sample(num, rng=g).samples, co, prep, g).cauchy_t
    return out
