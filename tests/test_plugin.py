"""The pytest plugin end to end (pytester): passing and failing user tests, options, report."""

from __future__ import annotations

import json

import numpy  # noqa: F401  (imported once here: pytester's in-process runs must not re-import it)
import pytest

import autospeculation_pytest  # noqa: F401  (same reason)
import reports.io  # noqa: F401
import samplers.sequential  # noqa: F401
import verify.exactness  # noqa: F401

pytest_plugins = ("pytester",)

USER_TESTS = '''
import numpy as np
import pytest

from distributions.table import TableDistribution
from samplers.sequential import SequentialSampler

TARGET = TableDistribution(np.arange(1.0, 9.0).reshape(2, 2, 2))


class Tempered:
    """A subtly wrong oracle: the target's conditionals raised to the power 1.6."""

    n, q = 3, 2

    def conditionals(self, x):
        p = TARGET.conditionals(x) ** 1.6
        return p / p.sum(-1, keepdims=True)


@pytest.mark.exactness(tv=0.05)
def test_sequential_is_exact(exactness):
    res = exactness.check(SequentialSampler(TARGET), TARGET)
    assert res.passed and res.num_samples > 100


@pytest.mark.exactness(tv=0.05)
def test_tempered_sampler(exactness):
    exactness.check(SequentialSampler(Tempered()), TARGET, label="tempered oracle")
'''


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider", *args)


def test_passing_and_failing_user_tests_with_readable_message(pytester):
    res = _run(pytester, "--autospec-seed", "123")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    for part in ("exactness check failed: tempered oracle", "p-value=", "< alpha=0.0005",
                 "detectable TV: 0.05", "worst cells:", "x=(", "observed",
                 'replay: pytest "test_user.py::test_tempered_sampler" --autospec-seed=123',
                 "check_exact(..., rng="):
        assert part in out, part
    assert "Traceback" not in out  # the message, not a stack dump
    res.stdout.fnmatch_lines([
        "autospeculation: seed 123*",
        "autospeculation: 2 exactness checks in 2 tests, 1 failed; family-wise alpha 0.001 "
        "split (Bonferroni) over 2 test(s): 0.0005 each; alpha spent 0.001; seed 123",
    ])


def test_alpha_option_and_report_collects_every_check(pytester):
    report = pytester.path / "rep"
    res = _run(pytester, "--autospec-seed", "5", "--autospec-alpha", "0.01",
               "--autospec-report", str(report))
    res.assert_outcomes(passed=1, failed=1)
    res.stdout.fnmatch_lines(["*family-wise alpha 0.01 split (Bonferroni) over 2 test(s): "
                              "0.005 each*"])
    doc = json.loads((report / "report.json").read_text())
    assert doc["kind"] == "pytest" and doc["verdict"] == "fail"
    assert doc["seeds"] == {"session": 5}
    assert [c["passed"] for c in doc["checks"]] == [True, False]
    assert all(c["alpha"] == 0.005 for c in doc["checks"])
    assert (report / "report.html").exists() and (report / "report.md").exists()


def test_same_seed_replays_the_same_statistics(pytester):
    a = _run(pytester, "--autospec-seed", "9", "-k", "tempered").stdout.str()
    b = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                           "--autospec-seed", "9", "-k", "tempered").stdout.str()
    line = [s for s in a.splitlines() if "statistic=" in s]
    assert line and line[0] in b


def test_more_checks_than_declared_fails_with_a_usage_message(pytester):
    pytester.makepyfile(test_two='''
import numpy as np
from distributions.table import TableDistribution
from samplers.sequential import SequentialSampler

def test_two_checks(exactness):
    t = TableDistribution(np.ones((2, 2)))
    exactness.check(SequentialSampler(t), t, tv=0.1)
    exactness.check(SequentialSampler(t), t, tv=0.1)
''')
    # a fixed session seed: the first (correct) check must not false-fail at alpha
    res = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                             "--autospec-seed", "2026")
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*declares 1: mark it @pytest.mark.exactness(checks=2)*"])


def test_marker_is_registered_and_options_are_listed(pytester):
    res = pytester.runpytest("-p", "autospeculation_pytest", "--markers")
    res.stdout.fnmatch_lines(["@pytest.mark.exactness(tv=None, alpha=None*"])
    res = pytester.runpytest("-p", "autospeculation_pytest", "--help")
    res.stdout.fnmatch_lines(["*--autospec-seed=N*", "*--autospec-alpha=A*",
                              "*--autospec-report=DIR*"])


def test_bad_alpha_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    res = pytester.runpytest("-p", "autospeculation_pytest", "--autospec-alpha", "2")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--autospec-alpha must be a number in (0, 1); got 2.0*"])
