"""pytest plugin of autospeculation: exactness checks of samplers in a user's test suite.

Enabled through the ``pytest11`` entry point ``autospeculation`` (or ``-p
autospeculation_pytest``). It provides

- the fixture ``exactness``: ``exactness.check(sampler, target, tv=..., ...)`` runs
  :func:`verify.exactness.check_exact` and fails the test with a readable message
  (p-value, alpha, detectable TV, worst cells, the seed and command to replay);
- the marker ``@pytest.mark.exactness(tv=..., alpha=..., power=..., checks=...)``;
- the options ``--autospec-seed N`` (session seed; every check's seed derives from it
  and the test id), ``--autospec-alpha A`` (family-wise false-failure rate of the
  session, default 1e-3) and ``--autospec-report DIR`` (one report of every check of
  the session: report.json, report.md, report.html).

Error budget: the family-wise ``alpha`` is split (Bonferroni) equally across the
collected tests that use the fixture, and within a test across the checks it
declares with ``@pytest.mark.exactness(checks=k)`` (default 1). A test that makes
more checks than it declares fails with a usage message rather than overspending the
budget. An explicit ``alpha=`` (marker or call) overrides the split for that test or
check. The terminal summary states the split and the total alpha spent.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

__all__ = ["ExactnessChecker", "DEFAULT_ALPHA"]

#: Default family-wise alpha of a session.
DEFAULT_ALPHA: float = 1e-3

_MARK_KEYS = ("tv", "alpha", "power", "checks", "num_samples", "method")


@dataclass
class _State:
    seed: int
    alpha: float
    report: str | None
    num_tests: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    spent: float = 0.0
    started: float = field(default_factory=time.perf_counter)


_KEY = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autospeculation", "exactness checks of samplers (autospeculation)")
    group.addoption("--autospec-seed", type=int, default=None, metavar="N",
                    help="session seed of the exactness checks (default: random, printed)")
    group.addoption("--autospec-alpha", type=float, default=None, metavar="A",
                    help=f"family-wise false-failure rate of the session's exactness checks, "
                         f"split across them (default {DEFAULT_ALPHA:g})")
    group.addoption("--autospec-report", default=None, metavar="DIR",
                    help="write one report (json, md, html) of every exactness check into DIR")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exactness(tv=None, alpha=None, power=None, checks=1, num_samples=None, method=None): "
        "settings of the `exactness` fixture's checks in this test; `checks` is how many "
        "checks the test makes (its share of the session's alpha is split across them).",
    )
    seed = config.getoption("--autospec-seed", default=None)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])
    alpha = config.getoption("--autospec-alpha", default=None)
    alpha = DEFAULT_ALPHA if alpha is None else float(alpha)
    if not 0.0 < alpha < 1.0:
        raise pytest.UsageError(f"--autospec-alpha must be a number in (0, 1); got {alpha}.")
    if seed < 0:
        raise pytest.UsageError(f"--autospec-seed must be an integer >= 0; got {seed}.")
    config.stash[_KEY] = _State(seed=int(seed), alpha=alpha,
                                report=config.getoption("--autospec-report", default=None))


def pytest_report_header(config: pytest.Config) -> str:
    st = config.stash[_KEY]
    return (f"autospeculation: seed {st.seed} (replay with --autospec-seed={st.seed}), "
            f"family-wise alpha {st.alpha:g}")


def pytest_collection_finish(session: pytest.Session) -> None:
    st = session.config.stash[_KEY]
    st.num_tests = sum(1 for it in session.items
                       if "exactness" in getattr(it, "fixturenames", ()))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


class ExactnessChecker:
    """The ``exactness`` fixture: ``check(sampler, target, ...)`` within one test."""

    def __init__(self, request: pytest.FixtureRequest, state: _State) -> None:
        self._state = state
        self._nodeid = request.node.nodeid
        mark = request.node.get_closest_marker("exactness")
        self._mark: dict[str, Any] = dict(mark.kwargs) if mark is not None else {}
        if mark is not None and mark.args:
            raise pytest.UsageError(f"{self._nodeid}: @pytest.mark.exactness takes keyword "
                                    f"arguments only ({', '.join(_MARK_KEYS)}).")
        unknown = set(self._mark) - set(_MARK_KEYS)
        if unknown:
            raise pytest.UsageError(f"{self._nodeid}: @pytest.mark.exactness got unknown "
                                    f"argument(s) {sorted(unknown)}; known: {_MARK_KEYS}.")
        self.declared = int(self._mark.get("checks", 1))
        if self.declared < 1:
            raise pytest.UsageError(f"{self._nodeid}: exactness(checks=...) must be >= 1.")
        m = max(state.num_tests, 1)
        self.test_alpha = float(self._mark["alpha"]) if "alpha" in self._mark else state.alpha / m
        self.count = 0
        self.results: list[Any] = []

    @property
    def per_check_alpha(self) -> float:
        """This test's alpha split over its declared checks."""
        return self.test_alpha / self.declared

    def seed_for(self, k: int) -> int:
        """Seed of the ``k``-th check of this test (from the session seed and test id)."""
        ss = np.random.SeedSequence([self._state.seed, zlib.crc32(self._nodeid.encode()), k])
        return int(ss.generate_state(1, dtype=np.uint32)[0])

    def check(
        self,
        sampler: Any,
        target: Any,
        *,
        tv: float | None = None,
        alpha: float | None = None,
        power: float | None = None,
        num_samples: int | None = None,
        method: str | None = None,
        label: str | None = None,
    ) -> Any:
        """Assert that ``sampler`` draws exactly from ``target``; fail the test if not.

        Parameters
        ----------
        sampler : Sampler or callable
            ``sampler.sample(num, rng=...)`` or ``sampler(num, rng) -> (num, n)``.
        target : Enumerable or DiscreteOracle
            The law the sampler must draw from (full-table test with ``pmf``,
            chain-rule tests otherwise).
        tv, alpha, power, num_samples, method
            As in :func:`verify.exactness.check_exact`; default from the test's
            ``exactness`` marker, then ``tv=0.02``, ``power=0.99`` and this check's
            share of the session's family-wise alpha.
        label : str, optional
            Name of the check in messages and reports.

        Returns
        -------
        verify.exactness.ExactnessResult
        """
        from verify.exactness import check_exact

        __tracebackhide__ = True
        self.count += 1
        k = self.count
        if alpha is None and "alpha" not in self._mark and k > self.declared:
            pytest.fail(
                f"this test makes exactness check #{k} but declares {self.declared}: mark it "
                f"@pytest.mark.exactness(checks={k}) (or more) so that its share of the "
                f"session's alpha is split across its checks.", pytrace=False)
        a = float(alpha) if alpha is not None else self.per_check_alpha
        kwargs: dict[str, Any] = {"alpha": a}
        for key, val in (("tv", tv), ("power", power), ("num_samples", num_samples),
                         ("method", method)):
            val = val if val is not None else self._mark.get(key)
            if val is not None:
                kwargs[key] = val
        seed = self.seed_for(k)
        t0 = time.perf_counter()
        res = check_exact(sampler, target, rng=seed, **kwargs)
        secs = time.perf_counter() - t0
        self._state.spent += a
        name = label or f"{_name(sampler)} vs {_name(target)}"
        self.results.append(res)
        self._state.records.append(_record(self._nodeid, k, name, res, secs))
        if not res.passed:
            pytest.fail(self._message(name, res, a), pytrace=False)
        return res

    def _message(self, name: str, res: Any, a: float) -> str:
        st = self._state
        lines = [
            f"exactness check failed: {name}",
            f"  {res.method}: statistic={_fmt(res.statistic)}, p-value={res.pvalue:.3g} "
            f"< alpha={a:.3g} (session alpha {st.alpha:g} split over {max(st.num_tests, 1)} "
            f"test(s), {self.declared} check(s) in this test)",
            f"  samples: {res.num_samples}; detectable TV: {res.detectable_tv:.3g} at power "
            f"{_fmt(getattr(res, 'power', float('nan')))}; TV estimate: {res.tv_estimate:.3g}"
            f" (upper bound {_fmt(getattr(res, 'tv_upper', float('nan')))})",
        ]
        hits = getattr(res, "impossible_hits", 0)
        if hits:
            lines.append(f"  samples on zero-probability cells: {hits}")
        cells = list(getattr(res, "worst_cells", ()))[:5]
        if cells:
            lines.append("  worst cells:")
            for c in cells:
                lines.append(f"    {getattr(c, 'label', c)}: observed {float(c.observed):.0f}, "
                             f"expected {float(c.expected):.1f}"
                             + (" (impossible)" if getattr(c, "impossible", False) else ""))
        lines.append(f"  replay: pytest \"{self._nodeid}\" --autospec-seed={st.seed}  "
                     f"(this check: check_exact(..., rng={res.seed}))")
        return "\n".join(lines)


