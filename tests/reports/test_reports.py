"""Report documents: schema, rendering, atomic writes, and a real headless browser."""

from __future__ import annotations

import io
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
    for part in ("# Test report", "**Verdict: FAIL** - 3 checks: 1 passed, 1 warning, 1 failed,"
                 " 0 skipped, 0 no-power.", "## Summary", "## Checks",
                 "## Checks that did not pass", "## Rounds scaling", "figures/rounds-fig.png",
                 "| stage | verdict | checks | passed | warnings | failed | skipped | no-power |",
                 "| exactness | FAIL | 2 | 1 | 0 | 1 | 0 | 0 |", "| verdict | check | sampler |",
                 "| PASS | exactness/seq/t1 | seq |", "## Environment", "query: `method="):
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
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the disk fills up while the second file is written
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(rio.os, "fsync", failing_fsync)
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
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}",
           "--hide-scrollbars", "--window-size=1000,1600", f"--screenshot={shot}",
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


# ---------------------------------------------------------------- status vocabulary, verdict
from reports import status as rstatus  # noqa: E402


def _chk(cid: str, status: str | None = None, *, passed: bool | None = None,
         severity: str = "error") -> dict:
    rec = {"id": cid, "stage": "s", "name": cid, "severity": severity}
    if status is not None:
        rec["status"] = status
    rec["passed"] = (status == "pass") if passed is None else passed
    return rec


def test_verdict_default_rule_fails_only_on_fail_and_strict_on_anything_not_pass():
    for st in rstatus.STATUSES:
        checks = [_chk("a", "pass"), _chk("b", st)]
        assert rstatus.verdict(checks) == ("fail" if st == "fail" else "pass"), st
        assert rstatus.verdict(checks, strict=True) == ("pass" if st == "pass" else "fail"), st
    assert rstatus.verdict([]) == "pass"
    with pytest.raises(ReportError, match="`strict` must be a bool; got 'yes'"):
        rstatus.verdict([], strict="yes")


def test_status_of_old_records_is_derived_from_passed_and_severity():
    assert rstatus.check_status({"id": "a", "passed": True, "severity": "warning"}) == "pass"
    assert rstatus.check_status({"id": "a", "passed": False, "severity": "error"}) == "fail"
    assert rstatus.check_status({"id": "a", "passed": False, "severity": "warning"}) == "warn"
    assert rstatus.check_status({"id": "a", "passed": False, "severity": "info"}) == "warn"


def test_passed_must_agree_with_status_and_status_must_be_known():
    with pytest.raises(ReportError, match="`passed` must be True iff `status` is 'pass'"):
        rstatus.check_status(_chk("a", "no-power", passed=True))
    with pytest.raises(ReportError, match="`passed` must be True iff"):
        rstatus.check_status(_chk("a", "pass", passed=False))
    with pytest.raises(ReportError, match=r"`status` must be one of .*got 'ok'"):
        rstatus.check_status(_chk("a", "ok", passed=False))
    with pytest.raises(ReportError, match="passed"):
        rio.make_document("validate", "t", [_chk("a", "skipped", passed=True)])


def test_summary_line_counts_every_status():
    checks = ([_chk(f"p{i}", "pass") for i in range(52)]
              + [_chk(f"w{i}", "warn") for i in range(4)])
    assert rstatus.summary_line(checks) == \
        "PASS (56 checks: 52 passed, 4 warnings, 0 failed, 0 skipped, 0 no-power)"
    assert rstatus.summary_line(checks, strict=True).startswith("FAIL [strict] (56 checks:")
    mixed = [_chk("a", "fail"), _chk("b", "skipped"), _chk("c", "no-power"), _chk("d", "warn")]
    assert rstatus.summary_line(mixed) == \
        "FAIL (4 checks: 0 passed, 1 warning, 1 failed, 1 skipped, 1 no-power)"


def test_make_document_stores_status_and_the_recomputed_verdict():
    doc = rio.make_document("validate", "t", [_chk("a", "pass"), _chk("b", "no-power")])
    assert [c["status"] for c in doc["checks"]] == ["pass", "no-power"]
    assert doc["verdict"] == "pass" and doc["strict"] is False
    strict = rio.make_document("validate", "t", [_chk("a", "pass"), _chk("b", "no-power")],
                               strict=True)
    assert strict["verdict"] == "fail" and strict["strict"] is True
    validate_report(json.loads(json.dumps(strict)), use_jsonschema=True)
    old = rio.make_document("validate", "t", [{"id": "x", "stage": "s", "name": "x",
                                                "passed": False, "severity": "warning"}])
    assert old["checks"][0]["status"] == "warn" and old["verdict"] == "pass"


