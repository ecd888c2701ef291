"""Issue 16 item 5: fixed-order marginals cannot parallelise (the causal mode).

The causal oracle answers prefix contexts only; the autospeculative sampler with the
identity order runs on it, the random-order sampler is refused. On the Ising chain
with coupling 2 the identity order's rounds grow linearly in n and faster than the
random order's (fitted exponents with their 95% intervals), with the sum of TV along
each sampler's own recursion.
"""

from __future__ import annotations

import numpy as np
import pytest

from distributions.causal import CausalOracle
from distributions.errors import OracleError, ParameterError
from distributions.scalable import IsingChain
from reports.io import make_document, write_report
from reports.validation.rounds import CAUSAL_NS, causal_output
from samplers import AutospeculativeSampler
from verify.causal_rounds import ORDERS, causal_order_scaling


def test_causal_oracle_answers_prefixes_only() -> None:
    target = IsingChain(12, 2.0)
    causal = CausalOracle(target)
    res = AutospeculativeSampler(causal, order="identity").sample(30, rng=1)
    assert res.samples.shape == (30, 12) and causal.calls > 0
    x = np.full((2, 12), -1)
    x[0, :3] = 1
    np.testing.assert_array_equal(causal.conditionals(x), target.conditionals(x))
    with pytest.raises(OracleError, match="not a prefix"):
        AutospeculativeSampler(causal).sample(5, rng=1)  # random order
    with pytest.raises(ParameterError, match="`inner` must implement DiscreteOracle"):
        CausalOracle(object())


@pytest.mark.slow
def test_small_run_and_its_report(tmp_path) -> None:
    res = causal_order_scaling((8, 12, 16, 24), num=12, seed=3)
    assert {p.order for p in res.points} == set(ORDERS) and len(res.points) == 8
    ident, rand = (res.rounds_fits[o] for o in ORDERS)
    assert res.passed == (ident.gamma_low > rand.gamma_high)
    assert set(res.rounds_growth) == set(ORDERS)
    for p in res.points:
        assert p.sum_tv_low <= p.mean_sum_tv <= p.sum_tv_high
        assert p.rounds.median_rounds <= p.rounds.max_rounds
    out = causal_output(res)
    (rec,) = out.checks
    assert rec["id"] == "rounds/causal-order/identity-faster-than-random"
    assert rec["severity"] == "info"
    assert rec["status"] == ("pass" if res.passed else "warn")
    (sec,) = out.sections
    assert [f["id"] for f in sec["figures"]] == ["causal-order-rounds", "causal-order-sum-tv"]
    doc = make_document("rounds", "causal", out.checks, out.sections)
    paths = write_report(doc, tmp_path / "report")
    assert any("causal-order-rounds" in str(k) for k in paths)


def test_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="at least 3 lengths"):
        causal_order_scaling((8, 16))
    with pytest.raises(ParameterError, match="increasing"):
        causal_order_scaling((8, 16, 12))
    with pytest.raises(ParameterError, match="`coupling`"):
        causal_order_scaling((8, 12, 16), coupling=0.0)


@pytest.mark.slow
def test_identity_order_is_linear_and_grows_faster_than_the_random_order() -> None:
    """The full run's demonstration (its sizes and seed 0): the identity order's
    exponent interval lies above the random order's and contains linear growth."""
    res = causal_order_scaling(CAUSAL_NS, num=40, seed=0)
    ident, rand = (res.rounds_fits[o] for o in ORDERS)
    msg = (f"identity {ident.gamma:.3f} [{ident.gamma_low:.3f}, {ident.gamma_high:.3f}], "
           f"random {rand.gamma:.3f} [{rand.gamma_low:.3f}, {rand.gamma_high:.3f}]; "
           f"n = {CAUSAL_NS}, 40 samples, seed 0")
    growth = res.rounds_growth[ORDERS[1]]
    msg += f"; random order's secant-slope contrast {growth.contrast:.3g} [{growth.low:.3g}, "
    msg += f"{growth.high:.3g}]"
    assert res.passed, msg
    assert ident.gamma_low > 0.85, msg  # linear in n within the interval
    tv_i, tv_r = (res.sum_tv_fits[o] for o in ORDERS)
    assert tv_i.gamma_low > tv_r.gamma_high, (tv_i, tv_r)
