"""Item 1: the speculative step for every sign pattern (rules traced from the real
steps) and the block recursion; mutants of the catalogue give non-zero residuals."""

import pytest

from samplers.autospec import SpeculativeSteps
from verify.errors import ParameterError
from verify.mutants import MUTANTS
from verify.symbolic import recursion_certificate, step_certificate
from verify.symbolic.speculative import sign_patterns


def test_sign_patterns_are_every_feasible_one():
    assert sign_patterns(2) == ["+-", "-+", "00"]
    assert len(sign_patterns(3)) == 13 and len(sign_patterns(4)) == 51


def test_step_q2_is_proved_and_mutants_are_not():
    assert step_certificate(2).outcome == "proved"
    for name in ("swapped-residual-ratio", "wrong-first-stage-ratio"):
        c = step_certificate(2, MUTANTS[name].steps)
        assert (c.outcome, c.status) == ("not proved", "fail"), name
        assert c.residual == "-d0" and "sign pattern +-" in c.detail
    # the tempered oracle's residual is a non-zero expression in the region's symbols
    t = step_certificate(2, MUTANTS["tempered-oracle"].steps)
    assert t.status == "fail" and "d0" in t.residual


def test_float32_mutant_cannot_be_traced_and_is_not_proved():
    c = step_certificate(2, MUTANTS["float32-accumulation"].steps)
    assert c.outcome == "not proved" and c.status == "warn"


@pytest.mark.slow
@pytest.mark.parametrize("q", [3, 4])
def test_step_q3_q4_are_proved(q):
    c = step_certificate(q)
    assert c.outcome == "proved", c.residual
    assert c.seconds < 30


def test_recursion_n2_is_proved_and_a_structural_mutant_is_not():
    assert recursion_certificate(2).outcome == "proved"
    c = recursion_certificate(2, MUTANTS["off-by-one-split"].steps)
    assert (c.outcome, c.status) == ("not proved", "fail") and "w" in c.residual


@pytest.mark.slow
def test_recursion_n2_other_structural_mutants_are_not_proved():
    for name in ("right-on-proposal", "left-rows-from-right-half"):
        c = recursion_certificate(2, MUTANTS[name].steps)
        assert (c.outcome, c.status) == ("not proved", "fail"), name
        assert "w" in c.residual and "first failure" in c.detail


@pytest.mark.slow
def test_recursion_n3_is_proved():
    c = recursion_certificate(3)
    assert c.outcome == "proved", c.residual


def test_recursion_refuses_accept_rule_mutants_and_bad_args():
    with pytest.raises(ParameterError, match="residual_log_accept"):
        recursion_certificate(2, MUTANTS["swapped-residual-ratio"].steps)
    with pytest.raises(ParameterError, match="`n` must be 2 or 3"):
        recursion_certificate(4)
    with pytest.raises(ParameterError, match="`q` must be 2, 3 or 4"):
        step_certificate(5)
    with pytest.raises(ParameterError, match="SpeculativeSteps"):
        step_certificate(2, object())
    assert isinstance(SpeculativeSteps(), SpeculativeSteps)
