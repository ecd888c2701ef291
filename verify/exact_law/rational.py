"""Exact rational arithmetic of the enumeration: probabilities as small-denominator
fractions (see "Exact rational law" in :mod:`verify.exact_law`)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

_MAX_DEN = 10**9
_MAX_COIN_DEN = 10**6


class _RationalFailed(Exception):
    pass


def _rationalise(p: float) -> Fraction:
    f = Fraction(float(p)).limit_denominator(_MAX_DEN)
    if abs(float(f) - float(p)) > 1e-13 * max(1.0, abs(float(p))):
        raise _RationalFailed(f"probability {p!r} is not a small-denominator rational")
    return f


def _rationalise_coin(p: float) -> Fraction:
    """Coin probability ``exp(log_p)`` as the fraction of denominator <= 10**6 nearest
    to it, accepted only within ``1e-13``: two distinct such fractions differ by at
    least ``1e-12``, so this is the true value whenever its denominator is at most
    10**6 (the float carries ~1e-15 relative error); otherwise it is refused."""
    if p == 0.0 or p == 1.0:
        return Fraction(int(p))
    f = Fraction(p).limit_denominator(_MAX_COIN_DEN)
    if abs(float(f) - p) > 1e-13:
        raise _RationalFailed(
            f"coin probability {p!r} is not a rational of denominator <= {_MAX_COIN_DEN}"
        )
    return f


class _RationalNumbers:
    """The number system of the rational enumeration: :class:`fractions.Fraction`
    (the interface the exact mode of :mod:`verify.exact_law.exact` shares)."""

    exact = True

    def one(self) -> Fraction:
        return Fraction(1)

    def zero(self) -> Fraction:
        return Fraction(0)

    def frac(self, a: int, b: int) -> Fraction:
        return Fraction(a, b)

    def row(self, floats: Any) -> list[Fraction]:
        return [_rationalise(v) for v in floats]

    def coin(self, p: float) -> Fraction:
        return _rationalise_coin(p)


#: The rational number system (passed as ``rational`` to the enumeration).
_RATIONAL = _RationalNumbers()


def _target_rational(target: Any) -> list[Fraction]:
    pmf = np.asarray(target.pmf(), dtype=np.float64)
    fr = [_rationalise(p) for p in pmf]
    s = sum(fr)
    return [f / s for f in fr]
