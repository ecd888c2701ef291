"""Checks of the command line's inputs, done before any work starts.

Output locations (:func:`check_report_dir`, :func:`check_output_location`) and the
user's factory ``MODULE:CALLABLE`` (:func:`load_factory`). Every bad input raises
:class:`~distributions.errors.ParameterError` naming the option, the rule and the value
seen; the command line prints it as one line and exits 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from distributions.errors import ParameterError, ReportError
from distributions.validation import check_int
from reports.io import check_out_dir

__all__ = ["check_report_dir", "check_output_location", "load_factory", "check_seed"]


def check_seed(name: str, value: Any) -> int:
    """A seed option: an integer >= 0."""
    return check_int(name, value, low=0)


def check_report_dir(name: str, path: Any) -> Path:
    """Check, before any work, that a report can be written into ``path`` (the rules of
    :func:`reports.io.check_out_dir`), naming the option ``name`` in the error."""
    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise ParameterError(f"`{name}` must be a directory path; got {path!r}.")
    try:
        return check_out_dir(path)
    except ReportError as exc:
        raise ParameterError(str(exc).replace("`out_dir`", f"`{name}`")) from None


def check_output_location(name: str, path: Any) -> Path:
    """Check, before any work, that files can be written into directory ``path``.

    ``path`` must be an existing writable directory or a path whose nearest existing
    ancestor is a writable directory; its parent must be writable too (atomic writers
    prepare files beside their destination). Nothing is created.

    Raises
    ------
    ParameterError
        Naming the option, the rule and the path seen.
    """
    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise ParameterError(f"`{name}` must be a directory path; got {path!r}.")
    out = Path(os.path.abspath(path))

    def writable_dir(p: Path) -> None:
        if not p.is_dir():
            raise ParameterError(f"`{name}` must be a directory or a path that can be "
                                 f"created; got {str(path)!r}, but {str(p)!r} is a file.")
        if not os.access(p, os.W_OK | os.X_OK):
            raise ParameterError(f"`{name}` must be in a writable directory; got "
                                 f"{str(path)!r}, but {str(p)!r} is not writable.")

    if out.exists():
        writable_dir(out)
    for anc in [out.parent, *out.parent.parents]:
        if anc.exists():
            writable_dir(anc)
            break
    return out


def load_factory(spec: str, *, name: str = "FACTORY") -> Any:
    """Import ``MODULE:CALLABLE`` (or ``path/to/file.py:CALLABLE``) and call it.

    The current directory is put on ``sys.path`` first, as ``python -m`` does, so
    that a user's own module next to them is found. (:mod:`importlib` is used here
    only to load the user's module by name or by file path.)

    Raises
    ------
    ParameterError
        If ``spec`` is malformed, the module cannot be imported, has no such
        attribute, the attribute is not callable or calling it raises.
    """
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise ParameterError(f"`{name}` must have the form MODULE:CALLABLE; got {spec!r}.")
    mod_name, _, attr = spec.rpartition(":")
    if not mod_name or not attr:
        raise ParameterError(f"`{name}` must have the form MODULE:CALLABLE; got {spec!r}.")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        if mod_name.endswith(".py") or os.sep in mod_name:
            path = Path(mod_name)
            if not path.is_file():
                raise ParameterError(f"`{name}`: no such file {mod_name!r}.")
            mspec = importlib.util.spec_from_file_location(path.stem, path)
            assert mspec is not None and mspec.loader is not None
            module = importlib.util.module_from_spec(mspec)
            sys.modules[path.stem] = module
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except ParameterError:
        raise
    except ImportError as exc:
        raise ParameterError(f"`{name}`: cannot import module {mod_name!r}: {exc}.") from None
    except Exception as exc:
        raise ParameterError(f"`{name}`: importing {mod_name!r} raised "
                             f"{type(exc).__name__}: {exc}.") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ParameterError(f"`{name}`: module {mod_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ParameterError(f"`{name}`: {spec!r} is not callable.")
    try:
        return obj()
    except Exception as exc:
        raise ParameterError(f"`{name}`: calling {spec}() raised "
                             f"{type(exc).__name__}: {exc}.") from None
