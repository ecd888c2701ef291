"""verify.rounds: the per-point tail summary and the fitted-exponent check (issue 16 item 6)."""

from __future__ import annotations

import numpy as np
import pytest

from distributions.errors import ParameterError
from verify.rounds import rounds_point, rounds_scaling


def test_rounds_point_summary() -> None:
    r = np.array([3, 4, 4, 5, 6, 7, 8, 9, 10, 300], dtype=float)
    p = rounds_point(64, r, np.full(10, 100.0), 64, 0.5)
    assert p.mean_rounds == pytest.approx(35.6) and p.median_rounds == 6.5
    assert p.max_rounds == 300 and p.exceeds_sequential
    assert p.p99_rounds == pytest.approx(np.percentile(r, 99))
    assert p.mean_low < p.mean_rounds < p.mean_high
    # Student-t: 2.262 (9 dof) standard errors each side
    assert p.mean_high - p.mean_rounds == pytest.approx(2.2622 * r.std(ddof=1) / np.sqrt(10),
                                                        rel=1e-4)
    q = rounds_point(64, [5, 5], [1, 1], 64, 0.0)
    assert not q.exceeds_sequential and q.mean_low == q.mean_high == 5.0
    with pytest.raises(ParameterError, match="same positive length"):
        rounds_point(4, [], [], 4, 0.0)


def test_sublinear_check_is_the_increment_test() -> None:
    """The check is the intercept-free increment test's 95% interval below 0, not the
    log-log slope's interval below 1 (nor "mean < n")."""
    res = rounds_scaling(["autospeculative", "agr24"], quick=True, seed=3, num=30)
    for s in res.samplers:
        assert s.growth is not None and s.growth.ratio == 2.0
        assert s.statistic == s.growth.exponent or s.statistic != s.statistic
        assert s.passed == (s.growth.high < 0.0)
        assert s.status in ("pass", "fail")
        assert s.exceeds_sequential_at == tuple(p.n for p in s.points if p.max_rounds > p.n)