def _all_failed_but_pass(tmp_path: Path) -> Path:
    doc = rio.make_document("validate", "t", [_chk(f"c{i}", "fail") for i in range(42)])
    assert doc["verdict"] == "fail"
    doc["verdict"] = "pass"  # a stored document that lies
    path = tmp_path / "report.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_stored_verdict_that_disagrees_with_its_checks_is_refused(tmp_path):
    path = _all_failed_but_pass(tmp_path)
    for use in (False, True):
        with pytest.raises(ReportError, match=r"stored verdict 'pass' disagrees with its checks "
                                              r"\(42 checks: 0 pass, 42 fail"):
            validate_report(json.loads(path.read_text()), use_jsonschema=use)
    with pytest.raises(ReportError, match="disagrees with its checks"):
        rio.read_report(path)
    with pytest.raises(ReportError, match="disagrees with its checks"):
        rio.write_report(json.loads(path.read_text()), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # a strict document whose warnings did not fail it is refused too
    doc = rio.make_document("validate", "t", [_chk("w", "warn")], strict=True)
    doc["verdict"] = "pass"
    with pytest.raises(ReportError, match="rule strict"):
        validate_report(doc)


def test_schema_version_1_documents_are_still_read(tmp_path):
    doc = json.loads(json.dumps(_doc(fail=True)))
    doc["schema_version"] = 1
    doc.pop("strict")
    for c in doc["checks"]:
        c.pop("status")
    validate_report(doc, use_jsonschema=True)
    assert "**Verdict: FAIL**" in render_markdown(doc)
    doc["verdict"] = "pass"  # the recomputation applies to old documents as well
    with pytest.raises(ReportError, match="disagrees"):
        validate_report(doc)
    doc2 = json.loads(json.dumps(_doc()))
    doc2["checks"][0].pop("status")  # version 2 requires the status
    with pytest.raises(ReportError, match="has no 'status'"):
        validate_report(doc2)


@pytest.mark.parametrize("field,value", [
    ("pvalue", "0.3"), ("pvalue", "inf"), ("pvalue", 1.5), ("pvalue", -0.1),
    ("alpha", "0.01"), ("alpha", "nan"), ("statistic", "big"), ("detectable_tv", "0.05"),
    ("detectable_tv", -1.0), ("tv_estimate", "small"), ("num_samples", "100"),
    ("num_samples", -3), ("num_samples", 2.5),
])
def test_every_figure_of_a_check_is_typed(field, value):
    doc = json.loads(json.dumps(_doc()))
    doc["checks"][0][field] = value
    for use in (False, True):
        with pytest.raises(ReportError, match=field):
            validate_report(doc, use_jsonschema=use)


def test_non_finite_markers_are_accepted_only_where_named():
    doc = json.loads(json.dumps(_doc()))
    doc["checks"][0].update(statistic="inf", pvalue="nan", detectable_tv="inf",
                            tv_estimate="nan")
    validate_report(doc, use_jsonschema=True)
    fig = doc["sections"][0]["figures"][0]
    fig["series"][0]["y"][1] = "nan"
    validate_report(doc, use_jsonschema=True)
    fig["series"][0]["y"][1] = "9.1"
    with pytest.raises(ReportError, match="series/0/y/1"):
        validate_report(doc, use_jsonschema=True)


# ---------------------------------------------------------------- figures: readable heat maps
from reports import figures as rfig  # noqa: E402

_MUTATION_SPEC = {
    "id": "mutation-matrix", "kind": "heatmap",
    "title": "Mutation matrix (green: the desired outcome) - which check catches which mutant "
             "at the planned sample sizes",
    "xlabels": ["exact G-test", "chain", "pairs", "batch"],
    "ylabels": ["correct", "unnormalised-residual", "ratio-inverted", "right-half-on-proposal"],
    "values": [[1.0, 1.0, 1.0, None], [1.0, 0.0, 1.0, 1.0], [0.0, 0.5, 0.25, 0.75],
               [1.0, 1.0, 0.0, None]],
    "annotations": [["pass\nN=1000", "pass", "pass", "-"], ["CAUGHT", "pass", "CAUGHT", "CAUGHT"],
                    ["pass", "half", "quarter", "3/4"], ["CAUGHT", "CAUGHT", "pass", "-"]],
    "vmin": 0.0, "vmax": 1.0,
}

# Machado, Oliveira & Fernandes (2009) full-severity dichromacy matrices (linear sRGB)
_CVD = {
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}


def _lab(rgb, cvd=None) -> np.ndarray:
    c = np.asarray(rgb[:3], float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if cvd is not None:
        lin = np.clip(np.array(_CVD[cvd]) @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _with_figure(spec):
    import matplotlib.pyplot as plt

    fig = rfig._figure(spec)
    fig.canvas.draw()
    return fig, plt


def test_heatmap_cell_text_contrasts_with_its_cell():
    from matplotlib.colors import to_rgb

    fig, plt = _with_figure(_MUTATION_SPEC)
    try:
        ax = fig.axes[0]
        im = ax.images[0]
        assert len(ax.texts) == 16
        for t in ax.texts:
            j, i = (int(round(c)) for c in t.get_position())
            v = _MUTATION_SPEC["values"][i][j]
            bg = im.cmap(im.norm(v)) if v is not None else im.cmap.get_bad()
            ratio = rfig.contrast_ratio(to_rgb(t.get_color()), bg)
            assert ratio >= 4.5, (t.get_text(), v, t.get_color(), round(ratio, 2))
    finally:
        plt.close(fig)


def test_heatmap_colour_bar_is_labelled_and_title_wraps_inside_the_figure():
    spec = dict(_MUTATION_SPEC, colorbar_label="1 = desired outcome",
                colorbar_ticks=[[0, "undesired"], [1, "desired"]])
    fig, plt = _with_figure(spec)
    try:
        cbar_ax = fig.axes[1]
        assert cbar_ax.get_ylabel() == "1 = desired outcome"
        assert [t.get_text() for t in cbar_ax.get_yticklabels()] == ["undesired", "desired"]
        title = fig.axes[0].title
        assert "\n" in title.get_text()  # the long title wraps
        box = title.get_window_extent()
        W, H = fig.bbox.width, fig.bbox.height
        assert box.x0 >= 5 and box.x1 <= W - 5 and box.y1 <= H - 3, (box, W, H)
    finally:
        plt.close(fig)
    fig, plt = _with_figure(_MUTATION_SPEC)
    try:
        assert fig.axes[1].get_ylabel() == "value"  # never an unlabelled colour bar
    finally:
        plt.close(fig)
    # the saved PNG has a white margin all round: nothing touches the edge
    from matplotlib.image import imread

    img = imread(io.BytesIO(rfig.figure_png(spec)))[..., :3]
    edge = np.concatenate([img[:4].reshape(-1, 3), img[-4:].reshape(-1, 3),
                           img[:, :4].reshape(-1, 3), img[:, -4:].reshape(-1, 3)])
    assert np.all(edge > 0.97)


@pytest.mark.parametrize("cvd", sorted(_CVD))
def test_heatmap_colours_stay_distinct_for_colour_blind_readers(cvd):
    from matplotlib import colormaps

    fig, plt = _with_figure(_MUTATION_SPEC)
    try:
        cmap = fig.axes[0].images[0].cmap
    finally:
        plt.close(fig)
    for name in (cmap.name.removesuffix("_r"), *rfig.HEATMAP_CMAPS):
        cm = colormaps[name]
        de = float(np.linalg.norm(_lab(cm(0.0), cvd) - _lab(cm(1.0), cvd)))
        assert de >= 40, f"{name}: low and high ends differ by only dE={de:.1f} under {cvd}"
    # the red-green map used before fails this (dE about 18 under deuteranopia/protanopia)
    rdylgn = colormaps["RdYlGn"]
    de_old = float(np.linalg.norm(_lab(rdylgn(0.0), cvd) - _lab(rdylgn(1.0), cvd)))
    assert (de_old < 40) == (cvd != "tritanopia")


def test_heatmap_refuses_a_colour_map_that_is_not_colour_blind_safe():
    with pytest.raises(ReportError, match=r"`cmap` must be one of .*got 'RdYlGn'"):
        rfig.figure_png(dict(_MUTATION_SPEC, cmap="RdYlGn"))


def test_line_figures_of_counts_get_integer_ticks():
    spec = {"id": "levels", "kind": "line", "xlabel": "recursion level",
            "series": [{"label": "sum E TV", "x": [0, 1, 2], "y": [0.5, 0.7, 0.9]}]}
    for sp, integer in ((spec, True), (dict(spec, xinteger=False), False)):
        fig, plt = _with_figure(sp)
        try:
            ticks = [t for t in fig.axes[0].get_xticks()
                     if fig.axes[0].get_xlim()[0] <= t <= fig.axes[0].get_xlim()[1]]
            assert all(float(t).is_integer() for t in ticks) is integer, ticks
        finally:
            plt.close(fig)


def test_worst_cells_and_named_check_figures_are_typed():
    doc = json.loads(json.dumps(_doc(fail=True)))
    validate_report(doc, use_jsonschema=True)
    bad = json.loads(json.dumps(doc))
    bad["checks"][1]["worst_cells"][0]["observed"] = "3"
    with pytest.raises(ReportError, match="worst_cells/0/observed"):
        validate_report(bad, use_jsonschema=True)
    for key, value in (("power", "0.99"), ("batch_sizes", [1, "B"]), ("tv_upper", "big")):
        bad = json.loads(json.dumps(doc))
        bad["checks"][0][key] = value
        with pytest.raises(ReportError, match=key):
            validate_report(bad, use_jsonschema=True)
