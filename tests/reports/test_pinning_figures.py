"""Pinning figures (issue 18 items 11 and 13): files get the usual permissions, counts
(recursion levels, pinned coordinates, rounds) get integer ticks."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import pytest

import reports.io
from distributions import random_table
from reports import pinning_figures as F
from reports.io import write_file_atomic
from verify import pinning as P


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_png_and_atomic_files_follow_the_umask_not_0600(tmp_path, umask_022):
    tree = P.tree_tv(random_table(6, 2, rng=0))
    png = F.plot_level_sums(tree, tmp_path / "levels.png")
    assert png.stat().st_mode & 0o777 == 0o644
    other = write_file_atomic(tmp_path / "sub" / "x.json", b"{}")
    assert other.read_bytes() == b"{}" and other.stat().st_mode & 0o777 == 0o644
    os.umask(0o077)
    assert write_file_atomic(tmp_path / "y.json", b"1").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["levels.png", "sub", "y.json"]


def test_write_file_atomic_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = write_file_atomic(tmp_path / "a.json", b"old")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reports.io.os, "replace", boom)
    with pytest.raises(OSError, match="No space"):
        write_file_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def _integer_ticks(axis) -> bool:
    lo, hi = axis.get_view_interval()
    ticks = [t for t in axis.get_majorticklocs() if min(lo, hi) <= t <= max(lo, hi)]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_level_and_round_axes_have_integer_ticks(tmp_path, monkeypatch):
    captured = []
    real_save = F.save_figure

    def keep(fig, path):
        fig.canvas.draw()
        captured.append((fig.axes[0].xaxis, fig.axes[0].yaxis, fig.axes[0].get_xlabel(),
                         fig.axes[0].get_ylabel()))
        return real_save(fig, path)

    monkeypatch.setattr(F, "save_figure", keep)
    target = random_table(6, 2, rng=0)
    F.plot_level_sums(P.tree_tv(target), tmp_path / "l.png")
    F.plot_entropy_profile(P.entropy_profile(target), tmp_path / "e.png")
    xaxis, _, xlabel, _ = captured[0]
    assert xlabel == "recursion level" and _integer_ticks(xaxis)
    xaxis, _, xlabel, _ = captured[1]
    assert xlabel.startswith("t (pinned") and _integer_ticks(xaxis)
    plt.close("all")


def test_pinning_subcommand_writes_figures_and_json(tmp_path):
    """`autospeculation pinning` (reports.cli.pinning): four figures and pinning.json,
    no temporary file left, every check of a small table passing (moved here from
    tests/verify/test_pinning.py with the subcommand)."""
    import json

    from reports.cli import main

    assert main(["pinning", "--family", "random-table", "--n", "6", "--out", str(tmp_path),
                 "--samples", "40", "--quiet"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"pinning_entropy_profile.png", "pinning_block_tv.png",
                     "pinning_level_sums.png", "pinning_rounds_vs_tv.png", "pinning.json"}
    data = json.loads((tmp_path / "pinning.json").read_text())
    assert data["tree"]["n"] == 6 and all(c["passed"] for c in data["checks"])


def test_figures_refuse_a_wrong_path_or_result(tmp_path):
    from distributions.errors import ReportError

    prof = P.entropy_profile(random_table(4, 2, rng=0))
    with pytest.raises(ReportError, match="must end in .png"):
        F.plot_entropy_profile(prof, tmp_path / "x.jpg")
    with pytest.raises(ReportError, match="must be a TreeTVResult"):
        F.plot_level_sums(prof, tmp_path / "x.png")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
