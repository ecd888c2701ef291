"""An import-linter contract type: no private name crosses a package boundary.

import-linter's own ``private_modules`` contract forbids importing a private *module*
(``distributions._numerics``) from outside its parent package; it cannot see a
private *name* taken from a public module (``from verify.validation import _NoBar``,
or ``P._helper`` after ``from verify import pinning as P``). This contract reads the
importing modules' source (``ast``) for both forms, for every import that grimp's
graph shows between two different root packages.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import grimp
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _root(module: str) -> str:
    return module.split(".", 1)[0]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _source_path(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def private_names_used(module: str, roots: set[str]) -> list[tuple[int, str]]:
    """``(line, text)`` of each private name ``module`` takes from another root package."""
    path = _source_path(module)
    if path is None:
        return []
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _root(module)
    found: list[tuple[int, str]] = []
    aliases: dict[str, str] = {}  # local name -> foreign module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = _root(node.module)
            if root not in roots or root == own:
                continue
            for a in node.names:
                target = f"{node.module}.{a.name}"
                if _private(a.name):
                    found.append((node.lineno, f"from {node.module} import {a.name}"))
                elif importlib.util.find_spec(node.module) is not None and _is_module(target):
                    aliases[a.asname or a.name] = target
        elif isinstance(node, ast.Import):
            for a in node.names:
                root = _root(a.name)
                if root in roots and root != own:
                    if any(_private(part) for part in a.name.split(".")):
                        found.append((node.lineno, f"import {a.name}"))
                    if a.asname:
                        aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)):
            found.append((node.lineno, f"{aliases[node.value.id]}.{node.attr}"))
    return sorted(set(found))


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class PrivateNamesContract(Contract):
    """Modules of one root package take no private name from another.

    Configuration options:

        - packages: the root packages whose cross-package imports are checked.
    """

    type_name = "private_names"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = {str(p) for p in self.packages}  # type: ignore[attr-defined]
        importers = sorted(
            m for m in graph.modules
            if _root(m) in roots and any(_root(i) in roots and _root(i) != _root(m)
                                         for i in graph.find_modules_directly_imported_by(m))
        )
        violations = [(m, line, text) for m in importers
                      for line, text in private_names_used(m, roots)]
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        from importlinter.application import output

        for module, line, text in check.metadata["violations"]:
            output.print_error(f"{module}:{line}: {text}", bold=False)
