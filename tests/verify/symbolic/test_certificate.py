"""The certificate record and runner: proved only for an all-zero residual; a
residual, a failed numeric cross-check, an error or the time limit give "not proved"."""

import time

import pytest
import sympy as sp

from verify.errors import ParameterError
from verify.symbolic import Certificate, Finding, certify

X = sp.Symbol("x")


def test_zero_residual_is_proved_and_nonzero_is_not():
    good = certify("sq", "(x+1)^2", lambda: Finding([sp.expand((X + 1) ** 2 - X**2 - 2 * X - 1)]))
    assert isinstance(good, Certificate)
    assert (good.outcome, good.status, good.residual, good.passed) == ("proved", "pass", "0", True)
    assert good.seconds >= 0 and good.to_dict()["outcome"] == "proved"
    bad = certify("sq", "(x+1)^2", lambda: Finding([sp.expand((X + 1) ** 2 - X**2 - 1)]))
    assert (bad.outcome, bad.status, bad.residual) == ("not proved", "fail", "2*x")


def test_numeric_failure_blocker_error_and_empty_are_not_proved():
    assert certify("n", "s", lambda: Finding([sp.Integer(0)], numeric_ok=False)).outcome == \
        "not proved"
    blocked = certify("b", "s", lambda: Finding([sp.Integer(0)], blocker="guard x > 0"))
    assert (blocked.outcome, blocked.status, blocked.residual) == ("not proved", "warn",
                                                                   "guard x > 0")
    assert certify("e", "s", lambda: Finding([])).outcome == "not proved"

    def boom():
        raise ValueError("sympy gave up")

    err = certify("x", "s", boom)
    assert err.outcome == "not proved" and "sympy gave up" in err.residual


def test_time_limit_gives_not_proved():
    def slow():
        time.sleep(5)
        return Finding([sp.Integer(0)])

    t0 = time.perf_counter()
    c = certify("slow", "s", slow, timeout=0.2)
    assert time.perf_counter() - t0 < 3
    assert (c.outcome, c.status) == ("not proved", "warn") and "time limit" in c.residual


@pytest.mark.parametrize("timeout", [0, -1, 31, float("nan")])
def test_bad_timeout_is_refused(timeout):
    with pytest.raises(ParameterError, match="timeout"):
        certify("x", "s", lambda: Finding([sp.Integer(0)]), timeout=timeout)


def test_construction_must_be_callable():
    with pytest.raises(ParameterError, match="construction"):
        certify("x", "s", 3)
