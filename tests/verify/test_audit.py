"""The oracle audit finds every kind of broken oracle, names the query, and passes good ones."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from distributions.base import MASK
from distributions.diffusion import GaussianMixture
from distributions.errors import ParameterError
from distributions.table import TableDistribution
from verify.audit import (
    DIFFUSION_RULES,
    DISCRETE_RULES,
    SAMPLER_ALPHA,
    SAMPLER_TV,
    AuditResult,
    Finding,
    audit_oracle,
)
from verify.results import CheckResult


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
    # the shared result protocol (verify.results): the audit's summary of its family
    assert isinstance(res, CheckResult)
    assert (res.status, res.statistic, res.method, res.seed) == ("pass", 0.0, "audit", 4)
    assert np.isnan(res.pvalue) and res.alpha == SAMPLER_ALPHA
    exact = [r["exactness"] for r in res.sampler_runs]
    assert res.detectable_tv == max(e["detectable_tv"] for e in exact) <= SAMPLER_TV + 1e-9
    batch = _rule(res, "sampler.batch-invariance")
    assert batch.status == "pass", batch
    # cost runs + exactness tests + the batch-invariance test (its size is in its message)
    drawn = sum(r["num"] + e["num_samples"] for r, e in zip(res.sampler_runs, exact,
                                                              strict=True))
    assert res.num_samples > drawn and f"{res.num_samples - drawn} samples" in batch.message
    d = res.to_dict()
    assert d["status"] == "pass" and d["checks"][0]["rule"] == "contract.interface"
    json.dumps(d)  # plain values only


def test_audit_result_protocol_fields_of_a_failed_audit_without_sampler_tests():
    res = audit_oracle(Unnormalised(_table(1)), rng=3, run_samplers=False)
    assert isinstance(res, CheckResult)
    assert (res.passed, res.status, res.statistic) == (False, "fail", float(len(res.errors)))
    assert res.statistic == 1.0 and res.num_samples == 0
    assert np.isnan(res.alpha) and np.isnan(res.detectable_tv) and np.isnan(res.pvalue)
    f = _rule(res, "contract.normalised")
    assert f.to_dict() == {"rule": f.rule, "passed": False, "severity": "error",
                           "message": f.message, "query": f.query, "value": f.value,
                           "status": "fail"}
    # the protocol fields cannot contradict the rules
    fields = {k: getattr(res, k) for k in ("kind", "name", "shape", "checks")}
    with pytest.raises(ParameterError, match="`passed` must be True iff no rule failed"):
        AuditResult(passed=True, **fields)
    with pytest.raises(ParameterError, match="`statistic` must be the number of failed"):
        AuditResult(passed=False, statistic=0.0, **fields)
    assert AuditResult(passed=False, **fields).statistic == 1.0


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
    assert f.status == "fail"
    assert res.consistency["max_tv_interval"][0] > res.consistency["tolerance"]


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
    gm = GaussianMixture([0.3, 0.7], [[0.0, 0.0], [2.0, 1.0]], [np.eye(2), 0.5 * np.eye(2)])
    ok = audit_oracle(gm, rng=0)
    assert ok.passed, str(ok)

    class Scaled:
        dim = 2

        def denoise(self, t, x):
            return 1.5 * gm.denoise(t, x)

    bad = audit_oracle(Scaled(), reference=gm, rng=0)
    assert _finding(bad, "diffusion.tower").severity == "error"
    assert "t" in _finding(bad, "reference").query


# ------------------------------------------------------------------ issue 18 item 15
# Statuses: every rule listed, skipped ones with their reason and counted apart; sampler
# findings name the oracle query; the terminal shows the queries; the wall time is true.

def _rule(res: AuditResult, rule: str) -> Finding:
    hits = [f for f in res.checks if f.rule == rule]
    assert len(hits) == 1, f"expected one record of {rule!r}; got {len(hits)}:\n{res}"
    return hits[0]


def _all_rules(res: AuditResult) -> None:
    rules = [f.rule for f in res.checks]
    assert len(rules) == len(set(rules)), rules
    assert set(DISCRETE_RULES) - {"contract.other"} <= set(rules), rules
    assert not [f for f in res.checks if "not evaluated on this audit path" in f.message]


def test_broken_contract_skips_dependent_rules_with_reason_not_pass():
    """Before: consistency.orders PASS ("skipped: the contract is broken"), counted as
    passed; exchange, pmf, reference and sampler rules were missing."""
    res = audit_oracle(Unnormalised(_table(1)), reference=_table(1), rng=3)
    _all_rules(res)
    for rule in ("consistency.exchange", "consistency.orders", "consistency.pmf", "reference",
                 "sampler.sequential", "sampler.autospeculative", "sampler.batch-invariance"):
        f = _rule(res, rule)
        assert f.status == "skipped" and f.passed is False, f
        assert "contract.normalised failed" in f.message, f
    assert _rule(res, "contract.positional").message == ("the oracle has no "
                                                         "conditionals_at fast path")
    counts = res.counts
    assert counts["skipped"] == 8 and counts["fail"] == 1, counts
    assert counts["pass"] + counts["fail"] + counts["warn"] + counts["skipped"] == len(res.checks)
    assert not res.passed and res.verdict() == "fail"
    assert "1 failed, 8 skipped" in res.summary()
    assert not [f for f in res.findings if f.status == "skipped"]  # findings: fail/warn only
    text = str(res)
    assert "[skipped] consistency.orders: the contract is broken" in text


def test_correct_oracle_lists_every_rule_and_skips_only_what_was_not_asked():
    res = audit_oracle(_table(1), rng=3, run_samplers=False)
    _all_rules(res)
    skipped = {f.rule: f.message for f in res.skipped}
    assert set(skipped) == {"reference", "sampler.sequential", "sampler.autospeculative",
                            "sampler.batch-invariance"}, skipped
    assert skipped["reference"] == "no reference oracle given"
    assert "run_samplers=False" in skipped["sampler.sequential"]
    assert res.passed and res.verdict() == "pass" and res.verdict(strict=True) == "fail"
    with pytest.raises(ParameterError, match="`passed` must be True iff"):
        Finding("x", True, "error", "m", status="skipped")


class ZeroTrap(_Wrap):
    """Answers every context revealing x0 = 1 and x3 = 1 as impossible (all-zero masked
    rows, a legal answer on its own) although its other answers give it positive mass."""

    def conditionals(self, x):
        out = super().conditionals(x).copy()
        trap = (x[:, 0] == 1) & (x[:, 3] == 1)
        out[(x == MASK) & trap[:, None]] = 0.0
        return out


def test_sampler_failure_names_the_oracle_query_not_an_internal_message():
    """Before: "sequential sampler failed on this oracle: ParameterError: `probs` rows
    must have positive mass; got row 80" with the query {"method": "sample"}."""
    oracle = ZeroTrap(_table(1))
    res = audit_oracle(oracle, rng=0)
    for name in ("sequential", "autospeculative"):
        f = _rule(res, f"sampler.{name}")
        assert f.status == "fail" and not f.message.startswith("`probs`"), f
        assert "zero-probability context" in f.message and "contradict" in f.message
        x, i = np.array([f.query["x"]]), f.query["position"]
        assert x[0, 0] == 1 and x[0, 3] == 1 and x[0, i] == MASK, f.query
        # the query shows it: an all-zero row at a context of positive chain probability
        np.testing.assert_array_equal(oracle.conditionals(x)[0, i], 0.0)
        assert all(p > 0 for p in f.query["chain_probabilities"])
        assert f.query["during"]["sampler"] == name
    text = str(res)
    assert text.count("query: conditionals x=[1 ") >= 2, text


