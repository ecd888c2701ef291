"""Per-sample reveal orders in ``SampleResult.orders`` (issue 12, item 4)."""

from __future__ import annotations

import numpy as np
import pytest

from distributions.families import random_table
from samplers import AGR24Sampler, AutospeculativeSampler, SequentialSampler


@pytest.mark.parametrize("cls", [SequentialSampler, AutospeculativeSampler, AGR24Sampler])
def test_samplers_report_their_orders(cls):
    d = random_table(5, 2, rng=0)
    r = cls(d).sample(20, rng=1)
    assert r.orders.shape == (20, 5)
    assert (np.sort(r.orders, axis=1) == np.arange(5)).all()
    fixed = cls(d, order=[4, 2, 0, 1, 3]).sample(3, rng=1)
    assert (fixed.orders == [4, 2, 0, 1, 3]).all()
    # the order is the reveal order: the same seed in identity order reveals left to right
    assert (cls(d, order="identity").sample(2, rng=1).orders == np.arange(5)).all()
