"""The efficiency changes of issue 14 leave the autospeculative sampler's law unchanged.

The sampler of the commit before those changes (``LEGACY_REV``, read from the git
history at run time) and the current one are compared on the same seeds:

- the nested lock-step kernel (``schedule = "nested"``) with the look-ahead off in both
  (``lookahead_rows = 0``: one residual batch per step, what the exact-law enumerator
  runs): samples, per-sample rounds and queries and the whole trace must be identical
  (not merely equal in law): the guard, the random source and the kernel are unchanged;
- the round scheduler (the default, samplers/autospec_schedule.py) draws the random
  source in another order, so the laws of per-sample rounds and queries are compared
  with the legacy sampler's (chi-square on pooled-decile bins and Mann-Whitney, Holm at
  alpha 1e-3 per target), and the same family must reject a sampler whose cost law is
  different (rho tripled; at 3000 samples rho doubled gives p between 1e-3 and 1e-7,
  too close to alpha for a reliable control); the exactness of its samples is the
  subject of tests/samplers/test_autospec.py;
- with the defaults, the look-ahead (which now counts oracle rows, not trials) draws a
  different random stream, so the laws of rounds and queries are compared instead
  (two-sample tests, alpha 1e-3 over the family, Holm); the exactness of the samples
  is the subject of tests/samplers/test_autospec.py.

Skipped, with the reason, when the checkout has no git history holding that commit.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
from scipy import stats

from distributions.families import random_table
from distributions.scalable import CurieWeiss, IsingChain
from samplers.autospec import AutospeculativeSampler, default_rho
from samplers.base import NumpySource
from samplers.catalogue import make_family
from tests.helpers import assert_family

#: The last commit before issue 14's changes to samplers/ (guard, source, sampler).
LEGACY_REV = "b0f2c9a"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _legacy_module(path: str, name: str) -> types.ModuleType:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("no git history in this checkout: the legacy sampler cannot be loaded")
    proc = subprocess.run([git, "-C", str(ROOT), "show", f"{LEGACY_REV}:{path}"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"commit {LEGACY_REV} is not in this checkout's history")
    mod = types.ModuleType(name)
    mod.__file__ = f"<{LEGACY_REV}:{path}>"
    sys.modules[name] = mod  # dataclasses resolve their module by name
    try:
        exec(compile(proc.stdout, mod.__file__, "exec"), mod.__dict__)
    finally:
        del sys.modules[name]
    return mod


TARGETS = {
    "table-8-2": lambda: random_table(8, 2, rng=3),
    "table-5-3": lambda: random_table(5, 3, rng=4),
    "curie-weiss-32": lambda: CurieWeiss(32, 1.0),
    "ising-chain-64": lambda: IsingChain(64, 2.0),
    "mixture-32": lambda: make_family("mixture2", 32),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_identical_samples_costs_and_traces(name: str) -> None:
    legacy = _legacy_module("samplers/autospec.py", "_legacy_autospec")
    target = TARGETS[name]()
    for seed, num in ((11, 24), (12, 1)):
        old_s = legacy.AutospeculativeSampler(target, trace=True)
        new_s = AutospeculativeSampler(target, trace=True)
        new_s.schedule = "nested"
        old_s.lookahead_rows = new_s.lookahead_rows = 0
        old = old_s.sample(num, rng=seed)
        new = new_s.sample(num, rng=seed)
        for field in ("samples", "rounds", "queries"):
            np.testing.assert_array_equal(getattr(new, field), getattr(old, field),
                                          err_msg=f"{name}, seed {seed}: {field} differ")
        for field in old.trace.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(new.trace, field), getattr(old.trace, field),
                                          err_msg=f"{name}, seed {seed}: trace.{field} differ")


def test_categorical_draws_are_the_legacy_draws() -> None:
    """``NumpySource.categorical`` draws exactly what the legacy version drew."""
    legacy = _legacy_module("samplers/base.py", "_legacy_base")
    rng = np.random.default_rng(5)
    for q in (2, 3, 17):
        probs = rng.dirichlet(np.ones(q), size=500)
        probs[:50, 0] = 0.0  # zero entries and unnormalised rows
        probs[50:100, -1] = 0.0  # the last entry zero: the total is the cumulative sum
        old = legacy.NumpySource(21).categorical(probs)
        new = NumpySource(21).categorical(probs)
        np.testing.assert_array_equal(new, old)
        assert new.dtype == np.int64


@pytest.mark.slow
def test_default_lookahead_keeps_the_cost_law_of_the_legacy_sampler() -> None:
    legacy = _legacy_module("samplers/autospec.py", "_legacy_autospec")
    target = CurieWeiss(64, 1.0)
    num = 600
    old = legacy.AutospeculativeSampler(target).sample(num, rng=np.random.default_rng(141))
    new = AutospeculativeSampler(target).sample(num, rng=np.random.default_rng(142))
    edges = np.quantile(np.concatenate([old.rounds, new.rounds]), [0, 0.2, 0.4, 0.6, 0.8])
    edges = np.unique(np.append(edges, np.inf))
    table = np.array([np.histogram(old.rounds, bins=edges)[0],
                      np.histogram(new.rounds, bins=edges)[0]])
    table = table[:, table.sum(axis=0) > 0]
    pvalues = {
        "rounds (chi-square, binned at pooled quintiles)": stats.chi2_contingency(table).pvalue,
        "rounds (Mann-Whitney)": stats.mannwhitneyu(old.rounds, new.rounds).pvalue,
        "queries (Mann-Whitney)": stats.mannwhitneyu(old.queries, new.queries).pvalue,
    }
    assert_family(pvalues, alpha=1e-3, seed=141,
                  sizes=f"{num} samples of CurieWeiss(64) each, legacy vs current")


def _cost_law_pvalues(old: object, new: object) -> dict[str, float]:
    """Two-sample tests of per-sample rounds and queries (``SampleResult`` pairs)."""
    out = {}
    for field in ("rounds", "queries"):
        a, b = getattr(old, field), getattr(new, field)
        edges = np.quantile(np.concatenate([a, b]), np.linspace(0, 1, 11)[:-1])
        edges = np.unique(np.append(edges, np.inf))
        table = np.array([np.histogram(a, bins=edges)[0], np.histogram(b, bins=edges)[0]])
        table = table[:, table.sum(axis=0) > 0]
        out[f"{field} (chi-square, pooled deciles)"] = stats.chi2_contingency(table).pvalue
        out[f"{field} (Mann-Whitney)"] = stats.mannwhitneyu(a, b).pvalue
    return out


#: target -> samples per side for the round-scheduler comparison (fast: tables)
SCHEDULER_SIZES = {"table-8-2": 3000, "table-5-3": 3000, "curie-weiss-32": 600,
                   "ising-chain-64": 400, "mixture-32": 400}


@pytest.mark.parametrize("name", [
    pytest.param(k, marks=() if k.startswith("table") else pytest.mark.slow)
    for k in SCHEDULER_SIZES
])
def test_round_scheduler_keeps_the_cost_law_of_the_legacy_sampler(name: str) -> None:
    legacy = _legacy_module("samplers/autospec.py", "_legacy_autospec")
    target = TARGETS[name]()
    num = SCHEDULER_SIZES[name]
    old = legacy.AutospeculativeSampler(target).sample(num, rng=np.random.default_rng(1401))
    sampler = AutospeculativeSampler(target)
    assert sampler.schedule == "rounds"
    new = sampler.sample(num, rng=np.random.default_rng(1402))
    assert_family(_cost_law_pvalues(old, new), alpha=1e-3, seed=1401,
                  sizes=f"{num} samples of {name} each, legacy (seed 1401) vs round "
                        "scheduler (seed 1402)")


def test_cost_law_comparison_rejects_a_different_cost_law() -> None:
    """The family above, on the same sizes and seeds, rejects the scheduler run with rho
    tripled (a sampler whose output law is exact but whose cost law is not the legacy
    one)."""
    legacy = _legacy_module("samplers/autospec.py", "_legacy_autospec")
    target = TARGETS["table-5-3"]()
    num = SCHEDULER_SIZES["table-5-3"]
    old = legacy.AutospeculativeSampler(target).sample(num, rng=np.random.default_rng(1401))
    wrong = AutospeculativeSampler(target, rho=3 * default_rho(target.n))
    new = wrong.sample(num, rng=np.random.default_rng(1402))
    with pytest.raises(AssertionError, match="rejects"):
        assert_family(_cost_law_pvalues(old, new), alpha=1e-3, seed=1401,
                      sizes=f"{num} samples of table-5-3 each, legacy vs rho tripled")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_scheduler_shortcuts_draw_what_the_traced_path_draws(name: str) -> None:
    """Without a trace or a budget the round scheduler finishes one-site left children
    without building their nodes; the samples, rounds and queries must be those of the
    traced and budgeted run (which builds every node) on the same seed."""
    target = TARGETS[name]()
    fast = AutospeculativeSampler(target).sample(300, rng=31)
    for kwargs in ({"trace": True}, {"timeout": 1e6}, {"max_rounds": 10**9}):
        full = AutospeculativeSampler(target, **kwargs).sample(300, rng=31)
        for field in ("samples", "rounds", "queries"):
            np.testing.assert_array_equal(getattr(fast, field), getattr(full, field),
                                          err_msg=f"{name}, {kwargs}: {field} differ")