class ZeroTrapPositional(ZeroTrap):
    """The same answers through the ``conditionals_at`` fast path (chain contexts)."""

    def conditionals_at(self, x, positions, chain_values=None):
        B, L = positions.shape
        ctx = np.repeat(x[:, None, :], L, axis=1)
        if chain_values is not None:  # row (b, j) reveals positions[b, :j]
            for j in range(1, L):
                ctx[np.arange(B)[:, None], np.arange(j, L)[None, :],
                    positions[:, j - 1][:, None]] = chain_values[:, j - 1][:, None]
        full = self.conditionals(ctx.reshape(B * L, self.n)).reshape(B, L, self.n, self.q)
        return full[np.arange(B)[:, None], np.arange(L)[None, :], positions]


def test_sampler_failure_on_the_fast_path_names_the_chain_context():
    oracle = ZeroTrapPositional(_table(1))
    res = audit_oracle(oracle, rng=1)
    f = _rule(res, "sampler.autospeculative")
    assert f.status == "fail" and "zero-probability context" in f.message, f
    x, i = np.array([f.query["x"]]), f.query["position"]
    np.testing.assert_array_equal(oracle.conditionals(x)[0, i], 0.0)
    assert x[0, 0] == 1 and x[0, 3] == 1 and all(p > 0 for p in f.query["chain_probabilities"])


