"""The report of an oracle audit: check records and sections built from an
:class:`~verify.audit.AuditResult` (the audit itself, :func:`verify.audit.audit_oracle`,
only returns the typed result).
"""

from __future__ import annotations

from typing import Any

from verify.audit import AuditResult, format_query

__all__ = ["audit_report"]


def audit_report(result: AuditResult, *, oracle_spec: str | None = None,
                 reference_spec: str | None = None) -> tuple[list[dict], list[dict]]:
    """Check records and report sections of an audit.

    Parameters
    ----------
    result : AuditResult
        What :func:`verify.audit.audit_oracle` returned.
    oracle_spec, reference_spec : str, optional
        How the oracle and the reference were named on the command line
        (``MODULE:FACTORY``); default: the oracle's type name, ``"none"``.

    Returns
    -------
    checks : list of dict
        One record per rule (``id`` ``"audit/<rule>"``, stage ``"audit"``, status,
        severity, message, the rule's value as ``statistic``, the query that shows a
        failure); a ``sampler.*`` rule with an exactness test also carries the test's
        p-value, alpha, detectable TV, sample size, seed, method and worst cells.
    sections : list of dict
        The rules table, the consistency figures, the sampler runs and the wall time
        of each phase.
    """
    checks = []
    for f in result.checks:
        rec: dict[str, Any] = {"id": f"audit/{f.rule}", "stage": "audit", "name": f.title,
                               "passed": f.passed, "status": f.status, "severity": f.severity,
                               "detail": f.message, "method": f.rule, "statistic": f.value}
        if f.query:
            rec["query"] = f.query
        for run in result.sampler_runs:
            if f.rule == f"sampler.{run['sampler']}" and "exactness" in run:
                ex = run["exactness"]
                rec.update({k: ex[k] for k in ("pvalue", "alpha", "detectable_tv", "num_samples",
                                               "tv_estimate", "seed") if k in ex})
                rec["method"] = ex["method"]
                rec["sampler"] = run["sampler"]
                rec["worst_cells"] = ex.get("worst_cells", [])
        checks.append(rec)
    text = (f"Audited oracle: {oracle_spec or result.name} ({result.kind}; "
            f"{', '.join(f'{k}={v}' for k, v in result.shape.items())}); reference: "
            f"{reference_spec or 'none'}; {result.num_contexts} audit contexts; seed "
            f"{result.seed}; {result.summary()}. Each failed rule names the exact query "
            f"that shows it; each skipped rule states why it was not run. Sampler runs: "
            f"budget of each sample() call: timeout {result.budget.get('sampler_timeout')} s, "
            f"max rounds {result.budget.get('sampler_max_rounds')}.")
    label = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skipped": "SKIPPED"}
    rows = [[f.rule, f.title, label[f.status], f.value, f.message,
             format_query(f.query) if f.query else "-"] for f in result.checks]
    sections: list[dict[str, Any]] = [{
        "id": "audit-findings", "title": "Audit rules and findings", "text": text,
        "tables": [{"title": "Rules", "columns": ["rule", "what", "result", "value", "detail",
                                                  "query"],
                    "rows": rows}]}]
    cons = {k: v for k, v in result.consistency.items() if not isinstance(v, dict | list)}
    if cons:
        sections.append({"id": "audit-consistency", "title": "Consistency across orders",
                         "tables": [{"columns": ["quantity", "value"],
                                     "rows": [[k, v] for k, v in cons.items()]}]})
    if result.sampler_runs:
        rows2 = []
        for r in result.sampler_runs:
            ex = r.get("exactness", {})
            rows2.append([r["sampler"], r.get("num"), r.get("mean_rounds"), r.get("mean_queries"),
                          r.get("sample_seconds"), r.get("seconds"), ex.get("pvalue"),
                          ex.get("detectable_tv"),
                          "PASS" if ex.get("passed") else ("-" if not ex else "FAIL"),
                          r.get("error")])
        sections.append({"id": "audit-samplers", "title": "Samplers run on the oracle",
                         "tables": [{"columns": ["sampler", "samples", "mean rounds",
                                                 "mean queries", "seconds (cost run)",
                                                 "seconds (run with exactness test)", "p-value",
                                                 "detectable TV", "exactness", "error"],
                                     "rows": rows2}]})
    sections.append({"id": "audit-timing", "title": "Audit wall time",
                     "tables": [{"columns": ["phase", "seconds"],
                                 "rows": [*([k, v] for k, v in result.timings.items()),
                                          ["total (audit_oracle)", result.seconds]]}]})
    return checks, sections
