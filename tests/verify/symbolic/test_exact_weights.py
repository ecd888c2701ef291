"""Item 2 as a certificate: the exact law over irrational Ising weights."""

import pytest

from verify.errors import ParameterError
from verify.mutants import MUTANTS
from verify.symbolic import exact_law_certificate


@pytest.mark.slow
def test_autospeculative_is_proved_and_residual_skipped_is_not():
    assert exact_law_certificate().outcome == "proved"
    bad = exact_law_certificate(lambda o: MUTANTS["residual-skipped"](o, order="identity"))
    assert bad.status == "fail" and "exp(" in bad.residual


def test_factory_must_be_callable():
    with pytest.raises(ParameterError, match="factory"):
        exact_law_certificate(3)
