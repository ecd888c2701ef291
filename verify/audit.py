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

Every rule of the audit appears in :attr:`AuditResult.checks` with a ``status``:
``"pass"``, ``"fail"`` (an error), ``"warn"`` (a warning or a note) or ``"skipped"``
(not run; the finding's message gives the reason, e.g. that the contract is broken, so
that the consistency rules, which assume answers obeying it, were not evaluated).
``passed`` is True only for ``"pass"``.

The sampler runs are bounded: each ``sample()`` call of a sampler runs under the
budget ``sampler_timeout`` (seconds of wall time) and ``sampler_max_rounds``; a sampler
that exceeds it (typically one driven by a broken oracle into a residual loop that
does not end) becomes a finding naming the budget, the block and the seed instead of
a hang.
"""

from __future__ import annotations

import inspect
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distributions._validation import check_float, check_int
from distributions.base import MASK
from distributions.errors import BudgetExceededError, OracleError, ParameterError

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
#: TV between the sampler's laws at batch size 1 and at its production batch size that
#: the audit's batch-invariance test detects (power 0.99); drawing at batch size 1 costs
#: one ``sample()`` call per sample, hence a coarser figure than :data:`SAMPLER_TV`.
BATCH_TV: float = 0.2
#: Default wall-time budget (seconds) of each ``sample()`` call in the sampler runs.
SAMPLER_TIMEOUT: float = 60.0

#: Status of a finding (the report vocabulary; the audit never reports ``"no-power"``).
STATUSES: tuple[str, ...] = ("pass", "fail", "warn", "skipped")

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
    "contract.positional": "conditionals_at agrees with conditionals",
    "contract.other": "other contract rule",
    "determinism": "same call twice gives the same answer",
    "batch-invariance": "a row's answer does not depend on the batch",
    "consistency.exchange": "two-position chain rule agrees in both orders",
    "consistency.orders": "chain-rule joints of several orders agree",
    "consistency.pmf": "chain-rule joint equals the declared pmf",
    "reference": "agrees with the reference oracle",
    "diffusion.tower": "tower property on simulated localization paths",
    "sampler.sequential": "sequential sampler runs on the oracle (and is exact)",
    "sampler.autospeculative": "autospeculative sampler runs on the oracle (and is exact)",
    "sampler.batch-invariance": "sampler output law does not depend on the batch size",
    "sampler.euler": "Euler diffusion sampler runs on the oracle",
}

#: Every rule of a discrete audit, in report order (``contract.other`` only when seen).
DISCRETE_RULES: tuple[str, ...] = (
    "contract.interface", "contract.raises", "contract.input", "contract.shape",
    "contract.dtype", "contract.finite", "contract.range", "contract.normalised",
    "contract.one-hot", "contract.zero-context", "contract.positional", "contract.other",
    "determinism",
    "batch-invariance", "consistency.exchange", "consistency.orders", "consistency.pmf",
    "reference", "sampler.sequential", "sampler.autospeculative", "sampler.batch-invariance",
)
#: Every rule of a diffusion audit, in report order.
DIFFUSION_RULES: tuple[str, ...] = (
    "contract.interface", "contract.raises", "contract.input", "contract.shape",
    "contract.dtype", "contract.finite", "determinism", "batch-invariance",
    "diffusion.tower", "reference", "sampler.euler", "sampler.autospeculative",
)


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
    status : {"pass", "fail", "warn", "skipped"}
        Derived when not given: ``"pass"`` if ``passed``, else ``"fail"`` for severity
        ``"error"`` and ``"warn"`` otherwise. ``"skipped"`` (a rule not run) is given
        explicitly, with ``passed=False``, and ``message`` states the reason.
    """

    rule: str
    passed: bool
    severity: str
    message: str
    query: dict[str, Any] | None = None
    value: float | None = None
    status: str = ""

    def __post_init__(self) -> None:
        derived = "pass" if self.passed else ("fail" if self.severity == "error" else "warn")
        status = self.status or derived
        if status not in STATUSES:
            raise ParameterError(f"`status` must be one of {list(STATUSES)}; got {status!r}.")
        if (status == "pass") is not bool(self.passed):
            raise ParameterError(f"`passed` must be True iff `status` is 'pass'; got "
                                 f"passed={self.passed!r} with status {status!r}.")
        object.__setattr__(self, "status", status)

    @property
    def title(self) -> str:
        return _TITLES.get(self.rule, self.rule)

    def lines(self) -> list[str]:
        """Terminal lines: status, rule and message, then the query that shows it."""
        label = {"fail": self.severity, "warn": self.severity}.get(self.status, self.status)
        out = [f"  [{label}] {self.rule}: {self.message}"]
        if self.query:
            out.append(f"      query: {_fmt_query(self.query)}")
        return out


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
        Every rule of the audit (:data:`DISCRETE_RULES` or :data:`DIFFUSION_RULES`),
        with its status: passed, failed, warned or skipped (with the reason).
    consistency : dict
        Method (``"exact"`` or ``"estimated"``), orders and the largest disagreement.
    sampler_runs : tuple of dict
        Per sampler: cost (mean rounds, queries), ``sample_seconds`` (the cost run),
        ``seconds`` (wall time of the whole run, exactness test included), the
        budget, and exactness when a target with a pmf is known.
    num_contexts : int
    seed : int or None
    seconds : float
        Wall time of the whole :func:`audit_oracle` call.
    timings : dict
        Wall time (seconds) of each phase: ``"contract"`` (contract, determinism,
        batch invariance), ``"consistency"``, ``"reference"``, ``"samplers"``; the
        phases add up to ``seconds`` up to bookkeeping.
    budget : dict
        ``{"sampler_timeout", "sampler_max_rounds"}`` used for the sampler runs.
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
    timings: dict[str, float] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The rules that ran and did not pass (status ``"fail"`` or ``"warn"``)."""
        return tuple(f for f in self.checks if f.status in ("fail", "warn"))

    @property
    def skipped(self) -> tuple[Finding, ...]:
        """The rules not run; each message states why."""
        return tuple(f for f in self.checks if f.status == "skipped")

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The failed rules (status ``"fail"``, severity ``"error"``)."""
        return tuple(f for f in self.checks if f.status == "fail")

    @property
    def counts(self) -> dict[str, int]:
        """Number of rules of each status (every key of :data:`STATUSES`)."""
        counts = dict.fromkeys(STATUSES, 0)
        for f in self.checks:
            counts[f.status] += 1
        return counts

    @property
    def passed(self) -> bool:
        """True when no rule failed (no status ``"fail"``); see :meth:`verdict`."""
        return not self.errors

    def verdict(self, *, strict: bool = False) -> str:
        """``"pass"`` or ``"fail"``: fail iff some rule failed; with ``strict``, also
        when some rule warned or was skipped."""
        counts = self.counts
        if counts["fail"] or (strict and (counts["warn"] or counts["skipped"])):
            return "fail"
        return "pass"

    def summary(self, *, strict: bool = False) -> str:
        """One line: verdict, every status counted, wall time."""
        c = self.counts
        shape = ", ".join(f"{k}={v}" for k, v in self.shape.items())
        warn = "warning" if c["warn"] == 1 else "warnings"
        return (f"audit of {self.name} ({shape}): {self.verdict(strict=strict).upper()}"
                f"{' [strict]' if strict else ''} ({len(self.checks)} rules: {c['pass']} "
                f"passed, {c['warn']} {warn}, {c['fail']} failed, {c['skipped']} skipped; "
                f"{self.seconds:.1f} s)")

    def lines(self, *, strict: bool = False) -> list[str]:
        """Terminal lines: the summary, then every finding with the query that shows it,
        then every skipped rule with its reason."""
        out = [self.summary(strict=strict)]
        for f in self.findings:
            out.extend(f.lines())
        for f in self.skipped:
            out.extend(f.lines())
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# ---------------------------------------------------------------------- helpers
def _ctx_list(ctx: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(ctx).tolist()]


