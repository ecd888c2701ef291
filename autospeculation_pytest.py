"""pytest plugin of autospeculation: exactness checks of samplers in a user's test suite.

Enabled through the ``pytest11`` entry point ``autospeculation`` (or ``-p
autospeculation_pytest``). It provides

- the fixture ``exactness``: ``exactness.check(sampler, target, tv=..., ...)`` runs
  :func:`verify.exactness.check_exact` and fails the test with a readable message
  (p-value, alpha, detectable TV, worst cells, the seed and command to replay);
- the marker ``@pytest.mark.exactness(tv=..., alpha=..., power=..., checks=...,
  sequential=..., certify=...)`` (``sequential=True``: anytime-valid early stopping,
  :mod:`verify.exactness.sequential`; ``certify=eps``: a TV certificate);
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

Replay: a failing check prints a command that reproduces it alone, with the same
seed, the same alpha share and so the same sample size and statistic: it carries
``--autospec-seed`` and ``--autospec-family M`` (the number of tests the session's
alpha was split over; by default the number of collected tests that use the fixture).

Under pytest-xdist (``pytest -n auto``) every worker runs its share of the tests with
the same split (each worker collects the whole session); the workers send their check
records to the controller (``workeroutput``, as pytest-cov and pytest-benchmark do),
which prints the summary line and writes the one report of every check, in collection
order.

Marker keywords are checked at collection: an unknown keyword or a bad value is a
one-line usage error naming the test and the keyword (exit code 4), not a fixture
error.
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

_MARK_KEYS = ("tv", "alpha", "power", "checks", "num_samples", "method", "sequential",
              "certify")
_WORKER_KEY = "autospeculation_records"


@dataclass
class _State:
    seed: int
    alpha: float
    report: str | None
    num_tests: int = 0
    family: int | None = None
    order: dict[str, int] = field(default_factory=dict)
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
    group.addoption("--autospec-family", type=int, default=None, metavar="M",
                    help="number of tests the session alpha is split over (default: the "
                         "collected tests that use the fixture); replay lines set it so that "
                         "a test run alone gets the same alpha share")


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
    family = config.getoption("--autospec-family", default=None)
    if family is not None and family < 1:
        raise pytest.UsageError(f"--autospec-family must be an integer >= 1; got {family}.")
    report = config.getoption("--autospec-report", default=None)
    if report is not None and not hasattr(config, "workerinput"):
        from distributions.errors import ReportError
        from reports.io import check_out_dir

        try:  # the location is checked before any test runs, not after the session
            check_out_dir(report)
        except ReportError as exc:
            raise pytest.UsageError(f"--autospec-report: {exc}") from None
    config.stash[_KEY] = _State(seed=int(seed), alpha=alpha, family=family, report=report)


def pytest_report_header(config: pytest.Config) -> str:
    st = config.stash[_KEY]
    return (f"autospeculation: seed {st.seed} (replay with --autospec-seed={st.seed}), "
            f"family-wise alpha {st.alpha:g}")


def _mark_problem(kwargs: dict[str, Any], args: tuple[Any, ...]) -> str | None:
    """Why an ``exactness`` marker's arguments are unusable (``None`` when they are fine)."""
    if args:
        return f"takes keyword arguments only ({', '.join(_MARK_KEYS)}); got {args!r}"
    for key in kwargs:
        if key not in _MARK_KEYS:
            return f"got the unknown keyword {key!r}; known: {', '.join(_MARK_KEYS)}"
    for key in ("tv", "alpha", "power", "certify"):
        v = kwargs.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)
                              or not 0.0 < float(v) < 1.0):
            return f"`{key}` must be a number in (0, 1); got {v!r}"
    for key in ("checks", "num_samples"):
        v = kwargs.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            return f"`{key}` must be an integer >= 1; got {v!r}"
    v = kwargs.get("method")
    if v is not None and not isinstance(v, str):
        return f"`method` must be a string; got {v!r}"
    v = kwargs.get("sequential")
    if v is not None and not isinstance(v, bool):
        return f"`sequential` must be True or False; got {v!r}"
    return None


_MARK_ERROR = pytest.StashKey[str]()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    for item in items:
        for mark in item.iter_markers("exactness"):
            why = _mark_problem(dict(mark.kwargs), tuple(mark.args))
            if why is None:
                continue
            msg = f"{item.nodeid}: @pytest.mark.exactness {why}."
            if not _is_xdist_worker(config):
                raise pytest.UsageError(msg)
            # an xdist worker cannot end the session with a usage error (the controller
            # reports a crash): the test errors at set-up with the same one line instead
            item.stash[_MARK_ERROR] = msg


