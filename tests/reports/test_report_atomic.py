"""A report directory is written whole: killed writers leave the old or the new report,
never a mix, and their leftovers are cleaned by the next write (issue 19 item 4).

The writer is run in a forked child that dies (``os._exit``, no clean-up, as under
SIGKILL) at its k-th file-system operation, for every k; and in a child killed with a
real SIGKILL at random times (fixed seed).
"""

from __future__ import annotations

import builtins
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from distributions.errors import ReportError
from reports import io as rio

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")

_OPS = ("rename", "replace", "fsync", "mkdir", "rmdir", "unlink", "chmod", "open", "scandir")


def _doc(title: str, *, fail: bool = False) -> dict:
    checks = [{"id": f"s/c{i}", "stage": "s", "name": "c", "status": "pass", "passed": True,
               "severity": "error", "pvalue": 0.5} for i in range(3)]
    if fail:
        checks.append({"id": "s/bad", "stage": "s", "name": "c", "status": "fail",
                       "passed": False, "severity": "error", "pvalue": 1e-9})
    sections = [{"id": "f", "title": "Figure", "figures": [
        {"id": "fig", "kind": "bar", "labels": ["a", "b"], "values": [1.0, 2.0]}]}]
    return rio.make_document("validate", title, checks, sections)


def _state(out: Path) -> str | None:
    """Title of the complete report at ``out`` (None if absent); fails on a mixed one."""
    if not out.exists():
        return None
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert names == ["figures", "figures/fig.png", "report.html", "report.json",
                     "report.md"], names
    title = json.loads((out / "report.json").read_text())["title"]
    md_title = (out / "report.md").read_text().splitlines()[0]
    html_title = re.search(r"<title>(.*?)</title>", (out / "report.html").read_text()).group(1)
    assert md_title == f"# {title}" and html_title == title, \
        f"mixed report: json {title!r}, md {md_title!r}, html {html_title!r}"
    assert (out / "figures" / "fig.png").read_bytes()[:4] == b"\x89PNG"
    return title


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _die_at(step: int, doc: dict, out: Path, count_file: Path, *,
            no_exchange: bool = False) -> int:
    """Run write_report in a forked child that exits at its ``step``-th file operation."""
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 3
        try:
            counter = [0]
            armed = [False]  # count the operations after rendering (they are the writes)

            def wrap(fn):
                def inner(*args, **kwargs):
                    if armed[0]:
                        counter[0] += 1
                        if counter[0] == step:
                            os._exit(137)
                    return fn(*args, **kwargs)
                return inner

            render = rio._render_all

            def render_then_arm(*args, **kwargs):
                files = render(*args, **kwargs)
                armed[0] = True
                return files

            rio._render_all = render_then_arm

            if no_exchange:
                rio._renameat2_exchange = lambda a, b: False
            for name in _OPS:
                setattr(os, name, wrap(getattr(os, name)))
            builtins.open = wrap(builtins.open)
            if hasattr(rio, "_renameat2_exchange"):
                rio._renameat2_exchange = wrap(rio._renameat2_exchange)
            rio.write_report(doc, out)
            count_file.write_text(str(counter[0]))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.slow
@pytest.mark.parametrize("no_exchange", [False, True], ids=["exchange", "two-renames"])
def test_a_writer_killed_at_any_step_leaves_old_or_new_report_and_no_leftover(
        tmp_path, monkeypatch, no_exchange):
    out = tmp_path / "rep"
    old, new = _doc("Old report"), _doc("New report", fail=True)
    figures = rio.render_figures(old)
    monkeypatch.setattr(rio, "render_figures", lambda doc: figures)  # draw once, write often
    rio.write_report(old, out)
    count = tmp_path / "count"
    assert _die_at(10**9, new, out, count, no_exchange=no_exchange) == 0
    steps = int(count.read_text())
    assert _state(out) == "New report"
    assert 10 < steps < 200, steps
    seen = set()
    for k in range(1, steps + 1):
        rio.write_report(old, out)
        assert _hidden(tmp_path) == [] and _state(out) == "Old report"
        code = _die_at(k, new, out, count, no_exchange=no_exchange)
        assert code in (0, 137), (k, code)
        state = _state(out)  # asserts the report is complete, never mixed
        seen.add(state)
        if state is None:  # only possible between the two renames of the fallback
            assert no_exchange, f"step {k}: no report at out_dir after a kill"
            left = [_state(tmp_path / h) for h in _hidden(tmp_path)]
            assert "Old report" in left, (k, left)  # the previous report is kept aside
        else:
            assert state in ("Old report", "New report"), (k, state)
        # the next run cleans every leftover of the killed writer
        rio.write_report(old, out)
        assert _hidden(tmp_path) == [], (k, _hidden(tmp_path))
        assert _state(out) == "Old report"
    assert {"Old report", "New report"} <= seen
    if not no_exchange:
        assert None not in seen


