"""Item 3: reflection coupling acceptance, the reflection, the discrete Girsanov ratio;
each diffusion mutant of the catalogue gives a non-zero residual."""

import pytest

from verify.mutants import DIFFUSION_MUTANTS
from verify.symbolic import acceptance_certificate, girsanov_certificate, reflection_certificate


@pytest.mark.slow
def test_acceptance_is_2phi_and_the_missing_half_norm_mutant_is_not():
    c = acceptance_certificate()
    assert c.outcome == "proved", c.residual
    bad = acceptance_certificate(DIFFUSION_MUTANTS["diffusion-missing-half-norm-squared"].steps)
    assert bad.status == "fail" and "erf" in bad.residual


def test_reflection_is_an_involution_of_determinant_minus_one():
    assert reflection_certificate().outcome == "proved"
    bad = reflection_certificate(DIFFUSION_MUTANTS["diffusion-wrong-reflection"].steps)
    assert bad.status == "fail" and bad.residual == "2"  # det(-H) = +1 in 3-D


def test_girsanov_ratio_and_the_missing_quadratic_term():
    assert girsanov_certificate().outcome == "proved"
    bad = girsanov_certificate(DIFFUSION_MUTANTS["diffusion-missing-quadratic-term"].steps)
    assert bad.status == "fail" and "h0" in bad.residual and "F00**2" in bad.residual
