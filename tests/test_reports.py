"""Report documents: schema, rendering, atomic writes, and a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from distributions.errors import ReportError
from reports import io as rio
from reports.render import render_html, render_markdown
from reports.schema import REPORT_SCHEMA, jsonable, validate_report


def _doc(*, fail: bool = False) -> dict:
    checks = [
        {"id": "exactness/seq/t1", "stage": "exactness", "name": "law equals pmf",
         "passed": True, "severity": "error", "sampler": "seq", "target": "t1",
         "method": "gtest", "statistic": 12.5, "pvalue": 0.41, "alpha": 1e-3,
         "detectable_tv": 0.05, "num_samples": 10000, "tv_estimate": 0.003, "seed": 7},
        {"id": "exactness/bad/t1", "stage": "exactness", "name": "law equals pmf",
         "passed": not fail, "severity": "error", "statistic": float("inf"), "pvalue": 0.0,
         "detail": "impossible-cell hits: 3",
         "worst_cells": [{"cell": [0, 1], "observed": 3, "expected": 0.0}]},
        {"id": "audit/determinism", "stage": "audit", "name": "determinism", "passed": False,
         "severity": "info", "query": {"method": "conditionals", "x": [-1, 0, 1]}},
    ]
    sections = [{
        "id": "rounds", "title": "Rounds scaling", "text": "Para one.\n\nPara <two> & more.",
        "tables": [{"title": "Rounds", "columns": ["n", "rounds"], "rows": [[8, 5.5], [16, 9.1]]}],
        "figures": [
            {"id": "rounds-fig", "kind": "line", "title": "Rounds vs n", "logx": True,
             "series": [{"label": "auto", "x": [8, 16, 32], "y": [5.5, 9.1, 15.0],
                         "yerr": [0.1, 0.2, 0.3]}]},
            {"id": "mutants", "kind": "heatmap", "xlabels": ["1k", "10k"],
             "ylabels": ["m1", "m2"], "values": [[0.1, 1.0], [None, 0.5]]},
        ]}]
    return rio.make_document("validate", "Test report", checks, sections, seeds={"root": 3},
                             stage_seconds=[("exactness", 1.5)], command=["x", "validate"])


def test_document_validates_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(json.dumps(_doc(), allow_nan=False))
    jsonschema.validate(doc, REPORT_SCHEMA)
    validate_report(doc, use_jsonschema=True)
    assert doc["verdict"] == "pass"
    assert doc["checks"][1]["statistic"] == "inf"  # non-finite numbers survive as strings
    env = doc["environment"]
    assert env["machine"]["cpu_count"] == os.cpu_count() and env["packages"]["numpy"]


def test_failed_error_check_fails_the_verdict_but_info_does_not():
    assert _doc(fail=True)["verdict"] == "fail"
    assert _doc(fail=False)["verdict"] == "pass"


def test_invalid_documents_are_rejected_by_both_validators():
    doc = _doc()
    bad = dict(doc, verdict="maybe")
    for use in (False, None):
        with pytest.raises(ReportError, match="verdict"):
            validate_report(bad, use_jsonschema=use)
    with pytest.raises(ReportError, match="missing required field 'checks'"):
        validate_report({k: v for k, v in doc.items() if k != "checks"}, use_jsonschema=False)
    broken = json.loads(json.dumps(doc))
    broken["checks"][0]["passed"] = "yes"
    with pytest.raises(ReportError, match="passed"):
        validate_report(broken)


def test_jsonable_converts_numpy_and_non_finite():
    out = jsonable({"a": np.float64(np.nan), "b": np.arange(3), "c": (np.int32(2), -np.inf)})
    assert out == {"a": "nan", "b": [0, 1, 2], "c": [2, "-inf"]}


def test_markdown_and_html_render_every_part():
    doc = _doc(fail=True)
    md = render_markdown(doc)
    for part in ("# Test report", "**Verdict: FAIL**", "## Summary", "## Checks",
                 "## Failures and warnings", "## Rounds scaling", "figures/rounds-fig.png",
                 "| exactness | 2 | 1 | 1 | 0 | FAIL |", "## Environment", "query: `method="):
        assert part in md, part
    html = render_html(doc)
    assert html.count("data:image/png;base64,") == 2
    assert "Para &lt;two&gt; &amp; more." in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "<link" not in html and "<script" not in html


def test_write_report_writes_all_files_and_read_report_round_trips(tmp_path):
    out = tmp_path / "rep"
    paths = rio.write_report(_doc(), out)
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "report.html",
                                               "figures"}
    assert (out / "figures" / "rounds-fig.png").read_bytes()[:4] == b"\x89PNG"
    assert paths["html"] == out / "report.html"
    assert rio.read_report(out) == rio.read_report(out / "report.json")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_failure_mid_way_leaves_no_partial_report(tmp_path, monkeypatch):
    def boom(doc, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(rio, "render_html", boom)
    with pytest.raises(RuntimeError):
        rio.write_report(_doc(), tmp_path / "new")
    assert list(tmp_path.iterdir()) == []  # neither the directory nor a temp dir


def test_failure_while_writing_keeps_the_previous_report_intact(tmp_path, monkeypatch):
    out = tmp_path / "rep"
    rio.write_report(_doc(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(rio.os, "replace", failing_replace)
    with pytest.raises(ReportError, match="No space left"):
        rio.write_report(_doc(fail=True), out)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_read_report_errors_are_report_errors(tmp_path):
    with pytest.raises(ReportError, match="cannot read report"):
        rio.read_report(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReportError, match="not valid JSON"):
        rio.read_report(tmp_path / "bad.json")


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed (apt-get install chromium): "
                           "the headless-browser rendering check needs it")
def test_html_renders_with_its_figures_in_headless_chromium(tmp_path):
    from matplotlib.image import imread

    doc = _doc()
    doc["sections"][0]["figures"] = doc["sections"][0]["figures"][:1]
    doc["sections"].insert(0, doc["sections"].pop())  # the figure first, near the top
    doc["checks"] = doc["checks"][:1]
    out = tmp_path / "rep"
    rio.write_report(doc, out)
    shot = tmp_path / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--window-size=1000,1600", f"--screenshot={shot}",
           (out / "report.html").as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120,
                   env={**os.environ, "HOME": str(tmp_path)})
    img = imread(shot)[..., :3]
    assert img.shape[0] >= 1000 and img.shape[1] >= 900
    # matplotlib's first series colour (#1f77b4) appears only if the embedded PNG rendered
    blue = np.all(np.abs(img - np.array([0x1F, 0x77, 0xB4]) / 255.0) < 0.06, axis=-1)
    assert blue.sum() > 50, f"figure not rendered: {int(blue.sum())} blue pixels"
    # the PASS badge (#2e7d32) is drawn: the page's CSS is applied
    green = np.all(np.abs(img - np.array([0x2E, 0x7D, 0x32]) / 255.0) < 0.06, axis=-1)
    assert green.sum() > 50
    Path(shot).unlink()
