"""The oracle audit finds every kind of broken oracle, names the query, and passes good ones."""

from __future__ import annotations

import numpy as np
import pytest

from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.table import TableDistribution
from verify.audit import AuditResult, Finding, audit_oracle


def _table(seed: int, n: int = 4, q: int = 2) -> TableDistribution:
    return TableDistribution(np.random.default_rng(seed).random((q,) * n) + 0.05)


class _Wrap:
    """Delegating oracle whose answers a subclass corrupts."""

    def __init__(self, inner: TableDistribution) -> None:
        self.inner, self.n, self.q = inner, inner.n, inner.q

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        return self.inner.conditionals(x)


class NaNRows(_Wrap):
    def conditionals(self, x):
        out = super().conditionals(x).copy()
        bad = (x[:, 0] == 1) & (x[:, 1] == MASK)
        out[bad, 1] = np.nan
        return out


class Unnormalised(_Wrap):
    def conditionals(self, x):
        out = super().conditionals(x).copy()
        masked = x == MASK
        out[masked] *= 0.97
        return out


class WrongShape(_Wrap):
    def conditionals(self, x):
        return super().conditionals(x)[:, :, :1]


class BatchDependent(_Wrap):
    """Mixes each masked row with the batch average (a 'batch-norm' bug)."""

    def conditionals(self, x):
        out = super().conditionals(x).copy()
        masked = x == MASK
        mean = np.where(masked[..., None], out, 0).sum(0) / np.maximum(masked.sum(0), 1)[:, None]
        fix = np.where(mean.sum(-1, keepdims=True) > 0, mean, out.mean(0))
        mixed = 0.9 * out + 0.1 * fix[None]
        mixed /= mixed.sum(-1, keepdims=True)
        return np.where(masked[..., None], mixed, out)


class NonDeterministic(_Wrap):
    def __init__(self, inner):
        super().__init__(inner)
        self.gen = np.random.default_rng(5)

    def conditionals(self, x):
        out = super().conditionals(x).copy()
        masked = x == MASK
        noisy = out * np.exp(0.01 * self.gen.standard_normal(out.shape))
        noisy /= noisy.sum(-1, keepdims=True)
        return np.where(masked[..., None], noisy, out)


class Mixed:
    """Order-inconsistent: positions < n/2 from one joint, the rest from another."""

    def __init__(self, a, b):
        self.a, self.b, self.n, self.q = a, b, a.n, a.q

    def conditionals(self, x):
        out = self.a.conditionals(x).copy()
        out[:, self.n // 2:] = self.b.conditionals(x)[:, self.n // 2:]
        return out


def _finding(res: AuditResult, rule: str) -> Finding:
    hits = [f for f in res.findings if f.rule == rule]
    assert hits, f"expected a finding {rule!r}; got:\n{res}"
    return hits[0]


def test_correct_oracle_passes_every_rule():
    res = audit_oracle(_table(1), rng=3, run_samplers=False)
    assert res.passed, str(res)
    assert not res.findings, str(res)
    rules = {f.rule for f in res.checks}
    assert {"contract.finite", "contract.normalised", "contract.one-hot", "determinism",
            "batch-invariance", "consistency.exchange", "consistency.orders",
            "consistency.pmf"} <= rules
    assert res.consistency["method"] == "exact" and res.consistency["max_tv"] < 1e-12


def test_correct_oracle_with_reference_and_samplers():
    t = _table(2, n=3, q=3)
    res = audit_oracle(t, reference=TableDistribution(t.pmf().reshape(3, 3, 3)), rng=4)
    assert res.passed, str(res)
    names = {r["sampler"] for r in res.sampler_runs}
    assert "sequential" in names
    for r in res.sampler_runs:
        assert r["exactness"]["passed"], r
        assert r["mean_rounds"] > 0


def test_nan_rows_found_with_the_query_that_shows_them():
    oracle = NaNRows(_table(1))
    res = audit_oracle(oracle, rng=3)
    f = _finding(res, "contract.finite")
    assert f.severity == "error" and not res.passed
    x = np.array([f.query["x"]])
    assert np.isnan(oracle.conditionals(x)[0, f.query["position"]]).any()
    assert "finite" in f.message and "context" in f.message


def test_unnormalised_rows_found():
    res = audit_oracle(Unnormalised(_table(1)), rng=3)
    f = _finding(res, "contract.normalised")
    assert f.severity == "error" and "sum" in f.message
    assert f.query["method"] == "conditionals" and len(f.query["x"]) == 4


def test_wrong_shape_found():
    res = audit_oracle(WrongShape(_table(1)), rng=3)
    f = _finding(res, "contract.shape")
    assert "(64, 4, 1)" in f.message and "(64, 4, 2)" in f.message
    assert not res.passed


def test_batch_dependent_answers_found():
    oracle = BatchDependent(_table(1))
    res = audit_oracle(oracle, rng=3, run_samplers=False)
    f = _finding(res, "batch-invariance")
    assert f.severity == "error" and f.value > 1e-3
    # contract itself holds: the finding is specifically about batching
    assert not [g for g in res.findings if g.rule.startswith("contract.")], str(res)


def test_non_deterministic_oracle_found():
    res = audit_oracle(NonDeterministic(_table(1)), rng=3, run_samplers=False)
    f = _finding(res, "determinism")
    assert f.severity == "error" and "twice" in f.message
    assert f.query["x"] is not None


def test_order_inconsistent_oracle_found_exactly():
    res = audit_oracle(Mixed(_table(1), _table(2)), rng=3, run_samplers=False)
    f = _finding(res, "consistency.orders")
    assert f.severity == "error" and res.consistency["method"] == "exact"
    assert f.value > 0.01
    assert len(f.query["orders"]) == 2 and len(f.query["x"]) == 4
    g = _finding(res, "consistency.exchange")
    assert len(g.query["positions"]) == 2


def test_order_inconsistent_oracle_found_by_estimate_when_table_is_large():
    a = _table(1, n=13, q=2)  # q**n = 8192 > EXACT_JOINT_LIMIT
    b = _table(2, n=13, q=2)
    res = audit_oracle(Mixed(a, b), rng=3, num_contexts=16, run_samplers=False)
    assert res.consistency["method"] == "estimated"
    f = _finding(res, "consistency.orders")
    assert f.value > 4 * res.consistency["max_tv_se"]


def test_reference_disagreement_found():
    a, b = _table(1), _table(2)
    res = audit_oracle(a, reference=b, rng=3, run_samplers=False)
    f = _finding(res, "reference")
    assert "max TV" in f.message and "position" in f.query


def test_not_an_oracle_is_a_parameter_error():
    with pytest.raises(ParameterError, match="DiscreteOracle"):
        audit_oracle(object())
    with pytest.raises(ParameterError, match="num_contexts"):
        audit_oracle(_table(1), num_contexts=1)


def test_diffusion_oracle_correct_passes_and_misscaled_fails_tower_and_reference():
    diffusion = pytest.importorskip("distributions.diffusion")
    gm = diffusion.GaussianMixture([0.3, 0.7], [[0.0, 0.0], [2.0, 1.0]],
                                   [np.eye(2), 0.5 * np.eye(2)])
    ok = audit_oracle(gm, rng=0)
    assert ok.passed, str(ok)

    class Scaled:
        dim = 2

        def denoise(self, t, x):
            return 1.5 * gm.denoise(t, x)

    bad = audit_oracle(Scaled(), reference=gm, rng=0)
    assert _finding(bad, "diffusion.tower").severity == "error"
    assert "t" in _finding(bad, "reference").query