def pytest_runtest_setup(item: pytest.Item) -> None:
    msg = item.stash.get(_MARK_ERROR, None)
    if msg is not None:
        pytest.fail(f"usage error: {msg}", pytrace=False)


def pytest_collection_finish(session: pytest.Session) -> None:
    st = session.config.stash[_KEY]
    users = [it.nodeid for it in session.items if "exactness" in getattr(it, "fixturenames", ())]
    st.num_tests = len(users)
    st.order = {nodeid: i for i, nodeid in enumerate(users)}


def _family(st: _State) -> int:
    """How many tests the session's alpha is split over."""
    return st.family if st.family is not None else max(st.num_tests, 1)


def _overspent(st: _State, m: int) -> str:
    """The warning when the checks spent more than the family-wise alpha (``""`` when not):
    ``--autospec-family`` below the tests that use the fixture, or explicit ``alpha=``."""
    if st.spent <= st.alpha * (1 + 1e-9):
        return ""
    why = (f"--autospec-family {m} is below the {st.num_tests} tests using the exactness "
           f"fixture" if st.family is not None and st.num_tests > m else
           "explicit alpha= on markers or checks")
    return (f"alpha spent {st.spent:.3g} exceeds the family-wise alpha {st.alpha:g} ({why}): "
            f"the family-wise false-failure bound {st.alpha:g} does not hold for this session")


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
        # marker arguments were checked at collection (pytest_collection_modifyitems)
        self.declared = int(self._mark.get("checks", 1))
        m = _family(state)
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
        sequential: bool | None = None,
        certify: float | None = None,
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
        tv, alpha, power, num_samples, method, sequential, certify
            As in :func:`verify.exactness.check_exact`; default from the test's
            ``exactness`` marker, then ``tv=0.02``, ``power=0.99`` and this check's
            share of the session's family-wise alpha. ``sequential=True`` stops as
            soon as the evidence against the sampler suffices (anytime-valid at this
            check's alpha); ``certify=eps`` also certifies ``TV <= eps`` and fails the
            test when the certificate is not reached (``tv_upper > eps``), even if the
            exactness test passed.
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
                         ("method", method), ("sequential", sequential),
                         ("certify", certify)):
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
        uncertified = kwargs.get("certify") is not None and not res.certified
        self._state.records.append(
            _record(self._nodeid, self._state.order.get(self._nodeid, -1), k, name, res, secs,
                    uncertified))
        if not res.passed:
            pytest.fail(self._message(name, res, a), pytrace=False)
        if uncertified:
            pytest.fail(self._uncertified(name, res, a), pytrace=False)
        return res

    def _replay(self, check_args: str) -> str:
        """The message's replay line (``check_args``: this check's own arguments)."""
        st = self._state
        return (f"  replay: pytest \"{self._nodeid}\" --autospec-seed={st.seed} "
                f"--autospec-alpha={st.alpha!r} --autospec-family={_family(st)}  "
                f"(this check: check_exact(..., {check_args}))")

    def _uncertified(self, name: str, res: Any, a: float) -> str:
        return "\n".join([
            f"TV certificate not reached: {name}",
            f"  the exactness test passed (p-value={res.pvalue:.3g}, alpha={a:.3g}), but the "
            f"upper confidence bound on TV is {res.tv_upper:.3g} > certify={res.certify:g} "
            f"(confidence {1 - a:.6g}, {res.num_samples} samples)",
            self._replay(f"alpha={a!r}, certify={res.certify!r}, rng={res.seed}"),
        ])

    def _message(self, name: str, res: Any, a: float) -> str:
        st = self._state
        status = str(res.status)
        verdict = (f"p-value={res.pvalue:.3g} < alpha={a:.3g}" if status == "fail" else
                   f"p-value={res.pvalue:.3g}, alpha={a:.3g}: status {status!r} (the test has "
                   f"no power at this size; it is not a pass)")
        lines = [
            f"exactness check failed: {name}",
            f"  {res.method}: statistic={_fmt(res.statistic)}, {verdict} (session alpha "
            f"{st.alpha:g} split over {_family(st)} test(s), {self.declared} check(s) in this "
            f"test)",
            f"  samples: {res.num_samples}; detectable TV: {res.detectable_tv:.3g} at power "
            f"{_fmt(getattr(res, 'power', float('nan')))}; TV estimate: {res.tv_estimate:.3g}"
            f" (upper bound {_fmt(getattr(res, 'tv_upper', float('nan')))})",
        ]
        if getattr(res, "stop_reason", ""):
            lines.append(f"  sequential: stopped ({res.stop_reason}) after {res.samples_used} of "
                         f"at most {res.max_size} samples; e-value {res.e_value:.3g} "
                         f"(rejects at {res.threshold:.3g})")
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
        lines.append(self._replay(f"alpha={a!r}, rng={res.seed}"))
        return "\n".join(lines)


