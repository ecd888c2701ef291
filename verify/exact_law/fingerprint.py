"""Fingerprints of the data a sampler or a source wrapper holds, and the random
generators a sampler can reach (for the refusals of :func:`verify.exact_law`)."""

from __future__ import annotations

import functools
import random
import sys
import types
from typing import Any

import numpy as np

from verify.exact_law.source import EnumeratingSource


class _Ident:
    """Identity key of an object a fingerprint does not look into (kept alive, so
    its id cannot be reused while the key exists)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ident) and other.obj is self.obj


_RNG_TYPES = (np.random.Generator, np.random.RandomState, np.random.BitGenerator, random.Random)
_OPAQUE = (type, types.ModuleType, types.BuiltinFunctionType, types.CodeType, _RNG_TYPES)
_SOURCE_TAG = "<source>"


def _fingerprint(obj: Any, fixed: dict[int, str], depth: int = 0,
                 seen: dict[int, int] | None = None) -> Any:
    """Hashable structural value of the data reachable from ``obj``.

    Two objects with equal fingerprints hold equal data (arrays by bytes, floats
    bit for bit, functions by code, defaults and closure cells, objects by type and
    attributes). ``fixed`` maps the ids of objects that stand for themselves (the
    sampler, its oracle, the target) to tags; every enumerating source is one tag.
    Types, modules, builtins, random generators and objects nested deeper than 8
    levels are compared by identity.
    """
    tag = fixed.get(id(obj))
    if tag is not None:
        return tag
    if isinstance(obj, EnumeratingSource):
        return _SOURCE_TAG
    if obj is None or isinstance(obj, bool | int | str | bytes):
        return (type(obj).__name__, obj)
    if isinstance(obj, float):
        return ("f", obj.hex())
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        return ("a", obj.dtype.str, obj.shape, np.ascontiguousarray(obj).tobytes())
    if isinstance(obj, np.generic):
        return ("g", obj.dtype.str, obj.tobytes())
    if isinstance(obj, _OPAQUE) or depth > 8:
        return _Ident(obj)
    if seen is None:
        seen = {}
    if id(obj) in seen:
        return ("cycle", seen[id(obj)])
    seen[id(obj)] = len(seen)

    def rec(v: Any) -> Any:
        return _fingerprint(v, fixed, depth + 1, seen)

    if isinstance(obj, np.ndarray):
        return ("ao", obj.shape, tuple(rec(v) for v in obj.ravel()))
    if isinstance(obj, list | tuple):
        return (type(obj).__name__, tuple(rec(v) for v in obj))
    if isinstance(obj, dict):
        return ("d", tuple((rec(k), rec(v)) for k, v in obj.items()))
    if isinstance(obj, set | frozenset):
        return ("s", frozenset(rec(v) for v in obj))
    if isinstance(obj, types.FunctionType):
        cells = []
        for c in obj.__closure__ or ():
            try:
                cells.append(rec(c.cell_contents))
            except ValueError:  # empty cell
                cells.append("<empty>")
        return ("fn", _Ident(obj.__code__), rec(obj.__defaults__), rec(obj.__kwdefaults__),
                tuple(cells))
    if isinstance(obj, types.MethodType):
        return ("m", rec(obj.__func__), rec(obj.__self__))
    if isinstance(obj, functools.partial):
        return ("p", rec(obj.func), rec(obj.args), rec(obj.keywords))
    attrs: list[tuple[str, Any]] = []
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        attrs.extend((k, rec(v)) for k, v in d.items())
    for klass in type(obj).__mro__:
        for name in klass.__dict__.get("__slots__", ()):
            if name in ("__dict__", "__weakref__"):
                continue
            try:
                attrs.append((name, rec(object.__getattribute__(obj, name))))
            except AttributeError:
                attrs.append((name, "<unset>"))
    if d is None and not attrs:
        return _Ident(obj)
    return ("o", _Ident(type(obj)), tuple(attrs))


def _instance_state(sampler: Any, fixed: dict[int, str]) -> dict[str, Any]:
    """Fingerprints of the sampler's attributes (its oracle and the enumerator's
    own memo hooks excepted)."""
    d = getattr(sampler, "__dict__", None)
    if not isinstance(d, dict):
        return {"<object>": _fingerprint(sampler, {k: v for k, v in fixed.items()
                                                   if v != "<sampler>"})}
    return {k: _fingerprint(v, fixed) for k, v in d.items()
            if k not in ("oracle", "memo")}


def _rng_objects(sampler: Any, fixed: dict[int, str],
                 skip: tuple[type, ...] = ()) -> list[Any]:
    """The random generators the sampler can reach: numpy's and Python's global ones,
    those reachable from the instance (attributes, containers, closures; its oracle
    and target excepted) and those held by the modules of its class and bases.
    Objects of the ``skip`` types (the enumerator's own) are not looked into."""
    found: dict[int, Any] = {id(np.random.mtrand._rand): np.random.mtrand._rand}
    inst = getattr(random, "_inst", None)
    if inst is not None:
        found[id(inst)] = inst
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(sampler, 0)]
    while todo:
        obj, depth = todo.pop()
        if id(obj) in seen or depth > 8:
            continue
        seen.add(id(obj))
        if isinstance(obj, _RNG_TYPES):
            found[id(obj)] = obj
            continue
        if (obj is not sampler and id(obj) in fixed) or isinstance(
            obj, (EnumeratingSource, *skip, str, bytes, int, float, np.ndarray, *_OPAQUE)
        ):
            continue  # (the enumerator's own memo and caches are not the sampler's)
        if isinstance(obj, list | tuple | set | frozenset):
            kids = list(obj)
        elif isinstance(obj, dict):
            kids = [*obj.keys(), *obj.values()]
        elif isinstance(obj, types.FunctionType):
            kids = []
            for c in obj.__closure__ or ():
                try:
                    kids.append(c.cell_contents)
                except ValueError:
                    pass
        elif isinstance(obj, types.MethodType):
            kids = [obj.__func__, obj.__self__]
        else:
            d = getattr(obj, "__dict__", None)
            kids = list(d.values()) if isinstance(d, dict) else []
            for klass in type(obj).__mro__:
                for name in klass.__dict__.get("__slots__", ()):
                    if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                        kids.append(object.__getattribute__(obj, name))
        todo.extend((k, depth + 1) for k in kids)
    for klass in type(sampler).__mro__:
        module = sys.modules.get(klass.__module__)
        for value in vars(module).values() if module is not None else ():
            if isinstance(value, _RNG_TYPES):
                found[id(value)] = value
    return list(found.values())


