"""exact_law(..., exact=...): the enumerated law in exact arithmetic over irrational
Ising weights (issue 17 item 2)."""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from distributions.families import ising
from samplers.sequential import SequentialSampler
from verify import exact_law
from verify.errors import ParameterError
from verify.exact_law.exact import ExactWeights, ising_weights
from verify.mutants import MUTANTS

J = ((0, 1), (1, 0))
H = (Fraction(1, 3), Fraction(-1, 2))
BETA = Fraction(3, 4)


def _target():
    return ising([[0.0, 1.0], [1.0, 0.0]], [1 / 3, -0.5], beta=0.75)


def test_sequential_law_is_exactly_the_target_in_exp_arithmetic():
    res = exact_law(lambda o: SequentialSampler(o, order="random"), _target(),
                    exact=ising_weights(J, H, beta=BETA))
    assert res.exact_zero is True and all(d == 0 for d in res.exact_diff)
    # the exact law is irrational: a ratio of sums of exp(k/12)
    p = res.exact_pmf[0]
    assert p.has(sp.exp) and abs(float(p) - res.target_pmf[0]) < 1e-15
    assert res.to_dict()["exact_zero"] is True


def test_a_wrong_sampler_has_a_nonzero_exact_difference():
    res = exact_law(lambda o: MUTANTS["residual-skipped"](o, order="identity"), _target(),
                    exact=ising_weights(J, H, beta=BETA))
    assert res.exact_zero is False
    d = [x for x in res.exact_diff if x != 0]
    assert d and all(x.has(sp.exp) for x in d)
    assert abs(sum(abs(float(x)) for x in res.exact_diff) / 2 - res.tv) < 1e-12


def test_draws_that_are_not_the_targets_rows_or_coins_give_no_exact_law():
    res = exact_law(lambda o: MUTANTS["swapped-residual-ratio"](o, order="identity"),
                    _target(), exact=ising_weights(J, H, beta=BETA))
    assert res.exact_diff is None and res.exact_zero is None
    assert "no exact law" in res.note


def test_bad_exact_arguments_are_refused_before_work():
    t = _target()
    with pytest.raises(ParameterError, match="exact_weights"):
        exact_law(SequentialSampler, t, exact=True)
    with pytest.raises(ParameterError, match="must be the target's"):
        exact_law(SequentialSampler, t, exact=ising_weights(J, H, beta=1))
    with pytest.raises(ParameterError, match="shape"):
        exact_law(SequentialSampler, t, exact=ising_weights(((0, 1, 0), (1, 0, 0), (0, 0, 0))))
    with pytest.raises(ParameterError, match="Fraction"):
        ExactWeights(scale=np.ones((2, 2)), exponent=np.zeros((2, 2)))
