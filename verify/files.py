"""The one atomic file writer (and the umask it honours).

Used by :mod:`verify.checkpoint` (the checkpoint of a resumable check) and re-exported
by :mod:`reports.io` (report files, figures); it lives here, below ``reports``, so that
both layers share it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["current_umask", "write_file_atomic"]


def current_umask() -> int:
    """The process umask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, with the usual permissions; return the path.

    The bytes go to a temporary file in the same directory (created if missing), which
    is flushed, given mode ``0o666 & ~umask`` (what :func:`open` gives a new file; a
    temporary file would otherwise keep ``0o600``) and renamed over ``path``. A
    failure leaves ``path`` as it was and no temporary file behind.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}-", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out
