"""The `autospeculation` command line (reports.cli): validate --quick, audit, report, rounds,
pinning, exit codes, `python -m reports` / `python -m verify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reports.cli import main
from reports.schema import REPORT_SCHEMA, validate_report

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "my_masked_model.py")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    import time

    out = tmp_path_factory.mktemp("validate") / "report"
    cpu = time.process_time()
    code = main(["validate", "--quick", "--out", str(out), "--seed", "0", "--quiet"])
    return code, out, time.process_time() - cpu


@pytest.mark.slow
def test_validate_quick_exits_0_and_writes_json_md_html(quick_report):
    code, out, cpu_seconds = quick_report
    assert code == 0
    for name in ("report.json", "report.md", "report.html"):
        assert (out / name).stat().st_size > 1000, name
    doc = json.loads((out / "report.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, REPORT_SCHEMA)
    validate_report(doc, use_jsonschema=True)
    assert doc["verdict"] == "pass" and doc["seeds"]["root"] == 0
    samplers = {c.get("sampler") for c in doc["checks"] if c["stage"] == "exactness"}
    assert "sequential" in samplers
    assert all(c["passed"] for c in doc["checks"] if c["severity"] == "error")
    ex = [c for c in doc["checks"] if c["stage"] == "exactness"]
    assert ex and all(c["num_samples"] > 1000 and 0 < c["detectable_tv"] <= 0.05 for c in ex)
    # "well under 2 minutes": CPU time of this process (wall time depends on how many
    # other jobs share the machine's cores)
    assert cpu_seconds < 120, cpu_seconds
    statuses = [c["status"] for c in doc["checks"]]
    assert set(statuses) <= {"pass", "warn"} and statuses.count("pass") > 40
    assert all(c["passed"] == (c["status"] == "pass") for c in doc["checks"])
    stages = [c["stage"] for c in doc["checks"]]
    assert stages.count("batch-invariance") == len(samplers) == 3
    assert "Summary" in (out / "report.md").read_text()
    assert "data:image/png;base64," in (out / "report.html").read_text() or not any(
        s.get("figures") for s in doc["sections"])


@pytest.mark.slow
def test_report_rerenders_from_json(quick_report, tmp_path):
    _, out, _ = quick_report
    dest = tmp_path / "again"
    assert main(["report", str(out / "report.json"), "--out", str(dest), "--quiet"]) == 0
    assert json.loads((dest / "report.json").read_text()) == json.loads(
        (out / "report.json").read_text())
    assert (dest / "report.html").read_text() == (out / "report.html").read_text()


def test_validate_prints_a_table(capsys, tmp_path):
    code = main(["validate", "--quick", "--samplers", "sequential", "--targets", "potts-path",
                 "--stages", "exactness", "--out", str(tmp_path / "r")])
    text = capsys.readouterr().out
    assert code == 0
    assert "exactness/sequential/potts-path" in text and "PASS" in text
    assert "verdict: PASS" in text
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [c["id"] for c in doc["checks"]] == ["exactness/sequential/potts-path"]


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["validate", "--seed", "abc"],
    ["validate", "--samplers", "nope"],
    ["validate", "--stages", "nope"],
    ["audit"],
])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("autospeculation") and "error:" in err and "--help" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["report", "/nonexistent/report.json"], "cannot read report"),
    (["audit", "no_such_module_xyz:factory"], "cannot import module 'no_such_module_xyz'"),
    (["audit", "no-colon"], "must have the form MODULE:CALLABLE"),
    (["audit", f"{EXAMPLE}:no_such_factory"], "has no attribute 'no_such_factory'"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("autospeculation: error: ")


@pytest.mark.slow
def test_audit_exit_codes_and_report(tmp_path, capsys):
    ref = ["--reference", f"{EXAMPLE}:make_reference"]
    good = tmp_path / "good"
    assert main(["audit", f"{EXAMPLE}:make_model", *ref, "--out", str(good)]) == 0
    assert "PASS" in capsys.readouterr().out
    doc = json.loads((good / "report.json").read_text())
    assert doc["kind"] == "audit" and doc["verdict"] == "pass"
    bad = tmp_path / "bad"
    assert main(["audit", f"{EXAMPLE}:make_buggy_model", *ref, "--no-samplers",
                 "--out", str(bad)]) == 1
    text = capsys.readouterr().out
    assert "consistency.orders" in text and "reference" in text
    doc = json.loads((bad / "report.json").read_text())
    failed = [c for c in doc["checks"] if not c["passed"] and c["severity"] == "error"]
    assert failed and all(c.get("query") for c in failed)


def test_audit_dotted_module_from_the_current_directory(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["audit", "examples.my_masked_model:make_model", "--no-samplers",
                 "--quiet"]) == 0


def test_rounds_small_run(tmp_path):
    assert main(["rounds", "--quick", "--num", "20", "--quiet", "--out", str(tmp_path / "r")]) \
        == 0
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["sections"][0]["figures"][0]["id"] == "rounds-scaling"


@pytest.mark.parametrize("package", ["verify", "reports"])
def test_python_m_package_help_exits_0(package):
    """`python -m verify` (documented in the README) and `python -m reports` both run the
    command line."""
    res = subprocess.run([sys.executable, "-m", package, "--help"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60, env={**os.environ})
    assert res.returncode == 0, res.stderr
    for cmd in ("validate", "audit", "report", "rounds", "pinning"):
        assert cmd in res.stdout


def test_console_script_runs_reports_cli_main():
    """The installed `autospeculation` command is `reports.cli:main` (pyproject.toml)."""
    from importlib import metadata

    import reports.cli

    (ep,) = metadata.entry_points(group="console_scripts", name="autospeculation")
    assert ep.value == "reports.cli:main" and ep.load() is reports.cli.main


def test_importing_verify_does_not_import_reports():
    """The checks do not depend on their consumers: `import verify` (and every public
    module of it) loads no module of `reports`; only `python -m verify` runs the CLI."""
    code = ("import pkgutil, importlib, sys, verify\n"
            "for m in pkgutil.walk_packages(verify.__path__, 'verify.'):\n"
            "    if m.name != 'verify.__main__':\n"
            "        importlib.import_module(m.name)\n"
            "print(sorted(k for k in sys.modules if k == 'reports' or "
            "k.startswith('reports.')))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={**os.environ})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]", res.stdout


def test_the_cli_imports_its_modules_plainly():
    """Issue 11: no "module may be missing" scaffolding in the command line; the only
    dynamic import is of the user's own MODULE:FACTORY (reports.cli.inputs)."""
    for path in sorted((ROOT / "reports" / "cli").glob("*.py")):
        text = path.read_text()
        assert "module_present" not in text and "find_spec" not in text, path
        assert ("import_module" in text) == (path.name == "inputs.py"), path