def _rng_states(objs: list[Any]) -> dict[int, tuple[Any, Any]]:
    """State of each random generator of ``objs``, by id."""
    out = {}
    for o in objs:
        try:
            if isinstance(o, np.random.Generator):
                st: Any = o.bit_generator.state
            elif isinstance(o, np.random.BitGenerator):
                st = o.state
            elif isinstance(o, np.random.RandomState):
                st = o.get_state(legacy=False)
            else:
                out[id(o)] = (o, o.getstate())  # a tuple of ints
                continue
        except Exception:  # noqa: BLE001 - a generator whose state cannot be read
            continue
        out[id(o)] = (o, _fingerprint(st, {}))
    return out


def _rng_changes(before: dict[int, tuple[Any, Any]]) -> list[str]:
    """Generators of ``before`` whose state has changed since."""
    after = _rng_states([obj for obj, _ in before.values()])
    changed = []
    for key, (obj, st) in before.items():
        now = after.get(key)
        if now is not None and now[0] is obj and now[1] != st:
            if obj is np.random.mtrand._rand:
                changed.append("the global numpy random state (np.random.*)")
            elif obj is getattr(random, "_inst", None):
                changed.append("the global Python random state (random.*)")
            else:
                changed.append(f"a {type(obj).__module__}.{type(obj).__name__} it holds")
    return changed