_LOOP = """
import sys, itertools
from reports import io as rio
docs = [rio.make_document("validate", t, [{"id": "c", "stage": "s", "name": "c",
        "status": "pass", "passed": True, "severity": "error"}], [{"id": "f", "title": "F",
        "figures": [{"id": "fig", "kind": "bar", "labels": ["a"], "values": [1.0]}]}])
        for t in ("Report A", "Report B")]
rio.write_report(docs[0], sys.argv[1])
print("ready", flush=True)
for d in itertools.cycle(docs):
    rio.write_report(d, sys.argv[1])
"""


@pytest.mark.slow
def test_sigkill_at_random_times_never_leaves_a_mixed_report(tmp_path):
    rng = np.random.default_rng(20261202)
    out = tmp_path / "rep"
    script = tmp_path / "loop.py"
    script.write_text(_LOOP)
    trials, tally = 6, {"Report A": 0, "Report B": 0}
    for trial in range(trials):
        proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "ready"
        delay = float(rng.uniform(0.05, 0.4))
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        names = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        assert names == ["figures", "figures/fig.png", "report.html", "report.json",
                         "report.md"], (trial, delay, names)
        title = json.loads((out / "report.json").read_text())["title"]
        assert f"<title>{title}</title>" in (out / "report.html").read_text(), (trial, delay)
        assert (out / "report.md").read_text().startswith(f"# {title}\n"), (trial, delay)
        tally[title] += 1
        rio.write_report(_doc("Cleaner"), out)  # the next run removes any leftover
        assert _hidden(tmp_path) == [], (trial, delay, _hidden(tmp_path))
    assert sum(tally.values()) == trials


def test_leftovers_are_removed_only_when_dead_and_made_of_report_files(tmp_path):
    out = tmp_path / "rep"
    rio.write_report(_doc("First"), out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    made = {
        f".rep.autospec-tmp-{dead_pid}-abc": True,       # killed writer: removed
        ".rep.tmp-a1B2c3D4": True,                         # pre-v2 writer's name: removed
        f".rep.autospec-tmp-{os.getpid()}-live": False,  # a writer still running: kept
        f".rep.autospec-tmp-{dead_pid}-foreign": False,  # holds a foreign file: kept
        ".other.autospec-tmp-1-abc": False,               # another report's: kept
    }
    for name in made:
        d = tmp_path / name
        (d / "figures").mkdir(parents=True)
        (d / "report.json").write_text("{")
        (d / "figures" / "x.png").write_bytes(b"\x89PNG")
    (tmp_path / f".rep.autospec-tmp-{dead_pid}-foreign" / "notes.txt").write_text("mine")
    rio.write_report(_doc("Second"), out)
    for name, removed in made.items():
        assert (tmp_path / name).exists() is not removed, name
    assert _state(out) == "Second"


def test_out_dir_holding_other_files_is_refused_before_anything_is_written(tmp_path,
                                                                         monkeypatch):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(ReportError, match=r"`out_dir` .* holds 'thesis.tex', which is not part "
                                          r"of a report"):
        rio.write_report(_doc("R"), out)
    with pytest.raises(ReportError, match="holds 'thesis.tex'"):
        rio.check_out_dir(out)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    assert _hidden(tmp_path) == []
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReportError, match="must not be the current directory"):
        rio.check_out_dir(".")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ReportError, match="exists and is not a directory"):
        rio.check_out_dir(tmp_path / "afile")
    with pytest.raises(ReportError, match="'.*afile' is not a directory"):
        rio.check_out_dir(tmp_path / "afile" / "sub" / "rep")
    assert rio.check_out_dir(tmp_path / "new" / "rep") == tmp_path / "new" / "rep"
    assert not (tmp_path / "new").exists()


def test_report_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        rio.write_report(_doc("R"), tmp_path / "rep")
    finally:
        os.umask(old)
    out = tmp_path / "rep"
    assert out.stat().st_mode & 0o777 == 0o755
    assert (out / "figures").stat().st_mode & 0o777 == 0o755
    for name in ("report.json", "report.md", "report.html", "figures/fig.png"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name
