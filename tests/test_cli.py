"""The `autospeculation` command line: validate --quick, audit, report, rounds, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reports.schema import REPORT_SCHEMA, validate_report
from verify.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "my_masked_model.py")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate") / "report"
    code = main(["validate", "--quick", "--out", str(out), "--seed", "0", "--quiet"])
    return code, out


def test_validate_quick_exits_0_and_writes_json_md_html(quick_report):
    code, out = quick_report
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
    assert doc["timing"]["total_seconds"] < 120
    assert "Summary" in (out / "report.md").read_text()
    assert "data:image/png;base64," in (out / "report.html").read_text() or not any(
        s.get("figures") for s in doc["sections"])


def test_report_rerenders_from_json(quick_report, tmp_path):
    _, out = quick_report
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
    assert "usage:" in capsys.readouterr().err


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


def test_python_m_verify_help_exits_0():
    res = subprocess.run([sys.executable, "-m", "verify", "--help"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60, env={**os.environ})
    assert res.returncode == 0
    for cmd in ("validate", "audit", "report", "rounds"):
        assert cmd in res.stdout


def test_a_failing_or_crashing_stage_fails_the_run_with_exit_1(monkeypatch, tmp_path):
    from verify import validation as V

    def failing(ctx):
        return V.StageOutput(checks=[V.check_record("fake", "bad", "a check", False,
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


def test_stages_of_missing_modules_are_not_listed(monkeypatch):
    from verify import validation as V

    monkeypatch.setattr(V, "module_present", lambda name: name in {
        "samplers.sequential", "distributions.families", "verify.validation"})
    names = [s.name for s in V.available_stages(V.ValidationConfig())]
    assert names == ["exactness"]
    assert V.available_samplers() == ["sequential"]
    assert "curie-weiss" not in V.available_targets()


def test_pinning_subcommand_is_wired_when_its_module_exists(tmp_path):
    from verify.validation import module_present

    if not module_present("verify.pinning_cli"):
        pytest.skip("verify.pinning_cli is not installed")
    assert main(["pinning", "--family", "random-table", "--n", "4", "--samples", "0",
                 "--quiet", "--out", str(tmp_path / "p")]) == 0
    assert main(["pinning", "--family", "random-table", "--n", "1", "--samples", "0",
                 "--quiet", "--out", str(tmp_path / "p")]) == 2