def test_a_failing_or_crashing_stage_fails_the_run_with_exit_1(monkeypatch, tmp_path):
    from reports import validation as V
    from reports.records import check_record

    def failing(ctx):
        return V.StageOutput(checks=[check_record("fake", "bad", "a check", False,
                                                  detail="made to fail")])

    def crashing(ctx):
        raise RuntimeError("stage blew up")

    stages = [V.Stage("fake", "Fake", failing), V.Stage("crash", "Crash", crashing)]
    monkeypatch.setattr(V, "available_stages", lambda cfg: stages)
    out = tmp_path / "r"
    assert main(["validate", "--quick", "--quiet", "--out", str(out)]) == 1
    doc = json.loads((out / "report.json").read_text())
    assert doc["verdict"] == "fail"
    crash = [c for c in doc["checks"] if c["stage"] == "crash"]
    assert crash and not crash[0]["passed"] and "stage blew up" in crash[0]["detail"]


def test_pinning_subcommand_runs_and_checks_n(tmp_path):
    assert main(["pinning", "--family", "random-table", "--n", "4", "--samples", "0",
                 "--quiet", "--out", str(tmp_path / "p")]) == 0
    assert main(["pinning", "--family", "random-table", "--n", "1", "--samples", "0",
                 "--quiet", "--out", str(tmp_path / "p")]) == 2


