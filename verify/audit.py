"""Audit of a user's oracle (DESIGN 6.4): contract, determinism, batch invariance,
chain-rule consistency across orders, agreement with a reference, and sampler runs.

:func:`audit_oracle` never raises on a bad *answer*: every broken rule becomes a
:class:`Finding` with a severity, the rule and the exact query that shows it (the
context, the position, and for consistency the orders and configuration). It raises
:class:`~verify.errors.ParameterError` only for bad *arguments* (an object that is
neither a discrete nor a diffusion oracle, a reference of another kind).

The per-answer contract rules are those of :class:`samplers.oracle.CountingOracle`
(its checks are run row by row, so that every broken rule is found with the first
context that shows it, not only the first rule).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distributions._validation import check_int
from distributions.base import MASK
from distributions.errors import OracleError, ParameterError

__all__ = ["Finding", "AuditResult", "audit_oracle", "audit_report"]

#: Largest ``q**n`` for which the chain-rule joints of several orders are computed exactly.
EXACT_JOINT_LIMIT: int = 4096
#: Largest n for which chain-rule joints of several orders are estimated by sampling.
MAX_CHAIN_N: int = 2048
#: Tolerance on answers that must agree (determinism, batch invariance, consistency).
AGREE_TOL: float = 1e-9
#: Tolerance on TV between joints / conditionals that must be equal.
TV_TOL: float = 1e-6
#: TV the audit's sampler exactness tests detect (power 0.99) and their total alpha.
SAMPLER_TV: float = 0.1
SAMPLER_ALPHA: float = 0.01

_RULE_IDS = [
    ("shape must be", "contract.shape"),
    ("dtype must be floating", "contract.dtype"),
    ("entries must be finite", "contract.finite"),
    ("entries must lie in [0, 1]", "contract.range"),
    ("rows must sum to 1", "contract.normalised"),
    ("unmasked positions must hold the one-hot", "contract.one-hot"),
    ("a zero-probability context has all-zero rows", "contract.zero-context"),
]

_TITLES = {
    "contract.interface": "has the oracle attributes",
    "contract.raises": "answers without raising",
    "contract.input": "does not modify its input",
    "contract.shape": "answer shape",
    "contract.dtype": "answer dtype is floating",
    "contract.finite": "entries are finite",
    "contract.range": "entries lie in [0, 1]",
    "contract.normalised": "rows sum to 1 (or all zero)",
    "contract.one-hot": "one-hot at unmasked positions",
    "contract.zero-context": "zero-probability context convention",
    "determinism": "same call twice gives the same answer",
    "batch-invariance": "a row's answer does not depend on the batch",
    "consistency.exchange": "two-position chain rule agrees in both orders",
    "consistency.orders": "chain-rule joints of several orders agree",
    "consistency.pmf": "chain-rule joint equals the declared pmf",
    "reference": "agrees with the reference oracle",
    "diffusion.tower": "tower property on simulated localization paths",
}


@dataclass(frozen=True)
class Finding:
    """One audited rule.

    Attributes
    ----------
    rule : str
        Rule id, e.g. ``"contract.normalised"`` or ``"consistency.orders"``.
    passed : bool
    severity : {"error", "warning", "info"}
        How much a failure matters: an ``"error"`` fails the audit.
    message : str
        What was seen.
    query : dict or None
        The exact query that shows the failure (JSON-able): ``{"method":
        "conditionals", "x": [...], "position": i}`` and more for consistency.
    value : float or None
        The rule's measured quantity (max deviation, TV...).
    """

    rule: str
    passed: bool
    severity: str
    message: str
    query: dict[str, Any] | None = None
    value: float | None = None

    @property
    def title(self) -> str:
        return _TITLES.get(self.rule, self.rule)


@dataclass(frozen=True)
class AuditResult:
    """Result of :func:`audit_oracle`.

    Attributes
    ----------
    kind : {"discrete", "diffusion"}
    name : str
        Type name of the audited oracle.
    shape : dict
        ``{"n", "q"}`` or ``{"dim"}``.
    checks : tuple of Finding
        Every rule audited, passed or not.
    consistency : dict
        Method (``"exact"`` or ``"estimated"``), orders and the largest disagreement.
    sampler_runs : tuple of dict
        Per sampler: cost (mean rounds, queries, seconds) and exactness when a target
        with a pmf is known.
    num_contexts : int
    seed : int or None
    seconds : float
    """

    kind: str
    name: str
    shape: dict[str, int]
    checks: tuple[Finding, ...]
    consistency: dict[str, Any] = field(default_factory=dict)
    sampler_runs: tuple[dict[str, Any], ...] = ()
    num_contexts: int = 0
    seed: int | None = None
    seconds: float = 0.0

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The rules that failed (errors, warnings and notes)."""
        return tuple(f for f in self.checks if not f.passed)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def passed(self) -> bool:
        """True when no finding has severity ``"error"``."""
        return not self.errors

    def __str__(self) -> str:
        head = (f"audit of {self.name} ({', '.join(f'{k}={v}' for k, v in self.shape.items())}):"
                f" {'PASS' if self.passed else 'FAIL'}, {len(self.checks)} rules, "
                f"{len(self.errors)} errors")
        lines = [head]
        for f in self.findings:
            lines.append(f"  [{f.severity}] {f.rule}: {f.message}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- helpers
def _ctx_list(ctx: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(ctx).tolist()]


class _Auditor:
    def __init__(self) -> None:
        self.checks: list[Finding] = []

    def add(self, rule: str, passed: bool, message: str, *, severity: str = "error",
            query: dict[str, Any] | None = None, value: float | None = None) -> Finding:
        f = Finding(rule, bool(passed), severity, message, query if not passed else None,
                    None if value is None else float(value))
        self.checks.append(f)
        return f

    def ok(self, rule: str, message: str = "ok", value: float | None = None) -> None:
        self.add(rule, True, message, value=value)

    @property
    def has_errors(self) -> bool:
        return any(not f.passed and f.severity == "error" for f in self.checks)


def _random_contexts(n: int, q: int, num: int, gen: np.random.Generator) -> np.ndarray:
    x = gen.integers(0, q, size=(num, n))
    density = gen.random(num)[:, None]
    mask = gen.random((num, n)) < density
    mask[0] = True  # the empty context
    if num > 1:
        mask[1] = False  # a full configuration
    if num > 2:
        mask[2] = False
        mask[2, gen.integers(n)] = True  # one masked position
    return np.where(mask, MASK, x).astype(np.int64)


def _max_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple[int, ...] | None]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return math.inf, None
    both_nan = np.isnan(a) & np.isnan(b)
    d = np.where(both_nan, 0.0, np.abs(a - b))
    d = np.where(np.isnan(d), np.inf, d)
    if d.size == 0:
        return 0.0, None
    k = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(d[k]), tuple(int(i) for i in k)


