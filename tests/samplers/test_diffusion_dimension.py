"""The dimension benchmark of the diffusion samplers (issue 16 item 3), quick mode at
small d: the grid rule, the cost accounting and the record the full run prints.

The full run (``python benchmarks/diffusion_dimension.py``, d up to 1024) is not part
of the suite; its table is in the closing note of issue 16.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.diffusion_dimension import dimension_grid, euler_kl_bound, main, run, v1


def test_grid_rule_meets_its_kl_budget_and_grows_linearly_in_d() -> None:
    eps = 0.5
    sizes = {}
    for d in (4, 16, 64, 256):
        grid, info = dimension_grid(d, eps)
        assert info["kl_bound"] <= eps and info["N"] == grid.num_steps
        assert euler_kl_bound(d, grid.times) == info["kl_bound"]
        assert d * v1(grid.T) <= eps  # output error budget at T
        sizes[d] = grid.num_steps
    # N ~ d Phi(T)^2 / (2 eps): linear in d up to the slowly growing Phi(T)^2
    ratios = [sizes[4 * d] / sizes[d] for d in (4, 16, 64)]
    assert all(4.0 <= r <= 6.5 for r in ratios), sizes
    # the bound is a Riemann sum of a decreasing v1: halving the steps raises it
    grid, _ = dimension_grid(64, eps)
    assert euler_kl_bound(64, grid.times[::2]) > eps


@pytest.mark.slow
def test_quick_run_record(tmp_path) -> None:
    rec = run([4, 16], 0.5, 8, 16, 11, progress=False)
    for row in rec["rows"].values():
        n_steps = row["N"]
        assert row["euler"]["mean"] == row["euler"]["max"] == n_steps + 1
        assert row["euler"]["queries"] == n_steps + 1
        s = row["speculative"]
        assert s["ci"][0] <= s["mean"] <= s["ci"][1] and s["median"] <= s["p99"] <= s["max"]
        assert s["mean"] < n_steps + 1
        a = row["autospeculative"]
        assert a["median"] <= a["p99"] <= a["max"] and a["num"] == 8
        assert a["exceeds_sequential"] == (a["max"] > n_steps + 1)
    assert {"autospeculative vs d", "speculative vs N"} <= set(rec["fits"])
    assert all(np.isfinite(f["gamma"]) for f in rec["fits"].values())
    out = main(["--quick", "--num", "4", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "diffusion_dimension.json").read_text())
    assert saved["rows"].keys() == out["rows"].keys() == {"4", "16"}
    assert (tmp_path / "diffusion_dimension.png").stat().st_size > 0
    for row in saved["rows"].values():  # the round-bound quantities of item 4
        t = row["tree"]
        assert t["sum_tv_ci"][0] <= t["sum_tv"] <= t["sum_tv_ci"][1] and t["sum_kl"] > 0
