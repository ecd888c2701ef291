"""``validate --workers N`` / ``--scheduler ADDRESS`` (reports/cli/cluster.py): usage
errors before any work, an unreachable scheduler, and the quick run on a LocalCluster
of 2 worker processes giving the checks of the in-process run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reports.cli import main
from reports.cli.cluster import CONNECT_TIMEOUT, executor_for

GOLDEN = Path(__file__).parent / "data" / "validate_quick_golden.json"


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "`--workers` must be an integer >= 1; got 0."),
    (["--workers", "-2"], "`--workers` must be an integer >= 1; got -2."),
    (["--workers", "x"], "argument --workers: invalid int value: 'x'"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "argument --scheduler: not allowed with argument --workers"),
    (["--scheduler", " "], "`--scheduler` must be a scheduler address"),
])
def test_bad_cluster_options_exit_2_before_any_work(argv, message, tmp_path, capsys,
                                                    monkeypatch):
    import reports.validation

    monkeypatch.setattr(reports.validation, "run_validation",
                        lambda *a, **k: pytest.fail("the run started"))
    out = tmp_path / "out"
    assert main(["validate", "--quick", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.slow  # waits out the 10 s connection timeout
def test_unreachable_scheduler_fails_within_the_timeout_naming_it():
    """Nothing listens on port 1: refused within 10 s (the issue's bound; the connect
    timeout is CONNECT_TIMEOUT = 8 s), the address in the message."""
    from distributions.errors import ParameterError

    pytest.importorskip("distributed")
    t0 = time.monotonic()
    with pytest.raises(ParameterError, match=r"`--scheduler` tcp://127\.0\.0\.1:1: no Dask "
                                             r"scheduler answered within 8 s"):
        with executor_for(None, "tcp://127.0.0.1:1", say=print):
            pytest.fail("connected")
    assert CONNECT_TIMEOUT == 8.0
    assert time.monotonic() - t0 < 10.0


@pytest.mark.slow  # the quick run (~1-2 min) plus a cluster start-up
def test_quick_run_on_two_workers_matches_the_in_process_run(tmp_path, capsys):
    """``validate --quick --workers 2`` gives the checks of the in-process run (the
    golden report, which the same command without --workers reproduces: see
    test_golden_report.py), every statistic and p-value, and prints the dashboard."""
    pytest.importorskip("distributed")
    from tests.reports.test_golden_report import _same

    golden = json.loads(GOLDEN.read_text())
    out = tmp_path / "report"
    code = main([*golden["command"][1:], "--workers", "2", "--out", str(out)])
    said = capsys.readouterr().out
    assert "Dask LocalCluster: 2 worker processes" in said and "dashboard: " in said
    doc = json.loads((out / "report.json").read_text())
    assert code == 0 and doc["verdict"] == golden["verdict"]
    assert [c["id"] for c in doc["checks"]] == [c["id"] for c in golden["checks"]]
    diffs = _same(doc["checks"], golden["checks"], "checks")
    assert not diffs, "--workers 2 moved the quick run:\n" + "\n".join(diffs[:40])


def test_shard_progress_in_the_bar_and_the_log():
    """A check of several shards reports shards done / total and samples/s: in the
    bar's postfix (terminal) and one log line per shard (off a terminal)."""
    import numpy as np

    from distributions.families import random_table
    from reports.validation.config import StageContext, ValidationConfig
    from reports.validation.exactness import _shard_log
    from samplers.sequential import SequentialSampler
    from verify.exactness import check_exact

    class Bar:
        def __init__(self):
            self.posts = []

        def set_postfix_str(self, s):
            self.posts.append(s)

    lines, bar = [], Bar()
    ctx = StageContext(config=ValidationConfig(quick=True), seed=np.random.SeedSequence(0),
                       alpha=1e-3, progress=lambda *a: None, log=lines.append)
    d = random_table(3, 2, rng=0)
    check_exact(SequentialSampler(d), d, num_samples=2 * 2**17, rng=1,
                progress=_shard_log(ctx, "seq/t", bar))
    assert [ln.split(",")[0] for ln in lines] == ["exactness seq/t: shard 1/2",
                                                  "exactness seq/t: shard 2/2"]
    assert lines[1].split(", ")[1] == "262,144 samples" and lines[1].endswith(" samples/s")
    assert bar.posts == [ln.removeprefix("exactness ") for ln in lines]