def _call(fn: Any, *args: Any) -> tuple[np.ndarray | None, str | None]:
    try:
        return np.asarray(fn(*args)), None
    except Exception as exc:  # the oracle's own failure is a finding
        return None, f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------- discrete
def _contract_discrete(a: _Auditor, oracle: Any, x: np.ndarray) -> np.ndarray | None:
    from samplers.oracle import CountingOracle

    n, q = int(oracle.n), int(oracle.q)
    B = x.shape[0]
    x_in = x.copy()
    out, err = _call(oracle.conditionals, x_in)
    if err is not None:
        # find the first context that raises on its own
        for b in range(B):
            _, e = _call(oracle.conditionals, x[b:b + 1].copy())
            if e is not None:
                a.add("contract.raises", False, f"the oracle raised {e}",
                      query={"method": "conditionals", "x": _ctx_list(x[b])})
                return None
        a.add("contract.raises", False, f"the oracle raised {err} on a batch of {B} contexts "
              "(each context alone is answered)", query={"method": "conditionals",
                                                        "batch_size": B})
        return None
    a.ok("contract.raises")
    if not np.array_equal(x_in, x):
        b = int(np.argmax((x_in != x).any(axis=1)))
        a.add("contract.input", False, "the oracle modified the context array passed to it",
              query={"method": "conditionals", "x": _ctx_list(x[b])})
    else:
        a.ok("contract.input")
    assert out is not None
    if out.shape != (B, n, q):
        a.add("contract.shape", False, f"answer to a batch of {B} contexts has shape "
              f"{out.shape}; expected {(B, n, q)}",
              query={"method": "conditionals", "x": _ctx_list(x[0]), "batch_size": B})
        return None
    a.ok("contract.shape")
    if out.dtype.kind != "f":
        a.add("contract.dtype", False, f"answer dtype is {out.dtype}, not floating",
              severity="error" if out.dtype.kind not in "iu" else "warning",
              query={"method": "conditionals", "x": _ctx_list(x[0])})
        if out.dtype.kind not in "iu":
            return None
    else:
        a.ok("contract.dtype")
    guard = CountingOracle(oracle, validate=True)
    seen: dict[str, tuple[int, str, int | None]] = {}
    counts: dict[str, int] = {}
    for b in range(B):
        try:
            guard.check_answer(out[b:b + 1], x[b:b + 1])
        except OracleError as exc:
            msg = str(exc)
            rule = next((rid for text, rid in _RULE_IDS if text in msg), "contract.other")
            counts[rule] = counts.get(rule, 0) + 1
            if rule not in seen:
                m = re.search(r"position (\d+)", msg)
                seen[rule] = (b, msg.replace("Batch row 0", f"Audit context #{b}"),
                              int(m.group(1)) if m else None)
    for _, rule in _RULE_IDS[2:]:
        if rule in seen:
            b, msg, pos = seen[rule]
            query = {"method": "conditionals", "x": _ctx_list(x[b])}
            if pos is not None:
                query["position"] = pos
                query["answer_row"] = [float(v) for v in out[b, pos]]
            a.add(rule, False, f"{msg} ({counts[rule]} of {B} contexts break it)", query=query)
        else:
            a.ok(rule, f"all {B} contexts")
    if "contract.other" in seen:
        b, msg, _ = seen["contract.other"]
        a.add("contract.other", False, msg, query={"method": "conditionals",
                                                    "x": _ctx_list(x[b])})
    return out


