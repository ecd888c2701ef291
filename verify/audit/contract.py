"""Contract rules of a discrete oracle: one call's answer checked row by row against the
contract of :class:`samplers.oracle.CountingOracle`, the input left unchanged, the
``conditionals_at`` fast path agreeing with ``conditionals``, determinism and batch
invariance (the last two shared with the diffusion audit).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import OracleError
from samplers.arrays import to_host, tolerance
from samplers.oracle import RULE_IDS, CountingOracle
from verify.audit.result import _Auditor, _ctx_list, _format_value

#: Tolerance on float64 answers that must agree (determinism, batch invariance, the
#: positional fast path); answers in a lower precision get :func:`agree_tol`.
AGREE_TOL: float = 1e-9


def agree_tol(eps: float, q: int, scale: float = 1.0) -> float:
    """Tolerance on two answers of the same query that must agree, for answers in a dtype
    of machine epsilon ``eps``: the contract's row tolerance
    :func:`samplers.arrays.tolerance` (``max(1e-9, 2 (ceil(log2 q) + 1) eps)``: the
    rounding of a ``q``-term sum, which a re-batched or re-ordered kernel may add in
    another order) times ``max(1, scale)`` (the size of the answers: 1 for
    probabilities); :data:`AGREE_TOL` for float64 and when ``eps`` is unknown.

    Examples
    --------
    >>> agree_tol(float("nan"), 4)
    1e-09
    >>> f"{agree_tol(2.0**-23, 32):.3g}"
    '1.43e-06'
    """
    if not math.isfinite(eps):
        return AGREE_TOL
    return max(AGREE_TOL, tolerance(eps, max(2, int(q))) * max(1.0, float(scale)))


def _random_contexts(n: int, q: int, num: int, gen: np.random.Generator) -> np.ndarray:
    """The audit batch: random contexts of random density, with the empty context, a
    full configuration and one with a single masked position first."""
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


def _call(fn: Callable[..., Any], *args: Any) -> tuple[np.ndarray | None, str | None]:
    """The oracle's answer on the host (:func:`samplers.arrays.to_host`: any array library,
    copied once), in its own dtype when numpy has it (float16/32/64, exact), else the
    exact float32 widening (bfloat16); or the error it raised (or the reason its answer
    is no array), as text."""
    vals, err, _ = _call_eps(fn, *args)
    return vals, err


def _call_eps(fn: Callable[..., Any],
              *args: Any) -> tuple[np.ndarray | None, str | None, float]:
    """:func:`_call` and the machine epsilon of the dtype the oracle answered in (that of
    bfloat16 when the values are its float32 widening; nan when not floating)."""
    try:
        ans = to_host(fn(*args))
    except Exception as exc:  # the oracle's own failure is a finding
        return None, f"{type(exc).__name__}: {exc}", float("nan")
    vals = ans.values
    if vals.dtype.kind == "f":
        own = ans.dtype if ans.dtype in ("float16", "float32", "float64") else "float32"
        vals = vals.astype(own, copy=False)
    return vals, None, float(ans.eps)


def _batch_shapes(B: int) -> list[int]:
    """Batch sizes whose answer shapes the contract checks (those re-batching uses)."""
    return sorted({B, 1, *((B // 2,) if B >= 4 else ())}, reverse=True)


def _contract_discrete(a: _Auditor, oracle: DiscreteOracle,
                       x: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The contract rules on one answer; the answer and its dtype's epsilon, or ``None``
    when it cannot be checked further."""
    n, q = int(oracle.n), int(oracle.q)
    B = x.shape[0]
    x_in = x.copy()
    out, err, eps = _call_eps(oracle.conditionals, x_in)
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
        b, i = (int(v) for v in np.argwhere(x_in != x)[0])
        a.add("contract.input", False, f"the oracle modified the context array passed to it: "
              f"entry {i} of context #{b} changed from {int(x[b, i])} to "
              f"{x_in[b, i].item()!r}", query={"method": "conditionals",
                                                "x": _ctx_list(x[b]), "position": i})
    else:
        a.ok("contract.input")
    assert out is not None
    # the answer's shape for the batch, for one context alone and for half the batch
    for size in _batch_shapes(B):
        got = out if size == B else _call(oracle.conditionals, x[:size].copy())[0]
        if got is None or got.shape == (size, n, q):
            continue
        hint = ""
        if size == 1 and got.shape in ((n, q), tuple(d for d in (1, n, q) if d != 1)):
            hint = (": the batch axis is dropped for a batch of one context (e.g. by "
                    "np.squeeze); keep the leading axis of size 1")
        a.add("contract.shape", False, f"answer to a batch of {size} context"
              f"{'s' if size != 1 else ''} has shape {got.shape}; expected {(size, n, q)}{hint}",
              query={"method": "conditionals", "x": _ctx_list(x[0]), "batch_size": size})
        return None
    a.ok("contract.shape", f"batches of {', '.join(map(str, _batch_shapes(B)))} contexts")
    if out.dtype.kind != "f":
        masked = np.argwhere(x == MASK)
        b, i = (int(v) for v in masked[0]) if masked.size else (0, 0)
        a.add("contract.dtype", False, f"answer dtype is {out.dtype}, not floating: an integer "
              f"or boolean answer cannot hold probabilities strictly between 0 and 1 (context "
              f"#{b}, position {i} is answered {out[b, i].tolist()})",
              query={"method": "conditionals", "x": _ctx_list(x[b]), "position": i,
                     "answer_row": out[b, i].tolist()})
        if out.dtype.kind not in "iub":
            return None
        out = out.astype(np.float64)
    else:
        a.ok("contract.dtype")
    guard = CountingOracle(oracle, validate=True)
    seen: dict[str, tuple[int, str, int | None]] = {}
    counts: dict[str, int] = {}
    for b in range(B):
        try:
            guard.check_answer(out[b:b + 1], x[b:b + 1], eps=eps)
        except OracleError as exc:
            msg = str(exc)
            rule = getattr(exc, "rule", None) or next(
                (rid for text, rid in RULE_IDS if text in msg), "contract.other")
            counts[rule] = counts.get(rule, 0) + 1
            if rule not in seen:
                pos = getattr(exc, "position", None)
                if pos is None:
                    m = re.search(r"position (\d+)", msg)
                    pos = int(m.group(1)) if m else None
                seen[rule] = (b, msg.replace("Batch row 0", f"Audit context #{b}"), pos)
    for rule in ("contract.finite", "contract.range", "contract.normalised", "contract.one-hot",
                 "contract.zero-context"):
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
    return out, eps


