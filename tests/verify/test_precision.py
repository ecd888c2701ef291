"""verify.precision: argument checks of precision_floor (its figures are tested with
the trained model in tests/verify/test_relative_exactness.py)."""

from __future__ import annotations

import numpy as np
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


def test_row_errors_leave_out_all_zero_rows():
    """An all-zero row (a context of probability 0, the contract's zero-context rule) is
    not rounding: it does not make the row error 1 (the precision floor and the audit's
    low-precision tolerances share this function)."""
    from verify.precision import rounding_bound, row_errors

    rows = np.array([[0.0, 0.0], [0.25, 0.75], [0.5, 0.5 + 1e-7]])
    e, d = row_errors(rows, 0.5 * 2.0**-23)
    assert d == pytest.approx(1e-7) and e == pytest.approx(1e-7 + (1 + 1e-7) * 2.0**-24)
    assert row_errors(np.zeros((2, 3)), 1e-8) == (0.0, 0.0)
    assert rounding_bound(1e-3, 2) == pytest.approx(0.5 * ((1 + 1e-3) ** 2 - 1))
    assert rounding_bound(1.0, 10) == 1.0
