"""The report of an oracle audit (reports.audit_report): one record per rule, the
sampler tests' figures on their rules, and the sections of the document."""

from __future__ import annotations

import json

import numpy as np

from distributions.base import MASK
from distributions.table import TableDistribution
from reports.audit_report import audit_report
from verify.audit import DISCRETE_RULES, audit_oracle, format_query


def _table(seed: int, n: int = 3, q: int = 2) -> TableDistribution:
    return TableDistribution(np.random.default_rng(seed).random((q,) * n) + 0.05)


class Unnormalised:
    """Masked rows scaled by 0.97 (a contract failure with a query)."""

    def __init__(self, inner: TableDistribution) -> None:
        self.inner, self.n, self.q = inner, inner.n, inner.q

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        out = self.inner.conditionals(x).copy()
        out[x == MASK] *= 0.97
        return out


def test_every_rule_is_a_record_and_failures_carry_their_query():
    res = audit_oracle(Unnormalised(_table(1)), rng=3, run_samplers=False)
    checks, sections = audit_report(res, oracle_spec="pkg:make")
    assert [c["id"] for c in checks] == [f"audit/{f.rule}" for f in res.checks]
    assert {c["id"].split("/", 1)[1] for c in checks} <= set(DISCRETE_RULES)
    by_rule = {c["id"]: c for c in checks}
    bad = by_rule["audit/contract.normalised"]
    f = next(f for f in res.checks if f.rule == "contract.normalised")
    assert (bad["status"], bad["passed"], bad["severity"], bad["stage"]) == (
        "fail", False, "error", "audit")
    assert bad["query"] == f.query and bad["detail"] == f.message and bad["statistic"] == f.value
    assert all("query" not in c for c in checks if c["passed"])
    assert [s["id"] for s in sections] == ["audit-findings", "audit-timing"]
    text = sections[0]["text"]
    assert text.startswith("Audited oracle: pkg:make (discrete; n=3, q=2); reference: none")
    rows = {r[0]: r for r in sections[0]["tables"][0]["rows"]}
    assert rows["contract.normalised"][2] == "FAIL"
    assert rows["contract.normalised"][5] == format_query(f.query)
    assert rows["reference"][2] == "SKIPPED" and rows["reference"][5] == "-"
    json.dumps([checks, sections])


def test_sampler_rules_carry_their_exactness_test():
    t = _table(2)
    res = audit_oracle(t, reference=t, num_contexts=8, rng=4)
    assert res.passed, str(res)
    checks, sections = audit_report(res)
    by_rule = {c["id"]: c for c in checks}
    for run in res.sampler_runs:
        rec = by_rule[f"audit/sampler.{run['sampler']}"]
        ex = run["exactness"]
        assert rec["sampler"] == run["sampler"] and rec["method"] == ex["method"]
        for k in ("pvalue", "alpha", "detectable_tv", "num_samples", "tv_estimate", "seed"):
            assert rec[k] == ex[k], k
        assert rec["worst_cells"] == ex["worst_cells"] and len(ex["worst_cells"]) <= 5
    assert [s["id"] for s in sections] == ["audit-findings", "audit-consistency",
                                           "audit-samplers", "audit-timing"]
    samplers = sections[2]["tables"][0]["rows"]
    assert [r[0] for r in samplers] == [r["sampler"] for r in res.sampler_runs]
    assert all(r[8] == "PASS" for r in samplers)
    assert sections[-1]["tables"][0]["rows"][-1] == ["total (audit_oracle)", res.seconds]
