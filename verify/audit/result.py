"""The audit's records: :class:`Finding` (one rule) and :class:`AuditResult` (the audit).

Also the rule vocabulary (:data:`DISCRETE_RULES`, :data:`DIFFUSION_RULES`, their
titles), the one-line rendering of a query (:func:`format_query`, shared by the
terminal lines and the report) and the collector the audit phases record findings in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distributions.base import MASK
from distributions.errors import ParameterError
from verify.results import ResultBase, to_plain

__all__ = ["STATUSES", "RULE_TITLES", "DISCRETE_RULES", "DIFFUSION_RULES", "Finding",
           "AuditResult", "format_query"]

#: Status of a finding (the report vocabulary; the audit never reports ``"no-power"``).
STATUSES: tuple[str, ...] = ("pass", "fail", "warn", "skipped")

#: What each rule checks, in words (the report's "what" column).
RULE_TITLES: dict[str, str] = {
    "contract.interface": "has the oracle attributes",
    "contract.raises": "answers without raising",
    "contract.input": "does not modify its input",
    "contract.shape": "answer shape",
    "contract.dtype": "answer dtype is floating",
    "contract.same-dtype": "answer dtype is the same on every call",
    "contract.finite": "entries are finite",
    "contract.range": "entries lie in [0, 1]",
    "contract.normalised": "rows sum to 1 (or all zero)",
    "contract.one-hot": "one-hot at unmasked positions",
    "contract.zero-context": "zero-probability context convention",
    "contract.positional": "conditionals_at agrees with conditionals",
    "contract.other": "other contract rule",
    "determinism": "same call twice gives the same answer",
    "batch-invariance": "a row's answer does not depend on the batch",
    "consistency.exchange": "two-position chain rule agrees in both orders",
    "consistency.orders": "chain-rule joints of several orders agree",
    "consistency.pmf": "chain-rule joint equals the declared pmf",
    "reference": "agrees with the reference oracle",
    "diffusion.tower": "tower property on simulated localization paths",
    "sampler.sequential": "sequential sampler runs on the oracle (and is exact)",
    "sampler.autospeculative": "autospeculative sampler runs on the oracle (and is exact)",
    "sampler.batch-invariance": "sampler output law does not depend on the batch size",
    "sampler.euler": "Euler diffusion sampler runs on the oracle",
}

#: Every rule of a discrete audit, in report order (``contract.other`` only when seen).
DISCRETE_RULES: tuple[str, ...] = (
    "contract.interface", "contract.raises", "contract.input", "contract.shape",
    "contract.dtype", "contract.finite", "contract.range", "contract.normalised",
    "contract.one-hot", "contract.zero-context", "contract.positional", "contract.other",
    "determinism",
    "batch-invariance", "consistency.exchange", "consistency.orders", "consistency.pmf",
    "reference", "sampler.sequential", "sampler.autospeculative", "sampler.batch-invariance",
)
#: Every rule of a diffusion audit, in report order.
DIFFUSION_RULES: tuple[str, ...] = (
    "contract.interface", "contract.raises", "contract.input", "contract.shape",
    "contract.dtype", "contract.finite", "determinism", "batch-invariance",
    "diffusion.tower", "reference", "sampler.euler", "sampler.autospeculative",
)


@dataclass(frozen=True)
class Finding:
    """One audited rule.

    Of the shared result protocol (:class:`verify.results.CheckResult`) a finding has
    what applies to one rule: ``passed``, ``status`` and :meth:`to_dict`; its measured
    quantity is ``value`` (a rule is not a statistical test: the p-values of the
    sampler tests are in :attr:`AuditResult.sampler_runs`).

    Attributes
    ----------
    rule : str
        Rule id, e.g. ``"contract.normalised"`` or ``"consistency.orders"``.
    passed : bool
    severity : {"error", "warning", "info"}
        How much a failure matters: an ``"error"`` fails the audit.
    message : str
        What was seen.
    query : dict or None
        The exact query that shows the failure (JSON-able): ``{"method":
        "conditionals", "x": [...], "position": i}`` and more for consistency.
    value : float or None
        The rule's measured quantity (max deviation, TV...).
    status : {"pass", "fail", "warn", "skipped"}
        Derived when not given: ``"pass"`` if ``passed``, else ``"fail"`` for severity
        ``"error"`` and ``"warn"`` otherwise. ``"skipped"`` (a rule not run) is given
        explicitly, with ``passed=False``, and ``message`` states the reason.
    """

    rule: str
    passed: bool
    severity: str
    message: str
    query: dict[str, Any] | None = None
    value: float | None = None
    status: str = ""

    def __post_init__(self) -> None:
        derived = "pass" if self.passed else ("fail" if self.severity == "error" else "warn")
        status = self.status or derived
        if status not in STATUSES:
            raise ParameterError(f"`status` must be one of {list(STATUSES)}; got {status!r}.")
        if (status == "pass") is not bool(self.passed):
            raise ParameterError(f"`passed` must be True iff `status` is 'pass'; got "
                                 f"passed={self.passed!r} with status {status!r}.")
        object.__setattr__(self, "status", status)

    @property
    def title(self) -> str:
        """What the rule checks, in words (:data:`RULE_TITLES`; the id if unknown)."""
        return RULE_TITLES.get(self.rule, self.rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field (see :func:`verify.results.to_plain`)."""
        return to_plain(self)

    def lines(self) -> list[str]:
        """Terminal lines: status, rule and message, then the query that shows it."""
        label = {"fail": self.severity, "warn": self.severity}.get(self.status, self.status)
        out = [f"  [{label}] {self.rule}: {self.message}"]
        if self.query:
            out.append(f"      query: {format_query(self.query)}")
        return out


