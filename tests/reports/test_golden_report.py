"""The quick validation run produces the same checks and figures as the stored copy.

``tests/reports/data/validate_quick_golden.json`` holds the check records of
``autospeculation validate --quick --seed 20261202``, saved before the architecture
redesign (issue 11) moved the code: the same command must give the same checks, in
the same order, with the same statuses, statistics, p-values, sample sizes, seeds and
worst cells. Timing fields (the document's ``timing``, ``created_utc``,
``environment``) are not compared. Floats are compared to 1e-9 relative: the run is
deterministic, and the tolerance only absorbs a different BLAS summation order on
another machine, far below any figure a report shows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).parent / "data" / "validate_quick_golden.json"


def _same(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [f"{path}: keys {sorted(set(a) ^ set(b))} differ"] if set(a) != set(b) else []
        for k in sorted(set(a) & set(b)):
            diffs += _same(a[k], b[k], f"{path}.{k}")
        return diffs
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _same(x, y, f"{path}[{i}]")]
    if (isinstance(a, float) or isinstance(b, float)) and not isinstance(a, bool) \
            and isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return []
        if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300):
            return []
        return [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.slow
def test_quick_validation_matches_the_stored_report(tmp_path):
    from reports.cli import main

    golden = json.loads(GOLDEN.read_text())
    out = tmp_path / "report"
    code = main([*golden["command"][1:], "--out", str(out), "--quiet"])
    doc = json.loads((out / "report.json").read_text())
    assert code == 0 and doc["verdict"] == golden["verdict"]
    assert [c["id"] for c in doc["checks"]] == [c["id"] for c in golden["checks"]]
    diffs = _same(doc["checks"], golden["checks"], "checks")
    assert not diffs, "the quick run moved:\n" + "\n".join(diffs[:40])