def _name(obj: Any) -> str:
    text = repr(obj)
    if len(text) > 60 or text.startswith("<"):
        text = type(obj).__name__ if not callable(obj) or hasattr(obj, "sample") else getattr(
            obj, "__name__", type(obj).__name__)
    return text


def _record(nodeid: str, index: int, k: int, name: str, res: Any,
            secs: float, uncertified: bool = False) -> dict[str, Any]:
    """The report record of one check, in plain Python types (it crosses xdist's wire).

    A check asked for a TV certificate that it did not reach is a failed record (its
    detail gives the bound), whatever the exactness test said."""
    from reports.records import to_record

    detail = f"{name}; {secs:.2f} s"
    over: dict[str, Any] = {}
    if uncertified:
        detail += (f"; TV certificate not reached: upper bound {res.tv_upper:.3g} > "
                   f"certify={res.certify:g}")
        over["status"] = "fail"
    rec = to_record(res, stage=nodeid.split("::")[0], cid=str(k), name=name,
                    id=f"{nodeid}#{k}", detail=detail, **over)
    rec["_order"] = [int(index), int(k)]
    return rec


@pytest.fixture
def exactness(request: pytest.FixtureRequest) -> ExactnessChecker:
    """Exactness checks with the session's seed and error budget (see the module doc)."""
    return ExactnessChecker(request, request.config.stash[_KEY])


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On an xdist worker: hand this worker's records to the controller."""
    config = session.config
    st = config.stash.get(_KEY, None)
    if st is not None and _is_xdist_worker(config):
        config.workeroutput[_WORKER_KEY] = {"records": st.records, "spent": st.spent,
                                            "num_tests": st.num_tests}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: collect the records a worker sent (pytest-xdist hook)."""
    st = node.config.stash.get(_KEY, None)
    out = getattr(node, "workeroutput", None) or {}
    if st is None or _WORKER_KEY not in out:
        return
    got = out[_WORKER_KEY]
    st.records.extend(got["records"])
    st.spent += float(got["spent"])
    st.num_tests = max(st.num_tests, int(got["num_tests"]))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    st = config.stash.get(_KEY, None)
    if st is None or not st.records or _is_xdist_worker(config):
        return
    st.records.sort(key=lambda r: tuple(r.get("_order", (-1, 0))))
    records = [{k: v for k, v in r.items() if k != "_order"} for r in st.records]
    failed = sum(1 for r in records if r["status"] != "pass")
    tests = len({r["id"].rsplit("#", 1)[0] for r in records})
    m = _family(st)
    terminalreporter.write_sep("-", "autospeculation exactness")
    terminalreporter.write_line(
        f"autospeculation: {len(records)} exactness checks in {tests} tests, {failed} failed;"
        f" family-wise alpha {st.alpha:g} split (Bonferroni) over {m} "
        f"test(s): {st.alpha / m:.3g} each; alpha spent {st.spent:.3g}; "
        f"seed {st.seed}")
    over = _overspent(st, m)
    if over:
        terminalreporter.write_line(f"autospeculation: WARNING: {over}", yellow=True, bold=True)
    if st.report:
        try:
            from reports.io import make_document, write_report

            doc = make_document(
                "pytest", "autospeculation exactness checks (pytest session)", records,
                [{"id": "pytest-session", "title": "Session",
                  "text": (f"Family-wise alpha {st.alpha:g} split (Bonferroni) over "
                           f"{m} tests using the exactness fixture; "
                           f"alpha spent {st.spent:.3g}. Replay with --autospec-seed="
                           f"{st.seed}." + (f" WARNING: {over}." if over else ""))}],
                seeds={"session": st.seed},
                stage_seconds=[("pytest", time.perf_counter() - st.started)],
                command=["pytest", *config.invocation_params.args],
                config={"alpha": st.alpha, "num_tests": m})
            paths = write_report(doc, st.report)
            terminalreporter.write_line(f"autospeculation report: {paths['html']}")
        except Exception as exc:  # a report failure must not hide the test outcome
            terminalreporter.write_line(f"autospeculation: could not write the report: {exc}",
                                        red=True)
