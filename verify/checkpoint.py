"""The checkpoint of a resumable check: merged shard statistics, written atomically.

``check_exact(..., checkpoint=PATH)`` keeps in ``PATH`` the merged statistics of its
first shards (the int64 count table, or the rows for the chain tests), rewritten
after each shard with the one atomic writer (:func:`verify.files.write_file_atomic`:
a reader, or a run killed at any moment, sees the previous complete file or the new
one, never a mix). Started again with the same arguments, the check reads it,
draws only the shards not yet merged and ends with the result of an uninterrupted
run (every shard has its own stream; see :mod:`verify.execution`).

The file is an ``.npz`` archive (no pickles) of the statistics and a JSON header:
the format and version, the check's identity (every argument that decides the
draws or the test: seed, sizes, method, levels, target fingerprint, sampler type,
probes of what the sampler draws and the target answers
(:mod:`verify.exactness.identity`: class names alone let a wrong sampler of the same
class resume a correct one's file), shard layout), the number of shards merged and
the SHA-256 of the statistics. A
file whose identity differs is refused naming each difference; a file that cannot
be read, or whose digest does not match, is refused as corrupted. Both are
:class:`~verify.errors.ParameterError` raised before any sample is drawn. The file
is left in place at the end: running the same check again returns its result
without drawing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from distributions.errors import ParameterError
from distributions.validation import short_repr
from verify.files import write_file_atomic

__all__ = ["FORMAT", "VERSION", "Checkpoint", "check_checkpoint_path"]

FORMAT = "autospeculation-checkpoint"
VERSION = 1


def check_checkpoint_path(path: Any) -> Path | None:
    """``path`` as a :class:`~pathlib.Path` (``None`` stays ``None``), or a
    :class:`ParameterError` when it is not a path or names a directory."""
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise ParameterError(
            f"`checkpoint` must be a file path (str or os.PathLike); got {short_repr(path)}.")
    out = Path(os.fspath(path))
    if out.is_dir():
        raise ParameterError(f"`checkpoint` must be a file path; got the directory {out}.")
    return out


def _digest(state: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(state).tobytes()).hexdigest()


class Checkpoint:
    """The checkpoint file of one check (``identity``: a JSON-able dict of scalars).

    On construction an existing file is read and checked (identity, digest, shape);
    ``done`` and ``state`` are then the shards already merged and their statistics
    (``0`` and ``None`` for a new file). :meth:`save` rewrites the file atomically.
    """

    def __init__(self, path: Path, identity: dict[str, Any], num_shards: int) -> None:
        self.path = path
        self.identity = json.loads(json.dumps(identity))  # as it reads back
        self.num_shards = int(num_shards)
        self.done = 0
        self.state: np.ndarray | None = None
        if path.exists():
            self._read()

    def _corrupt(self, why: str) -> ParameterError:
        return ParameterError(
            f"`checkpoint` {self.path} is not a valid checkpoint file ({why}); delete it "
            "or pass another path.")

    def _read(self) -> None:
        try:
            data = self.path.read_bytes()
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8"))
                state = np.array(z["state"]) if "state" in z.files else None
        except Exception as exc:  # any failure to parse is the same verdict
            raise self._corrupt(f"unreadable: {type(exc).__name__}: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise self._corrupt("not written by a resumable check")
        if meta.get("version") != VERSION:
            raise self._corrupt(f"format version {meta.get('version')!r}, this code reads "
                                f"{VERSION}")
        theirs = meta.get("identity")
        if not isinstance(theirs, dict):
            raise self._corrupt("no identity")
        diff = [f"{k}={theirs.get(k)!r} there, {v!r} here"
                for k, v in self.identity.items() if theirs.get(k) != v]
        diff += [f"{k}={v!r} there, absent here" for k, v in theirs.items()
                 if k not in self.identity]
        if diff:
            raise ParameterError(
                f"`checkpoint` {self.path} belongs to another check: "
                + "; ".join(diff) + ". Pass the same arguments and seed to resume, or "
                "another path.")
        done = meta.get("shards_done")
        if not isinstance(done, int) or not 0 <= done <= self.num_shards:
            raise self._corrupt(f"shards_done={done!r} outside 0..{self.num_shards}")
        if done and (state is None or _digest(state) != meta.get("state_sha256")
                     or state.dtype != np.int64):
            raise self._corrupt("its statistics do not match their SHA-256")
        self.done, self.state = done, (state if done else None)

    def save(self, done: int, state: np.ndarray) -> None:
        """Write ``done`` merged shards and their statistics atomically."""
        meta = {"format": FORMAT, "version": VERSION, "identity": self.identity,
                "shards_done": int(done), "num_shards": self.num_shards,
                "state_sha256": _digest(state)}
        buf = io.BytesIO()
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
                 state=np.ascontiguousarray(state))
        write_file_atomic(self.path, buf.getvalue())
        self.done, self.state = int(done), state
