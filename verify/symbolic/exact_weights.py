"""Item 2 as a certificate: the exact output law of the autospeculative sampler on an
Ising table with irrational weights, in exact arithmetic (:func:`verify.exact_law`
with ``exact=``), equals the target exactly."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from distributions.errors import ParameterError
from distributions.families import ising
from samplers.autospec import AutospeculativeSampler
from verify.exact_law import exact_law
from verify.exact_law.exact import ising_weights
from verify.symbolic.certificate import Certificate, Finding, certify

__all__ = ["exact_law_certificate", "ISING_COUPLINGS", "ISING_FIELD", "ISING_BETA"]

#: The target: a 3-site Ising chain with a field, rational parameters (weights
#: ``exp(beta (...))`` are irrational).
ISING_COUPLINGS = ((0, 1, 0), (1, 0, Fraction(1, 2)), (0, Fraction(1, 2), 0))
ISING_FIELD = (Fraction(1, 3), 0, Fraction(-1, 4))
ISING_BETA = Fraction(3, 4)


def _default_factory(oracle: Any) -> Any:
    return AutospeculativeSampler(oracle, order="identity")


def _finding(factory: Callable[[Any], Any]) -> Finding:
    target = ising([[float(v) for v in r] for r in ISING_COUPLINGS],
                   [float(v) for v in ISING_FIELD], beta=float(ISING_BETA))
    weights = ising_weights(ISING_COUPLINGS, ISING_FIELD, beta=ISING_BETA)
    res = exact_law(factory, target, exact=weights, rational=False)
    if res.exact_diff is None:
        return Finding([], blocker=f"no exact law: {res.note}")
    bad = [i for i, d in enumerate(res.exact_diff) if d != 0]
    return Finding(list(res.exact_diff),
                   detail=(f"8 cells in Q(exp(1/8)); float TV {res.tv:.3g}"
                           + (f"; cells off: {bad}" if bad else "")))


def exact_law_certificate(factory: Callable[[Any], Any] | None = None) -> Certificate:
    """Certificate: the sampler built by ``factory`` (default the autospeculative
    sampler in identity order) has, in exact arithmetic over the Ising weights
    ``exp(beta (sum J s s + sum h s))`` with ``beta = 3/4``, exactly the target law.

    Examples
    --------
    >>> exact_law_certificate().outcome  # doctest: +SKIP
    'proved'
    """
    factory = _default_factory if factory is None else factory
    if not callable(factory):
        raise ParameterError(f"`factory` must be a callable oracle -> sampler; got "
                             f"{type(factory).__name__}.")
    return certify(
        "exact-law-ising-irrational",
        "the enumerated output law, in exact arithmetic over the irrational Ising weights "
        "(3 sites, rational couplings, field and beta), minus the target is exactly 0",
        lambda: _finding(factory),
    )
