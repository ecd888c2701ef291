"""The architecture holds: import contracts (import-linter), lint (ruff), module size.

``.importlinter`` states the contracts: the layers
``distributions -> samplers -> verify -> reports``, private modules and private names
kept inside their package, and no import cycle inside ``verify``. These tests run the
real tools on the working tree, as ``.ci/run`` does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture.private_names import private_names_used

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("distributions", "samplers", "verify", "reports")
#: A module over this many lines states at its top why it is not split.
MAX_LINES = 500


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_import_contracts_are_kept():
    res = _run("-c", "import sys; from importlinter.cli import lint_imports_command; "
                     "sys.exit(lint_imports_command())", "--no-cache")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout, res.stdout[-2000:]


def test_ruff_is_clean():
    res = _run("-m", "ruff", "check", ".")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_the_private_name_contract_sees_both_forms(tmp_path, monkeypatch):
    """The custom contract is not vacuous: it flags a private name taken by
    ``from ... import _x`` and by ``alias._x`` from another package, and not a
    public one."""
    pkg = tmp_path / "zzpkg_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(
        "from verify import exactness as E\n"
        "from samplers.base import _unused_private\n"
        "from samplers.base import NumpySource\n"
        "x = E._private_helper\n"
        "y = E.check_exact\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = private_names_used("zzpkg_probe.mod", {"zzpkg_probe", "samplers", "verify"})
    assert [t for _, t in found] == ["from samplers.base import _unused_private",
                                     "verify.exactness._private_helper"], found


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_are_small_or_say_why(package):
    """No module over about 500 lines without a reason stated at its top (issue 11)."""
    too_long = []
    for path in sorted((ROOT / package).rglob("*.py")):
        lines = path.read_text().splitlines()
        head = "\n".join(lines[:40]).lower()
        if len(lines) > MAX_LINES and "why this module is long" not in head:
            too_long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert not too_long, (f"modules over {MAX_LINES} lines without 'Why this module is long' "
                          "in their docstring:\n" + "\n".join(too_long))
