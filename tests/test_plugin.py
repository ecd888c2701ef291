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

_USER_MODULE_HEAD = '''
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

'''

USER_TESTS = _USER_MODULE_HEAD + '''

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
                 "check_exact(..., alpha=0.0005, rng="):
        assert part in out, part
    assert "Traceback" not in out  # the message, not a stack dump
    res.stdout.fnmatch_lines([
        "autospeculation: seed 123*",
        "autospeculation: 2 exactness checks in 2 tests, 1 failed; family-wise alpha 0.001 "
        "split (Bonferroni) over 2 test(s): 0.0005 each; alpha spent 0.001; seed 123",
    ])


def test_sequential_checks_stop_early_and_say_so(pytester):
    pytester.makepyfile(test_seq=_USER_MODULE_HEAD + '''

@pytest.mark.exactness(tv=0.02, sequential=True)
def test_exact(exactness):
    res = exactness.check(SequentialSampler(TARGET), TARGET, certify=0.1)
    assert res.passed and res.stop_reason == "max-size" and res.certified


@pytest.mark.exactness(tv=0.02)
def test_tempered(exactness):
    exactness.check(SequentialSampler(Tempered()), TARGET, sequential=True)
''')
    res = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                             "--autospec-seed", "5")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "sequential: stopped (evidence) after" in out, out
    assert "Traceback" not in out


def test_certificate_not_reached_fails_the_test_and_its_record(pytester):
    """``certify=eps`` is part of the assertion: a correct sampler whose test passes but
    whose TV bound stays above ``eps`` (too few samples for the certificate) fails, with
    the bound in the message and a failed report record; with enough samples it passes."""
    report = pytester.path / "rep"
    pytester.makepyfile(test_cert=_USER_MODULE_HEAD + '''

@pytest.mark.exactness(tv=0.2, certify=0.01)
def test_short(exactness):
    exactness.check(SequentialSampler(TARGET), TARGET, num_samples=2000)


@pytest.mark.exactness(tv=0.2, certify=0.2)
def test_enough(exactness):
    res = exactness.check(SequentialSampler(TARGET), TARGET)
    assert res.certified and res.tv_upper <= 0.2
''')
    res = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                             "--autospec-seed", "5", "--autospec-report", str(report))
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "TV certificate not reached: SequentialSampler" in out, out
    assert "> certify=0.01" in out and "2000 samples" in out, out
    assert "Traceback" not in out
    doc = json.loads((report / "report.json").read_text())
    by_test = {c["id"].split("::")[1].split("#")[0]: c for c in doc["checks"]}
    assert by_test["test_short"]["status"] == "fail" and not by_test["test_short"]["passed"]
    assert "TV certificate not reached" in by_test["test_short"]["detail"]
    assert by_test["test_enough"]["status"] == "pass"
    assert doc["verdict"] == "fail"


def test_family_below_the_session_tests_is_flagged_as_overspent(pytester):
    """``--autospec-family`` is for replaying one test; below the number of tests using
    the fixture every test gets too much alpha: the summary says the bound does not
    hold (it printed the overspend silently)."""
    pytester.makepyfile(test_fam=_USER_MODULE_HEAD + '''

@pytest.mark.parametrize("k", range(3))
def test_exact(exactness, k):
    exactness.check(SequentialSampler(TARGET), TARGET, tv=0.2)
''')
    res = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                             "--autospec-seed", "1", "--autospec-family", "1")
    res.assert_outcomes(passed=3)
    res.stdout.fnmatch_lines(["*WARNING: alpha spent 0.003 exceeds the family-wise alpha "
                              "0.001 (--autospec-family 1 is below the 3 tests using the "
                              "exactness fixture)*"])
    ok = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                            "--autospec-seed", "1")
    ok.assert_outcomes(passed=3)
    assert "WARNING" not in ok.stdout.str()


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


FOUR_TESTS = _USER_MODULE_HEAD + '''

@pytest.mark.exactness(tv=0.05)
def test_a_exact(exactness):
    exactness.check(SequentialSampler(TARGET), TARGET)


@pytest.mark.exactness(tv=0.05)
def test_b_tempered(exactness):
    exactness.check(SequentialSampler(Tempered()), TARGET, label="tempered oracle")


@pytest.mark.exactness(tv=0.05)
def test_c_exact(exactness):
    exactness.check(SequentialSampler(TARGET), TARGET)


@pytest.mark.exactness(tv=0.05, checks=2)
def test_d_two_checks(exactness):
    exactness.check(SequentialSampler(TARGET), TARGET, label="first")
    exactness.check(SequentialSampler(Tempered()), TARGET, label="second, tempered")