@dataclass(frozen=True, kw_only=True)
class AuditResult(ResultBase):
    """Result of :func:`~verify.audit.audit_oracle`.

    Implements the shared result protocol (:class:`verify.results.CheckResult`); an
    audit is a family of rules rather than one statistical test, so its protocol
    fields summarise the family:

    Attributes
    ----------
    passed : bool
        True when no rule failed (no status ``"fail"``); see :meth:`verdict`.
    status : {"pass", "fail"}
        ``"pass"`` iff ``passed`` (warned and skipped rules count only with
        ``verdict(strict=True)``).
    statistic : float
        Number of failed rules (status ``"fail"``); derived from ``checks`` when not
        given.
    pvalue : float
        ``nan``: the audit is not one statistical test (its sampler tests' p-values
        are in ``sampler_runs`` and in the ``sampler.*`` findings).
    alpha : float
        Family-wise level of the audit's sampler tests (:data:`~verify.audit.SAMPLER_ALPHA`,
        split equally between them); ``nan`` when no sampler test ran.
    num_samples : int
        Samples drawn by the sampler runs: the cost runs, the exactness (or same-law)
        tests and the batch-invariance test (0 when no sampler ran).
    detectable_tv : float
        The largest TV distance the discrete sampler exactness tests detect with
        power 0.99 at their sample sizes (each is planned for
        :data:`~verify.audit.SAMPLER_TV`); ``nan`` when none ran (no target pmf known,
        or a diffusion oracle, whose same-law test states no TV).
    seed : int or None
        The audit's seed (``audit_oracle(..., rng=seed)`` replays it); None when the
        audit was given a Generator.
    method : str
        ``"audit"``.
    kind : {"discrete", "diffusion"}
    name : str
        Type name of the audited oracle.
    shape : dict
        ``{"n", "q"}`` or ``{"dim"}``.
    checks : tuple of Finding
        Every rule of the audit (:data:`DISCRETE_RULES` or :data:`DIFFUSION_RULES`),
        with its status: passed, failed, warned or skipped (with the reason).
    consistency : dict
        Method (``"exact"`` or ``"estimated"``), orders and the largest disagreement.
    sampler_runs : tuple of dict
        Per sampler: cost (mean rounds, queries), ``sample_seconds`` (the cost run),
        ``seconds`` (wall time of the whole run, exactness test included), the
        budget, and exactness when a target with a pmf is known.
    num_contexts : int
    seconds : float
        Wall time of the whole :func:`~verify.audit.audit_oracle` call.
    timings : dict
        Wall time (seconds) of each phase: ``"contract"`` (contract, determinism,
        batch invariance), ``"consistency"``, ``"reference"``, ``"samplers"``; the
        phases add up to ``seconds`` up to bookkeeping.
    budget : dict
        ``{"sampler_timeout", "sampler_max_rounds"}`` used for the sampler runs.

    Raises
    ------
    ParameterError
        When ``passed`` or ``statistic`` contradicts ``checks``.
    """

    kind: str
    name: str
    shape: dict[str, int]
    checks: tuple[Finding, ...]
    consistency: dict[str, Any] = field(default_factory=dict)
    sampler_runs: tuple[dict[str, Any], ...] = ()
    num_contexts: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    method: str = "audit"

    def __post_init__(self) -> None:
        failed = sum(f.status == "fail" for f in self.checks)
        if bool(self.passed) != (failed == 0):
            raise ParameterError(f"`passed` must be True iff no rule failed; got "
                                 f"passed={self.passed!r} with {failed} failed rules.")
        if math.isnan(self.statistic):
            object.__setattr__(self, "statistic", float(failed))
        elif self.statistic != failed:
            raise ParameterError(f"`statistic` must be the number of failed rules "
                                 f"({failed}); got {self.statistic!r}.")
        super().__post_init__()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The rules that ran and did not pass (status ``"fail"`` or ``"warn"``)."""
        return tuple(f for f in self.checks if f.status in ("fail", "warn"))

    @property
    def skipped(self) -> tuple[Finding, ...]:
        """The rules not run; each message states why."""
        return tuple(f for f in self.checks if f.status == "skipped")

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The failed rules (status ``"fail"``, severity ``"error"``)."""
        return tuple(f for f in self.checks if f.status == "fail")

    @property
    def counts(self) -> dict[str, int]:
        """Number of rules of each status (every key of :data:`STATUSES`)."""
        counts = dict.fromkeys(STATUSES, 0)
        for f in self.checks:
            counts[f.status] += 1
        return counts

    def verdict(self, *, strict: bool = False) -> str:
        """``"pass"`` or ``"fail"``: fail iff some rule failed; with ``strict``, also
        when some rule warned or was skipped."""
        counts = self.counts
        if counts["fail"] or (strict and (counts["warn"] or counts["skipped"])):
            return "fail"
        return "pass"

    def summary(self, *, strict: bool = False) -> str:
        """One line: verdict, every status counted, wall time."""
        c = self.counts
        shape = ", ".join(f"{k}={v}" for k, v in self.shape.items())
        warn = "warning" if c["warn"] == 1 else "warnings"
        return (f"audit of {self.name} ({shape}): {self.verdict(strict=strict).upper()}"
                f"{' [strict]' if strict else ''} ({len(self.checks)} rules: {c['pass']} "
                f"passed, {c['warn']} {warn}, {c['fail']} failed, {c['skipped']} skipped; "
                f"{self.seconds:.1f} s)")

    def lines(self, *, strict: bool = False) -> list[str]:
        """Terminal lines: the summary, then every finding with the query that shows it,
        then every skipped rule with its reason."""
        out = [self.summary(strict=strict)]
        for f in self.findings:
            out.extend(f.lines())
        for f in self.skipped:
            out.extend(f.lines())
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# ---------------------------------------------------------------------- helpers
def _ctx_list(ctx: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(ctx).tolist()]


