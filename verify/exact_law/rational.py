"""Exact rational arithmetic of the enumeration (see "Exact rational law" in
:mod:`verify.exact_law`).

The rational mode computes only with numbers it knows exactly. The target must
declare its exact weights (``target.rational_weights``, integers or fractions:
:attr:`distributions.table.TableDistribution.rational_weights`); from them the
**candidates** are computed in :class:`fractions.Fraction`: every conditional row of
the target given any partial assignment (categorical draws of the sequential and
autospeculative samplers), every row ``J[g, .] / p(g)`` of the race coupling
``J`` of two such rows of one site, ``p`` given ``A`` and ``c`` given ``B``
extending ``A`` (AGR24's correction draws, closed form of
:func:`samplers.agr24.race_coupling` in exact arithmetic), and, for every order of
the sites, block ``S`` after a prefix and values ``x``, with ``r = mu_S(x) /
nu_S(x)``: the coins ``min(1, r)``, ``max(0, 1 - 1/r)`` of the autospeculative
sampler and the same two forms of ``1/r`` (the ratio the other way round). Each
float the sampler hands over (a categorical row, normalised; a coin probability)
is identified with the candidate within ``1e-12`` of it, and accepted only when the
candidates that close to it are all the same exact number; otherwise there is no
rational law (``rational_pmf = None``, ``note`` says which draw). The rational law
is therefore the exact law of the sampler whose every draw is the exact candidate
its float stands for (a float within ``1e-12`` of a candidate is read as it: the
float enumeration, run alongside, shows any deviation that small in ``tv``).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import numpy as np

__all__: list[str] = []

_MATCH = 1e-12


class _RationalFailed(Exception):
    pass


def _race_row(p: list[Fraction], c: list[Fraction], a: int) -> list[Fraction]:
    """Row ``a`` of the race coupling of the probability rows ``p`` and ``c``, in
    exact arithmetic (the closed form of :func:`samplers.agr24.race_coupling`)."""
    q = len(p)
    pa, ca = p[a], c[a]
    out = [Fraction(0)] * q
    if pa == 0:
        return out
    u = [pi / pa for pi in p]
    if ca > 0:
        w = [ci / ca for ci in c]
        out[a] = 1 / (1 + sum(max(u[i], w[i]) for i in range(q) if i != a))
    for b in range(q):
        if b == a or c[b] == 0:
            continue
        s0, s1 = u[b], (c[b] / ca if ca > 0 else None)  # None: +infinity
        if s1 is not None and not s1 > s0:
            continue
        terms = []  # (breakpoint T, U, V): the term is U for s < T, s V for s > T
        for i in range(q):
            if i in (a, b):
                continue
            U, V = u[i], c[i] / c[b]
            T = U / V if V > 0 else (None if U > 0 else Fraction(0))  # None: never
            terms.append((T, U, V))
        cuts = sorted({T for T, _, _ in terms
                       if T is not None and T > s0 and (s1 is None or T < s1)})
        points: list[Fraction | None] = [s0, *cuts, s1]
        total = Fraction(0)
        for lo, hi in itertools.pairwise(points):
            assert lo is not None
            const = [(T is None or (hi is not None and T >= hi)) for T, _, _ in terms]
            alpha = 1 + sum(U for (_, U, _), k in zip(terms, const, strict=True) if k)
            beta = 1 + sum(V for (_, _, V), k in zip(terms, const, strict=True) if not k)
            if hi is None:
                total += 1 / (beta * (alpha + beta * lo))
            else:
                total += (hi - lo) / ((alpha + beta * lo) * (alpha + beta * hi))
        out[b] = total
    return out


class _RationalNumbers:
    """The number system of the rational enumeration (:class:`fractions.Fraction`,
    the interface the exact mode of :mod:`verify.exact_law.exact` shares) and the
    identification of the sampler's floats with exact candidates (see the module).

    Parameters
    ----------
    weights : ndarray of int or Fraction, shape (q,)*n
        The target's exact non-negative weights, not all zero.
    """

    exact = True

    def __init__(self, weights: np.ndarray) -> None:
        w = np.asarray(weights, dtype=object)
        self.n, self.q = w.ndim, w.shape[0]
        self.weights = {x: Fraction(w[x]) for x in np.ndindex(w.shape)}
        total = sum(self.weights.values(), Fraction(0))
        self.pmf = [self.weights[x] / total for x in np.ndindex(w.shape)]
        self._margs: dict[tuple, Fraction] = {}
        self._conds: dict[tuple, list[Fraction] | None] = {}
        rows: dict[tuple[Fraction, ...], None] = {}
        coins: dict[Fraction, None] = {Fraction(0): None, Fraction(1): None}
        self._build_rows(rows)
        self._build_coins(coins)
        self._rows = list(rows)
        self._row_floats = np.array([[float(v) for v in r] for r in self._rows])
        self._coins = list(coins)
        self._coin_floats = np.array([float(v) for v in self._coins])

    # -- numbers --------------------------------------------------------------------
    def one(self) -> Fraction:
        return Fraction(1)

    def zero(self) -> Fraction:
        return Fraction(0)

    def frac(self, a: int, b: int) -> Fraction:
        return Fraction(a, b)

    # -- candidates -----------------------------------------------------------------
    def _marg(self, fixed: dict[int, int]) -> Fraction:
        key = tuple(sorted(fixed.items()))
        if key not in self._margs:
            self._margs[key] = sum((p for x, p in self.weights.items()
                                    if all(x[i] == v for i, v in fixed.items())), Fraction(0))
        return self._margs[key]

    def _cond(self, i: int, fixed: dict[int, int]) -> list[Fraction] | None:
        key = (i, tuple(sorted(fixed.items())))
        if key not in self._conds:
            m = self._marg(fixed)
            self._conds[key] = (None if m == 0 else
                                [self._marg(fixed | {i: v}) / m for v in range(self.q)])
        return self._conds[key]

    def _partials(self, sites: list[int]) -> list[dict[int, int]]:
        """Every partial assignment of ``sites``."""
        return [{j: v for j, v in zip(sites, mask, strict=True) if v is not None}
                for mask in itertools.product((None, *range(self.q)), repeat=len(sites))]

    def _build_rows(self, rows: dict[tuple[Fraction, ...], None]) -> None:
        for i in range(self.n):
            for big in self._partials([j for j in range(self.n) if j != i]):
                c = self._cond(i, big)
                if c is None:
                    continue
                rows[tuple(c)] = None
                for small in self._partials(sorted(big)):
                    if any(big[j] != v for j, v in small.items()):
                        continue
                    p = self._cond(i, small)
                    assert p is not None  # a sub-assignment of a positive one
                    for a in range(self.q):
                        for cc in (c, p):  # a zero c row is replaced by p (x = g)
                            j = _race_row(p, cc, a)
                            s = sum(j)
                            if s > 0:
                                rows[tuple(v / s for v in j)] = None

    def _build_coins(self, coins: dict[Fraction, None]) -> None:
        n, q = self.n, self.q
        for order in itertools.permutations(range(n)):
            for b in range(2, n + 1):
                for xs in itertools.product(range(q), repeat=b):
                    for a in range(b - 1):
                        pre = {order[j]: xs[j] for j in range(a)}
                        mu = nu = Fraction(1)
                        for j in range(a, b):
                            cm = self._cond(order[j], {order[k]: xs[k] for k in range(j)})
                            cn = self._cond(order[j], pre)
                            if cm is None or cn is None:
                                break
                            mu, nu = mu * cm[xs[j]], nu * cn[xs[j]]
                        else:
                            if mu == 0 or nu == 0:
                                continue
                            for r in (mu / nu, nu / mu):
                                coins[min(Fraction(1), r)] = None
                                coins[max(Fraction(0), 1 - 1 / r)] = None

    # -- identification ---------------------------------------------------------------
    def row(self, floats: Any) -> list[Fraction]:
        f = np.asarray(floats, dtype=np.float64)
        s = float(f.sum())
        f = f / s if s > 0 else f
        close = np.flatnonzero(np.abs(self._row_floats - f).max(axis=1) <= _MATCH)
        hits = {self._rows[k] for k in close}
        if len(hits) != 1:
            raise _RationalFailed(
                f"categorical row {f.tolist()} is {'no' if not hits else 'not one'} exact "
                "conditional or coupling row of the target"
            )
        return list(next(iter(hits)))

    def coin(self, p: float) -> Fraction:
        close = np.flatnonzero(np.abs(self._coin_floats - p) <= _MATCH)
        hits = {self._coins[k] for k in close}
        if len(hits) != 1:
            raise _RationalFailed(
                f"coin probability {p!r} is {'no' if not hits else 'not one'} exact "
                "speculative acceptance of the target"
            )
        return next(iter(hits))