def _name(obj: Any) -> str:
    text = repr(obj)
    if len(text) > 60 or text.startswith("<"):
        text = type(obj).__name__ if not callable(obj) or hasattr(obj, "sample") else getattr(
            obj, "__name__", type(obj).__name__)
    return text


def _record(nodeid: str, k: int, name: str, res: Any, secs: float) -> dict[str, Any]:
    cells = []
    for c in list(getattr(res, "worst_cells", ()))[:5]:
        cells.append({"cell": getattr(c, "label", str(c)), "observed": float(c.observed),
                      "expected": float(c.expected)})
    return {
        "id": f"{nodeid}#{k}", "stage": nodeid.split("::")[0], "name": name,
        "passed": bool(res.passed), "severity": "error", "method": res.method,
        "statistic": res.statistic, "pvalue": res.pvalue, "alpha": res.alpha,
        "detectable_tv": res.detectable_tv, "num_samples": int(res.num_samples),
        "tv_estimate": res.tv_estimate, "seed": int(res.seed), "worst_cells": cells,
        "detail": f"{name}; {secs:.2f} s",
    }


@pytest.fixture
def exactness(request: pytest.FixtureRequest) -> ExactnessChecker:
    """Exactness checks with the session's seed and error budget (see the module doc)."""
    return ExactnessChecker(request, request.config.stash[_KEY])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    st = config.stash.get(_KEY, None)
    if st is None or not st.records:
        return
    failed = sum(1 for r in st.records if not r["passed"])
    tests = len({r["id"].rsplit("#", 1)[0] for r in st.records})
    terminalreporter.write_sep("-", "autospeculation exactness")
    terminalreporter.write_line(
        f"autospeculation: {len(st.records)} exactness checks in {tests} tests, {failed} failed;"
        f" family-wise alpha {st.alpha:g} split (Bonferroni) over {max(st.num_tests, 1)} "
        f"test(s): {st.alpha / max(st.num_tests, 1):.3g} each; alpha spent {st.spent:.3g}; "
        f"seed {st.seed}")
    if st.report:
        try:
            from reports.io import make_document, write_report

            doc = make_document(
                "pytest", "autospeculation exactness checks (pytest session)", st.records,
                [{"id": "pytest-session", "title": "Session",
                  "text": (f"Family-wise alpha {st.alpha:g} split (Bonferroni) over "
                           f"{max(st.num_tests, 1)} tests using the exactness fixture; "
                           f"alpha spent {st.spent:.3g}. Replay with --autospec-seed="
                           f"{st.seed}.")}],
                seeds={"session": st.seed},
                stage_seconds=[("pytest", time.perf_counter() - st.started)],
                command=["pytest", *config.invocation_params.args],
                config={"alpha": st.alpha, "num_tests": st.num_tests})
            paths = write_report(doc, st.report)
            terminalreporter.write_line(f"autospeculation report: {paths['html']}")
        except Exception as exc:  # a report failure must not hide the test outcome
            terminalreporter.write_line(f"autospeculation: could not write the report: {exc}",
                                        red=True)