def test_pinning_impossible_n_is_one_line_stating_the_limit(capsys):
    """Review rev9 item 6: `--n 10000000000` was an ArrayMemoryError traceback, exit 1;
    now exit 2 with one line stating the memory cap and the largest `--n`."""
    assert main(["pinning", "--family", "product", "--n", "10000000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert ("100 rows (random orders or sampler runs) x n=10,000,000,000" in err
            and "memory cap of 1,073,741,824 (8 GiB); use `--n` <= 10,737,418" in err
            and "got `--n` 10,000,000,000." in err), err


def test_pinning_round_bound_states_the_rounds_tail(tmp_path, capsys):
    """Issue 16 item 6: the round bound gives median, p99 and max with the mean."""
    assert main(["pinning", "--family", "random-table", "--n", "4", "--samples", "40",
                 "--seed", "3", "--out", str(tmp_path / "p")]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines()
                if ln.strip().startswith("mean rounds"))
    assert "median" in line and "p99" in line and "max" in line, line


# ------------------------------------------------------------- issue 18: items 7-11, 14
class _Reached(Exception):
    """Raised by a stand-in for the work of a subcommand: the arguments were accepted."""


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Replace the work of every subcommand by a stand-in that raises ``_Reached``;
    run in an empty directory (so default output locations are inside it)."""
    import reports.io
    import reports.pinning_run
    import reports.validation
    import verify.audit
    import verify.rounds

    calls = []

    def stop(*args, **kwargs):
        calls.append(args)
        raise _Reached

    monkeypatch.setattr(reports.validation, "run_validation", stop)
    monkeypatch.setattr(verify.audit, "audit_oracle", stop)
    monkeypatch.setattr(verify.rounds, "rounds_scaling", stop)
    monkeypatch.setattr(reports.pinning_run, "compute", stop)
    monkeypatch.setattr(reports.io, "write_report", stop)
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "a-file").write_text("not a directory\n")
    (work / "foreign").mkdir()
    (work / "foreign" / "notes.txt").write_text("not part of a report\n")
    monkeypatch.chdir(work)
    return calls


_GOOD_REPORT = "good-report.json"

#: (subcommand and fixed arguments, option, a boundary value that is accepted,
#:  values that are usage errors). Every option taking a value of every subcommand.
_OPTION_SWEEP = [
    (["validate", "--quick"], "--seed", "0", ["-1", "abc", "1.5"]),
    (["validate", "--quick"], "--alpha", "0.999999", ["1.5", "-0.1", "0", "1", "nan",
                                                      "inf", "x"]),
    (["validate", "--quick", "--stages", "exactness", "--samplers", "sequential",
      "--targets", "potts-path"], "--alpha", "1e-5", ["9.9e-6"]),
    (["validate", "--quick"], "--alpha", "1e-3", ["5e-4"]),
    (["validate", "--quick"], "--out", "new/deeper/dir", ["a-file", "a-file/sub", "",
                                                          ".", "foreign"]),
    (["validate", "--quick"], "--samplers", "sequential", ["nope"]),
    (["validate", "--quick"], "--targets", "spiky-table", ["nope"]),
    (["validate", "--quick"], "--stages", "exactness", ["nope"]),
    (["audit", f"{EXAMPLE}:make_model"], "--seed", "0", ["-1", "x"]),
    (["audit", f"{EXAMPLE}:make_model"], "--contexts", "4", ["3", "0", "-5", "4.5"]),
    (["audit", f"{EXAMPLE}:make_model"], "--sampler-timeout", "0.5", ["0", "-1", "nan",
                                                                      "inf", "x"]),
    (["audit", f"{EXAMPLE}:make_model"], "--sampler-max-rounds", "1", ["0", "-2", "1.5"]),
    (["audit", f"{EXAMPLE}:make_model"], "--out", "new/dir", ["a-file", "a-file/sub",
                                                               "foreign"]),
    (["audit", f"{EXAMPLE}:make_model"], "--reference", f"{EXAMPLE}:make_reference",
     ["nope", f"{EXAMPLE}:no_such"]),
    (["report", _GOOD_REPORT], "--out", "new/dir", ["a-file", "a-file/sub", ".",
                                                     "foreign"]),
    (["rounds", "--quick"], "--num", "2", ["0", "1", "-3", "2.5"]),
    (["rounds", "--quick"], "--seed", "0", ["-1"]),
    (["rounds", "--quick"], "--samplers", "agr24", ["sequential", "nope"]),
    (["rounds", "--quick"], "--out", "new/dir", ["a-file", "a-file/sub", "foreign"]),
    (["pinning", "--family", "random-table"], "--n", "2", ["1", "0", "21", "x"]),
    (["pinning", "--family", "random-table"], "--n", "20", []),
    (["pinning", "--n", "4"], "--family", "product", ["nope"]),
    (["pinning", "--family", "product", "--n", "4"], "--seed", "0", ["-1"]),
    (["pinning", "--family", "product", "--n", "4"], "--orders", "2", ["1", "0"]),
    (["pinning", "--family", "product", "--n", "4"], "--samples", "0", ["1", "-1"]),
    (["pinning", "--family", "product", "--n", "4"], "--samples", "2", []),
    (["pinning", "--family", "product", "--n", "4"], "--out", "new/dir",
     ["a-file", "a-file/sub"]),
    # the memory cap 2**30 over max(orders, samples) rows of n (review rev9 item 6)
    (["pinning", "--family", "product"], "--n", "10737418", ["10737419", "10000000000"]),
    (["pinning", "--family", "product", "--n", "20000000", "--samples", "0"], "--orders",
     "53", ["54"]),
]
_SWEEP_CASES = [pytest.param(base, opt, good, None, id=f"{base[0]}{opt}={good}")
                for base, opt, good, _ in _OPTION_SWEEP]
_SWEEP_CASES += [pytest.param(base, opt, None, bad, id=f"{base[0]}{opt}={bad!r}")
                 for base, opt, _, bads in _OPTION_SWEEP for bad in bads]


def _listing(root):
    return sorted((str(p.relative_to(root)), p.stat().st_mode) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def small_report_json():
    """A valid report document (two checks), for the ``report`` subcommand's sweep."""
    from reports.io import make_document
    from reports.records import check_record

    checks = [check_record("exactness", "a", "a check", True, statistic=1.0, pvalue=0.5,
                           alpha=1e-3, num_samples=10),
              check_record("exactness", "b", "another", True, statistic=2.0, pvalue=0.25,
                           alpha=1e-3, num_samples=10)]
    doc = make_document("validate", "sweep fixture", checks, [], seeds={"root": 0},
                        stage_seconds=[("exactness", 0.0)])
    return json.dumps(doc)


@pytest.mark.parametrize("base, option, good, bad", _SWEEP_CASES)
def test_every_option_is_checked_before_any_work(base, option, good, bad, no_work, capsys,
                                                 small_report_json):
    """Items 7 and 8: a boundary value reaches the work; a bad value exits 2 with one
    line and no traceback, before any work and with nothing written."""
    Path(_GOOD_REPORT).write_text(small_report_json)
    argv = [*base, option, good if bad is None else bad]
    before = _listing(Path.cwd())
    if bad is None:
        with pytest.raises(_Reached):
            main(argv)
        assert len(no_work) == 1
        return
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert err.startswith("autospeculation") and "error:" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert ".." not in err.replace("...", ""), err
    assert no_work == [], f"{argv}: the work started before the argument was checked"
    assert _listing(Path.cwd()) == before, f"{argv}: something was written"


def test_bad_alpha_and_out_fail_before_the_run(tmp_path, capsys):
    """Item 7 without stand-ins: a bad --alpha or an --out under a file ends at once."""
    import time

    (tmp_path / "f").write_text("")
    for argv in (["validate", "--alpha", "1.5"], ["validate", "--alpha", "-0.1"],
                 ["validate", "--out", str(tmp_path / "f" / "r")], ["validate", "--seed", "-1"]):
        t0 = time.perf_counter()
        assert main([*argv, "--quiet"]) == 2
        assert time.perf_counter() - t0 < 5.0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_rounds_samplers_lists_only_what_it_accepts(capsys):
    """Item 10: 'sequential' is not offered as a choice it then rejects."""
    assert main(["rounds", "--samplers", "sequential"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'sequential'" in err
    assert "sequential" not in err.split("choose from", 1)[1]
    from reports.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    rounds = sub.choices["rounds"]
    samplers = next(a for a in rounds._actions if a.dest == "samplers")
    assert "sequential" not in samplers.choices and "sequential" not in samplers.help


def test_every_option_of_every_subcommand_has_help():
    """Item 10: help text for every option (rounds had none)."""
    from reports.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) >= {"validate", "audit", "report", "rounds", "pinning"}
    for name, parser in sub.choices.items():
        for action in parser._actions:
            assert action.help and action.help.strip(), (name, action.option_strings or
                                                          action.dest)


def test_version(capsys):
    """Item 10: --version prints the installed version and exits 0."""
    from importlib import metadata

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == \
        f"autospeculation {metadata.version('autospeculation')}"


def _fake_stages(statuses):
    """One fake stage whose checks have the given statuses (and use the progress bar)."""
    from reports import validation as V
    from reports.records import check_record

    def run(ctx):
        bar = ctx.progress(len(statuses), "fake")
        out = V.StageOutput()
        for k, st in enumerate(statuses):
            bar.set_postfix_str(f"c{k}")
            out.checks.append(check_record("fake", f"c{k}", f"check {k}", st == "pass",
                                           severity="warning", status=st))
            bar.update()
        bar.close()
        return out

    return [V.Stage("fake", "A fake stage", run)]


def test_log_lines_off_a_terminal(monkeypatch, tmp_path, capsys):
    """Item 9: off a TTY one log line per stage (start, end) and per check; --quiet
    silences them; on a TTY progress bars are used instead of log lines."""
    from reports import validation as V
    from reports.cli import console

    monkeypatch.setattr(V, "available_stages", lambda cfg: _fake_stages(["pass", "warn",
                                                                         "pass"]))
    assert main(["validate", "--quick", "--out", str(tmp_path / "a")]) == 0
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.startswith("[validate] ")]
    assert lines == [
        "[validate] stage 1/1 fake: A fake stage",
        *[ln for ln in lines if " fake 1/3 c0 " in ln],
        *[ln for ln in lines if " fake 2/3 c1 " in ln],
        *[ln for ln in lines if " fake 3/3 c2 " in ln],
        lines[-1],
    ] and len(lines) == 5, cap.err
    assert lines[-1].startswith("[validate] stage 1/1 fake: done in ")
    assert "3 checks: 2 pass, 0 fail, 1 warn, 0 skipped, 0 no-power" in lines[-1]
    assert "not passed: fake/c1" in lines[-1]

    assert main(["validate", "--quick", "--quiet", "--out", str(tmp_path / "b")]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and cap.out == ""

    monkeypatch.setattr(console, "_on_tty", lambda: True)
    assert main(["validate", "--quick", "--out", str(tmp_path / "c")]) == 0
    assert "[validate]" not in capsys.readouterr().err


@pytest.mark.parametrize("statuses, code, strict_code, line", [
    (["pass", "pass"], 0, 0, "(2 checks: 2 passed, 0 warnings, 0 failed, 0 skipped, "
                             "0 no-power)"),
    (["pass", "warn"], 0, 1, "(2 checks: 1 passed, 1 warning, 0 failed, 0 skipped, "
                             "0 no-power)"),
    (["pass", "no-power"], 0, 1, "(2 checks: 1 passed, 0 warnings, 0 failed, 0 skipped, "
                                 "1 no-power)"),
    (["skipped", "pass"], 0, 1, "(2 checks: 1 passed, 0 warnings, 0 failed, 1 skipped, "
                                "0 no-power)"),
    (["fail", "warn"], 1, 1, "(2 checks: 0 passed, 1 warning, 1 failed, 0 skipped, "
                             "0 no-power)"),
])
def test_verdict_counts_every_status_and_strict_fails_on_non_pass(
        statuses, code, strict_code, line, monkeypatch, tmp_path, capsys):
    """Item 14: the summary line counts every status; warnings, skipped and no-power
    checks fail the run only with --strict; exit code and stored verdict agree."""
    from reports import validation as V

    monkeypatch.setattr(V, "available_stages", lambda cfg: _fake_stages(statuses))
    for strict, want in ((False, code), (True, strict_code)):
        out = tmp_path / f"r{int(strict)}"
        argv = ["validate", "--quick", "--out", str(out)] + (["--strict"] if strict else [])
        assert main(argv) == want
        text = capsys.readouterr().out
        verdict = "PASS" if want == 0 else "FAIL"
        summary = [ln for ln in text.splitlines() if ln.startswith("verdict: ")]
        assert len(summary) == 1 and summary[0].startswith(
            f"verdict: {verdict}{' [strict]' if strict else ''} {line}"), text
        doc = json.loads((out / "report.json").read_text())
        assert doc["verdict"] == verdict.lower() and doc["strict"] is strict
        assert [c["status"] for c in doc["checks"]] == statuses
        assert [c["passed"] for c in doc["checks"]] == [s == "pass" for s in statuses]
        umask = os.umask(0)
        os.umask(umask)
        assert (out / "report.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_pinning_files_follow_the_umask_and_help_names_them(tmp_path, capsys):
    """Item 11: pinning's JSON and PNG files get the usual mode (not 0600) and its help
    states the default directory and the files written."""
    from reports.cli.pinning import OUTPUT_FILES

    old = os.umask(0o022)
    try:
        out = tmp_path / "p"
        assert main(["pinning", "--family", "random-table", "--n", "4", "--samples", "2",
                     "--out", str(out)]) in (0, 1)
        written = sorted(p.name for p in out.iterdir())
        assert written == sorted(OUTPUT_FILES)
        for p in out.iterdir():
            assert p.stat().st_mode & 0o777 == 0o644, (p.name, oct(p.stat().st_mode))
    finally:
        os.umask(old)
    capsys.readouterr()
    assert main(["pinning", "--help"]) == 0
    helptext = " ".join(capsys.readouterr().out.split())
    assert "pinning-out" in helptext and "umask" in helptext
    for name in OUTPUT_FILES:
        assert name in helptext


def test_audit_strict_fails_on_skipped_rules(tmp_path, capsys):
    """Item 14 for the audit: rules skipped (no reference, no sampler runs) do not fail
    the default verdict; with --strict they do, and the report says so."""
    base = ["audit", f"{EXAMPLE}:make_model", "--no-samplers", "--contexts", "8"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("verdict: ")]
    assert line and line[0].startswith("verdict: PASS (") and " 0 skipped" not in line[0]
    assert main([*base, "--strict", "--out", str(tmp_path / "b")]) == 1
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("verdict: ")]
    assert line and line[0].startswith("verdict: FAIL [strict] (")
    doc = json.loads((tmp_path / "b" / "report.json").read_text())
    assert doc["strict"] is True and doc["verdict"] == "fail"
    assert any(c["status"] == "skipped" for c in doc["checks"])


def test_certify_runs_named_certificates_and_refuses_unknown_names(tmp_path, capsys):
    """Issue 17 item 7: ``certify NAME`` prints each certificate and its time, writes a
    report; an unknown name is a one-line usage error (exit 2) before any work."""
    out = tmp_path / "cert"
    assert main(["certify", "discrete-girsanov", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert "discrete-girsanov" in cap.out and "proved" in cap.out
    assert (out / "report.json").exists()
    assert main(["certify", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NAME must be among" in err[0]


def test_certificates_stage_is_in_the_full_run_only():
    from reports.validation import ValidationConfig
    from reports.validation.run import available_stages

    assert "certificates" not in [s.name for s in available_stages(ValidationConfig(quick=True))]
    assert "certificates" in [s.name for s in available_stages(ValidationConfig(quick=False))]
    asked = ValidationConfig(quick=True, stages=("certificates",))
    assert [s.name for s in available_stages(asked)] == ["certificates"]


@pytest.mark.parametrize("body, ref, message", [
    ("def make():\n    return None\n", None,
     "`FACTORY` must be a DiscreteOracle (n, q, conditionals) or a DiffusionOracle "
     "(dim, denoise); got NoneType."),
    ("from distributions import random_table\n"
     "from distributions.diffusion import GaussianMixture\n"
     "def make():\n    return random_table(3, 2, rng=0)\n"
     "def ref():\n    return GaussianMixture([1.0], [[0.0]], [1.0])\n", "ref",
     "`--reference` must return an oracle of the same kind as `FACTORY` (discrete); "
     "got GaussianMixture."),
])
def test_audit_checks_what_the_factory_returned_before_any_log_line(
        body, ref, message, tmp_path, monkeypatch, capsys):
    """Review rev9 item 7: a factory returning None printed '[audit] auditing ...'
    before the error; now the error is the only line (exit 2, no traceback)."""
    import verify.audit

    def stop(*args, **kwargs):
        raise AssertionError("the audit started")

    monkeypatch.setattr(verify.audit, "audit_oracle", stop)
    mod = tmp_path / "rev9_factory.py"
    mod.write_text(body)
    argv = ["audit", f"{mod}:make"] + (["--reference", f"{mod}:{ref}"] if ref else [])
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"autospeculation: error: {message}\n", (out, err)
