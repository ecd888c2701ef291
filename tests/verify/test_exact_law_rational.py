"""exact_law's rational mode: an exact figure only from exactly known numbers
(verify/exact_law/rational.py)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from distributions.errors import ParameterError
from distributions.families import hardcore, random_table
from distributions.table import TableDistribution
from samplers.agr24 import AGR24Sampler, race_coupling
from samplers.autospec import AutospeculativeSampler, SpeculativeSteps
from samplers.sequential import SequentialSampler
from verify.exact_law import exact_law
from verify.exact_law.rational import _race_row, _RationalFailed, _RationalNumbers

RAMP = np.arange(1.0, 17.0).reshape((2,) * 4)


def _seq(o):
    return SequentialSampler(o, order="identity", validate=False)


def _auto(o):
    return AutospeculativeSampler(o, order="identity", validate=False)


@pytest.mark.parametrize("factory", [_seq, _auto])
def test_irrational_weight_table_has_no_rational_law(factory):
    d = TableDistribution(np.exp(-0.7 * np.arange(16.0) / 3).reshape((2,) * 4))
    res = exact_law(factory, d)
    assert res.rational_pmf is None and res.rational_tv is None
    assert res.method == "enumeration" and res.to_dict()["rational_tv"] is None
    assert "no rational law" in res.note and "declares no exact rational weights" in res.note
    # the float enumeration is unchanged: the exact samplers are exact
    assert res.tv <= 1e-12 and res.truncated_mass == 0.0 and res.status == "pass"


@pytest.mark.parametrize(("target", "factory"), [
    (TableDistribution(RAMP), lambda o: AGR24Sampler(o, order="identity", validate=False)),
    # random order: permutations and the rows of every partial assignment
    (TableDistribution(RAMP), lambda o: SequentialSampler(o, order="random", validate=False)),
    (hardcore(np.ones((4, 4)) - np.eye(4), 1.0), _auto),
    # q = 3: AGR24's coupling rows off the diagonal (several pieces), rational=True
    (TableDistribution(np.arange(1.0, 10.0).reshape(3, 3)),
     lambda o: AGR24Sampler(o, k=2, order="identity", validate=False)),
])
def test_declared_integer_weights_give_the_exact_rational_law(target, factory):
    w = target.rational_weights.ravel()
    res = exact_law(factory, target, rational=True)
    assert res.rational_pmf == tuple(Fraction(int(v), int(w.sum())) for v in w), res.note
    assert res.rational_tv == 0 and res.method == "enumeration (rational)" and res.note == ""


class _BigDenominatorCoin(SpeculativeSteps):
    """Wrong: the first acceptance coin times ``1 - 1/999,999,937`` (a rational of
    denominator ~1e9 whose float is within 1e-9 of the right coin)."""

    def first_log_accept(self, log_mu, log_nu):
        return super().first_log_accept(log_mu, log_nu) + np.log1p(-1 / 999_999_937)


class _TemperedRows(SequentialSampler):
    """Wrong: draws from the conditionals raised to the power 0.9 (irrational rows)."""

    def sample(self, num, *, rng=None):
        inner = rng

        class _Src:
            def categorical(self, probs):
                return inner.categorical(np.asarray(probs) ** 0.9)

            def coin(self, log_p):
                return inner.coin(log_p)

            def permutations(self, m, n):
                return inner.permutations(m, n)

            def normal(self, shape):
                return inner.normal(shape)

        return super().sample(num, rng=_Src())


def test_draws_that_are_no_exact_candidate_give_no_rational_law():
    d = TableDistribution(RAMP)
    res = exact_law(lambda o: AutospeculativeSampler(o, order="identity", validate=False,
                                                     steps=_BigDenominatorCoin()), d)
    assert res.rational_tv is None and "coin probability" in res.note, res.note
    assert 0 < res.tv < 1e-8  # the float law sees the (tiny) error
    res = exact_law(lambda o: _TemperedRows(o, order="identity", validate=False), d)
    assert res.rational_tv is None and "categorical row" in res.note, res.note
    assert res.status == "fail"


def test_coins_are_only_exact_candidates():
    num = _RationalNumbers(RAMP.astype(int).astype(object))
    # every candidate is recovered exactly from its float
    for c in num._coins:
        assert num.coin(float(c)) == c
    # a rational of denominator 1e9..1e12 that is not a candidate is refused (the
    # old nearest-small-fraction rule accepted 1,207 of 20,000 as a wrong fraction)
    rng = np.random.default_rng(20261202)
    dens = rng.integers(10**9, 10**12, size=20_000)
    accepted = []
    for den in dens:
        c = Fraction(int(rng.integers(1, den)), int(den))
        try:
            got = num.coin(float(c))
        except _RationalFailed:
            continue
        accepted.append((c, got))
    assert not accepted, f"seed 20261202: {len(accepted)} accepted, e.g. {accepted[:3]}"


def test_exact_race_rows_match_the_float_coupling():
    rng = np.random.default_rng(7)
    for q in (2, 3, 4):
        for _ in range(20):
            p = rng.integers(0, 6, size=q)
            c = rng.integers(0, 6, size=q)
            p[0] += 1
            c[1] += 1
            J = race_coupling(p, c)
            pf = [Fraction(int(v), int(p.sum())) for v in p]
            cf = [Fraction(int(v), int(c.sum())) for v in c]
            for a in range(q):
                row = [float(v) for v in _race_row(pf, cf, a)]
                np.testing.assert_allclose(row, J[a], rtol=0, atol=1e-15,
                                           err_msg=f"seed 7: p = {p}, c = {c}, a = {a}")


def test_rational_mode_bad_input():
    with pytest.raises(ParameterError, match=r"`rational` needs q\*\*n <= 16"):
        exact_law(_seq, random_table(5, 2, rng=0), rational=True)
    # declared weights that are not the target's law: no rational figure, said why
    d = TableDistribution(RAMP)
    d._rational_weights = np.ones((2,) * 4, dtype=np.int64).astype(object)
    res = exact_law(_seq, d)
    assert res.rational_tv is None and "are not its law" in res.note