'''


@pytest.mark.slow
def test_xdist_workers_send_every_check_to_the_controller(pytester):
    """Under ``-n 2`` the controller prints the summary and the report has every check."""
    pytester.makepyfile(test_four=FOUR_TESTS)
    report = pytester.path / "rep"
    res = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                        "--autospec-seed", "77", "--autospec-report",
                                        str(report))
    res.assert_outcomes(passed=2, failed=2)
    res.stdout.fnmatch_lines([
        "autospeculation: 5 exactness checks in 4 tests, 2 failed; family-wise alpha 0.001 "
        "split (Bonferroni) over 4 test(s): 0.00025 each; alpha spent 0.001; seed 77",
        "autospeculation report: *report.html",
    ])
    doc = json.loads((report / "report.json").read_text())
    ids = [c["id"] for c in doc["checks"]]
    assert ids == ["test_four.py::test_a_exact#1", "test_four.py::test_b_tempered#1",
                   "test_four.py::test_c_exact#1", "test_four.py::test_d_two_checks#1",
                   "test_four.py::test_d_two_checks#2"], ids
    assert [c["status"] for c in doc["checks"]] == ["pass", "fail", "pass", "pass", "fail"]
    # the same checks, the same figures as a run without xdist
    serial = pytester.path / "rep1"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--autospec-seed", "77",
                                  "--autospec-report", str(serial))
    doc1 = json.loads((serial / "report.json").read_text())
    keys = ("id", "status", "statistic", "pvalue", "alpha", "num_samples", "seed")
    assert ([{k: c[k] for k in keys} for c in doc["checks"]]
            == [{k: c[k] for k in keys} for c in doc1["checks"]])


def test_printed_replay_command_reproduces_the_failing_check(pytester):
    """The replay line carries the alpha share: run alone, the same size and statistic."""
    pytester.makepyfile(test_four=FOUR_TESTS)
    res = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                             "--autospec-seed", "31")
    res.assert_outcomes(passed=2, failed=2)
    out = res.stdout.str()
    # pytest repeats the whole message in the short summary when ``CI`` is set
    # (it truncates to one line otherwise), so count the distinct replay lines.
    replay = list(dict.fromkeys(ln.strip() for ln in out.splitlines()
                                if ln.strip().startswith("replay: pytest")))
    assert len(replay) == 2, out
    line = replay[0]
    assert "--autospec-family=4" in line and "--autospec-alpha=0.001" in line, line
    argv = line.split("  (")[0].split()[2:]
    nodeid = argv[0].strip('"')
    again = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                               nodeid, *argv[1:])
    again.assert_outcomes(failed=1)
    out2 = again.stdout.str()

    def figures(text: str) -> list[str]:
        lines = [ln.strip() for ln in text.splitlines()
                 if "statistic=" in ln or ln.strip().startswith("samples:")]
        return list(dict.fromkeys(lines))  # the short summary may repeat them (CI=1)

    first = figures(out)[:2]  # the first failure reported is the first replay line's
    assert len(first) == 2 and first == figures(out2), (first, figures(out2))


@pytest.mark.parametrize("mark, why", [
    ("tvv=0.01", "got the unknown keyword 'tvv'"),
    ("tv=2.0", "`tv` must be a number in (0, 1); got 2.0"),
    ("checks=0", "`checks` must be an integer >= 1; got 0"),
    ("0.05", "takes keyword arguments only"),
    ("sequential='yes'", "`sequential` must be True or False; got 'yes'"),
    ("certify=1.5", "`certify` must be a number in (0, 1); got 1.5"),
])
def test_bad_marker_keyword_is_a_one_line_usage_error(pytester, mark, why):
    pytester.makepyfile(test_bad=f'''
import pytest

@pytest.mark.exactness({mark})
def test_bad(exactness):
    pass
''')
    res = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    err = res.stderr.str()
    assert f"test_bad.py::test_bad: @pytest.mark.exactness {why}" in err, err
    assert "Traceback" not in err + res.stdout.str()
    assert "fixture" not in err


@pytest.mark.slow
def test_bad_marker_keyword_under_xdist_is_one_line_per_test(pytester):
    """An xdist worker cannot end the session with a usage error: the test errors at
    set-up with the same one line (no crash report, no fixture traceback)."""
    pytester.makepyfile(test_bad='''
import pytest

@pytest.mark.exactness(tvv=0.01)
def test_bad(exactness):
    pass
''')
    res = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    res.assert_outcomes(errors=1)
    out = res.stdout.str()
    assert ("usage error: test_bad.py::test_bad: @pytest.mark.exactness got the unknown "
            "keyword 'tvv'") in out, out
    assert "INTERNALERROR" not in out and "Traceback" not in out


def test_report_location_is_checked_before_any_test_runs(pytester):
    """A report directory that cannot be written is a usage error at start-up."""
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    blocker = pytester.path / "afile"
    blocker.write_text("not a directory")
    res = pytester.runpytest("-p", "autospeculation_pytest", "-p", "no:cacheprovider",
                             "--autospec-report", str(blocker / "rep"))
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    err = res.stderr.str()
    assert "--autospec-report:" in err and "is not a directory" in err, err
    assert "1 passed" not in res.stdout.str()
