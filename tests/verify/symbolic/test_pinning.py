"""Item 6: the pinning identities on n = 3 with symbolic weights; broken identities
(an off-by-one sum, a missing pair) are not proved."""

import pytest

from verify.errors import ParameterError
from verify.symbolic import pinning_certificate


def test_identities_are_proved():
    assert pinning_certificate().outcome == "proved"


@pytest.mark.slow
def test_broken_identities_are_not_proved():
    off = pinning_certificate("kl-off-by-one")
    assert off.status == "fail" and "KL identity (a, b) = (0, 2)" in off.detail
    assert "log(" in off.residual
    miss = pinning_certificate("mi-missing-pair")
    assert miss.status == "fail" and "MI identity t = 0" in miss.detail


def test_unknown_variant():
    with pytest.raises(ParameterError, match="variant"):
        pinning_certificate("nope")