_QUERY_MAX = 40


def _fmt_value(key: str, v: Any) -> str:
    if isinstance(v, list):
        if v and all(isinstance(u, int) and not isinstance(u, bool) for u in v) and (
                key == "x" or key.endswith("_x") or key.startswith("then_x")):
            body = " ".join("*" if u == MASK else str(u) for u in v[:_QUERY_MAX])
        else:
            body = ", ".join(_fmt_value("", u) for u in v[:_QUERY_MAX])
        more = f" ... ({len(v)} entries; full query in report.json)" if len(v) > _QUERY_MAX else ""
        return f"[{body}{more}]"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_fmt_value(k, u)}" for k, u in v.items()) + "}"
    return str(v)


def _fmt_query(query: dict[str, Any]) -> str:
    """A query on one line: ``conditionals x=[0 * 1] position=2 ...`` (``*`` = masked)."""
    parts = [str(query.get("method", "query"))]
    parts += [f"{k}={_fmt_value(k, v)}" for k, v in query.items() if k != "method"]
    return " ".join(parts)


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

    def skip(self, rule: str, reason: str) -> None:
        """Record ``rule`` as not run, with ``reason``."""
        self.checks.append(Finding(rule, False, "info", reason, status="skipped"))

    def has(self, rule: str) -> bool:
        return any(f.rule == rule for f in self.checks)

    def skip_rest(self, rules: tuple[str, ...], reason: str) -> None:
        """Skip every rule of ``rules`` not yet recorded (``contract.other`` excepted)."""
        for rule in rules:
            if rule != "contract.other" and not self.has(rule):
                self.skip(rule, reason)

    def broken(self) -> str:
        """Reason for skipping rules that assume the contract: the rules that failed."""
        failed = [f.rule for f in self.checks if f.status == "fail"]
        return (f"the contract is broken ({', '.join(failed)} failed); this rule assumes "
                "answers that obey it")

    def ordered(self, rules: tuple[str, ...]) -> tuple[Finding, ...]:
        """The findings in the order of ``rules`` (unknown rules last, stable)."""
        rank = {r: k for k, r in enumerate(rules)}
        return tuple(sorted(self.checks, key=lambda f: rank.get(f.rule, len(rules))))

    @property
    def has_errors(self) -> bool:
        return any(f.status == "fail" for f in self.checks)


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
def _batch_shapes(B: int) -> list[int]:
    """Batch sizes whose answer shapes the contract checks (those re-batching uses)."""
    return sorted({B, 1, *((B // 2,) if B >= 4 else ())}, reverse=True)


def _contract_discrete(a: _Auditor, oracle: Any, x: np.ndarray) -> np.ndarray | None:
    from samplers.oracle import _RULE_IDS, CountingOracle

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
            guard.check_answer(out[b:b + 1], x[b:b + 1])
        except OracleError as exc:
            msg = str(exc)
            rule = getattr(exc, "rule", None) or next(
                (rid for text, rid in _RULE_IDS if text in msg), "contract.other")
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
    return out


def _positional(a: _Auditor, oracle: Any, x: np.ndarray, out: np.ndarray,
                gen: np.random.Generator) -> None:
    """The fast path ``conditionals_at`` (when the oracle has one) answers what
    ``conditionals`` answers on the same contexts, without and with chain values
    (``L = 3`` positions a row where the audit contexts allow, else 2)."""
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
        if d > AGREE_TOL:
            b, j = (k[0], k[1]) if k else (0, 0)
            ctx = steps[0 if chain is None else j, b]
            a.add(rule, False, f"conditionals_at {label} differs from conditionals on the "
                  f"same context by up to {d:.3g}: at context {_fmt_value('x', _ctx_list(ctx))}"
                  f", position {int(pos[b, j])}: {np.round(got[b, j], 6).tolist()} vs "
                  f"{np.round(expect[label][b, j], 6).tolist()}",
                  query={"method": "conditionals_at", "x": _ctx_list(xr[b]),
                         "positions": pos[b].tolist(),
                         **({} if chain is None else {"chain_values": chain[b].tolist()}),
                         "position": int(pos[b, j]), "answer_row": got[b, j].tolist(),
                         "conditionals_x": _ctx_list(ctx),
                         "conditionals_row": expect[label][b, j].tolist()}, value=d)
            return
    a.ok(rule, f"{K} contexts, {L} positions each, without and with chain values")


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
            a.add("consistency.pmf", False, f"pmf() raised {err}", severity="warning",
                  query={"method": "pmf"})
        else:
            a.add("consistency.pmf", False, f"pmf() returned shape "
                  f"{None if p is None else p.shape}; expected ({q**n},) (flat, C order)",
                  severity="warning", query={"method": "pmf"})
    else:
        a.skip("consistency.pmf", "the oracle declares no pmf()")
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


class _Recorder:
    """Delegates to an oracle and notes, from every call, the rows it answers as a
    zero-probability context (all-zero row at a masked position) and the last call's
    first context, so that a sampler failure can be traced to the query that caused
    it. Keeps at most :attr:`KEEP` such rows (contexts, not whole answers)."""

    KEEP = 64
    PER_CALL = 16

    def __init__(self, oracle: Any) -> None:
        self._oracle = oracle
        self.n, self.q = int(oracle.n), int(oracle.q)
        self.zeros: list[tuple[np.ndarray, int, list[float]]] = []
        self.last: tuple[list[int], int] | None = None
        if callable(getattr(oracle, "conditionals_at", None)):
            self.conditionals_at = self._conditionals_at

    def __getattr__(self, name: str) -> Any:
        if name == "_oracle":
            raise AttributeError(name)
        return getattr(self._oracle, name)

    def _note(self, x: np.ndarray, positions: np.ndarray | None,
              chain_values: np.ndarray | None, out: Any) -> None:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] == 0:
            return
        self.last = (_ctx_list(x[0]), int(x.shape[0]))
        out = np.asarray(out)
        if out.ndim != 3 or out.shape[0] != x.shape[0] or out.dtype.kind not in "fiub":
            return
        if positions is None:
            if out.shape[1] != x.shape[1]:
                return
            masked = x == MASK
        else:
            positions = np.asarray(positions)
            if out.shape[1] != positions.shape[1]:
                return
            masked = np.take_along_axis(x, positions, axis=1) == MASK
        zero = masked & (out.sum(axis=-1) == 0)
        if not zero.any():
            return
        for b, j in np.argwhere(zero)[:self.PER_CALL]:
            ctx = np.array(x[b], copy=True)
            pos = int(j)
            if positions is not None:
                pos = int(positions[b, j])
                if chain_values is not None:  # row (b, j): positions[b, :j] revealed
                    ctx[positions[b, :j]] = np.asarray(chain_values)[b, :j]
            self.zeros.append((ctx, pos, [float(v) for v in out[b, j]]))
        del self.zeros[:-self.KEEP]

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        out = self._oracle.conditionals(x)
        self._note(x, None, None, out)
        return out

    def _conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                         chain_values: np.ndarray | None = None) -> np.ndarray:
        out = self._oracle.conditionals_at(x, positions, chain_values)
        self._note(x, positions, chain_values, out)
        return out


#: Orders of the revealed positions tried when looking for a chain of positive
#: probability to a context the oracle answers as impossible.
WITNESS_ORDERS: int = 24


def _zero_context_witness(rec: _Recorder) -> dict[str, Any] | None:
    """A context the oracle answers as impossible (all-zero rows) although the chain rule
    of its own answers, in some order of the revealed positions (increasing, decreasing
    and up to :data:`WITNESS_ORDERS` in all, seeded), gives its revealed values positive
    probability, among the rows ``rec`` noted (newest first): the query that shows an
    inconsistency, or None."""
    n = rec.n
    gen = np.random.default_rng(0)
    for ctx, i, row in reversed(rec.zeros):
        revealed = np.flatnonzero(ctx != MASK)
        m = revealed.size
        if m == 0:
            continue
        orders = [revealed, revealed[::-1]]
        if m > 2:
            orders += [gen.permutation(revealed) for _ in range(WITNESS_ORDERS - 2)]
        orders = orders[:math.factorial(m)]
        prefixes = np.full((len(orders), m, n), MASK, dtype=np.int64)
        for k, order in enumerate(orders):
            for j in range(1, m):
                prefixes[k, j:, order[j - 1]] = ctx[order[j - 1]]
        got, err = _call(rec._oracle.conditionals, prefixes.reshape(-1, n))
        if err is not None or got is None or got.shape != (len(orders) * m, n, rec.q):
            continue
        got = got.reshape(len(orders), m, n, rec.q)
        for k, order in enumerate(orders):
            steps = got[k, np.arange(m), order, ctx[order]].astype(np.float64)
            if np.all(steps > 0):
                return {"method": "conditionals", "x": _ctx_list(ctx), "position": i,
                        "answer_row": row, "chain_order": [int(v) for v in order],
                        "chain_probabilities": [float(v) for v in steps]}
    return None


def _budget_failure(name: str, exc: BudgetExceededError, during: dict[str, Any],
                    budget: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Message and query of a sampler run stopped by its budget."""
    query: dict[str, Any] = {**during, "budget": {k: budget[k] for k in
                                                  ("sampler_timeout", "sampler_max_rounds")}}
    for attr in ("block", "trials", "acceptance_rate", "rounds", "seconds"):
        v = getattr(exc, attr, None)
        if isinstance(v, tuple | list | np.ndarray):
            query[attr] = [int(u) for u in v]
        elif isinstance(v, int | float | np.integer | np.floating):
            query[attr] = v.item() if isinstance(v, np.generic) else v
    if "block" not in query:  # the block named in the sampler's diagnosis
        m = re.search(r"residual loop of block \((\d+), (\d+)\)", str(exc)) or re.search(
            r"block entered: \((\d+), (\d+)\)", str(exc))
        if m:
            query["block"] = [int(m.group(1)), int(m.group(2))]
    return (f"the {name} sampler ran past its budget on this oracle (sampler_timeout="
            f"{budget['sampler_timeout']} s, sampler_max_rounds="
            f"{budget['sampler_max_rounds']}) and was stopped: {exc}"), query


def _failure(name: str, exc: Exception, rec: _Recorder, during: dict[str, Any],
             budget: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Message and query of a sampler run that raised ``exc``."""
    if isinstance(exc, BudgetExceededError):
        return _budget_failure(name, exc, during, budget)
    rule = getattr(exc, "rule", None)
    if isinstance(exc, OracleError) and rule is not None:
        query = {"method": "conditionals", "x": getattr(exc, "context", None),
                 "position": getattr(exc, "position", None), "rule": rule, "during": during}
        return (f"the {name} sampler met an oracle answer that breaks {rule} at a context the "
                f"audit batch did not contain: {exc}"), {k: v for k, v in query.items()
                                                         if v is not None}
    witness = _zero_context_witness(rec)
    inside = f"{type(exc).__name__}: {exc}"
    if witness is not None:
        ctx = _fmt_value("x", witness["x"])
        return (f"the {name} sampler reached context {ctx}, which the oracle answers as a "
                f"zero-probability context (all-zero row at position {witness['position']}), "
                f"although the chain rule of its own answers gives the revealed values "
                f"probabilities {', '.join(f'{p:.3g}' for p in witness['chain_probabilities'])} "
                f"(order {witness['chain_order']}): the answers contradict each other (the "
                f"sampler then raised {inside})"), {**witness, "during": during}
    if rec.last is not None:
        ctx0, size = rec.last
        return (f"the {name} sampler raised {inside} after the oracle query below (its last; "
                f"first context of a batch of {size})"), {
                    "method": "conditionals", "x": ctx0, "batch_size": size, "during": during}
    return f"the {name} sampler raised {inside} before any oracle query", during


def _budget_kwargs(cls: Any, budget: dict[str, Any]) -> dict[str, Any]:
    """The budget keywords ``cls`` accepts (``max_rounds``, ``timeout``)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return {}
    kw = {"timeout": budget["sampler_timeout"], "max_rounds": budget["sampler_max_rounds"]}
    return {k: v for k, v in kw.items() if k in params}


def _sampler_runs(a: _Auditor, oracle: Any, reference: Any, seed: int,
                  num: int, budget: dict[str, Any]) -> list[dict[str, Any]]:
    from samplers.autospec import AutospeculativeSampler
    from samplers.sequential import SequentialSampler
    from verify.validation import exactness_check

    n, q = int(oracle.n), int(oracle.q)
    target = None
    for cand in (reference, oracle):
        if cand is not None and callable(getattr(cand, "pmf", None)) and q**n <= 2**12:
            target = cand
            break
    classes = {"sequential": SequentialSampler, "autospeculative": AutospeculativeSampler}
    tests = (len(classes) if target is not None else 0) + 1  # + batch invariance
    runs = []
    for k, (name, cls) in enumerate(classes.items()):
        run: dict[str, Any] = {"sampler": name, "budget": dict(budget)}
        kw = _budget_kwargs(cls, budget)
        run["budget"]["enforced"] = sorted(kw)
        rec = _Recorder(oracle)
        t0 = time.perf_counter()
        during: dict[str, Any] = {"method": "sample", "sampler": name,
                                  "seed": [seed, k], "num": num}
        try:
            res = cls(rec, **kw).sample(num, rng=np.random.SeedSequence([seed, k]))
            run.update(sample_seconds=time.perf_counter() - t0, num=num,
                       mean_rounds=float(np.mean(res.rounds)),
                       mean_queries=float(np.mean(res.queries)))
            if target is not None:
                during = {"method": "check_exact", "sampler": name, "seed": seed + 101 + k,
                          "tv": SAMPLER_TV, "alpha": SAMPLER_ALPHA / tests}
                chk = exactness_check(cls(rec, **kw), target, tv=SAMPLER_TV,
                                      alpha=SAMPLER_ALPHA / tests, seed=seed + 101 + k)
                run["exactness"] = chk
                label = "the reference" if target is reference else "the oracle's own pmf()"
                status = chk.get("status", "pass" if chk["passed"] else "fail")
                if status == "pass":
                    a.ok(f"sampler.{name}", f"output law matches {label}: p={chk['pvalue']:.3g}"
                         f", detectable TV {chk['detectable_tv']:.3g}, "
                         f"{chk['num_samples']} samples", value=chk["pvalue"])
                elif status != "fail":  # e.g. no-power: not a pass, not an error
                    a.add(f"sampler.{name}", False, f"{status}: the exactness test of the {name} "
                          f"sampler against {label} is inconclusive: p={chk['pvalue']:.3g}, "
                          f"detectable TV {chk['detectable_tv']:.3g}, {chk['num_samples']} "
                          f"samples, seed {chk['seed']}", severity="warning",
                          query={"method": "check_exact", "sampler": name, "seed": chk["seed"],
                                 "num": chk["num_samples"], "tv": SAMPLER_TV,
                                 "alpha": chk["alpha"]}, value=chk["pvalue"])
                else:
                    a.add(f"sampler.{name}", False,
                          f"{name} sampler on this oracle does not match {label}: "
                          f"{chk['method']} p={chk['pvalue']:.3g} < alpha={chk['alpha']:.3g}, "
                          f"{chk['num_samples']} samples, seed {chk['seed']}",
                          query={"method": "check_exact", "sampler": name, "seed": chk["seed"],
                                 "num": chk["num_samples"], "tv": SAMPLER_TV,
                                 "alpha": chk["alpha"]}, value=chk["pvalue"])
            else:
                a.ok(f"sampler.{name}", f"ran {num} samples within the budget (no target pmf "
                     f"known: cost only)")
        except Exception as exc:  # the sampler's failure on this oracle is a finding
            msg, query = _failure(name, exc, rec, during, budget)
            a.add(f"sampler.{name}", False, msg, query=query)
            run["error"] = f"{type(exc).__name__}: {exc}"
        run["seconds"] = time.perf_counter() - t0
        runs.append(run)
    _sampler_batch_invariance(a, oracle, target, seed, num, budget, SAMPLER_ALPHA / tests,
                              failed=any("error" in r for r in runs))
    return runs


def _sampler_batch_invariance(a: _Auditor, oracle: Any, target: Any, seed: int, num: int,
                              budget: dict[str, Any], alpha: float, *, failed: bool) -> None:
    """The autospeculative sampler's law at batch size 1 and at its production batch
    size, compared by :func:`verify.exactness.check_batch_invariance`."""
    rule = "sampler.batch-invariance"
    if failed:
        a.skip(rule, "a sampler run failed on this oracle (see the sampler rules)")
        return
    from verify import exactness

    check = getattr(exactness, "check_batch_invariance", None)
    if check is None:
        a.skip(rule, "verify.exactness.check_batch_invariance is not available in this "
               "installation")
        return
    from samplers.autospec import AutospeculativeSampler

    kw = _budget_kwargs(AutospeculativeSampler, budget)
    rec = _Recorder(oracle)
    sampler = AutospeculativeSampler(rec, **kw)
    big = int(getattr(sampler, "batch_size", None) or num)
    sizes = (1, big)
    during = {"method": "check_batch_invariance", "sampler": "autospeculative",
              "batch_sizes": list(sizes), "seed": seed + 201, "tv": BATCH_TV, "alpha": alpha}
    try:
        r = check(sampler, batch_sizes=sizes, target=target, tv=BATCH_TV, alpha=alpha,
                  rng=seed + 201)
    except Exception as exc:
        msg, query = _failure("autospeculative", exc, rec, during, budget)
        a.add(rule, False, msg, query=query)
        return
    status = getattr(r, "status", "pass" if r.passed else "fail")
    text = (f"autospeculative sampler at batch sizes {sizes[0]} and {sizes[1]}: "
            f"{r.method} p={r.pvalue:.3g}, alpha={r.alpha:.3g}, detectable TV "
            f"{r.detectable_tv:.3g}, {r.num_samples} samples, seed {seed + 201}")
    if status == "pass":
        a.ok(rule, text, value=r.pvalue)
    elif status == "fail":
        a.add(rule, False, f"the output law depends on the batch size: {text}", query=during,
              value=r.pvalue)
    else:  # no-power / warn: not a pass, not an error
        a.add(rule, False, f"{status}: {text}", severity="warning", query=during,
              value=r.pvalue)


def _audit_discrete(a: _Auditor, oracle: Any, reference: Any, num_contexts: int,
                    gen: np.random.Generator, seed: int, run_samplers: bool,
                    budget: dict[str, Any], timings: dict[str, float]
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    n, q = int(oracle.n), int(oracle.q)
    t0 = time.perf_counter()
    x = _random_contexts(n, q, num_contexts, gen)
    out = _contract_discrete(a, oracle, x)
    if out is None:
        timings["contract"] = time.perf_counter() - t0
        failed = [f.rule for f in a.checks if f.status == "fail"]
        a.skip_rest(DISCRETE_RULES, f"the oracle's answers cannot be checked further "
                    f"({', '.join(failed)} failed)")
        return {}, []

    def fmt_query(b: int, k: tuple[int, ...] | None = None) -> dict[str, Any]:
        qd: dict[str, Any] = {"method": "conditionals", "x": _ctx_list(x[b])}
        if k is not None and len(k) > 1:
            qd["position"] = int(k[1])
        return qd

    _positional(a, oracle, x, out, gen)
    _determinism(a, oracle.conditionals, x, out, fmt_query)
    _batch_invariance(a, oracle.conditionals, x, out, gen, fmt_query)
    timings["contract"] = time.perf_counter() - t0
    if a.has_errors:
        a.skip_rest(DISCRETE_RULES, a.broken())
        return {}, []
    t0 = time.perf_counter()
    consistency = _exchange(a, oracle, x, out, gen)
    if q**n <= EXACT_JOINT_LIMIT:
        consistency.update(_consistency_exact(a, oracle, gen))
    else:
        if n > MAX_CHAIN_N:
            a.skip("consistency.orders", f"not estimated: n = {n} > {MAX_CHAIN_N} (the "
                   "two-position exchange rule still applies)")
        else:
            num = int(min(512, max(32, 4_000_000 // (n * max(n, 1)))))
            consistency.update(_consistency_estimated(a, oracle, gen, num))
        a.skip("consistency.pmf", f"q**n = {q**n} > {EXACT_JOINT_LIMIT}: the chain-rule "
               "joint is not tabulated")
    timings["consistency"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if reference is not None:
        consistency["reference"] = _reference_discrete(a, oracle, reference, gen, num_contexts)
    else:
        a.skip("reference", "no reference oracle given")
    timings["reference"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    if run_samplers:
        num = 2000 if n * q <= 64 else 200
        runs = _sampler_runs(a, oracle, reference, seed, num, budget)
    else:
        a.skip_rest(("sampler.sequential", "sampler.autospeculative",
                     "sampler.batch-invariance"), "sampler runs not requested "
                    "(run_samplers=False)")
    timings["samplers"] = time.perf_counter() - t0
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
    for size in _batch_shapes(B)[1:]:  # one input alone, half the batch
        got, _ = _call(oracle.denoise, t[:size].copy(), x[:size].copy())
        if got is None or got.shape == (size, dim):
            continue
        hint = (": the batch axis is dropped for a batch of one input (e.g. by np.squeeze); "
                "keep the leading axis of size 1") if size == 1 and got.shape == (dim,) else ""
        a.add("contract.shape", False, f"denoise answer to a batch of {size} has shape "
              f"{got.shape}; expected {(size, dim)}{hint}",
              query={**fmt_query(0), "batch_size": size})
        return {}
    a.ok("contract.shape", f"batches of {', '.join(map(str, _batch_shapes(B)))} inputs")
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
    else:
        a.skip("reference", "no reference oracle given")
    return info


def _diffusion_sampler_runs(a: _Auditor, oracle: Any, reference: Any, seed: int,
                            budget: dict[str, Any]) -> list[dict[str, Any]]:
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
        t0 = time.perf_counter()
        try:
            kw = _budget_kwargs(cls, budget)
            run["budget"] = {**budget, "enforced": sorted(kw)}
            res = cls(oracle, grid, **kw).sample(200, rng=np.random.SeedSequence([seed, k]))
            run.update(sample_seconds=time.perf_counter() - t0, num=200,
                       mean_rounds=float(np.mean(res.rounds)),
                       mean_queries=float(np.mean(res.queries)))
            if reference is not None and module_present("verify.continuous"):
                from verify.continuous import check_same_law

                r = check_same_law(cls(oracle, grid, **kw),
                                   EulerLocalizationSampler(reference, grid),
                                   num_samples=400, alpha=SAMPLER_ALPHA / len(makers),
                                   rng=seed + 101 + k, max_energy_samples=100)
                run["exactness"] = {"passed": bool(r.passed), "status": r.status,
                                    "pvalue": r.pvalue,
                                    "alpha": r.alpha, "num_samples": r.num_samples,
                                    "method": "same law as the reference's Euler chain",
                                    "detectable_tv": None, "seed": seed + 101 + k}
                if r.status == "no-power":
                    a.add(f"sampler.{name}", False, f"{name} diffusion sampler against the "
                          f"reference's Euler chain: the same-law test has no power at 400 "
                          f"samples (p={r.pvalue:.3g}); not a pass", severity="warning",
                          query={"method": "sample", "sampler": name, "seed": seed + 101 + k,
                                 "num": 400}, value=r.pvalue)
                elif r.passed:
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
        except Exception as exc:  # the sampler's failure on this oracle is a finding
            during = {"method": "sample", "sampler": name, "seed": [seed, k], "num": 200}
            if isinstance(exc, BudgetExceededError):
                msg, query = _budget_failure(name, exc, during, budget)
            else:
                msg = f"{name} diffusion sampler failed on this oracle: {type(exc).__name__}: {exc}"
                query = during
            a.add(f"sampler.{name}", False, msg, query=query)
            run["error"] = f"{type(exc).__name__}: {exc}"
        run["seconds"] = time.perf_counter() - t0
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
    sampler_timeout: float | None = SAMPLER_TIMEOUT,
    sampler_max_rounds: int | None = None,
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
        For a discrete oracle also the batch-size invariance of the autospeculative
        sampler's law (:func:`verify.exactness.check_batch_invariance`, batch sizes 1
        and the sampler's production batch size).
    sampler_timeout : float or None, default :data:`SAMPLER_TIMEOUT` (60 s)
        Wall-time budget, in seconds (> 0), of each ``sample()`` call of the sampler
        runs (passed to the samplers as ``timeout``). None: no time budget.
    sampler_max_rounds : int or None, default None
        Round budget (>= 1) of each ``sample()`` call of the sampler runs (passed as
        ``max_rounds``). None: no round budget.

    Returns
    -------
    AuditResult
        Every rule with its status (``passed`` is False when any rule failed); the
        sampler runs' costs and budgets; the wall time of the audit and of each phase.
        A sampler that exceeds its budget is a failed ``sampler.*`` rule naming the
        budget, the block and the seed; a sampler that raises is a failed rule naming
        the oracle query that caused it.

    Notes
    -----
    Discrete rules (:data:`DISCRETE_RULES`): the contract of
    :class:`samplers.oracle.CountingOracle` (shape for the batch, one context alone
    and half the batch; floating dtype; finite, [0, 1], rows summing to 1 or all
    zero, one-hot at unmasked positions, zero-context convention), not modifying the
    input, ``conditionals_at`` (when present) agreeing with ``conditionals`` without
    and with chain values, determinism, batch invariance (permuted batch, each row
    alone, half batch), the two-position exchange identity
    ``mu(i) mu(j|i) = mu(j) mu(i|j)``, chain-rule joints of several orders (exact TV
    when ``q**n <= 4096``, else a Monte Carlo estimate of the TV with its standard
    error), the declared ``pmf()`` when present, the reference, and the sampler runs
    (sequential and autospeculative: cost and exactness against the reference or the
    pmf at TV :data:`SAMPLER_TV`; the autospeculative sampler's batch-size invariance
    at TV :data:`BATCH_TV`; family-wise alpha :data:`SAMPLER_ALPHA` split equally).
    When a contract rule fails, the rules that assume the contract are skipped, each
    with that reason.

    Diffusion rules: shape, dtype, finiteness, determinism, batch invariance, the
    tower property ``E[f(t, X_t) | X_s] = f(s, X_s)`` on Euler-simulated localization
    paths, and agreement in norm with a reference.
    """
    t_start = time.perf_counter()
    kind = _kind(oracle, "oracle")
    num_contexts = check_int("num_contexts", num_contexts, low=4)
    if sampler_timeout is not None:
        sampler_timeout = check_float("sampler_timeout", sampler_timeout, low=0.0,
                                      low_open=True)
    if sampler_max_rounds is not None:
        sampler_max_rounds = check_int("sampler_max_rounds", sampler_max_rounds, low=1)
    if not isinstance(run_samplers, bool | np.bool_):
        raise ParameterError(f"`run_samplers` must be a bool; got {run_samplers!r}.")
    budget = {"sampler_timeout": sampler_timeout, "sampler_max_rounds": sampler_max_rounds}
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
    timings: dict[str, float] = {}
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
                                                seed if seed is not None else 0, run_samplers,
                                                budget, timings)
    else:
        dim = getattr(oracle, "dim", None)
        if not isinstance(dim, int | np.integer) or dim < 1:
            a.add("contract.interface", False, f"oracle.dim must be an integer >= 1; got {dim!r}")
            shape = {}
        else:
            a.ok("contract.interface")
            shape = {"dim": int(dim)}
            t0 = time.perf_counter()
            consistency = _audit_diffusion(a, oracle, reference, num_contexts, gen)
            timings["contract"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if not run_samplers:
                a.skip_rest(("sampler.euler", "sampler.autospeculative"),
                            "sampler runs not requested (run_samplers=False)")
            elif not a.has_errors:
                runs = _diffusion_sampler_runs(a, oracle, reference,
                                               seed if seed is not None else 0, budget)
            timings["samplers"] = time.perf_counter() - t0
    rules = DISCRETE_RULES if kind == "discrete" else DIFFUSION_RULES
    if a.has_errors:
        a.skip_rest(rules, a.broken())
    a.skip_rest(rules, "not evaluated on this audit path")  # safety net; tests: never used
    return AuditResult(kind=kind, name=type(oracle).__name__, shape=shape,
                       checks=a.ordered(rules), consistency=consistency,
                       sampler_runs=tuple(runs), num_contexts=num_contexts, seed=seed,
                       seconds=time.perf_counter() - t_start, timings=timings, budget=budget)


def audit_report(result: AuditResult, *, oracle_spec: str | None = None,
                 reference_spec: str | None = None) -> tuple[list[dict], list[dict]]:
    """Check records and report sections of an audit (for :mod:`reports`)."""
    checks = []
    for f in result.checks:
        rec: dict[str, Any] = {"id": f"audit/{f.rule}", "stage": "audit", "name": f.title,
                               "passed": f.passed, "status": f.status, "severity": f.severity,
                               "detail": f.message, "method": f.rule, "statistic": f.value}
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
            f"{result.seed}; {result.summary()}. Each failed rule names the exact query "
            f"that shows it; each skipped rule states why it was not run. Sampler runs: "
            f"budget of each sample() call: timeout {result.budget.get('sampler_timeout')} s, "
            f"max rounds {result.budget.get('sampler_max_rounds')}.")
    label = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skipped": "SKIPPED"}
    rows = [[f.rule, f.title, label[f.status], f.value, f.message,
             _fmt_query(f.query) if f.query else "-"] for f in result.checks]
    sections: list[dict[str, Any]] = [{
        "id": "audit-findings", "title": "Audit rules and findings", "text": text,
        "tables": [{"title": "Rules", "columns": ["rule", "what", "result", "value", "detail",
                                                  "query"],
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
                          r.get("sample_seconds"), r.get("seconds"), ex.get("pvalue"),
                          ex.get("detectable_tv"),
                          "PASS" if ex.get("passed") else ("-" if not ex else "FAIL"),
                          r.get("error")])
        sections.append({"id": "audit-samplers", "title": "Samplers run on the oracle",
                         "tables": [{"columns": ["sampler", "samples", "mean rounds",
                                                 "mean queries", "seconds (cost run)",
                                                 "seconds (run with exactness test)", "p-value",
                                                 "detectable TV", "exactness", "error"],
                                     "rows": rows2}]})
    sections.append({"id": "audit-timing", "title": "Audit wall time",
                     "tables": [{"columns": ["phase", "seconds"],
                                 "rows": [*([k, v] for k, v in result.timings.items()),
                                          ["total (audit_oracle)", result.seconds]]}]})
    return checks, sections
