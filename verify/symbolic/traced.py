"""Symbolic tracing of a sampler's numpy step code: :class:`Traced`.

A :class:`Traced` array carries, for every entry, a sympy expression and a float
**witness** (the expression's value at one point of a region of parameter space).
The real step code of a strategy (e.g.
:meth:`~samplers.autospec.SpeculativeSteps.residual_log_accept` of a mutant) runs on
it unchanged: arithmetic and ``log`` / ``exp`` / ``expm1`` build expressions, and
every comparison the code makes (``np.minimum``, ``np.maximum``, ``<``,
``np.isneginf``, ...) is decided on the witnesses and **recorded as a guard**, a
sympy relation the branch taken relies on. The expression obtained is the step's
rule on the region where every guard holds; :func:`prove_guards` proves the guards
for all parameter values of the region (positive symbols), so the derived rule is
valid on the whole region, not only at the witness. A guard it cannot prove makes
the certificate "not proved".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from numpy.lib.mixins import NDArrayOperatorsMixin

__all__ = ["Finite", "Traced", "Guards", "prove_guards", "subs_guard", "sym_log"]


def sym_log(e: sp.Expr) -> sp.Expr:
    """``log`` with ``log(0) = -oo`` (sympy gives complex infinity)."""
    return -sp.oo if e == 0 else sp.log(e)


@dataclass(frozen=True)
class Finite:
    """Guard: ``expr`` is finite (the branch of an ``isinf`` test relied on it)."""

    expr: sp.Expr


class Guards:
    """The relations the branches of one traced run relied on."""

    def __init__(self) -> None:
        self.items: list[sp.Basic | Finite] = []

    def add(self, rel: sp.Basic | Finite) -> None:
        if rel is not sp.true:
            self.items.append(rel)


def _entry(v: Any) -> tuple[sp.Expr, float]:
    if isinstance(v, tuple):
        return v
    f = float(v)
    if math.isinf(f):
        return (sp.oo if f > 0 else -sp.oo), f
    # a constant of the code is read as the simplest rational that rounds to it (1.05 ->
    # 21/20: the constant the code means; rounding is outside what certificates see),
    # else as the float's exact binary value
    simple = sp.nsimplify(f, rational=True)
    if float(simple) == f:
        return simple, f
    exact = Fraction(f)
    return sp.Rational(exact.numerator, exact.denominator), f


def _unary(name: str) -> Callable[[sp.Expr, float], tuple[sp.Expr, float]]:
    def log(e: sp.Expr, w: float) -> tuple[sp.Expr, float]:
        return sym_log(e), (math.log(w) if w > 0 else -math.inf)

    def exp(e: sp.Expr, w: float) -> tuple[sp.Expr, float]:
        return (sp.Integer(0) if e == -sp.oo else sp.exp(e)), math.exp(w)

    def expm1(e: sp.Expr, w: float) -> tuple[sp.Expr, float]:
        return (sp.Integer(-1) if e == -sp.oo else sp.exp(e) - 1), math.expm1(w)

    def log1p(e: sp.Expr, w: float) -> tuple[sp.Expr, float]:
        return sym_log(1 + e), (math.log1p(w) if w > -1 else -math.inf)

    def negative(e: sp.Expr, w: float) -> tuple[sp.Expr, float]:
        return -e, -w

    return {"log": log, "exp": exp, "expm1": expm1, "log1p": log1p,
            "negative": negative}[name]


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
    "true_divide": lambda a, b: a / b,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "less": lambda a, b: a < b,
    "less_equal": lambda a, b: a <= b,
    "greater": lambda a, b: a > b,
    "greater_equal": lambda a, b: a >= b,
}


def _relation(op: str, a: sp.Expr, b: sp.Expr, holds: bool) -> sp.Basic:
    rel = {"less": sp.Lt, "less_equal": sp.Le, "greater": sp.Gt,
           "greater_equal": sp.Ge}[op](a, b, evaluate=False)
    return rel if holds else rel.negated


class Traced(NDArrayOperatorsMixin):
    """An array of ``(sympy expression, float witness)`` entries (see the module).

    Parameters
    ----------
    exprs : sequence of sympy expressions (any nesting; an array of that shape)
    witness : callable
        ``witness(expr) -> float``: the expression's value at the witness point.
    guards : Guards
        Where the comparisons are recorded.
    """

    def __init__(self, entries: np.ndarray, guards: Guards) -> None:
        self.entries = entries  # object array of (expr, witness) tuples
        self.guards = guards

    @classmethod
    def of(cls, exprs: Any, witness: Callable[[sp.Expr], float], guards: Guards) -> Traced:
        arr = np.asarray(exprs, dtype=object)
        out = np.empty(arr.shape, dtype=object)
        for idx, e in np.ndenumerate(arr):
            e = sp.sympify(e)
            out[idx] = (e, float(witness(e)))
        return cls(out, guards)

    # -- array protocol -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.entries.shape

    @property
    def size(self) -> int:
        return int(self.entries.size)

    @property
    def ndim(self) -> int:
        return self.entries.ndim

    def __getitem__(self, key: Any) -> Traced:
        return Traced(np.asarray(self.entries[key], dtype=object), self.guards)

    def reshape(self, *shape: Any) -> Traced:
        return Traced(self.entries.reshape(*shape), self.guards)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Traced:
        exprs = np.vectorize(lambda t: t[0], otypes=[object])(self.entries)
        wit = np.vectorize(lambda t: t[1], otypes=[float])(self.entries)
        es = np.sum(exprs, axis=axis, keepdims=keepdims)
        ws = np.sum(wit, axis=axis, keepdims=keepdims)
        es, ws = np.asarray(es, dtype=object), np.asarray(ws, dtype=float)
        out = np.empty(es.shape, dtype=object)
        for idx in np.ndindex(es.shape):
            out[idx] = (sp.sympify(es[idx]), float(ws[idx]))
        return Traced(out, self.guards)

    def exprs(self) -> np.ndarray:
        """The expressions, as an object array."""
        return np.vectorize(lambda t: t[0], otypes=[object])(self.entries)

    def _wrap(self, v: Any) -> np.ndarray:
        if isinstance(v, Traced):
            return v.entries
        arr = np.asarray(v)
        out = np.empty(arr.shape, dtype=object)
        for idx, x in np.ndenumerate(arr):
            out[idx] = _entry(x)
        return out

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any,
                        **kwargs: Any) -> Any:
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        name = ufunc.__name__
        args = [self._wrap(v) for v in inputs]
        if len(args) == 1:
            (a,) = args
            res = np.empty(a.shape, dtype=object)
            if name in ("isinf", "isnan", "isfinite", "signbit"):
                flags = np.empty(a.shape, dtype=bool)
                for idx, (e, w) in np.ndenumerate(a):
                    flags[idx] = self._flag(name, e, w)
                return flags
            fn = _unary(name)
            for idx, (e, w) in np.ndenumerate(a):
                res[idx] = fn(e, w)
            return Traced(res, self.guards)
        a, b = np.broadcast_arrays(*args)
        if name in _BINARY:
            op = _BINARY[name]
            res = np.empty(a.shape, dtype=object)
            for idx in np.ndindex(a.shape):
                (ea, wa), (eb, wb) = a[idx], b[idx]
                with np.errstate(all="ignore"):
                    res[idx] = (op(ea, eb), float(op(np.float64(wa), np.float64(wb))))
            return Traced(res, self.guards)
        if name in _COMPARE:
            out = np.empty(a.shape, dtype=bool)
            for idx in np.ndindex(a.shape):
                (ea, wa), (eb, wb) = a[idx], b[idx]
                holds = bool(_COMPARE[name](wa, wb))
                self.guards.add(_relation(name, ea, eb, holds))
                out[idx] = holds
            return out
        if name in ("minimum", "maximum"):
            res = np.empty(a.shape, dtype=object)
            for idx in np.ndindex(a.shape):
                (ea, wa), (eb, wb) = a[idx], b[idx]
                first = wa <= wb if name == "minimum" else wa >= wb
                op = "less_equal" if name == "minimum" else "greater_equal"
                self.guards.add(_relation(op, ea, eb, True) if first
                                else _relation(op, eb, ea, True))
                res[idx] = a[idx] if first else b[idx]
            return Traced(res, self.guards)
        return NotImplemented

    def _flag(self, name: str, e: sp.Expr, w: float) -> bool:
        inf = e in (sp.oo, -sp.oo)
        if name == "isinf":
            flag = inf
        elif name == "isfinite":
            flag = not inf
        elif name == "isnan":
            flag = False
        else:
            flag = e == -sp.oo or (not inf and w < 0)
            if not inf:
                self.guards.add(sp.Lt(e, 0) if flag else sp.Ge(e, 0))
        if not inf and name != "signbit":
            # a finite expression: the flag relies on its being finite everywhere
            self.guards.add(Finite(e))
        return flag

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.isneginf:
            (x,) = args
            a = self._wrap(x)
            out = np.empty(a.shape, dtype=bool)
            for idx, (e, _w) in np.ndenumerate(a):
                out[idx] = e == -sp.oo
                if e != -sp.oo:
                    self.guards.add(Finite(e))
            return out
        if func is np.where:
            cond, x, y = args
            c = np.asarray(cond, dtype=bool)
            xa, ya = self._wrap(x), self._wrap(y)
            c, xa, ya = np.broadcast_arrays(c, xa, ya)
            res = np.empty(c.shape, dtype=object)
            for idx in np.ndindex(c.shape):
                res[idx] = xa[idx] if c[idx] else ya[idx]
            return Traced(res, self.guards)
        if func is np.asarray:
            return self
        return NotImplemented


def _sign_of(d: sp.Expr) -> bool | None:
    """Whether ``d > 0`` is proved (True), ``d < 0`` is proved (False), else None."""
    for form in (d, sp.factor(sp.together(d))):
        if form.is_positive:
            return True
        if form.is_negative:
            return False
    return None


def subs_guard(g: sp.Basic | Finite, old: sp.Expr, new: sp.Expr) -> sp.Basic | Finite:
    """A guard with ``old`` replaced by ``new``."""
    return Finite(g.expr.subs(old, new)) if isinstance(g, Finite) else g.subs(old, new)


def _prove(rel: sp.Basic | Finite) -> bool:
    if rel is sp.true or rel is sp.false:
        return rel is sp.true
    if isinstance(rel, Finite):
        return rel.expr.is_finite is True
    lhs, rhs = rel.lhs, rel.rhs
    if lhs in (sp.oo, -sp.oo) or rhs in (sp.oo, -sp.oo):
        return bool(sp.sympify(rel.func(lhs, rhs)) is sp.true)
    strict = isinstance(rel, sp.StrictLessThan | sp.StrictGreaterThan)
    greater = isinstance(rel, sp.StrictGreaterThan | sp.GreaterThan)
    d = sp.expand_log(lhs - rhs if greater else rhs - lhs, force=True)  # must be > (>=) 0
    if d == 0:
        return not strict
    coeff, rest = sp.factor_terms(d).as_coeff_Mul()
    if coeff < 0:
        coeff, rest = -coeff, -rest
    s = None if rest.has(sp.log) else _sign_of(rest)
    if s is None:
        # logarithms: exp is increasing, so rest > 0 iff exp(rest) - 1 > 0
        s = _sign_of(sp.powsimp(sp.exp(rest), force=True) - 1)
    return s is True


def prove_guards(guards: Sequence[sp.Basic | Finite]) -> list[sp.Basic | Finite]:
    """The guards not proved for every value of their (positive) symbols."""
    return [g for g in dict.fromkeys(guards) if not _prove(g)]
