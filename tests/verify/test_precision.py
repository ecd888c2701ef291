"""verify.precision: argument checks of precision_floor (its figures are tested with
the trained model in tests/verify/test_relative_exactness.py)."""

from __future__ import annotations

import pytest

from distributions.errors import ParameterError
from distributions.families import random_table
from verify.precision import precision_floor

T = random_table(4, 2, rng=0)


@pytest.mark.parametrize("tv", ["abc", float("nan"), float("inf"), 0.0, 1.0, -0.1, True])
def test_bad_tv_is_a_parameter_error(tv) -> None:
    """Review rev9 item 4: 'abc' was an untyped ValueError, nan a silent pass."""
    with pytest.raises(ParameterError, match=r"`tv` must be a finite number > 0 and < 1; got"):
        precision_floor(T, tv=tv)


def test_valid_tv_is_compared_with_the_floor() -> None:
    r = precision_floor(T, tv=0.1)
    assert r.status == "pass" and r.floor < 0.1
