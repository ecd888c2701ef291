"""Item 1: the speculative rejection step and the block recursion, for all parameters.

**One step** (:func:`step_certificate`). Target ``mu`` and speculation ``nu`` on ``q``
outcomes, both with full support, for every sign pattern of ``mu - nu`` (each entry
``+``, ``-`` or ``0``): the region is parametrised by positive symbols (``mu_i = b_i +
d_i, nu_i = b_i`` where ``mu > nu``, the other way round where ``mu < nu``, ``mu_i =
nu_i = b_i`` where equal), so every entry of ``mu`` and ``nu`` is strictly positive.
Laws with a zero entry (the log-space rules meet ``-inf`` there) are **not** covered by
the certificate; they are covered by the exact-law enumeration and the tests.
The acceptance rules are **derived from the strategy's real step code**
(``log_probs``, ``first_log_accept``, ``residual_log_accept`` of a
:class:`~samplers.autospec.SpeculativeSteps`, a mutant's included) by running it on
:class:`~verify.symbolic.traced.Traced` arrays; the branch conditions the code relied
on are proved on the whole region. The output law of the step,

    P(y) = nu(y) a1(y) + [sum_x nu(x) (1 - a1(x))] * sum_{k>=0} r^k * mu(y) a2(y),
    r = sum_z mu(z) (1 - a2(z))   (a trial rejected; trials ~ mu by induction),

has its geometric residual loop summed by ``sympy.summation`` (the convergence
condition ``0 <= r < 1`` is proved: every term of ``r`` is non-negative and the
acceptance ``sum_z mu(z) a2(z)`` positive), and ``P - mu`` must simplify to 0 once the
normalisations ``sum mu = sum nu = 1`` are substituted.

**Block recursion** (:func:`recursion_certificate`): a target on ``n = 2`` or ``3``
binary sites given by symbolic conditionals (``P(x_i = 1 | x_<i)`` one symbol per
context); the block law is computed recursively with the strategy's real ``split``,
``left_rows`` and ``right_context`` steps: the left child reuses (``left_rows``) its
parent's speculation rows, the right child's context is what ``right_context``
returns (the left half, or for a mutant the rejected proposal's). Leaf blocks return
their row. The accept rules are the exact ones (proved by the one-step certificate),
with each ``min(mu_S(y), nu_S(y))`` kept as an opaque symbol, so the statement holds
whatever the signs; the values each child *returns* as ``log mu`` are the ones the
parent's residual coin uses. Premise: the residual loop's acceptance probability is
positive (``mu_S != nu_S``; otherwise the loop is never entered).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import sympy as sp

from distributions.base import MASK
from distributions.errors import ParameterError
from samplers.autospec import ResidualCall, SpeculativeSteps
from verify.symbolic.certificate import Certificate, Finding, certify
from verify.symbolic.traced import Guards, Traced, prove_guards

__all__ = ["sign_patterns", "step_law", "step_certificate", "recursion_certificate"]

_K = sp.Symbol("k", integer=True, nonnegative=True)
_R = sp.Symbol("r")


def sign_patterns(q: int) -> list[str]:
    """Every feasible sign pattern of ``mu - nu`` on ``q`` outcomes (both sum to 1):
    some ``+`` and some ``-``, or all ``0``."""
    return ["".join(s) for s in itertools.product("+-0", repeat=q)
            if ("+" in s and "-" in s) or set(s) == {"0"}]


def _geometric(r: sp.Expr) -> sp.Expr:
    """``sum_{k>=0} r^k`` by ``sympy.summation``: its convergent branch (the caller
    proves ``0 <= r < 1``)."""
    s = sp.summation(_R**_K, (_K, 0, sp.oo))
    if not isinstance(s, sp.Piecewise):
        return s.subs(_R, r)
    value, cond = s.args[0]
    if cond != (sp.Abs(_R) < 1):
        raise RuntimeError(f"unexpected convergence condition {cond}")
    return value.subs(_R, r)


def _simplify(e: sp.Expr) -> sp.Expr:
    e = sp.powsimp(sp.expand_log(e, force=True), force=True)
    return sp.cancel(e) if not e.has(sp.exp, sp.log) else sp.simplify(e)


def _nonneg(e: sp.Expr) -> bool:
    e = sp.factor(sp.together(e))
    return e == 0 or e.is_nonnegative is True


def step_law(
    mu: Sequence[sp.Expr], nu: Sequence[sp.Expr], steps: SpeculativeSteps,
    witness: dict[sp.Symbol, float],
) -> tuple[list[sp.Expr], list[str]]:
    """Output law of one speculative step with its residual loop, and what blocks the
    proof (unproved branch conditions or convergence), from ``steps``' real rules.

    Parameters
    ----------
    mu, nu : sequences of sympy expressions
        Target and speculation probabilities (positive symbols' expressions).
    steps : SpeculativeSteps
        The strategy whose ``log_probs``, ``first_log_accept`` and
        ``residual_log_accept`` are traced.
    witness : dict
        A point of the region (decides the branches, which are then proved).
    """
    guards = Guards()

    def wit(e: sp.Expr) -> float:
        return float(sp.sympify(e).subs(witness).evalf())

    log_mu = steps.log_probs(Traced.of(list(mu), wit, guards))
    log_nu = steps.log_probs(Traced.of(list(nu), wit, guards))
    a1 = [_simplify(sp.exp(e)) for e in steps.first_log_accept(log_mu, log_nu).exprs()]
    a2 = [_simplify(sp.exp(e)) for e in steps.residual_log_accept(log_mu, log_nu).exprs()]
    blockers = [f"branch condition {g}" for g in prove_guards(guards.items)]
    reject = sp.together(sum(n * (1 - a) for n, a in zip(nu, a1, strict=True)))
    law = [sp.together(n * a) for n, a in zip(nu, a1, strict=True)]
    if _simplify(reject) != 0:
        terms = [m * (1 - a) for m, a in zip(mu, a2, strict=True)]
        accept = sp.factor(sp.together(sum(m * a for m, a in zip(mu, a2, strict=True))))
        if not all(_nonneg(t) for t in terms) or accept.is_positive is not True:
            blockers.append(f"convergence of the residual loop (acceptance {accept})")
        loop = _geometric(sum(terms))
        law = [lw + reject * loop * m * a for lw, m, a in zip(law, mu, a2, strict=True)]
    return law, blockers


def _region(pattern: str) -> tuple[list[sp.Expr], list[sp.Expr], dict, dict]:
    """``mu``, ``nu`` of a sign region, the normalisation substitution, a witness."""
    q = len(pattern)
    b = sp.symbols(f"b0:{q}", positive=True)
    d = sp.symbols(f"d0:{q}", positive=True)
    mu = [b[i] + d[i] if s == "+" else b[i] for i, s in enumerate(pattern)]
    nu = [b[i] + d[i] if s == "-" else b[i] for i, s in enumerate(pattern)]
    witness = {b[i]: 0.3 + 0.07 * i for i in range(q)} | {d[i]: 0.05 + 0.02 * i
                                                           for i in range(q)}
    subs: dict = {}
    if "-" in pattern:
        j = pattern.index("-")
        plus = sum(d[i] for i, s in enumerate(pattern) if s == "+")
        minus = sum(d[i] for i, s in enumerate(pattern) if s == "-" and i != j)
        subs[d[j]] = plus - minus
    nu_sum = sp.expand(sum(nu).subs(subs))  # b0 + (terms free of b0)
    b0 = sp.expand(b[0] - (nu_sum - 1))  # the solution of sum nu = 1 for b0
    subs = {k: v.subs(b[0], b0) for k, v in subs.items()}
    subs[b[0]] = b0
    return mu, nu, subs, witness


def _zero_or_simplified(e: sp.Expr) -> sp.Expr:
    r = sp.cancel(sp.together(e))
    return r if r == 0 else sp.simplify(r)


def _step_finding(q: int, steps: SpeculativeSteps) -> Finding:
    residuals: list[sp.Expr] = []
    for pattern in sign_patterns(q):
        mu, nu, subs, witness = _region(pattern)
        law, blockers = step_law(mu, nu, steps, witness)
        res = [_zero_or_simplified((p - m).subs(subs)) for p, m in zip(law, mu, strict=True)]
        bad = [r for r in res if r != 0]
        if bad or blockers:
            where = f"sign pattern {pattern} (mu = {mu}, nu = {nu})"
            return Finding(bad or [sp.Integer(0)], detail=f"first failure: {where}",
                           blocker="" if bad else f"{where}: unproved {blockers[0]}")
        residuals.extend(res)
    return Finding(residuals, detail=f"{len(sign_patterns(q))} sign patterns on {q} outcomes")


def step_certificate(q: int, steps: SpeculativeSteps | None = None, *,
                     name: str | None = None) -> Certificate:
    """Certificate: one speculative step with its residual loop outputs ``mu`` exactly,
    for every ``mu``, ``nu`` with full support on ``q`` outcomes (every sign pattern of
    ``mu - nu``; a zero entry is not covered, see the module docstring).

    Parameters
    ----------
    q : int
        2, 3 or 4.
    steps : SpeculativeSteps, optional
        The strategy whose rules are traced (default the exact one; a mutant of
        :data:`verify.mutants.MUTANTS` gives a non-zero residual).
    name : str, optional

    Examples
    --------
    >>> step_certificate(2).outcome  # doctest: +SKIP
    'proved'
    >>> from verify.mutants import MUTANTS
    >>> step_certificate(2, MUTANTS["swapped-residual-ratio"].steps).outcome  # doctest: +SKIP
    'not proved'
    """
    if q not in (2, 3, 4):
        raise ParameterError(f"`q` must be 2, 3 or 4; got {q!r}.")
    steps = SpeculativeSteps() if steps is None else steps
    if not isinstance(steps, SpeculativeSteps):
        raise ParameterError(
            f"`steps` must be a SpeculativeSteps instance; got {type(steps).__name__}."
        )
    return certify(
        name or f"speculative-step-q{q}",
        f"one speculative rejection step with its geometric residual loop outputs mu, "
        f"for all mu, nu with full support (every entry > 0) on {q} outcomes and every "
        f"sign pattern of mu - nu "
        f"(rules traced from {type(steps).__name__})",
        lambda: _step_finding(q, steps),
    )


# ---------------------------------------------------------------------- recursion
class _Target:
    """A law on ``{0,1}^n`` given by symbolic conditionals ``P(x_i = 1 | x_<i)``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._cond: dict[tuple, list[sp.Expr]] = {}
        self.p = {pre: sp.Symbol("p" + "".join(map(str, pre)) + f"_{len(pre)}")
                  for i in range(n) for pre in itertools.product((0, 1), repeat=i)}

    def joint(self, x: tuple[int, ...]) -> sp.Expr:
        out = sp.Integer(1)
        for i, v in enumerate(x):
            p = self.p[x[:i]]
            out *= p if v else 1 - p
        return out

    def cond(self, i: int, ctx: dict[int, int]) -> list[sp.Expr]:
        """Row ``P(x_i = . | x_j = ctx[j], j in ctx)``."""
        key = (i, tuple(sorted(ctx.items())))
        if key not in self._cond:
            self._cond[key] = self._row(i, ctx)
        return self._cond[key]

    def _row(self, i: int, ctx: dict[int, int]) -> list[sp.Expr]:
        mass = [sp.Integer(0), sp.Integer(0)]
        for x in itertools.product((0, 1), repeat=self.n):
            if all(x[j] == v for j, v in ctx.items()):
                mass[x[i]] += self.joint(x)
        tot = mass[0] + mass[1]
        return [sp.cancel(mass[0] / tot), sp.cancel(mass[1] / tot)]


class _Recursion:
    def __init__(self, target: _Target, steps: SpeculativeSteps) -> None:
        self.t = target
        self.steps = steps
        self.mins: dict[tuple[str, str], sp.Symbol] = {}
        self.memo: dict[tuple, dict[tuple, sp.Expr]] = {}

    def opaque_min(self, a: sp.Expr, b: sp.Expr) -> sp.Symbol:
        key = (sp.srepr(sp.cancel(a)), sp.srepr(sp.cancel(b)))
        if key not in self.mins:
            self.mins[key] = sp.Symbol(f"w{len(self.mins)}")
        return self.mins[key]

    def law(self, a: int, b: int, ctx: dict[int, int],
            rows: list[list[sp.Expr]] | None) -> dict[tuple, sp.Expr]:
        """Law of block ``(a, b)`` given ``ctx``: ``{(y, returned mu): probability}``."""
        key = (a, b, tuple(sorted(ctx.items())),
               None if rows is None else sp.srepr(sp.Tuple(*(sp.Tuple(*r) for r in rows))))
        if key not in self.memo:
            self.memo[key] = self._law(a, b, ctx, rows)
        return self.memo[key]

    def _law(self, a: int, b: int, ctx: dict[int, int],
             rows: list[list[sp.Expr]] | None) -> dict[tuple, sp.Expr]:
        if rows is None:
            rows = [self.t.cond(j, ctx) for j in range(a, b)]
        if b - a == 1:
            return {((v,), rows[0][v]): rows[0][v] for v in (0, 1)}
        outs = list(itertools.product((0, 1), repeat=b - a))
        nu = {x: sp.Mul(*(rows[j][v] for j, v in enumerate(x))) for x in outs}
        mu = {}
        for x in outs:
            full = dict(ctx)
            val = rows[0][x[0]]
            full[a] = x[0]
            for j in range(1, b - a):
                val *= self.t.cond(a + j, full)[x[j]]
                full[a + j] = x[j]
            mu[x] = val
        w = {x: self.opaque_min(mu[x], nu[x]) for x in outs}
        out: dict[tuple, sp.Expr] = {}
        for x in outs:
            key = (x, sp.cancel(mu[x]))
            out[key] = out.get(key, 0) + w[x]
        mid = self.steps.split(a, b)
        k = mid - a
        rows_arr = np.empty((1, b - a, 2), dtype=object)
        for j in range(b - a):
            rows_arr[0, j] = rows[j]
        left_rows = [list(r) for r in np.asarray(self.steps.left_rows(rows_arr, k))[0]]
        left = self.law(a, mid, ctx, left_rows)
        loops: dict[tuple, dict[tuple, sp.Expr]] = {}
        for x in outs:  # the rejected proposal x (the exact loop does not read it)
            rctxs = tuple(tuple(sorted(self._right_context(a, b, mid, ctx, yl, x).items()))
                          for (yl, _) in left)
            if rctxs not in loops:
                loops[rctxs] = self._loop(left, rctxs, mid, b, nu)
            for key, p in loops[rctxs].items():
                out[key] = out.get(key, 0) + (nu[x] - w[x]) * p
        return {key: sp.cancel(sp.together(p)) for key, p in out.items()}

    def _loop(self, left: dict[tuple, sp.Expr], rctxs: tuple, mid: int, b: int,
              nu: dict[tuple, sp.Expr]) -> dict[tuple, sp.Expr]:
        """Output law of the residual loop (trials: left child, then right child in the
        contexts ``rctxs``), its geometric series summed by ``sympy.summation``."""
        trial: dict[tuple, sp.Expr] = {}
        for ((yl, ml), pl), rctx in zip(left.items(), rctxs, strict=True):
            for (yr, mr), pr in self.law(mid, b, dict(rctx), None).items():
                key = (yl + yr, sp.cancel(ml * mr))
                trial[key] = trial.get(key, 0) + pl * pr
        acc = {key: sp.cancel(p * (key[1] - self.opaque_min(key[1], nu[key[0]])) / key[1])
               for key, p in trial.items()}
        total = sp.cancel(sp.together(sum(acc.values())))
        loop = _geometric(sp.cancel(sp.together(sum(trial.values()) - total)))
        return {key: sp.cancel(loop * p) for key, p in acc.items()}

    def _right_context(self, a: int, b: int, mid: int, ctx: dict[int, int],
                       yl: tuple[int, ...], x: tuple[int, ...]) -> dict[int, int]:
        """The right child's context, from the strategy's real ``right_context``."""
        n = self.t.n
        arr = np.full((1, n), MASK, dtype=np.int64)
        for j, v in ctx.items():
            arr[0, j] = v
        call = ResidualCall(
            a=a, b=b, ctx=arr.copy(), pos=np.arange(a, b)[None], nu_rows=np.zeros((1, b - a, 2)),
            proposal=np.asarray([x], dtype=np.int64), log_nu_proposal=np.zeros(1), source=None,
        )
        got = self.steps.right_context(arr.copy(), np.arange(a, mid)[None],
                                       np.asarray([yl], dtype=np.int64), call, np.zeros(1, int))
        return {j: int(v) for j, v in enumerate(np.asarray(got)[0]) if v != MASK}


_OPAQUE_STEPS = ("log_probs", "first_log_accept", "residual_log_accept", "residual")


def _recursion_finding(n: int, steps: SpeculativeSteps) -> Finding:
    target = _Target(n)
    rec = _Recursion(target, steps)
    law = rec.law(0, n, {}, None)
    residuals = []
    for x in itertools.product((0, 1), repeat=n):
        px = sum((p for (y, _), p in law.items() if y == x), sp.Integer(0))
        r = sp.factor(sp.cancel(sp.together(px - target.joint(x))))
        residuals.append(r)
        if r != 0:
            return Finding([r], detail=f"first failure at x = {x}; w* = min(mu_S, nu_S) "
                                       "of the blocks (opaque)")
    return Finding(residuals, detail=f"{2**n} outcomes, {len(rec.mins)} opaque minima, "
                                     f"{len(target.p)} conditionals")


def recursion_certificate(n: int, steps: SpeculativeSteps | None = None, *,
                          name: str | None = None) -> Certificate:
    """Certificate: the block recursion outputs the chain-rule law on ``n`` = 2 or 3
    binary sites, for all conditionals (see the module docstring).

    ``steps`` may change ``split``, ``left_rows`` and ``right_context`` (e.g. the
    mutants ``off-by-one-split``, ``left-rows-from-right-half``,
    ``right-on-proposal``); a strategy overriding an accept rule is refused (the
    one-step certificate traces those).

    Examples
    --------
    >>> recursion_certificate(2).outcome  # doctest: +SKIP
    'proved'
    """
    if n not in (2, 3):
        raise ParameterError(f"`n` must be 2 or 3; got {n!r}.")
    steps = SpeculativeSteps() if steps is None else steps
    if not isinstance(steps, SpeculativeSteps):
        raise ParameterError(
            f"`steps` must be a SpeculativeSteps instance; got {type(steps).__name__}."
        )
    changed = [m for m in _OPAQUE_STEPS
               if getattr(type(steps), m) is not getattr(SpeculativeSteps, m)]
    if changed:
        raise ParameterError(
            f"`steps` must keep the exact {', '.join(changed)} for the recursion certificate "
            "(use step_certificate for accept rules); got "
            f"{type(steps).__name__}."
        )
    return certify(
        name or f"block-recursion-n{n}",
        f"the block recursion (left half, then right half given the left) outputs the "
        f"chain-rule law on {n} binary sites for all symbolic conditionals "
        f"(split, left_rows, right_context of {type(steps).__name__})",
        lambda: _recursion_finding(n, steps),
    )


