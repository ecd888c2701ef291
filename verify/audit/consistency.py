"""Consistency rules of a discrete oracle: the two-position exchange identity, the
chain-rule joints of several orders (exact on small tables, estimated by sampling
otherwise), the declared ``pmf()``, and agreement with a reference oracle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from distributions.base import MASK, DiscreteOracle
from samplers.sequential import SequentialSampler
from verify.audit.contract import _call, _rounded
from verify.audit.result import _Auditor, _ctx_list
from verify.precision import rounding_bound, row_errors

#: Largest ``q**n`` for which the chain-rule joints of several orders are computed exactly.
EXACT_JOINT_LIMIT: int = 4096
#: Largest n for which chain-rule joints of several orders are estimated by sampling.
MAX_CHAIN_N: int = 2048
#: Tolerance on TV between joints / conditionals that must be equal (float64 answers;
#: lower-precision answers get :func:`tv_tol`).
TV_TOL: float = 1e-6
#: Level of the interval stated for an estimated inconsistency TV.
INTERVAL_ALPHA: float = 1e-3


def row_error(out: np.ndarray, x: np.ndarray, eps: float) -> float:
    """Largest L1 rounding error of the answer's rows at the masked positions of ``x``
    (:func:`verify.precision.row_errors`, all-zero rows left out); 0 when ``eps`` is
    unknown. The rows passed the contract, so it is at most its tolerance."""
    if not math.isfinite(eps):
        return 0.0
    return row_errors(np.asarray(out)[np.asarray(x) == MASK], eps / 2.0)[0]


def tv_tol(steps: int, err: float) -> float:
    """Tolerance on the TV between two chain-rule laws of ``steps`` rows each, built from
    rows with L1 error at most ``err``: ``max(TV_TOL, 2 rounding_bound(err, steps))``,
    twice the precision floor's bound (:func:`verify.precision.rounding_bound`; each law
    is within it of the law of the exact rows, which agree when the oracle is
    consistent). For float64 answers this is :data:`TV_TOL`.

    Examples
    --------
    >>> tv_tol(10, 1e-16)
    1e-06
    >>> f"{tv_tol(2, 1e-3):.4g}"
    '0.002001'
    """
    return max(TV_TOL, 2.0 * rounding_bound(err, steps))


def _exchange(a: _Auditor, oracle: DiscreteOracle, x: np.ndarray, out: np.ndarray,
              gen: np.random.Generator, err: float = 0.0) -> dict[str, Any]:
    """Two-position chain rule: mu(i) mu(j | i) == mu(j) mu(i | j) on audit contexts, within
    ``tv_tol(2, err)`` (``err``: the rows' L1 rounding error)."""
    n, q = int(oracle.n), int(oracle.q)
    masked = x == MASK
    rows = [b for b in range(x.shape[0]) if masked[b].sum() >= 2
            and np.all(out[b][masked[b]].sum(axis=-1) > 0)]
    rows = rows[:48]
    if not rows:
        a.skip("consistency.exchange", "no audit context has two masked positions and "
               "positive probability")
        return {}
    K = len(rows)
    ij = np.array([gen.choice(np.flatnonzero(masked[b]), size=2, replace=False) for b in rows])
    base = x[rows]
    ctx_i = np.repeat(base, q, axis=0)
    ctx_j = ctx_i.copy()
    vals = np.tile(np.arange(q), K)
    ctx_i[np.arange(K * q), np.repeat(ij[:, 0], q)] = vals  # reveal x_i = a
    ctx_j[np.arange(K * q), np.repeat(ij[:, 1], q)] = vals  # reveal x_j = b
    ci, e1 = _call(oracle.conditionals, ctx_i)
    cj, e2 = _call(oracle.conditionals, ctx_j)
    if e1 or e2:
        a.add("consistency.exchange", False, f"oracle raised {e1 or e2}")
        return {}
    ci = ci.reshape(K, q, n, q)
    cj = cj.reshape(K, q, n, q)
    r = np.arange(K)
    pi = out[rows][r, ij[:, 0]]  # (K, q)  mu(x_i = a | c)
    pj = out[rows][r, ij[:, 1]]  # (K, q)  mu(x_j = b | c)
    j_given_i = ci[r, :, ij[:, 1]]  # (K, a, b)
    i_given_j = cj[r, :, ij[:, 0]]  # (K, b, a)
    joint1 = pi[:, :, None] * j_given_i
    joint2 = (pj[:, :, None] * i_given_j).transpose(0, 2, 1)
    tv = 0.5 * np.abs(joint1 - joint2).sum(axis=(1, 2))
    tv = np.where(np.isnan(tv), np.inf, tv)
    k = int(np.argmax(tv))
    worst = float(tv[k])
    tol = tv_tol(2, err)
    info = {"exchange_max_tv": worst, "exchange_contexts": K, "exchange_tolerance": tol}
    if worst > tol:
        d = np.abs(joint1[k] - joint2[k])
        va, vb = (int(v) for v in np.unravel_index(int(np.argmax(d)), d.shape))
        i, j = int(ij[k, 0]), int(ij[k, 1])
        a.add("consistency.exchange", False,
              f"for context #{rows[k]}, the joint of positions ({i}, {j}) built as "
              f"mu(x_{i}) mu(x_{j} | x_{i}) and as mu(x_{j}) mu(x_{i} | x_{j}) differs in TV by "
              f"{worst:.3g} (tolerance {tol:.3g}); at (x_{i}, x_{j}) = ({va}, {vb}): "
              f"{joint1[k, va, vb]:.6g} vs {joint2[k, va, vb]:.6g}",
              query={"method": "conditionals", "x": _ctx_list(base[k]), "positions": [i, j],
                     "values": [va, vb],
                     "then_x_with_i": _ctx_list(ctx_i[k * q + va]),
                     "then_x_with_j": _ctx_list(ctx_j[k * q + vb])}, value=worst)
    else:
        a.ok("consistency.exchange", f"{K} contexts, max TV {worst:.3g} (tolerance "
             f"{tol:.3g})", value=worst)
    return info


def _chain_joint(oracle: DiscreteOracle, order: np.ndarray) -> np.ndarray:
    """Exact joint built by the chain rule along ``order`` (C-order over positions)."""
    n, q = int(oracle.n), int(oracle.q)
    probs = np.ones(1)
    for j in range(n):
        m = q**j
        ctx = np.full((m, n), MASK, dtype=np.int64)
        if j:
            digits = np.stack(np.unravel_index(np.arange(m), (q,) * j), axis=1)
            ctx[:, order[:j]] = digits
        cond = np.asarray(oracle.conditionals(ctx), dtype=np.float64)[:, order[j], :]
        probs = (probs[:, None] * cond).reshape(-1)
    joint = probs.reshape((q,) * n)  # axis k <-> position order[k]
    return np.transpose(joint, np.argsort(order)).reshape(-1)


def _orders(n: int, gen: np.random.Generator, k: int) -> list[np.ndarray]:
    orders = [np.arange(n), np.arange(n)[::-1].copy()]
    while len(orders) < k:
        orders.append(gen.permutation(n))
    return orders[:k] if n > 1 else orders[:1]


def _consistency_exact(a: _Auditor, oracle: DiscreteOracle,
                       gen: np.random.Generator, err: float = 0.0) -> dict[str, Any]:
    n, q = int(oracle.n), int(oracle.q)
    tol = tv_tol(n, err)
    orders = _orders(n, gen, 4)
    joints = [_chain_joint(oracle, o) for o in orders]
    info: dict[str, Any] = {"method": "exact", "orders": [o.tolist() for o in orders],
                            "masses": [float(j.sum()) for j in joints]}
    worst = (0.0, 0, 0)
    for s in range(len(joints)):
        for t in range(s + 1, len(joints)):
            tv = 0.5 * float(np.abs(joints[s] - joints[t]).sum())
            if tv > worst[0] or math.isnan(tv):
                worst = (tv if not math.isnan(tv) else math.inf, s, t)
    tv, s, t = worst
    info["max_tv"] = tv
    info["tolerance"] = tol
    # computed exactly; the interval allows the float64 rounding of the products only
    info["max_tv_interval"] = [max(0.0, tv - 1e-12 * n), min(1.0, tv + 1e-12 * n)]
    info["inconsistency"] = ("TV between the chain-rule laws of two orders (exact): how far "
                             "the oracle is from having one joint law; the samplers are "
                             "tested relative to the oracle separately (sampler.*)")
    if tv > tol:
        k = int(np.argmax(np.abs(joints[s] - joints[t])))
        cfg = [int(v) for v in np.unravel_index(k, (q,) * n)]
        info["where"] = cfg
        a.add("consistency.orders", False,
              f"the chain-rule joints of orders {orders[s].tolist()} and {orders[t].tolist()} "
              f"differ in TV by {tv:.4g} (exact, q**n = {q**n}; tolerance {tol:.3g}); "
              f"largest gap at x = {cfg}: {joints[s][k]:.6g} vs {joints[t][k]:.6g}",
              query={"method": "chain rule", "orders": [orders[s].tolist(), orders[t].tolist()],
                     "x": cfg, "p": [float(joints[s][k]), float(joints[t][k])]}, value=tv)
    else:
        a.ok("consistency.orders", f"{len(orders)} orders, exact max TV {tv:.3g} (tolerance "
             f"{tol:.3g})", value=tv)
    pmf = getattr(oracle, "pmf", None)
    if callable(pmf):
        p, err = _call(pmf)
        if err is None and p is not None and p.shape == (q**n,):
            tvp = 0.5 * float(np.abs(p - joints[0]).sum())
            info["pmf_tv"] = tvp
            if tvp > tol or math.isnan(tvp):
                k = int(np.argmax(np.abs(p - joints[0])))
                cfg = [int(v) for v in np.unravel_index(k, (q,) * n)]
                a.add("consistency.pmf", False, f"the declared pmf() and the chain-rule joint "
                      f"(identity order) differ in TV by {tvp:.4g} (tolerance {tol:.3g}); "
                      f"at x = {cfg}: "
                      f"{p[k]:.6g} vs {joints[0][k]:.6g}",
                      query={"method": "pmf vs chain rule", "x": cfg,
                             "order": orders[0].tolist()}, value=tvp)
            else:
                a.ok("consistency.pmf", f"TV {tvp:.3g}", value=tvp)
        elif err is not None:
            a.add("consistency.pmf", False, f"pmf() raised {err}", severity="warning",
                  query={"method": "pmf"})
        else:
            a.add("consistency.pmf", False, f"pmf() returned shape "
                  f"{None if p is None else p.shape}; expected ({q**n},) (flat, C order)",
                  severity="warning", query={"method": "pmf"})
    else:
        a.skip("consistency.pmf", "the oracle declares no pmf()")
    return info


def _chain_logp(oracle: DiscreteOracle, x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """log prod_j mu(x_{order_j} | x_{order_<j}) for full configurations x (M, n)."""
    M, n = x.shape
    ctx = np.full((M, n), MASK, dtype=np.int64)
    logp = np.zeros(M)
    rows = np.arange(M)
    fast = callable(getattr(oracle, "conditionals_at", None))
    for j in range(n):
        i = int(order[j])
        if fast:
            c = np.asarray(oracle.conditionals_at(ctx, np.full((M, 1), i)))[:, 0, :]
        else:
            c = np.asarray(oracle.conditionals(ctx))[:, i, :]
        with np.errstate(divide="ignore"):
            logp += np.log(c[rows, x[:, i]])
        ctx[:, i] = x[:, i]
    return logp


def _bernstein_interval(v: np.ndarray, alpha: float) -> tuple[float, float]:
    """Interval at level ``1 - alpha`` for the mean of iid variables in [0, 1]: the
    empirical Bernstein bound (Maurer and Pontil 2009, Theorem 4) on each side at
    ``alpha / 2``, ``mean +- (sqrt(2 V ln(4 / alpha) / m) + 7 ln(4 / alpha) / (3 (m - 1)))``
    with ``V`` the unbiased sample variance of the ``m >= 2`` values; clipped to [0, 1].
    Valid whatever the law (a normal interval is not: a rare-context inconsistency
    leaves every draw at 0, with standard error 0)."""
    m = int(v.size)
    mean = float(v.mean())
    var = float(v.var(ddof=1))
    ell = math.log(4.0 / alpha)
    half = math.sqrt(2.0 * var * ell / m) + 7.0 * ell / (3.0 * (m - 1))
    return max(0.0, mean - half), min(1.0, mean + half)


def _consistency_estimated(a: _Auditor, oracle: DiscreteOracle, gen: np.random.Generator,
                           num: int, err: float = 0.0) -> dict[str, Any]:
    """TV between the chain-rule laws of the first order and two others, estimated from
    ``num`` sequences drawn along the first: ``TV = E_0[(1 - P_t(x) / P_0(x))_+]``, a mean
    of values in [0, 1], with an empirical Bernstein interval (Bonferroni over the two
    comparisons). Fails when an interval lies above the tolerance, passes when every
    interval lies below it, and otherwise warns that an inconsistency below the
    interval's upper end can go unseen at this size."""
    n = int(oracle.n)
    tol = tv_tol(n, err)
    orders = _orders(n, gen, 3)
    x = SequentialSampler(oracle, order=orders[0], validate=False).sample(num, rng=gen).samples
    lp = [_chain_logp(oracle, x, o) for o in orders]
    info: dict[str, Any] = {"method": "estimated", "orders": [o.tolist() for o in orders],
                            "num_sequences": num, "tolerance": tol}
    level = INTERVAL_ALPHA / max(1, len(orders) - 1)
    found: list[tuple[float, float, float, int, int]] = []
    for t in range(1, len(orders)):
        with np.errstate(invalid="ignore", over="ignore"):
            integrand = np.clip(1.0 - np.exp(lp[t] - lp[0]), 0.0, 1.0)
        integrand = np.where(np.isnan(integrand), 1.0, integrand)
        low, high = _bernstein_interval(integrand, level)
        found.append((float(integrand.mean()), low, high, t, int(np.argmax(integrand))))
    est, low, high, t, k = max(found, key=lambda f: f[0])
    low = max(f[1] for f in found)
    high = max(f[2] for f in found)
    info.update(max_tv=est, max_tv_interval=[low, high],
                inconsistency=(f"estimated TV between the chain-rule laws of two orders, "
                               f"{100 * (1 - INTERVAL_ALPHA):g}% empirical Bernstein "
                               "interval; the samplers are tested relative to the oracle "
                               "separately (sampler.*)"))
    where = (f"estimated TV {est:.3g}, {100 * (1 - INTERVAL_ALPHA):g}% interval [{low:.3g}, "
             f"{high:.3g}] over {len(orders)} orders ({num} sequences drawn in the first "
             f"order; tolerance {tol:.3g})")
    if low > tol:
        a.add("consistency.orders", False,
              f"the chain-rule joints of orders {orders[0].tolist()[:12]}... and "
              f"{orders[t].tolist()[:12]}... differ: {where}; largest gap at the sequence x "
              f"with log-probabilities {lp[0][k]:.6g} vs {lp[t][k]:.6g}",
              query={"method": "chain rule", "orders": [orders[0].tolist(), orders[t].tolist()],
                     "x": _ctx_list(x[k]), "log_p": [float(lp[0][k]), float(lp[t][k])]},
              value=est)
    elif high <= tol:
        a.ok("consistency.orders", where, value=est)
    else:
        a.add("consistency.orders", False,
              f"not shown consistent at this size: {where}; an inconsistency below "
              f"{high:.3g} can go unseen (the exact rule needs q**n <= {EXACT_JOINT_LIMIT})",
              severity="warning", value=est)
    return info


def _reference_discrete(a: _Auditor, oracle: DiscreteOracle, reference: DiscreteOracle,
                        gen: np.random.Generator, num: int, eps: float = math.nan,
                        ) -> dict[str, Any]:
    n, q = int(oracle.n), int(oracle.q)
    rn, rq = getattr(reference, "n", None), getattr(reference, "q", None)
    if (rn, rq) != (n, q):
        a.add("reference", False, f"reference has n={rn}, q={rq}; the oracle has n={n}, q={q}")
        return {}
    # contexts with positive probability under the reference: its samples, partly masked
    y = SequentialSampler(reference, validate=False).sample(num, rng=gen).samples
    keep = gen.random((num, n)) < gen.random(num)[:, None]
    x = np.where(keep, y, MASK).astype(np.int64)
    mine, err = _call(oracle.conditionals, x.copy())
    ref = np.asarray(reference.conditionals(x.copy()), dtype=np.float64)
    if err is not None or mine is None or mine.shape != ref.shape:
        a.add("reference", False, f"cannot compare: oracle answer {err or mine.shape}")
        return {}
    masked = x == MASK
    # one row each: within half their L1 rounding errors of the exact rows
    tol = max(TV_TOL, 0.5 * (row_error(mine, x, eps)
                             + row_error(ref, x, float(np.finfo(np.float64).eps))))
    tv = 0.5 * np.abs(np.asarray(mine, dtype=np.float64) - ref).sum(axis=-1)
    tv = np.where(masked, np.where(np.isnan(tv), np.inf, tv), 0.0)
    cnt = int(masked.sum())
    mx = float(tv.max()) if cnt else 0.0
    mean = float(tv[masked].mean()) if cnt else 0.0
    info = {"max_tv": mx, "mean_tv": mean, "contexts": num, "rows": cnt, "tolerance": tol}
    if mx > tol:
        b, i = (int(v) for v in np.unravel_index(int(np.argmax(tv)), tv.shape))
        a.add("reference", False, f"conditionals differ from the reference: max TV {mx:.4g} "
              f"(tolerance {tol:.3g}), mean TV {mean:.3g} over {cnt} masked positions of "
              f"{num} contexts sampled from the reference; worst at context #{b}, position "
              f"{i}: {_rounded(mine[b, i])} vs {_rounded(ref[b, i])}",
              query={"method": "conditionals", "x": _ctx_list(x[b]), "position": i}, value=mx)
    else:
        a.ok("reference", f"max TV {mx:.3g}, mean {mean:.3g} over {cnt} rows (tolerance "
             f"{tol:.3g})", value=mx)
    return info