def _determinism(a: _Auditor, call: Any, x: np.ndarray, out: np.ndarray, fmt_query: Any) -> None:
    out2, err = _call(call, x.copy())
    if err is not None:
        a.add("determinism", False, f"second identical call raised {err}", query=fmt_query(0))
        return
    d, k = _max_diff(out, out2)
    if d > AGREE_TOL or k is None and d > 0:
        a.add("determinism", False, f"the same call twice differs by up to {d:.3g}",
              query=fmt_query(k[0] if k else 0, k), value=d)
    elif d > 0:
        a.add("determinism", False, f"the same call twice differs by {d:.3g} (below "
              f"{AGREE_TOL:g}: floating-point non-determinism)", severity="info",
              query=fmt_query(k[0] if k else 0, k), value=d)
    else:
        a.ok("determinism", "bit-identical", value=0.0)


def _batch_invariance(a: _Auditor, call: Any, x: np.ndarray, out: np.ndarray,
                      gen: np.random.Generator, fmt_query: Any, *,
                      extra: tuple[np.ndarray, ...] = ()) -> None:
    B = x.shape[0]
    worst = (0.0, None, "")

    def take(arr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        return (arr[rows].copy(), *(e[rows].copy() for e in extra))

    perm = gen.permutation(B)
    variants = [("in a permuted batch", perm)]
    variants += [(f"alone (batch of 1) instead of in a batch of {B}", np.array([b]))
                 for b in range(min(B, 12))]
    if B >= 4:
        variants.append((f"in a batch of {B // 2} instead of {B}", np.arange(B // 2)))
    for label, rows in variants:
        args = take(x, rows)
        res, err = _call(call, *args)
        if err is not None:
            a.add("batch-invariance", False, f"call {label} raised {err}",
                  query=fmt_query(int(rows[0])))
            return
        d, k = _max_diff(out[rows], res)
        if d > worst[0] or (k is None and d > 0):
            row = int(rows[k[0]]) if k else int(rows[0])
            kk = (row, *k[1:]) if k else None
            worst = (d, (row, kk), label)
    d, where, label = worst
    if d > AGREE_TOL:
        row, kk = where  # type: ignore[misc]
        a.add("batch-invariance", False, f"context #{row} answered {label} differs by up to "
              f"{d:.3g}", query=fmt_query(row, kk), value=d)
    else:
        a.ok("batch-invariance", f"{len(variants)} re-batchings agree (max diff {d:.3g})",
             value=d)


def _exchange(a: _Auditor, oracle: Any, x: np.ndarray, out: np.ndarray,
              gen: np.random.Generator) -> dict[str, Any]:
    """Two-position chain rule: mu(i) mu(j | i) == mu(j) mu(i | j) on audit contexts."""
    n, q = int(oracle.n), int(oracle.q)
    masked = x == MASK
    rows = [b for b in range(x.shape[0]) if masked[b].sum() >= 2
            and np.all(out[b][masked[b]].sum(axis=-1) > 0)]
    rows = rows[:48]
    if not rows:
        a.add("consistency.exchange", True, "no context with two masked positions and "
              "positive probability", severity="info")
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
    info = {"exchange_max_tv": worst, "exchange_contexts": K}
    if worst > TV_TOL:
        d = np.abs(joint1[k] - joint2[k])
        va, vb = (int(v) for v in np.unravel_index(int(np.argmax(d)), d.shape))
        i, j = int(ij[k, 0]), int(ij[k, 1])
        a.add("consistency.exchange", False,
              f"for context #{rows[k]}, the joint of positions ({i}, {j}) built as "
              f"mu(x_{i}) mu(x_{j} | x_{i}) and as mu(x_{j}) mu(x_{i} | x_{j}) differs in TV by "
              f"{worst:.3g}; at (x_{i}, x_{j}) = ({va}, {vb}): {joint1[k, va, vb]:.6g} vs "
              f"{joint2[k, va, vb]:.6g}",
              query={"method": "conditionals", "x": _ctx_list(base[k]), "positions": [i, j],
                     "values": [va, vb],
                     "then_x_with_i": _ctx_list(ctx_i[k * q + va]),
                     "then_x_with_j": _ctx_list(ctx_j[k * q + vb])}, value=worst)
    else:
        a.ok("consistency.exchange", f"{K} contexts, max TV {worst:.3g}", value=worst)
    return info


def _chain_joint(oracle: Any, order: np.ndarray) -> np.ndarray:
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


def _consistency_exact(a: _Auditor, oracle: Any, gen: np.random.Generator) -> dict[str, Any]:
    n, q = int(oracle.n), int(oracle.q)
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
    if tv > TV_TOL:
        k = int(np.argmax(np.abs(joints[s] - joints[t])))
        cfg = [int(v) for v in np.unravel_index(k, (q,) * n)]
        info["where"] = cfg
        a.add("consistency.orders", False,
              f"the chain-rule joints of orders {orders[s].tolist()} and {orders[t].tolist()} "
              f"differ in TV by {tv:.4g} (exact, q**n = {q**n}); largest gap at x = {cfg}: "
              f"{joints[s][k]:.6g} vs {joints[t][k]:.6g}",
              query={"method": "chain rule", "orders": [orders[s].tolist(), orders[t].tolist()],
                     "x": cfg, "p": [float(joints[s][k]), float(joints[t][k])]}, value=tv)
    else:
        a.ok("consistency.orders", f"{len(orders)} orders, exact max TV {tv:.3g}", value=tv)
    pmf = getattr(oracle, "pmf", None)
    if callable(pmf):
        p, err = _call(pmf)
        if err is None and p is not None and p.shape == (q**n,):
            tvp = 0.5 * float(np.abs(p - joints[0]).sum())
            info["pmf_tv"] = tvp
            if tvp > TV_TOL or math.isnan(tvp):
                k = int(np.argmax(np.abs(p - joints[0])))
                cfg = [int(v) for v in np.unravel_index(k, (q,) * n)]
                a.add("consistency.pmf", False, f"the declared pmf() and the chain-rule joint "
                      f"(identity order) differ in TV by {tvp:.4g}; at x = {cfg}: "
                      f"{p[k]:.6g} vs {joints[0][k]:.6g}",
                      query={"method": "pmf vs chain rule", "x": cfg,
                             "order": orders[0].tolist()}, value=tvp)
            else:
                a.ok("consistency.pmf", f"TV {tvp:.3g}", value=tvp)
        elif err is not None:
            a.add("consistency.pmf", False, f"pmf() raised {err}", severity="warning")
    return info


def _chain_logp(oracle: Any, x: np.ndarray, order: np.ndarray) -> np.ndarray:
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


def _consistency_estimated(a: _Auditor, oracle: Any, gen: np.random.Generator,
                           num: int) -> dict[str, Any]:
    from samplers.sequential import SequentialSampler

    n = int(oracle.n)
    orders = _orders(n, gen, 3)
    x = SequentialSampler(oracle, order=orders[0], validate=False).sample(num, rng=gen).samples
    lp = [_chain_logp(oracle, x, o) for o in orders]
    info: dict[str, Any] = {"method": "estimated", "orders": [o.tolist() for o in orders],
                            "num_sequences": num}
    worst = (-1.0, 0.0, 1, 0)
    for t in range(1, len(orders)):
        with np.errstate(invalid="ignore", over="ignore"):
            integrand = np.clip(1.0 - np.exp(lp[t] - lp[0]), 0.0, 1.0)
        integrand = np.where(np.isnan(integrand), 1.0, integrand)
        est = float(integrand.mean())
        se = float(integrand.std(ddof=1) / math.sqrt(num)) if num > 1 else 0.0
        if est > worst[0]:
            worst = (est, se, t, int(np.argmax(integrand)))
    est, se, t, k = worst
    info.update(max_tv=est, max_tv_se=se)
    if est - 4.0 * se > TV_TOL:
        a.add("consistency.orders", False,
              f"the chain-rule joints of orders {orders[0].tolist()[:12]}... and "
              f"{orders[t].tolist()[:12]}... differ: estimated TV {est:.4g} (s.e. {se:.2g}, "
              f"{num} sequences drawn in the first order); largest gap at the sequence x "
              f"with log-probabilities {lp[0][k]:.6g} vs {lp[t][k]:.6g}",
              query={"method": "chain rule", "orders": [orders[0].tolist(), orders[t].tolist()],
                     "x": _ctx_list(x[k]), "log_p": [float(lp[0][k]), float(lp[t][k])]},
              value=est)
    else:
        a.ok("consistency.orders", f"estimated TV {est:.3g} (s.e. {se:.2g}) over "
             f"{len(orders)} orders", value=est)
    return info


def _reference_discrete(a: _Auditor, oracle: Any, reference: Any, gen: np.random.Generator,
                        num: int) -> dict[str, Any]:
    from samplers.sequential import SequentialSampler

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
    tv = 0.5 * np.abs(mine - ref).sum(axis=-1)
    tv = np.where(masked, np.where(np.isnan(tv), np.inf, tv), 0.0)
    cnt = int(masked.sum())
    mx = float(tv.max()) if cnt else 0.0
    mean = float(tv[masked].mean()) if cnt else 0.0
    info = {"max_tv": mx, "mean_tv": mean, "contexts": num, "rows": cnt}
    if mx > TV_TOL:
        b, i = (int(v) for v in np.unravel_index(int(np.argmax(tv)), tv.shape))
        a.add("reference", False, f"conditionals differ from the reference: max TV {mx:.4g}, "
              f"mean TV {mean:.3g} over {cnt} masked positions of {num} contexts sampled from "
              f"the reference; worst at context #{b}, position {i}: "
              f"{np.round(mine[b, i], 6).tolist()} vs {np.round(ref[b, i], 6).tolist()}",
              query={"method": "conditionals", "x": _ctx_list(x[b]), "position": i}, value=mx)
    else:
        a.ok("reference", f"max TV {mx:.3g}, mean {mean:.3g} over {cnt} rows", value=mx)
    return info


def _sampler_runs(a: _Auditor, oracle: Any, reference: Any, seed: int,
                  num: int) -> list[dict[str, Any]]:
    from verify.validation import available_samplers, exactness_check, make_sampler

    n, q = int(oracle.n), int(oracle.q)
    target = None
    for cand in (reference, oracle):
        if cand is not None and callable(getattr(cand, "pmf", None)) and q**n <= 2**12:
            target = cand
            break
    names = [s for s in ("sequential", "autospeculative") if s in available_samplers()]
    runs = []
    for k, name in enumerate(names):
        run: dict[str, Any] = {"sampler": name}
        try:
            t0 = time.perf_counter()
            res = make_sampler(name, oracle).sample(num, rng=np.random.SeedSequence([seed, k]))
            run.update(seconds=time.perf_counter() - t0, num=num,
                       mean_rounds=float(np.mean(res.rounds)),
                       mean_queries=float(np.mean(res.queries)))
            if target is not None:
                chk = exactness_check(make_sampler(name, oracle), target, tv=SAMPLER_TV,
                                      alpha=SAMPLER_ALPHA / len(names), seed=seed + 101 + k)
                run["exactness"] = chk
                label = "the reference" if target is reference else "the oracle's own pmf()"
                if chk["passed"]:
                    a.ok(f"sampler.{name}", f"output law matches {label}: p={chk['pvalue']:.3g}"
                         f", detectable TV {chk['detectable_tv']:.3g}, "
                         f"{chk['num_samples']} samples", value=chk["pvalue"])
                else:
                    a.add(f"sampler.{name}", False,
                          f"{name} sampler on this oracle does not match {label}: "
                          f"{chk['method']} p={chk['pvalue']:.3g} < alpha={chk['alpha']:.3g}, "
                          f"{chk['num_samples']} samples, seed {chk['seed']}",
                          query={"method": "sample", "sampler": name, "seed": chk["seed"],
                                 "num": chk["num_samples"]}, value=chk["pvalue"])
            else:
                a.ok(f"sampler.{name}", f"ran {num} samples (no target pmf known: cost only)")
        except Exception as exc:
            a.add(f"sampler.{name}", False, f"{name} sampler failed on this oracle: "
                  f"{type(exc).__name__}: {exc}", query={"method": "sample", "sampler": name})
            run["error"] = f"{type(exc).__name__}: {exc}"
        runs.append(run)
    return runs


def _audit_discrete(a: _Auditor, oracle: Any, reference: Any, num_contexts: int,
                    gen: np.random.Generator, seed: int, run_samplers: bool
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    n, q = int(oracle.n), int(oracle.q)
    x = _random_contexts(n, q, num_contexts, gen)
    out = _contract_discrete(a, oracle, x)
    if out is None:
        return {}, []

    def fmt_query(b: int, k: tuple[int, ...] | None = None) -> dict[str, Any]:
        qd: dict[str, Any] = {"method": "conditionals", "x": _ctx_list(x[b])}
        if k is not None and len(k) > 1:
            qd["position"] = int(k[1])
        return qd

    _determinism(a, oracle.conditionals, x, out, fmt_query)
    _batch_invariance(a, oracle.conditionals, x, out, gen, fmt_query)
    if a.has_errors:
        a.add("consistency.orders", True, "skipped: the contract is broken", severity="info")
        return {}, []
    consistency = _exchange(a, oracle, x, out, gen)
    if q**n <= EXACT_JOINT_LIMIT:
        consistency.update(_consistency_exact(a, oracle, gen))
    elif n > MAX_CHAIN_N:
        a.add("consistency.orders", True, f"not estimated: n = {n} > {MAX_CHAIN_N} (the "
              "two-position exchange rule still applies)", severity="info")
    else:
        num = int(min(512, max(32, 4_000_000 // (n * max(n, 1)))))
        consistency.update(_consistency_estimated(a, oracle, gen, num))
    if reference is not None:
        consistency["reference"] = _reference_discrete(a, oracle, reference, gen, num_contexts)
    num = 2000 if n * q <= 64 else 200
    runs = _sampler_runs(a, oracle, reference, seed, num) if run_samplers else []
    return consistency, runs


# ---------------------------------------------------------------------- diffusion
def _audit_diffusion(a: _Auditor, oracle: Any, reference: Any, num_contexts: int,
                     gen: np.random.Generator) -> dict[str, Any]:
    dim = int(oracle.dim)
    B = num_contexts
    ts = np.array([1e-3, 0.1, 0.5, 1.0, 4.0, 20.0])
    t = ts[np.arange(B) % ts.size]
    x = np.sqrt(t + t * t)[:, None] * gen.standard_normal((B, dim))

    def fmt_query(b: int, k: tuple[int, ...] | None = None) -> dict[str, Any]:
        return {"method": "denoise", "t": float(t[b]), "x": [float(v) for v in x[b]]}

    t_in, x_in = t.copy(), x.copy()
    out, err = _call(oracle.denoise, t_in, x_in)
    if err is not None:
        for b in range(B):
            _, e = _call(oracle.denoise, t[b:b + 1].copy(), x[b:b + 1].copy())
            if e is not None:
                a.add("contract.raises", False, f"denoise raised {e}", query=fmt_query(b))
                return {}
        a.add("contract.raises", False, f"denoise raised {err} on a batch of {B}")
        return {}
    a.ok("contract.raises")
    if not (np.array_equal(t_in, t) and np.array_equal(x_in, x)):
        a.add("contract.input", False, "denoise modified its input arrays", query=fmt_query(0))
    else:
        a.ok("contract.input")
    assert out is not None
    if out.shape != (B, dim):
        a.add("contract.shape", False, f"denoise answer to a batch of {B} has shape "
              f"{out.shape}; expected {(B, dim)}", query=fmt_query(0))
        return {}
    a.ok("contract.shape")
    if out.dtype.kind != "f":
        a.add("contract.dtype", False, f"denoise dtype is {out.dtype}, not floating",
              query=fmt_query(0))
    else:
        a.ok("contract.dtype")
    bad = ~np.isfinite(out.astype(np.float64))
    if bad.any():
        b = int(np.argmax(bad.any(axis=1)))
        a.add("contract.finite", False, f"denoise returned {out[b].tolist()} "
              f"({int(bad.any(axis=1).sum())} of {B} inputs non-finite)", query=fmt_query(b))
        return {}
    a.ok("contract.finite", f"all {B} inputs")

    def call(tt: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return oracle.denoise(tt, xx)

    out2, err = _call(oracle.denoise, t.copy(), x.copy())
    d, k = _max_diff(out, out2) if err is None else (math.inf, None)
    if d > AGREE_TOL:
        a.add("determinism", False, f"the same call twice differs by up to {d:.3g}"
              if err is None else f"second call raised {err}",
              query=fmt_query(k[0] if k else 0), value=d)
    else:
        a.ok("determinism", value=d)
    _batch_invariance(a, lambda xx, tt: oracle.denoise(tt, xx), x, out, gen, fmt_query,
                      extra=(t,))
    if a.has_errors:
        return {}
    info = _tower(a, oracle, gen)
    if reference is not None:
        if getattr(reference, "dim", None) != dim:
            a.add("reference", False, f"reference has dim={getattr(reference, 'dim', None)}; "
                  f"the oracle has dim={dim}")
        else:
            ref = np.asarray(reference.denoise(t.copy(), x.copy()), dtype=np.float64)
            err_n = np.linalg.norm(out - ref, axis=1) / (1.0 + np.linalg.norm(ref, axis=1))
            b = int(np.argmax(err_n))
            mx, mean = float(err_n[b]), float(err_n.mean())
            info["reference"] = {"max_rel_err": mx, "mean_rel_err": mean}
            if mx > 1e-6:
                a.add("reference", False, f"denoise differs from the reference: max "
                      f"|f - f_ref| / (1 + |f_ref|) = {mx:.4g} (mean {mean:.3g}) at t={t[b]:g}",
                      query=fmt_query(b), value=mx)
            else:
                a.ok("reference", f"max relative error {mx:.3g}", value=mx)
    return info


def _diffusion_sampler_runs(a: _Auditor, oracle: Any, reference: Any, seed: int
                            ) -> list[dict[str, Any]]:
    """Euler and autospeculative diffusion samplers on the oracle: cost, and the same law
    as the Euler chain of the reference when one is given."""
    from verify.validation import module_present

    if not module_present("samplers.diffusion"):
        return []
    from samplers.diffusion import (
        AutospeculativeDiffusionSampler,
        EulerLocalizationSampler,
        LocalizationGrid,
    )

    grid = LocalizationGrid.uniform(10.0, 32)
    makers = {"euler": EulerLocalizationSampler, "autospeculative":
              AutospeculativeDiffusionSampler}
    runs = []
    for k, (name, cls) in enumerate(makers.items()):
        run: dict[str, Any] = {"sampler": name}
        try:
            t0 = time.perf_counter()
            res = cls(oracle, grid).sample(200, rng=np.random.SeedSequence([seed, k]))
            run.update(seconds=time.perf_counter() - t0, num=200,
                       mean_rounds=float(np.mean(res.rounds)),
                       mean_queries=float(np.mean(res.queries)))
            if reference is not None and module_present("verify.continuous"):
                from verify.continuous import check_same_law

                r = check_same_law(cls(oracle, grid), EulerLocalizationSampler(reference, grid),
                                   num_samples=400, alpha=SAMPLER_ALPHA / len(makers),
                                   rng=seed + 101 + k, max_energy_samples=100)
                run["exactness"] = {"passed": bool(r.passed), "pvalue": r.pvalue,
                                    "alpha": r.alpha, "num_samples": r.num_samples,
                                    "method": "same law as the reference's Euler chain",
                                    "detectable_tv": None, "seed": seed + 101 + k}
                if r.passed:
                    a.ok(f"sampler.{name}", f"same law as the reference's Euler chain: "
                         f"p={r.pvalue:.3g}, 400 samples", value=r.pvalue)
                else:
                    a.add(f"sampler.{name}", False, f"{name} diffusion sampler on this oracle "
                          f"differs from the reference's Euler chain: p={r.pvalue:.3g} < "
                          f"alpha={r.alpha:.3g}, 400 samples, seed {seed + 101 + k}",
                          query={"method": "sample", "sampler": name, "seed": seed + 101 + k,
                                 "num": 400}, value=r.pvalue)
            else:
                a.ok(f"sampler.{name}", "ran 200 samples (no reference: cost only)")
        except Exception as exc:
            a.add(f"sampler.{name}", False, f"{name} diffusion sampler failed on this oracle: "
                  f"{type(exc).__name__}: {exc}", query={"method": "sample", "sampler": name})
            run["error"] = f"{type(exc).__name__}: {exc}"
        runs.append(run)
    return runs


def _tower(a: _Auditor, oracle: Any, gen: np.random.Generator) -> dict[str, Any]:
    """E[f(t, X_t) | X_s] = f(s, X_s) along localization paths dX = f(t, X) dt + dW."""
    dim = int(oracle.dim)
    s, t_end, starts, paths = 0.5, 1.5, 4, 1500
    steps_to_s, steps = 50, 100
    # starting points: Euler paths from 0 to s
    xs = np.zeros((starts, dim))
    h = s / steps_to_s
    for k in range(steps_to_s):
        tt = np.full(starts, max(k * h, 1e-9))
        xs = xs + np.asarray(oracle.denoise(tt, xs)) * h + math.sqrt(h) * gen.standard_normal(
            xs.shape)
    f_s = np.asarray(oracle.denoise(np.full(starts, s), xs))
    X = np.repeat(xs, paths, axis=0)
    h = (t_end - s) / steps
    for k in range(steps):
        tt = np.full(X.shape[0], s + k * h)
        X = X + np.asarray(oracle.denoise(tt, X)) * h + math.sqrt(h) * gen.standard_normal(
            X.shape)
    f_t = np.asarray(oracle.denoise(np.full(X.shape[0], t_end), X)).reshape(starts, paths, dim)
    mean = f_t.mean(axis=1)
    se = f_t.std(axis=1, ddof=1) / math.sqrt(paths)
    gap = np.abs(mean - f_s)
    # allowance: 5 standard errors plus the Euler scheme's O(h) bias
    allow = 5.0 * se + 0.05 * (1.0 + np.abs(f_s))
    ratio = gap / allow
    b, c = (int(v) for v in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
    info = {"tower": {"s": s, "t": t_end, "paths": paths, "starts": starts,
                      "max_gap": float(gap.max()), "max_ratio": float(ratio.max())}}
    if ratio[b, c] > 1.0:
        a.add("diffusion.tower", False,
              f"E[f({t_end:g}, X_{t_end:g}) | X_{s:g}] = {mean[b, c]:.4g} but f({s:g}, X_{s:g}) = "
              f"{f_s[b, c]:.4g} (coordinate {c}, s.e. {se[b, c]:.2g}, {paths} Euler paths of "
              f"{steps} steps): f(t, X_t) is not a martingale",
              query={"method": "denoise", "t": s, "x": [float(v) for v in xs[b]],
                     "then_t": t_end}, value=float(gap[b, c]))
    else:
        a.ok("diffusion.tower", f"max gap {gap.max():.3g} within allowance", value=gap.max())
    return info


# ---------------------------------------------------------------------- public
def _kind(obj: Any, name: str) -> str:
    if hasattr(obj, "conditionals") and hasattr(obj, "n") and hasattr(obj, "q"):
        return "discrete"
    if hasattr(obj, "denoise") and hasattr(obj, "dim"):
        return "diffusion"
    raise ParameterError(
        f"`{name}` must be a DiscreteOracle (n, q, conditionals) or a DiffusionOracle "
        f"(dim, denoise); got {type(obj).__name__}."
    )


def audit_oracle(
    oracle: Any,
    *,
    reference: Any = None,
    num_contexts: int = 64,
    rng: Any = None,
    run_samplers: bool = True,
) -> AuditResult:
    """Audit an oracle against its contract and for internal consistency (DESIGN 6.4).

    Parameters
    ----------
    oracle : DiscreteOracle or DiffusionOracle
        The oracle to audit.
    reference : oracle of the same kind, optional
        A trusted oracle of the same law: conditionals (or denoisers) are compared on
        sampled contexts, and its pmf (when it has one) is the target of the sampler
        runs.
    num_contexts : int, default 64
        Contexts (or (t, x) inputs) in the audit batch, ``>= 4``.
    rng : seed, Generator or SeedSequence, optional
    run_samplers : bool, default True
        Run the sequential and autospeculative samplers on a discrete oracle whose
        contract holds (cost, and exactness when a target pmf is known); for a
        diffusion oracle the Euler and autospeculative diffusion samplers (cost, and a
        two-sample test against the reference's Euler chain when a reference is given).

    Returns
    -------
    AuditResult
        ``passed`` is False when any finding has severity ``"error"``.

    Notes
    -----
    Discrete rules: the contract of :class:`samplers.oracle.CountingOracle` (shape,
    dtype, finite, [0, 1], rows summing to 1 or all zero, one-hot at unmasked
    positions, zero-context convention), not modifying the input, determinism,
    batch invariance (permuted batch, each row alone, half batch), the two-position
    exchange identity ``mu(i) mu(j|i) = mu(j) mu(i|j)``, chain-rule joints of
    several orders (exact TV when ``q**n <= 4096``, else a Monte Carlo estimate of
    the TV with its standard error), the declared ``pmf()`` when present.

    Diffusion rules: shape, dtype, finiteness, determinism, batch invariance, the
    tower property ``E[f(t, X_t) | X_s] = f(s, X_s)`` on Euler-simulated localization
    paths, and agreement in norm with a reference.
    """
    kind = _kind(oracle, "oracle")
    num_contexts = check_int("num_contexts", num_contexts, low=4)
    if reference is not None and _kind(reference, "reference") != kind:
        raise ParameterError(f"`reference` must be an oracle of the same kind as `oracle` "
                             f"({kind}); got {type(reference).__name__}.")
    seed_seq = rng if isinstance(rng, np.random.SeedSequence) else None
    if isinstance(rng, int | np.integer):
        seed: int | None = int(rng)
    elif rng is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    else:
        seed = None
    gen = np.random.default_rng(seed if seed is not None else (seed_seq or rng))
    a = _Auditor()
    t0 = time.perf_counter()
    consistency: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    if kind == "discrete":
        n, q = getattr(oracle, "n", None), getattr(oracle, "q", None)
        if (not isinstance(n, int | np.integer) or n < 1 or not isinstance(q, int | np.integer)
                or q < 2 or not callable(getattr(oracle, "conditionals", None))):
            a.add("contract.interface", False, f"oracle must have integer n >= 1, q >= 2 and a "
                  f"callable conditionals; got n={n!r}, q={q!r}")
            shape = {}
        else:
            a.ok("contract.interface")
            shape = {"n": int(n), "q": int(q)}
            consistency, runs = _audit_discrete(a, oracle, reference, num_contexts, gen,
                                                seed if seed is not None else 0, run_samplers)
    else:
        dim = getattr(oracle, "dim", None)
        if not isinstance(dim, int | np.integer) or dim < 1:
            a.add("contract.interface", False, f"oracle.dim must be an integer >= 1; got {dim!r}")
            shape = {}
        else:
            a.ok("contract.interface")
            shape = {"dim": int(dim)}
            consistency = _audit_diffusion(a, oracle, reference, num_contexts, gen)
            if run_samplers and not a.has_errors:
                runs = _diffusion_sampler_runs(a, oracle, reference,
                                               seed if seed is not None else 0)
    return AuditResult(kind=kind, name=type(oracle).__name__, shape=shape,
                       checks=tuple(a.checks), consistency=consistency,
                       sampler_runs=tuple(runs), num_contexts=num_contexts, seed=seed,
                       seconds=time.perf_counter() - t0)


def audit_report(result: AuditResult, *, oracle_spec: str | None = None,
                 reference_spec: str | None = None) -> tuple[list[dict], list[dict]]:
    """Check records and report sections of an audit (for :mod:`reports`)."""
    checks = []
    for f in result.checks:
        rec: dict[str, Any] = {"id": f"audit/{f.rule}", "stage": "audit", "name": f.title,
                               "passed": f.passed, "severity": f.severity, "detail": f.message,
                               "method": f.rule, "statistic": f.value}
        if f.query:
            rec["query"] = f.query
        for run in result.sampler_runs:
            if f.rule == f"sampler.{run['sampler']}" and "exactness" in run:
                ex = run["exactness"]
                rec.update({k: ex[k] for k in ("pvalue", "alpha", "detectable_tv", "num_samples",
                                               "tv_estimate", "seed") if k in ex})
                rec["method"] = ex["method"]
                rec["sampler"] = run["sampler"]
                rec["worst_cells"] = ex.get("worst_cells", [])
        checks.append(rec)
    text = (f"Audited oracle: {oracle_spec or result.name} ({result.kind}; "
            f"{', '.join(f'{k}={v}' for k, v in result.shape.items())}); reference: "
            f"{reference_spec or 'none'}; {result.num_contexts} audit contexts; seed "
            f"{result.seed}. Each failed rule names the exact query that shows it.")
    rows = [[f.rule, f.title, "PASS" if f.passed else f.severity.upper(), f.value, f.message]
            for f in result.checks]
    sections: list[dict[str, Any]] = [{
        "id": "audit-findings", "title": "Audit rules and findings", "text": text,
        "tables": [{"title": "Rules", "columns": ["rule", "what", "result", "value", "detail"],
                    "rows": rows}]}]
    cons = {k: v for k, v in result.consistency.items() if not isinstance(v, dict | list)}
    if cons:
        sections.append({"id": "audit-consistency", "title": "Consistency across orders",
                         "tables": [{"columns": ["quantity", "value"],
                                     "rows": [[k, v] for k, v in cons.items()]}]})
    if result.sampler_runs:
        rows2 = []
        for r in result.sampler_runs:
            ex = r.get("exactness", {})
            rows2.append([r["sampler"], r.get("num"), r.get("mean_rounds"), r.get("mean_queries"),
                          r.get("seconds"), ex.get("pvalue"), ex.get("detectable_tv"),
                          "PASS" if ex.get("passed") else ("-" if not ex else "FAIL"),
                          r.get("error")])
        sections.append({"id": "audit-samplers", "title": "Samplers run on the oracle",
                         "tables": [{"columns": ["sampler", "samples", "mean rounds",
                                                 "mean queries", "seconds", "p-value",
                                                 "detectable TV", "exactness", "error"],
                                     "rows": rows2}]})
    return checks, sections