def test_example_buggy_model_sampler_findings_name_the_contradicting_context():
    """The case of issue 18 item 15: the example's buggy model (forward messages only)
    made the samplers' findings quote "`probs` rows must have positive mass; got row
    80". Each finding now names a context the model answers as impossible and an order
    in which the chain rule of its own answers reaches it with positive probability."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "my_masked_model.py"
    spec = importlib.util.spec_from_file_location("_example_masked_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    oracle = module.make_buggy_model()
    res = audit_oracle(oracle, reference=module.make_reference(), rng=0)
    for name in ("sequential", "autospeculative"):
        f = _rule(res, f"sampler.{name}")
        assert f.status == "fail" and f.message.startswith(f"the {name} sampler reached"), f
        x, i = np.array([f.query["x"]]), f.query["position"]
        np.testing.assert_array_equal(oracle.conditionals(x)[0, i], 0.0)
        # replay the chain: each revealed value has positive probability given the previous
        order, probs = f.query["chain_order"], f.query["chain_probabilities"]
        assert sorted(order) == np.flatnonzero(x[0] != MASK).tolist()
        for j, pos in enumerate(order):
            ctx = np.full((1, oracle.n), MASK)
            ctx[0, order[:j]] = x[0, order[:j]]
            assert probs[j] > 0
            assert oracle.conditionals(ctx)[0, pos, x[0, pos]] == pytest.approx(probs[j])


def test_terminal_lines_show_the_query_of_every_finding():
    """Before: the terminal showed no queries (only report.md did)."""
    res = audit_oracle(Mixed(_table(1), _table(2)), rng=3, run_samplers=False)
    lines = res.lines()
    assert lines[0] == res.summary()
    for f in res.findings:
        k = lines.index(f.lines()[0])
        assert lines[k + 1].startswith("      query: "), lines
    f = _rule(res, "consistency.exchange")
    assert "positions=[" in f.lines()[1] and "then_x_with_i=[" in f.lines()[1]


def test_reported_time_is_the_wall_time_with_phases():
    """Before: the sampler table's seconds covered the cost run only (0.1 s of a 5 s
    audit), and no phase was timed."""
    import time

    t = _table(2, n=3, q=2)
    t0 = time.perf_counter()
    res = audit_oracle(t, reference=t, rng=4)
    wall = time.perf_counter() - t0
    assert 0.95 * wall <= res.seconds <= wall, (res.seconds, wall)
    assert set(res.timings) == {"contract", "consistency", "reference", "samplers"}
    assert abs(sum(res.timings.values()) - res.seconds) <= 0.05 * res.seconds + 0.01
    for run in res.sampler_runs:
        assert run["seconds"] >= run["sample_seconds"] > 0
    # the sampler phase is the sum of its runs (cost + exactness) and the batch check
    assert res.timings["samplers"] >= sum(r["seconds"] for r in res.sampler_runs)
    assert f"{res.seconds:.1f} s" in res.summary()


# ------------------------------------------------------------------ issue 19 item 5
class IntegerAnswers(_Wrap):
    def conditionals(self, x):
        return super().conditionals(x).astype(np.int64)


class Squeezing(_Wrap):
    def conditionals(self, x):
        return np.squeeze(super().conditionals(x))


class ModifiesInput(_Wrap):
    def conditionals(self, x):
        out = super().conditionals(x)
        x[x == MASK] = 0
        return out


def test_integer_answer_is_a_dtype_error_not_a_warning():
    """Before: a dtype warning, then the samplers blamed `probs` (positive mass)."""
    res = audit_oracle(IntegerAnswers(_table(1)), rng=3)
    f = _rule(res, "contract.dtype")
    assert f.status == "fail" and f.severity == "error" and "int64" in f.message
    assert f.query["answer_row"] == [0, 0] and f.query["x"][f.query["position"]] == MASK
    assert not [g for g in res.checks if "probs" in g.message]
    assert _rule(res, "sampler.autospeculative").status == "skipped"


def test_squeezed_answer_for_one_context_is_a_shape_error():
    """Before: "batch-invariance: ... alone (batch of 1) ... differs by up to inf"."""
    res = audit_oracle(Squeezing(_table(1)), rng=3)
    f = _rule(res, "contract.shape")
    assert f.status == "fail" and f.query["batch_size"] == 1
    assert "(4, 2); expected (1, 4, 2)" in f.message and "batch axis" in f.message
    assert _rule(res, "batch-invariance").status == "skipped"
    assert not [g for g in res.checks if "inf" in g.message]


def test_oracle_modifying_its_input_is_named_with_entry():
    res = audit_oracle(ModifiesInput(_table(1)), rng=3)
    f = _rule(res, "contract.input")
    assert f.status == "fail" and "changed from -1 to 0" in f.message
    assert f.query["x"][f.query["position"]] == MASK
    assert _rule(res, "sampler.sequential").status == "skipped"


# ------------------------------------------------------------------ issue 18 items 3 and 2
class ForgetfulFastPath(_Wrap):
    """``conditionals`` is right, but the fast path ``conditionals_at`` without chain
    values forgets the revealed positions (answers the empty context's marginals) on
    calls of more than ``rows`` contexts. With ``rows`` above the audit's own calls (at
    most 25 contexts on this table) the contract and consistency rules pass; the
    samplers' calls (well over 64 contexts at the audit's sample sizes) get wrong
    answers: a wrong law, or residual loops that (almost) never accept until a budget
    stops the run."""

    rows = 64

    def conditionals_at(self, x, positions, chain_values=None):
        if chain_values is not None or x.shape[0] <= self.rows:
            return self.inner.conditionals_at(x, positions, chain_values)
        out = self.inner.conditionals_at(np.full_like(x, MASK), positions)
        rev = np.take_along_axis(x, positions, axis=1)
        onehot = np.eye(self.q)[np.where(rev == MASK, 0, rev)]
        return np.where((rev == MASK)[..., None], out, onehot)


class SlowSampling(_Wrap):
    """A right oracle that takes ``delay`` seconds for every call of more than ``rows``
    contexts (the sampler runs' calls, not the audit's own small ones)."""

    rows = 64
    delay = 0.05

    def conditionals(self, x):
        if x.shape[0] > self.rows:
            time.sleep(self.delay)
        return self.inner.conditionals(x)


def test_broken_fast_path_fails_the_autospeculative_run():
    t = _table(1)
    res = audit_oracle(ForgetfulFastPath(t), reference=t, rng=0, sampler_timeout=1.0)
    f = _rule(res, "sampler.autospeculative")
    assert f.status == "fail", f


def test_runaway_sampler_is_a_budget_finding_within_a_bound():
    """Before: no budget; a run went on for tens of seconds per sample() call (until the
    10**7-trial safety cap) instead of reporting. Each budget stops the run and is
    reported with the block, the seed and the budget."""
    t = _table(1)
    t0 = time.perf_counter()
    res = audit_oracle(SlowSampling(t), reference=t, rng=0, sampler_timeout=0.5)
    wall = time.perf_counter() - t0
    assert wall < 20.0, f"audit took {wall:.1f} s with sampler_timeout=0.5 s"
    f = _rule(res, "sampler.autospeculative")
    assert f.status == "fail" and "ran past its budget" in f.message, f
    assert "timeout" in f.message, f.message
    assert f.query["budget"] == {"sampler_timeout": 0.5, "sampler_max_rounds": None}
    assert len(f.query["block"]) == 2 and f.query["seed"] == [0, 1], f.query
    assert _rule(res, "sampler.batch-invariance").status == "skipped"
    # the round budget too (every sample of n = 4 takes more than 2 rounds)
    t0 = time.perf_counter()
    res = audit_oracle(t, reference=t, rng=0, sampler_timeout=30.0, sampler_max_rounds=2)
    assert time.perf_counter() - t0 < 20.0
    f = _rule(res, "sampler.autospeculative")
    assert "`max_rounds` = 2 exceeded" in f.message, f.message
    assert f.query["budget"]["sampler_max_rounds"] == 2


class ChainOffByOne(_Wrap):
    """Fast path whose chain step j sees the chain values shifted by one step."""

    def conditionals_at(self, x, positions, chain_values=None):
        if chain_values is None:
            return self.inner.conditionals_at(x, positions)
        shifted = chain_values.copy()
        shifted[:, 1:] = chain_values[:, :-1]
        return self.inner.conditionals_at(x, positions, shifted)


def test_fast_path_disagreeing_with_conditionals_is_a_contract_error():
    """conditionals_at must answer what conditionals answers (DESIGN 3.1); before, the
    audit never called it, so such oracles reached the samplers."""

    class AlwaysForgetful(ForgetfulFastPath):
        rows = 0

    t = _table(1)
    for oracle, label in ((AlwaysForgetful(t), "without chain values"),
                          (ChainOffByOne(t), "with chain values")):
        res = audit_oracle(oracle, rng=0)
        f = _rule(res, "contract.positional")
        assert f.status == "fail" and label in f.message, f
        qd = f.query
        args = (np.array([qd["x"]]), np.array([qd["positions"]]))
        if "chain_values" in qd:
            args += (np.array([qd["chain_values"]]),)
        j = qd["positions"].index(qd["position"])
        np.testing.assert_allclose(oracle.conditionals_at(*args)[0, j], qd["answer_row"])
        np.testing.assert_allclose(
            oracle.conditionals(np.array([qd["conditionals_x"]]))[0, qd["position"]],
            qd["conditionals_row"])
        assert _rule(res, "sampler.autospeculative").status == "skipped"
    assert _rule(audit_oracle(t, rng=0, run_samplers=False), "contract.positional").passed
    assert _rule(audit_oracle(_Wrap(t), rng=0, run_samplers=False),
                 "contract.positional").status == "skipped"


def test_budget_arguments_checked_before_any_work():
    for kw, match in (({"sampler_timeout": 0.0}, r"`sampler_timeout` must be"),
                      ({"sampler_timeout": float("nan")}, r"`sampler_timeout` must be"),
                      ({"sampler_max_rounds": 0}, r"`sampler_max_rounds` must be"),
                      ({"run_samplers": "yes"}, r"`run_samplers` must be a bool")):
        with pytest.raises(ParameterError, match=match):
            audit_oracle(NaNRows(_table(1)), **kw)


class LargeBatchesTempered(_Wrap):
    """Right on small batches (those the contract rules use), tempered (p**2,
    renormalised) on calls of more than 256 rows, as a batched fast path might be."""

    def conditionals(self, x):
        out = super().conditionals(x)
        if x.shape[0] <= 256:
            return out
        t = out**2
        return t / t.sum(-1, keepdims=True)


def test_sampler_batch_invariance_finding():
    """Issue 18 item 2: the audit compares the autospeculative sampler's law at batch
    sizes 1 and its production size (check_batch_invariance, alpha and TV stated)."""
    t = _table(2, n=3, q=2)
    ok = audit_oracle(t, reference=t, rng=5)
    g = _rule(ok, "sampler.batch-invariance")
    assert g.status == "pass" and "batch sizes 1 and 2000" in g.message, g
    res = audit_oracle(LargeBatchesTempered(t), reference=t, rng=5)
    assert not [f for f in res.findings if f.rule.startswith(("contract.", "consistency."))]
    f = _rule(res, "sampler.batch-invariance")
    assert f.status == "fail" and "depends on the batch size" in f.message, f
    assert f.query["batch_sizes"] == [1, 2000] and f.value < f.query["alpha"]


def test_diffusion_audit_statuses_shape_and_budget():
    gm = GaussianMixture([0.3, 0.7], [[0.0, 0.0], [2.0, 1.0]], [np.eye(2), 0.5 * np.eye(2)])

    class Squeezing:
        dim = 2

        def denoise(self, t, x):
            return np.squeeze(gm.denoise(t, x))

    res = audit_oracle(Squeezing(), rng=0)
    assert [f.rule for f in res.checks] == list(DIFFUSION_RULES)
    f = _rule(res, "contract.shape")
    assert f.status == "fail" and "batch axis" in f.message and f.query["batch_size"] == 1
    assert _rule(res, "diffusion.tower").status == "skipped"
    assert _rule(res, "batch-invariance").status == "skipped"  # before: "differs ... shape"
    # a correct oracle under a budget its autospeculative run cannot meet
    res = audit_oracle(gm, rng=0, sampler_timeout=0.2)
    g = _rule(res, "sampler.autospeculative")
    assert g.status == "fail" and "ran past its budget" in g.message, g
    assert g.query["budget"]["sampler_timeout"] == 0.2
    assert _rule(res, "sampler.euler").status == "pass"
    assert _rule(res, "reference").message == "no reference oracle given"


@pytest.mark.slow
def test_inconsistency_has_an_interval_and_samplers_are_tested_relative_to_the_oracle():
    """Issue 12: an inconsistent oracle without pmf fails ``consistency.orders`` (with the
    TV interval) while each sampler passes its order-conditional test relative to it."""
    inner = Mixed(_table(1, n=4), _table(2, n=4))

    class NoPmf:  # the same conditionals, no pmf(): nothing to compare with but itself
        n, q = inner.n, inner.q

        def conditionals(self, x):
            return inner.conditionals(x)

    res = audit_oracle(NoPmf(), rng=3)
    lo, hi = res.consistency["max_tv_interval"]
    assert lo <= res.consistency["max_tv"] <= hi and res.consistency["max_tv"] > 0.01
    assert _finding(res, "consistency.orders").severity == "error"
    for name in ("sequential", "autospeculative"):
        f = _rule(res, f"sampler.{name}")
        assert f.status == "pass" and "order-conditional" in f.message, f
    runs = {r["sampler"]: r["exactness"] for r in res.sampler_runs}
    assert runs["autospeculative"]["method"] == "order-conditional"


def test_estimated_inconsistency_interval():
    a, b = _table(1, n=13, q=2), _table(2, n=13, q=2)
    res = audit_oracle(Mixed(a, b), rng=3, num_contexts=16, run_samplers=False)
    lo, hi = res.consistency["max_tv_interval"]
    assert 0 <= lo < res.consistency["max_tv"] < hi <= 1


def test_foreign_float32_answers_pass_the_contract_through_to_host():
    import array_api_strict as xp

    t = _table(1)

    class Strict32:
        n, q = t.n, t.q

        def conditionals(self, x):
            return xp.asarray(t.conditionals(np.asarray(x)).astype(np.float32))

    res = audit_oracle(Strict32(), rng=3, run_samplers=False)
    for rule in ("contract.dtype", "contract.normalised", "contract.range"):
        assert _rule(res, rule).status == "pass", _rule(res, rule)


@pytest.mark.parametrize("off, passes", [(1e-3, True), (0.2, False)])
def test_bfloat16_answers_are_held_to_the_bfloat16_rule(off, passes):
    """A JAX bfloat16 answer whose rows are off 1 by 1e-3 (about 6e-3 after bfloat16
    rounding: beyond the float32 rule, 6e-7 at q = 2, within the bfloat16 one, 0.047)
    passes; off by 0.2 it fails. Before: it was held to float32's tolerance."""
    jnp = pytest.importorskip("jax.numpy")
    t = _table(1)

    class BF16:
        n, q = t.n, t.q

        def conditionals(self, x):
            out = t.conditionals(np.asarray(x)) * (1.0 + off)
            return jnp.asarray(out, dtype=jnp.bfloat16)

    res = audit_oracle(BF16(), rng=3, run_samplers=False)
    f = _rule(res, "contract.normalised")
    assert (f.status == "pass") is passes, f


