"""Exact laws over irrational weights: ``exact_law(..., exact=weights)`` (see
"Exact law over irrational weights" in :mod:`verify.exact_law`).

The target's weights are ``w(x) = c(x) exp(r(x))`` with rationals ``c(x) >= 0`` and
``r(x)`` (an Ising or Potts table with rational couplings, field and ``beta``:
:func:`ising_weights`). With ``D`` the common denominator of the ``r(x)`` and
``z = exp(1/D)``, every weight is a rational multiple of a power of ``z``; ``z`` is
transcendental (Lindemann), so the field ``Q(z)`` of rational functions in ``z``
(sympy's ``field``) computes with these numbers exactly and faithfully: an
expression is zero as a real number iff it is zero in ``Q(z)``.

The enumeration sees floats (the oracle's rows, the sampler's coin
probabilities). Each is identified with an exact value from the **candidates** of
the algorithm, computed in ``Q(z)`` from the weights: every conditional row of the
table given any partial assignment (the categorical draws), and for every order of
the sites and every block ``S`` after a prefix ``P`` and values ``x``, the coins
``min(1, mu_S(x) / nu_S(x))`` and ``max(0, 1 - nu_S(x) / mu_S(x))`` of the
autospeculative sampler. A float is accepted only when the candidates within
``1e-12`` of it are all the same exact number; a float matching no candidate (a
sampler drawing from some other law, e.g. AGR24's coupled rows or a tempered
mutant) or several distinct ones makes the exact law unavailable (``note`` says
why), as for the rational path. Comparisons inside ``Q(z)`` (``min``/``max`` of the
candidates) are decided by evaluating at 60 significant digits and refused when the
value is within ``1e-40`` of the threshold without being equal to it exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from sympy.polys.rings import ring

from distributions.errors import ParameterError
from verify.exact_law.rational import _RationalFailed

__all__ = ["ExactWeights", "ising_weights"]

_MATCH = 1e-12


@dataclass(frozen=True)
class ExactWeights:
    """Exact weights ``w(x) = scale[x] * exp(exponent[x])`` of a table on ``[q]^n``.

    Attributes
    ----------
    scale : ndarray of Fraction, shape (q,)*n
        Non-negative rationals.
    exponent : ndarray of Fraction, shape (q,)*n
        Rationals.
    """

    scale: np.ndarray
    exponent: np.ndarray

    def __post_init__(self) -> None:
        s, e = np.asarray(self.scale, dtype=object), np.asarray(self.exponent, dtype=object)
        if s.shape != e.shape or s.ndim < 1:
            raise ParameterError(
                f"`scale` and `exponent` must have the same shape (q,)*n; got {s.shape} and "
                f"{e.shape}."
            )
        for name, arr in (("scale", s), ("exponent", e)):
            for v in arr.flat:
                if not isinstance(v, int | Fraction) or isinstance(v, bool):
                    raise ParameterError(
                        f"`{name}` entries must be int or Fraction; got {v!r}."
                    )
        if any(v < 0 for v in s.flat) or all(v == 0 for v in s.flat):
            raise ParameterError("`scale` entries must be >= 0 and not all 0.")
        object.__setattr__(self, "scale", s)
        object.__setattr__(self, "exponent", e)


def ising_weights(couplings: Any, field_: Any = None, *, beta: Fraction | int = 1
                  ) -> ExactWeights:
    """Exact weights of :func:`distributions.ising` with rational parameters:
    ``exp(beta (sum_{i<j} J_ij s_i s_j + sum_i h_i s_i))``, ``s = 2x - 1``.

    Parameters
    ----------
    couplings : (n, n) nested sequence of int or Fraction (upper triangle used)
    field_ : length-n sequence of int or Fraction, optional
    beta : int or Fraction
    """
    J = [[Fraction(v) for v in row] for row in couplings]
    n = len(J)
    h = [Fraction(0)] * n if field_ is None else [Fraction(v) for v in field_]
    beta = Fraction(beta)
    expo = np.empty((2,) * n, dtype=object)
    for x in itertools.product((0, 1), repeat=n):
        s = [2 * v - 1 for v in x]
        e = sum(J[i][j] * s[i] * s[j] for i in range(n) for j in range(i + 1, n))
        expo[x] = beta * (e + sum(h[i] * s[i] for i in range(n)))
    return ExactWeights(scale=np.full((2,) * n, Fraction(1), dtype=object), exponent=expo)


class _Elem:
    """An element of ``Q(z)`` with the arithmetic the enumeration uses."""

    __slots__ = ("v", "num")
    exact = True

    def __init__(self, v: Any, num: _ExactNumbers) -> None:
        self.v, self.num = v, num

    def _of(self, o: Any) -> Any:
        if isinstance(o, _Elem):
            return o.v
        if isinstance(o, Fraction):
            return self.num.K(sp.QQ(o.numerator, o.denominator))
        if isinstance(o, int):
            return self.num.K(o)
        raise TypeError(f"cannot combine an exact number with {type(o).__name__}")

    def __add__(self, o: Any) -> _Elem:
        return _Elem(self.v + self._of(o), self.num)

    __radd__ = __add__

    def __sub__(self, o: Any) -> _Elem:
        return _Elem(self.v - self._of(o), self.num)

    def __rsub__(self, o: Any) -> _Elem:
        return _Elem(self._of(o) - self.v, self.num)

    def __mul__(self, o: Any) -> _Elem:
        return _Elem(self.v * self._of(o), self.num)

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> _Elem:
        return _Elem(self.v / self._of(o), self.num)

    def __rtruediv__(self, o: Any) -> _Elem:
        return _Elem(self._of(o) / self.v, self.num)

    def __pow__(self, k: int) -> _Elem:
        return _Elem(self.v**k, self.num)

    def __neg__(self) -> _Elem:
        return _Elem(-self.v, self.num)

    def __eq__(self, o: object) -> bool:
        if isinstance(o, float):
            return float(self) == o
        try:
            return bool(self.v == self._of(o))
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.v)

    def __float__(self) -> float:
        return self.num.float_value(self.v)

    def __bool__(self) -> bool:
        return bool(self.v != 0)

    def __lt__(self, o: Any) -> bool:
        return float(self) < float(o)

    def __gt__(self, o: Any) -> bool:
        return float(self) > float(o)

    def __le__(self, o: Any) -> bool:
        return float(self) <= float(o)

    def __ge__(self, o: Any) -> bool:
        return float(self) >= float(o)

    def __repr__(self) -> str:
        return f"<exact {self.num.expr(self.v)}>"


class _ExactNumbers:
    """The number system of an exact enumeration (``Q(z)``, ``z = exp(1/D)``) and the
    identification of the floats the sampler hands over (see the module)."""

    exact = True

    def __init__(self, weights: ExactWeights, n: int, q: int) -> None:
        self.R, zr = ring("z", sp.QQ)
        self.K = self.R.to_field()
        expo = weights.exponent
        den = math.lcm(*(Fraction(v).denominator for v in expo.flat))
        self.D = den
        ks = {x: int(Fraction(expo[x]) * den) for x in np.ndindex(expo.shape)}
        k0 = min(ks.values())
        with mpmath.workdps(60):
            self._zmp = mpmath.exp(mpmath.mpf(1) / den)
        self._zf = math.exp(1.0 / den)
        self._floats: dict[Any, float] = {}
        w = {}
        for x, k in ks.items():
            c = Fraction(weights.scale[x])
            w[x] = self.R(sp.QQ(c.numerator, c.denominator)) * zr ** (k - k0)
        self.n, self.q = n, q
        self.weights = w  # polynomials in z (ring elements): sums without gcds
        self._margs: dict[tuple, Any] = {}
        self._conds: dict[tuple, list[Any] | None] = {}
        total = self._marg({})
        self.pmf = {x: self.K.new(v, total) for x, v in w.items()}
        self._rows: list[tuple[np.ndarray, tuple[_Elem, ...]]] = []
        self._coins: list[tuple[float, _Elem]] = []
        self._build()

    # -- numbers --------------------------------------------------------------------
    def value(self, v: Any) -> mpmath.mpf:
        """``v`` at ``z = exp(1/D)`` to 60 digits."""
        def ev(p: Any) -> mpmath.mpf:
            return mpmath.fsum(mpmath.mpf(int(c.numerator)) / int(c.denominator)
                               * self._zmp ** e[0] for e, c in p.terms())
        with mpmath.workdps(60):
            return ev(v.numer) / ev(v.denom)

    def float_value(self, v: Any) -> float:
        """``v`` at ``z = exp(1/D)`` in double precision (cached)."""
        hit = self._floats.get(v)
        if hit is None:
            def ev(p: Any) -> float:
                return math.fsum(float(c) * self._zf ** e[0] for e, c in p.terms())
            hit = self._floats[v] = ev(v.numer) / ev(v.denom)
        return hit

    def expr(self, v: Any) -> sp.Expr:
        """``v`` as a sympy expression in ``exp(1/D)``."""
        return v.as_expr().subs(sp.Symbol("z"), sp.exp(sp.Rational(1, self.D)))

    def elem(self, v: Any) -> _Elem:
        return _Elem(v, self)

    def one(self) -> _Elem:
        return _Elem(self.K(1), self)

    def zero(self) -> _Elem:
        return _Elem(self.K(0), self)

    def frac(self, a: int, b: int) -> _Elem:
        return _Elem(self.K(sp.QQ(a, b)), self)

    def _sign(self, v: Any) -> int:
        if v == 0:
            return 0
        x = self.value(v)
        if abs(x) < mpmath.mpf("1e-40"):
            raise _RationalFailed("an exact comparison is too close to call at 60 digits")
        return 1 if x > 0 else -1

    # -- candidates -----------------------------------------------------------------
    def _marg(self, fixed: dict[int, int]) -> Any:
        """Unnormalised marginal weight of the partial assignment (a polynomial)."""
        key = tuple(sorted(fixed.items()))
        if key not in self._margs:
            self._margs[key] = sum((p for x, p in self.weights.items()
                                    if all(x[i] == v for i, v in fixed.items())), self.R(0))
        return self._margs[key]

    def _cond(self, i: int, fixed: dict[int, int]) -> list[Any] | None:
        key = (i, tuple(sorted(fixed.items())))
        if key not in self._conds:
            m = self._marg(fixed)
            self._conds[key] = (None if m == 0 else
                                [self.K.new(self._marg(fixed | {i: v}), m) for v in range(self.q)])
        return self._conds[key]

    def _build(self) -> None:
        n, q = self.n, self.q
        rows: dict[tuple, None] = {}
        for i in range(n):
            others = [j for j in range(n) if j != i]
            for mask in itertools.product((None, *range(q)), repeat=len(others)):
                fixed = {j: v for j, v in zip(others, mask, strict=True) if v is not None}
                row = self._cond(i, fixed)
                if row is not None:
                    rows[tuple(row)] = None
        for row in rows:
            self._rows.append((np.array([float(self.value(v)) for v in row]),
                               tuple(_Elem(v, self) for v in row)))
        coins: dict[Any, None] = {self.K(0): None, self.K(1): None}
        for order in itertools.permutations(range(n)):
            for b in range(2, n + 1):
                for xs in itertools.product(range(q), repeat=b):
                    for a in range(b - 1):
                        self._block_coins(order, a, b, xs, coins)
        self._coins = [(float(self.value(v)), _Elem(v, self)) for v in coins]

    def _block_coins(self, order: tuple[int, ...], a: int, b: int, xs: tuple[int, ...],
                     coins: dict[Any, None]) -> None:
        pre = {order[j]: xs[j] for j in range(a)}
        mu = nu = self.K(1)
        for j in range(a, b):
            ctx = {order[k]: xs[k] for k in range(j)}
            cm, cn = self._cond(order[j], ctx), self._cond(order[j], pre)
            if cm is None or cn is None:
                return
            mu, nu = mu * cm[xs[j]], nu * cn[xs[j]]
        if mu == 0 or nu == 0:
            return
        r = mu / nu
        coins[r if self._sign(r - 1) < 0 else self.K(1)] = None
        coins[1 - 1 / r if self._sign(r - 1) > 0 else self.K(0)] = None

    # -- identification ---------------------------------------------------------------
    def row(self, floats: np.ndarray) -> list[_Elem]:
        f = np.asarray(floats, dtype=np.float64)
        s = float(f.sum())
        f = f / s if s > 0 else f
        hits = {ex for arr, ex in self._rows if arr.shape == f.shape
                and float(np.abs(arr - f).max()) <= _MATCH}
        if len(hits) != 1:
            raise _RationalFailed(
                f"categorical row {f.tolist()} is {'no' if not hits else 'not one'} exact "
                "conditional row of the target"
            )
        return list(next(iter(hits)))

    def coin(self, p: float) -> _Elem:
        hits = {ex for v, ex in self._coins if abs(v - p) <= _MATCH}
        if len(hits) != 1:
            raise _RationalFailed(
                f"coin probability {p!r} is {'no' if not hits else 'not one'} exact "
                "speculative acceptance of the target"
            )
        return next(iter(hits))


def _exact_numbers(weights: Any, target: Any) -> _ExactNumbers:
    """Check ``weights`` against ``target`` and build the number system."""
    if weights is True:
        weights = getattr(target, "exact_weights", None)
        if weights is None:
            raise ParameterError(
                "`exact` must be an ExactWeights (or True for a target with an "
                f"`exact_weights` attribute); got True for {type(target).__name__}."
            )
    if not isinstance(weights, ExactWeights):
        raise ParameterError(f"`exact` must be an ExactWeights; got {type(weights).__name__}.")
    n, q = int(target.n), int(target.q)
    if weights.scale.shape != (q,) * n:
        raise ParameterError(
            f"`exact` weights must have shape {(q,) * n} (the target's); got "
            f"{weights.scale.shape}."
        )
    if n > 4 or q ** n > 16:
        raise ParameterError(f"`exact` needs q**n <= 16 and n <= 4; got n = {n}, q = {q}.")
    num = _ExactNumbers(weights, n, q)
    pmf = np.asarray(target.pmf(), dtype=np.float64).reshape((q,) * n)
    for x, p in num.pmf.items():
        if abs(float(num.value(p)) - pmf[x]) > 1e-12 * max(1.0, pmf[x]) + 1e-15:
            raise ParameterError(
                f"`exact` weights must be the target's: at x = {x} they give "
                f"{float(num.value(p))!r}, the target {pmf[x]!r}."
            )
    return num