def _positional(a: _Auditor, oracle: DiscreteOracle, x: np.ndarray, out: np.ndarray,
                gen: np.random.Generator, tol: float = AGREE_TOL) -> None:
    """The fast path ``conditionals_at`` (when the oracle has one) answers what
    ``conditionals`` answers on the same contexts, within ``tol``, without and with
    chain values (``L = 3`` positions a row where the audit contexts allow, else 2)."""
    rule = "contract.positional"
    if not callable(getattr(oracle, "conditionals_at", None)):
        a.skip(rule, "the oracle has no conditionals_at fast path")
        return
    n, q = int(oracle.n), int(oracle.q)
    masked = x == MASK
    counts = masked.sum(axis=1)
    L = 3 if (counts >= 3).any() else 2
    rows = np.flatnonzero(counts >= L)
    if rows.size == 0:
        a.skip(rule, "no audit context has two masked positions")
        return
    K = rows.size
    pos = np.array([gen.choice(np.flatnonzero(masked[b]), size=L, replace=False)
                    for b in rows], dtype=np.int64)
    vals = gen.integers(0, q, size=(K, L))
    xr = x[rows]
    # chain step j: xr with positions[:, :j] revealed as vals[:, :j]
    steps = np.repeat(xr[None], L, axis=0)
    for j in range(1, L):
        steps[j:, np.arange(K), pos[:, j - 1]] = vals[:, j - 1]
    full, err = _call(oracle.conditionals, steps[1:].reshape(-1, n).copy())
    if err is not None or full is None or full.shape != ((L - 1) * K, n, q):
        a.skip(rule, f"conditionals on the chain contexts failed "
               f"({err or (None if full is None else full.shape)}); see the other contract "
               "rules")
        return
    full = np.concatenate([out[rows][None], full.reshape(L - 1, K, n, q)])
    kk = np.arange(K)[:, None]
    expect = {"without chain values": out[rows][kk, pos],
              "with chain values": full[np.arange(L)[None, :], kk, pos]}
    for label, chain in (("without chain values", None), ("with chain values", vals)):
        args = (xr.copy(), pos.copy()) + (() if chain is None else (chain.copy(),))
        got, err = _call(oracle.conditionals_at, *args)
        extra = {} if chain is None else {"chain_values": chain[0].tolist()}
        if err is not None or got is None or got.shape != (K, L, q):
            what = (f"raised {err}" if got is None else
                    f"gave an answer of shape {got.shape}; expected {(K, L, q)}")
            a.add(rule, False, f"conditionals_at {label} on {K} audit contexts {what}",
                  query={"method": "conditionals_at", "x": _ctx_list(xr[0]),
                         "positions": pos[0].tolist(), **extra})
            return
        d, k = _max_diff(expect[label], got)
        if d > tol:
            b, j = (k[0], k[1]) if k else (0, 0)
            ctx = steps[0 if chain is None else j, b]
            a.add(rule, False, f"conditionals_at {label} differs from conditionals on the "
                  f"same context by up to {d:.3g} (tolerance {tol:.3g}): at context "
                  f"{_format_value('x', _ctx_list(ctx))}, position {int(pos[b, j])}: "
                  f"{_rounded(got[b, j])} vs {_rounded(expect[label][b, j])}",
                  query={"method": "conditionals_at", "x": _ctx_list(xr[b]),
                         "positions": pos[b].tolist(),
                         **({} if chain is None else {"chain_values": chain[b].tolist()}),
                         "position": int(pos[b, j]), "answer_row": got[b, j].tolist(),
                         "conditionals_x": _ctx_list(ctx),
                         "conditionals_row": expect[label][b, j].tolist()}, value=d)
            return
    a.ok(rule, f"{K} contexts, {L} positions each, without and with chain values "
         f"(tolerance {tol:.3g})")