def test_same_dtype_rule_has_a_title():
    from verify.audit.result import RULE_TITLES

    assert RULE_TITLES["contract.same-dtype"] == "answer dtype is the same on every call"


class _Cast(_Wrap):
    """The inner oracle's answers in a lower precision (rounded once)."""

    def __init__(self, inner, dtype):
        super().__init__(inner)
        self.dtype = dtype

    def conditionals(self, x):
        return np.asarray(self.inner.conditionals(x)).astype(self.dtype)


class _BatchOrderF32(_Wrap):
    """A float32 model whose row sums are added in another order for a batch of one than
    for larger batches (as GPU kernels do): answers differ by about one ulp."""

    def conditionals(self, x):
        c = np.asarray(self.inner.conditionals(x)).astype(np.float32) * np.float32(1.1)
        if len(x) == 1:
            s = np.zeros(c.shape[:-1], np.float32)
            for v in range(c.shape[-1]):
                s = s + c[..., v]
        else:
            s = (c[..., 0] + c[..., 1]) + (c[..., 2] + c[..., 3])
        return c / s[..., None]


def test_float32_rounding_differences_are_not_a_batch_bug_but_a_real_one_is():
    """Agreement rules use the answer dtype's tolerance (``agree_tol``): a float32 model
    whose re-batched answers differ by 1 ulp passes batch invariance and reaches the
    consistency rules; a float32 'batch-norm' bug (0.1 mixing) still fails."""
    from distributions import random_table

    t = random_table(6, 4, concentration=1.0, rng=0)
    res = audit_oracle(_BatchOrderF32(t), rng=0, run_samplers=False)
    for rule in ("batch-invariance", "determinism", "consistency.exchange",
                 "consistency.orders"):
        assert _rule(res, rule).status == "pass", _rule(res, rule)
    assert "tolerance 7.15e-07" in _rule(res, "batch-invariance").message  # 6 eps, q = 4
    bad = audit_oracle(_Cast(BatchDependent(_table(1)), np.float32), rng=3,
                       run_samplers=False)
    assert _rule(bad, "batch-invariance").status == "fail"


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_low_precision_consistency_is_held_to_its_rounding_not_to_float64(dtype):
    """A consistent table answered in float16 (float32) passes the exchange, orders and
    reference rules, whose tolerance is twice the precision floor's bound for the rows'
    rounding (``tv_tol``); an inconsistent oracle in the same dtype (TV > 0.01) still
    fails; a float16 row in a message is printed, not turned into nan."""
    from distributions import random_table

    t = random_table(6, 4, concentration=1.0, rng=0)
    res = audit_oracle(_Cast(t, dtype), reference=t, rng=1, run_samplers=False)
    for rule in ("consistency.exchange", "consistency.orders", "consistency.pmf",
                 "reference"):
        f = _rule(res, rule)
        assert f.status in ("pass", "skipped"), f
    assert _rule(res, "consistency.orders").status == "pass"
    bad = audit_oracle(_Cast(Mixed(_table(1), _table(2)), dtype), reference=_table(1),
                       rng=3, run_samplers=False)
    assert _rule(bad, "consistency.orders").status == "fail"
    f = _rule(bad, "reference")
    assert f.status == "fail" and "nan" not in f.message, f.message