_QUERY_MAX = 40


def _format_value(key: str, v: Any) -> str:
    if isinstance(v, list):
        if v and all(isinstance(u, int) and not isinstance(u, bool) for u in v) and (
                key == "x" or key.endswith("_x") or key.startswith("then_x")):
            body = " ".join("*" if u == MASK else str(u) for u in v[:_QUERY_MAX])
        else:
            body = ", ".join(_format_value("", u) for u in v[:_QUERY_MAX])
        more = f" ... ({len(v)} entries; full query in report.json)" if len(v) > _QUERY_MAX else ""
        return f"[{body}{more}]"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_format_value(k, u)}" for k, u in v.items()) + "}"
    return str(v)


def format_query(query: dict[str, Any]) -> str:
    """A query on one line: ``conditionals x=[0 * 1] position=2 ...`` (``*`` = masked).

    Parameters
    ----------
    query : dict
        A finding's query (its ``"method"`` first, then every other key).

    Returns
    -------
    str
        Lists of more than 40 entries are cut, with a note that the full query is
        in ``report.json``.

    Examples
    --------
    >>> format_query({"method": "conditionals", "x": [0, -1, 1], "position": 1})
    'conditionals x=[0 * 1] position=1'
    """
    parts = [str(query.get("method", "query"))]
    parts += [f"{k}={_format_value(k, v)}" for k, v in query.items() if k != "method"]
    return " ".join(parts)


class _Auditor:
    """Collects the findings of an audit, one per rule, in the order they are made."""

    def __init__(self) -> None:
        self.checks: list[Finding] = []
        #: Samples drawn by the sampler runs and their tests.
        self.samples = 0
        #: Statistical tests of the samplers run (exactness, same law, batch invariance).
        self.sampler_tests = 0
        #: ``detectable_tv`` of each sampler exactness test (:func:`verify.check_exact`).
        self.detectable_tvs: list[float] = []

    def add(self, rule: str, passed: bool, message: str, *, severity: str = "error",
            query: dict[str, Any] | None = None, value: float | None = None) -> Finding:
        f = Finding(rule, bool(passed), severity, message, query if not passed else None,
                    None if value is None else float(value))
        self.checks.append(f)
        return f

    def ok(self, rule: str, message: str = "ok", value: float | None = None) -> None:
        self.add(rule, True, message, value=value)

    def skip(self, rule: str, reason: str) -> None:
        """Record ``rule`` as not run, with ``reason``."""
        self.checks.append(Finding(rule, False, "info", reason, status="skipped"))

    def has(self, rule: str) -> bool:
        return any(f.rule == rule for f in self.checks)

    def skip_rest(self, rules: tuple[str, ...], reason: str) -> None:
        """Skip every rule of ``rules`` not yet recorded (``contract.other`` excepted)."""
        for rule in rules:
            if rule != "contract.other" and not self.has(rule):
                self.skip(rule, reason)

    def broken(self) -> str:
        """Reason for skipping rules that assume the contract: the rules that failed."""
        failed = [f.rule for f in self.checks if f.status == "fail"]
        return (f"the contract is broken ({', '.join(failed)} failed); this rule assumes "
                "answers that obey it")

    def ordered(self, rules: tuple[str, ...]) -> tuple[Finding, ...]:
        """The findings in the order of ``rules`` (unknown rules last, stable)."""
        rank = {r: k for k, r in enumerate(rules)}
        return tuple(sorted(self.checks, key=lambda f: rank.get(f.rule, len(rules))))

    @property
    def has_errors(self) -> bool:
        return any(f.status == "fail" for f in self.checks)

