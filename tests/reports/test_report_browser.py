"""The HTML report laid out by a real browser (headless Chromium): nothing clipped.

The per-check table of a validation report has ~60 rows and 12 columns. These tests
open the rendered ``report.html`` in headless Chromium at 1280 px and 1920 px and
measure the layout: the page does not scroll sideways, the verdict column is the first
column and inside the window, and no column (the seed column included) is cut or
hidden behind a horizontal scroll. Measurements are taken by a script that a copy of
the page runs on load and writes into the DOM (``--dump-dom``); the report itself
stays script-free. A screenshot at each width is checked for the verdict colours at
the left of the table.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it when missing); without it
these tests skip with that reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reports import io as rio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install -y chromium; .ci/run does this "
           "as root): the HTML layout checks need a real browser")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]

WIDTHS = (1280, 1920)

_MEASURE_JS = """
<script>
window.addEventListener('load', () => {
  const W = window.innerWidth;
  const rect = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const out = {innerWidth: W, docScrollWidth: document.documentElement.scrollWidth,
               tables: {}};
  for (const id of ['checks-table', 'summary-table']) {
    const t = document.getElementById(id);
    if (!t) { out.tables[id] = null; continue; }
    const wrap = t.parentElement;
    const heads = [...t.tHead.rows[0].cells].map(c => ({text: c.textContent, ...rect(c)}));
    const overflow = [];
    let maxRight = 0;
    for (const row of t.tBodies[0].rows) {
      for (const c of row.cells) {
        const r = c.getBoundingClientRect();
        maxRight = Math.max(maxRight, r.right);
        if (c.scrollWidth > c.clientWidth + 1)
          overflow.push({row: row.rowIndex, col: c.cellIndex, text: c.textContent,
                         scrollWidth: c.scrollWidth, clientWidth: c.clientWidth});
      }
    }
    const vcol = heads.findIndex(h => h.text === 'verdict');
    const verdicts = [...t.tBodies[0].rows].map(row => ({text: row.cells[vcol].textContent,
                                                         ...rect(row.cells[vcol])}));
    out.tables[id] = {wrapScrollWidth: wrap.scrollWidth, wrapClientWidth: wrap.clientWidth,
                      table: rect(t), heads, overflow, maxCellRight: maxRight,
                      verdictCol: vcol, verdicts};
  }
  const pre = document.createElement('pre');
  pre.id = '__measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""

_STATUSES = ["pass", "pass", "pass", "warn", "pass", "fail", "no-power", "skipped"]


def _wide_document(num_checks: int = 64, *, rng: int = 0) -> dict:
    """A validation-like document with long ids, long methods and wide figures."""
    gen = np.random.default_rng(rng)
    samplers = ["autospeculative", "agr24", "sequential", "autospeculative-identity",
                "diffusion-picard", "diffusion-speculative"]
    targets = ["random_table(8, 2, concentration=0.3)", "ising_grid(3x3, beta=0.4)",
               "potts(6 sites, q=3, beta=0.8)", "mixture_of_products(k=4, n=10, q=2)",
               "curie_weiss(n=12, beta=1.0)", "hardcore(path 10, lambda=2)"]
    methods = ["Monte Carlo G-test (full table, 20/alpha resamples)", "chain rule pairs (780)",
               "G-test (full table)", "two-sample chi2 on batch sizes (1, 131072)"]
    checks = []
    for i in range(num_checks):
        status = _STATUSES[i % len(_STATUSES)]
        s, t = samplers[i % len(samplers)], targets[(i // 2) % len(targets)]
        checks.append({
            "id": f"stage{i % 5}/{s}/{t}/order-{'random' if i % 2 else 'identity'}-{i}",
            "stage": f"stage{i % 5}", "name": "law equals the exact pmf",
            "status": status, "passed": status == "pass", "severity": "error",
            "sampler": s, "target": t, "method": methods[i % len(methods)],
            "statistic": float(gen.choice([123456.789, 1.5e-7, 3.25, float("inf")])),
            "pvalue": float(gen.choice([1.234e-12, 0.4567, 1.0, 0.01234])),
            "alpha": 1.2345e-4, "detectable_tv": 0.04873, "num_samples": 123_456_789,
            "tv_estimate": 0.001234, "seed": 2**63 - 1 - i, "detail": "reason",
        })
    sections = [{"id": "extra", "title": "A section", "text": "Text.",
                 "tables": [{"title": "t", "columns": ["a", "b"], "rows": [[1, 2.5]]}]}]
    return rio.make_document("validate", "Wide report", checks, sections, seeds={"root": 0},
                             stage_seconds=[("stage0", 1.0)], command=["autospeculation"])


def _run_chromium(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "HOME": str(tmp_path)})


def _measure(html_path: Path, width: int, tmp_path: Path) -> dict:
    page = html_path.with_name(f"measure-{width}.html")
    text = html_path.read_text(encoding="utf-8")
    assert "</body>" in text
    page.write_text(text.replace("</body>", _MEASURE_JS + "</body>"), encoding="utf-8")
    res = _run_chromium(tmp_path, [f"--window-size={width},1000", "--virtual-time-budget=5000",
                                   "--dump-dom", page.as_uri()])
    m = re.search(r'<pre id="__measure">(.*?)</pre>', res.stdout, re.S)
    assert m, f"no measurement in Chromium's DOM dump; stderr: {res.stderr[-500:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "rep"
    rio.write_report(_wide_document(), out, formats=("json", "html"))
    return out / "report.html"


@pytest.mark.parametrize("width", WIDTHS)
def test_checks_table_fits_the_window_with_the_verdict_first(wide_report, width, tmp_path):
    m = _measure(wide_report, width, tmp_path)
    W = m["innerWidth"]
    assert W == width, f"Chromium laid the page out at {W} px, not {width} px"
    assert m["docScrollWidth"] <= W, \
        f"the page scrolls sideways at {width} px: content {m['docScrollWidth']} px wide"
    for tid in ("checks-table", "summary-table"):
        t = m["tables"][tid]
        assert t is not None, f"#{tid} missing"
        assert t["wrapScrollWidth"] <= t["wrapClientWidth"], (
            f"#{tid} at {width} px hides columns behind a horizontal scroll: "
            f"{t['wrapScrollWidth']} px of content in {t['wrapClientWidth']} px")
        assert 0 <= t["table"]["left"] and t["table"]["right"] <= W, (tid, t["table"], W)
        assert t["maxCellRight"] <= W, (tid, t["maxCellRight"], W)
        clipped = [h["text"] for h in t["heads"] if h["left"] < 0 or h["right"] > W]
        assert not clipped, f"#{tid} columns {clipped} are clipped at {width} px"
        assert not t["overflow"], f"#{tid} cells overflow at {width} px: {t['overflow'][:3]}"
        vis = [v for v in t["verdicts"] if v["left"] < 0 or v["right"] > W]
        assert not vis, f"#{tid} verdict cells outside the window at {width} px: {vis[:3]}"
    checks = m["tables"]["checks-table"]
    assert checks["verdictCol"] == 0, [h["text"] for h in checks["heads"]]
    assert checks["heads"][-1]["text"] == "seed"
    assert [v["text"] for v in checks["verdicts"]][:8] == \
        ["PASS", "PASS", "PASS", "WARN", "PASS", "FAIL", "NO-POWER", "SKIPPED"]
    assert len(checks["verdicts"]) == 64


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_screenshot_shows_the_verdict_colours_at_the_left_of_the_table(wide_report, width,
                                                                       tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / f"shot-{width}.png"
    _run_chromium(tmp_path, [f"--window-size={width},2400", f"--screenshot={shot}",
                             wide_report.as_uri()])
    img = imread(shot)[..., :3]
    assert img.shape[1] == width, img.shape

    def mask(hex_colour: str) -> np.ndarray:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
        return np.all(np.abs(img - rgb) < 0.04, axis=-1)

    for name, colour in [("PASS", "#2e7d32"), ("FAIL", "#c62828"), ("WARN", "#a35200"),
                         ("NO-POWER", "#6a1b9a"), ("SKIPPED", "#5f6368")]:
        cols = np.nonzero(mask(colour).any(axis=0))[0]
        assert cols.size, f"no {name} cell drawn at {width} px"
        # the verdict cells are in the first column: within the left 15% of the window
        assert cols.min() < 0.15 * width, (name, int(cols.min()), width)