class _RareBug(_Wrap):
    """Consistent except on one context of probability about 9e-4 (a float64 oracle)."""

    def __init__(self, inner, context):
        super().__init__(inner)
        self.context = np.asarray(context)

    def conditionals(self, x):
        x = np.asarray(x)
        out = np.array(self.inner.conditionals(x), dtype=np.float64)
        hit = np.all(x[:, :6] == self.context, axis=1) & (x[:, 6] == MASK)
        if hit.any():
            out[hit, 6] = np.eye(self.q)[np.argmin(out[hit, 6], axis=-1)]
        return out


def test_estimated_consistency_never_passes_what_its_size_cannot_see():
    """A rare-context inconsistency (true TV 8.7e-4 between the identity and reverse
    chain-rule laws, 874 times the tolerance) leaves every one of the 512 draws at 0:
    the stated 99.9% interval (empirical Bernstein) must contain the true TV and the
    rule must not pass (before: a normal interval [1.8e-16, 3.8e-16] and "pass")."""
    from distributions import random_table

    t = random_table(7, 4, concentration=1.0, rng=3)
    p = np.asarray(t.pmf()).reshape((4,) * 7).sum(axis=-1).reshape(-1)
    k = int(np.argmin(np.abs(p - 1e-3)))
    c = np.array(np.unravel_index(k, (4,) * 6))
    row = np.asarray(t.conditionals(np.r_[c, MASK][None]))[0, 6]
    true_tv = p[k] * 0.5 * np.abs(row - np.eye(4)[np.argmin(row)]).sum()
    assert 5e-4 < true_tv < 2e-3
    for seed in (0, 1):
        res = audit_oracle(_RareBug(t, c), rng=seed, run_samplers=False)
        lo, hi = res.consistency["max_tv_interval"]
        assert lo <= true_tv <= hi, (lo, true_tv, hi, seed)
        f = _rule(res, "consistency.orders")
        assert f.status == "warn" and "not shown consistent" in f.message, f


def test_row_error_ignores_zero_context_rows_and_tv_tol_is_float64s_for_float64():
    """All-zero rows (probability-0 contexts) are not rounding: an oracle answering them
    keeps the float64 tolerance (before this rule, one zero row made the error 1 and the
    orders tolerance 31, passing an order-inconsistent model)."""
    from verify.audit.consistency import TV_TOL, row_error, tv_tol

    x = np.array([[MASK, 0], [MASK, MASK]])
    out = np.array([[[0.0, 0.0], [1.0, 0.0]], [[0.25, 0.75], [0.5, 0.5]]])
    eps64 = float(np.finfo(np.float64).eps)
    assert row_error(out, x, eps64) == pytest.approx(eps64 / 2)
    assert tv_tol(5, row_error(out, x, eps64)) == TV_TOL
    assert row_error(out, x, float("nan")) == 0.0
    half = np.float16(1.0) / np.float16(3.0)
    x1 = np.array([[MASK]])
    e16 = row_error(np.array([[[half, half, half]]]), x1, float(np.finfo(np.float16).eps))
    assert 1e-4 < e16 < 2e-3 and tv_tol(2, e16) > TV_TOL