def _rounded(row: np.ndarray) -> list[float]:
    """A row for a message, rounded to 6 decimals in float64 (a float16 row scaled by
    1e6 overflows)."""
    return np.round(np.asarray(row, dtype=np.float64), 6).tolist()


def _determinism(a: _Auditor, call: Callable[..., Any], x: np.ndarray, out: np.ndarray,
                 fmt_query: Callable[..., dict[str, Any]], tol: float = AGREE_TOL) -> None:
    out2, err = _call(call, x.copy())
    if err is not None:
        a.add("determinism", False, f"second identical call raised {err}", query=fmt_query(0))
        return
    d, k = _max_diff(out, out2)
    if d > tol or k is None and d > 0:
        a.add("determinism", False, f"the same call twice differs by up to {d:.3g} "
              f"(tolerance {tol:.3g})", query=fmt_query(k[0] if k else 0, k), value=d)
    elif d > 0:
        a.add("determinism", False, f"the same call twice differs by {d:.3g} (below "
              f"{tol:.3g}: floating-point non-determinism)", severity="info",
              query=fmt_query(k[0] if k else 0, k), value=d)
    else:
        a.ok("determinism", "bit-identical", value=0.0)


def _batch_invariance(a: _Auditor, call: Callable[..., Any], x: np.ndarray, out: np.ndarray,
                      gen: np.random.Generator, fmt_query: Callable[..., dict[str, Any]], *,
                      extra: tuple[np.ndarray, ...] = (), tol: float = AGREE_TOL) -> None:
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
        assert res is not None
        if res.shape != out[rows].shape:
            a.add("batch-invariance", False, f"the answer {label} has shape {res.shape}; "
                  f"expected {out[rows].shape}", query=fmt_query(int(rows[0])))
            return
        d, k = _max_diff(out[rows], res)
        if d > worst[0] or (k is None and d > 0):
            row = int(rows[k[0]]) if k else int(rows[0])
            kk = (row, *k[1:]) if k else None
            worst = (d, (row, kk), label)
    d, where, label = worst
    if d > tol:
        row, kk = where  # type: ignore[misc]
        a.add("batch-invariance", False, f"context #{row} answered {label} differs by up to "
              f"{d:.3g} (tolerance {tol:.3g})", query=fmt_query(row, kk), value=d)
    else:
        a.ok("batch-invariance", f"{len(variants)} re-batchings agree (max diff {d:.3g}, "
             f"tolerance {tol:.3g})", value=d)
