"""``check_exact``'s relative tests (oracles without a joint law) on the execution seam:
the order-conditional route and the closeness route draw, in shards, exactly what the
in-process drawer drew, and every reported field is identical in process and on
executors (threads here; worker processes in the slow test)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from distributions.errors import ParameterError
from samplers import AutospeculativeSampler, SequentialSampler
from tests.helpers import process_pool
from tests.verify.test_relative_exactness import Inconsistent
from verify.exactness import check_exact
from verify.execution import draw_ordered, plan_shards, ship_sampler
from verify.sampling import draw_with_orders


def fingerprint(res: object) -> str:
    """Every reported field, exactly (floats by repr, arrays by their values)."""
    def plain(o):
        return o.tolist() if isinstance(o, np.ndarray) else repr(o)
    return json.dumps(res.to_dict(), sort_keys=True, default=plain)


@pytest.mark.parametrize("batch_size", [64, 2**17])
def test_ordered_shards_draw_what_draw_with_orders_drew(batch_size):
    o = Inconsistent(7, seed=3)
    s = AutospeculativeSampler(o)
    # spawning is stateful: each drawer gets its own SeedSequence of the same seed
    want_x, want_o = draw_with_orders(s, 400, 7, 2, np.random.SeedSequence(11), batch_size)
    shards = plan_shards(400, 7, 2, np.random.SeedSequence(11), batch_size, "ordered")
    got_x, got_o = draw_ordered(ship_sampler(s, None), shards, executor=None)
    assert got_x.dtype == np.int64 and got_o is not None and got_o.dtype == np.int64
    assert np.array_equal(got_x, want_x) and np.array_equal(got_o, want_o)
    with ThreadPoolExecutor(2) as ex:
        tx, to = draw_ordered(ship_sampler(s, ex), shards, executor=ex)
    assert np.array_equal(tx, want_x) and np.array_equal(to, want_o)


def test_ordered_shards_without_orders_give_none():
    o = Inconsistent(5)
    shards = plan_shards(300, 5, 2, np.random.SeedSequence(0), 100, "ordered")
    x, orders = draw_ordered(ship_sampler(lambda k, g: g.integers(0, 2, (k, 5)), None),
                             shards, executor=None)
    assert x.shape == (300, 5) and orders is None and o.n == 5


@pytest.mark.parametrize(("method", "tv"), [("order-conditional", 0.15), ("closeness", 0.3)])
def test_relative_check_identical_on_threads(method, tv):
    o = Inconsistent(6, seed=1)
    kw = dict(method=method, tv=tv, rng=5, batch_size=500)
    want = check_exact(AutospeculativeSampler(o), o, **kw)
    with ThreadPoolExecutor(2) as ex:
        got = check_exact(AutospeculativeSampler(o), o, executor=ex, **kw)
    assert want.reference and fingerprint(got) == fingerprint(want)
    assert want.num_samples >= 400 and want.status in {"pass", "fail", "warn"}


def test_relative_check_refuses_a_checkpoint(tmp_path):
    o = Inconsistent(6)
    with pytest.raises(ParameterError, match=r"`checkpoint` applies to the full-table.*"
                                             r"cannot resume"):
        check_exact(SequentialSampler(o), o, method="order-conditional", rng=0,
                    checkpoint=tmp_path / "c.npz")
    assert not (tmp_path / "c.npz").exists()


@pytest.mark.slow
def test_relative_check_identical_on_worker_processes():
    o = Inconsistent(8, seed=2)
    kw = dict(method="order-conditional", tv=0.1, rng=9, batch_size=2000)
    want = check_exact(AutospeculativeSampler(o), o, **kw)
    with process_pool(2) as ex:
        got = check_exact(AutospeculativeSampler(o), o, executor=ex, **kw)
    assert fingerprint(got) == fingerprint(want)
