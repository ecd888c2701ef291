"""The shared result protocol (verify/results.py) and the check results that implement it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from distributions.errors import ParameterError
from distributions.families import random_table
from distributions.scalable import Product
from verify.chain_tests import ChainTestResult, chain_detectable_tv, chain_test
from verify.continuous import (
    AcceptanceResult,
    GaussianChainResult,
    SameLawResult,
    SteinResult,
    check_same_law,
)
from verify.exactness import (
    BatchInvarianceResult,
    ExactnessResult,
    check_batch_invariance,
    check_exact,
)
from verify.results import STATUSES, CheckResult, ResultBase, WorstCell, status_of, to_plain

PROTOCOL_FIELDS = ("passed", "status", "statistic", "pvalue", "alpha", "num_samples",
                   "detectable_tv", "seed", "method")


@pytest.mark.parametrize(
    "cls",
    [ExactnessResult, BatchInvarianceResult, ChainTestResult, SameLawResult,
     GaussianChainResult, SteinResult, AcceptanceResult],
)
def test_every_check_result_subclasses_result_base(cls: type) -> None:
    assert issubclass(cls, ResultBase)
    names = set(cls.__dataclass_fields__)
    assert set(PROTOCOL_FIELDS) <= names, sorted(set(PROTOCOL_FIELDS) - names)
    assert cls.__dataclass_params__.frozen


def test_status_of_and_the_status_rules() -> None:
    assert status_of(True, 0.01) == "fail"
    assert status_of(True, 1.0) == "fail"
    assert status_of(False, 0.01) == "pass"
    assert status_of(False, 1.0) == "no-power"
    assert status_of(False, math.nan) == "no-power"
    assert STATUSES == ("pass", "fail", "warn", "skipped", "no-power")

    @dataclass(frozen=True, kw_only=True)
    class R(ResultBase):
        extra: tuple[int, ...] = ()

    assert R(passed=True).status == "pass"
    assert R(passed=False).status == "fail"
    assert R(passed=False, status="no-power").status == "no-power"
    with pytest.raises(ParameterError, match="`passed` must be True exactly"):
        R(passed=True, status="fail")
    with pytest.raises(ParameterError, match="`status` must be one of"):
        R(passed=False, status="maybe")


def test_to_dict_is_plain_python() -> None:
    @dataclass(frozen=True, kw_only=True)
    class R(ResultBase):
        cells: tuple[WorstCell, ...] = ()
        arr: np.ndarray | None = None

    cell = WorstCell("x=(0,)", (0,), np.float64(3.0), 2.0, 0.7)
    r = R(passed=True, statistic=np.float64(1.5), num_samples=np.int64(4), cells=(cell,),
          arr=np.array([[1, 2]]), seed=3, method="m")
    d = r.to_dict()
    assert d["cells"] == [{"label": "x=(0,)", "config": [0], "observed": 3.0, "expected": 2.0,
                           "residual": 0.7, "impossible": False}]
    assert d["arr"] == [[1, 2]] and type(d["statistic"]) is float
    assert type(d["num_samples"]) is int
    json.dumps(d)  # JSON-ready
    assert to_plain({"a": (np.int32(1),)}) == {"a": [1]}


def test_real_results_implement_the_protocol_and_keep_their_keys() -> None:
    """Exactness, batch-invariance, chain and same-law results of real runs: the
    protocol holds, ``to_dict()`` is JSON-ready and keeps the keys of before."""
    d = random_table(3, 2, concentration=1.0, rng=0)
    ex = check_exact(lambda k, g: d.sample(k, rng=g), d, tv=0.2, rng=1)
    bi = check_batch_invariance(lambda k, g: d.sample(k, rng=g), target=d, tv=0.3,
                                batch_sizes=(1, 64), rng=2)
    target = Product(np.full((6, 2), 0.5))
    ct = chain_test(target.sample(400, rng=3), target, alpha=1e-3, rng=4)
    sl = check_same_law(lambda k, g: g.standard_normal((k, 2)),
                        lambda k, g: g.standard_normal((k, 2)), num_samples=50, rng=5)
    for res in (ex, bi, ct, sl):
        assert isinstance(res, CheckResult), type(res).__name__
        assert res.passed == (res.status == "pass")
        out = res.to_dict()
        assert set(PROTOCOL_FIELDS) <= set(out)
        json.dumps(out, allow_nan=True)
    assert {"tv_estimate", "tv_upper", "worst_cells", "details", "interaction_orders",
            "batch_size", "power_against", "impossible_hits", "dof", "power"} <= set(ex.to_dict())
    assert {"batch_sizes", "tv_estimate", "details"} <= set(bi.to_dict())
    assert ct.method == "chain" and ct.seed == 4
    assert ct.detectable_tv == chain_detectable_tv(6, 2, 400, alpha=1e-3, power=0.99)
    assert ct.detectable_tv_at(0.5) <= ct.detectable_tv
    assert sl.detectable_tv == sl.detectable_ks_distance and sl.seed == 5 and sl.effect
