"""Atomic file output: write to a temporary file in the same directory, then rename.

An interrupted run (Ctrl-C, crash, power loss) leaves either the old file or the new one,
never a truncated one. Use these for every result written to disk (masks, JSON, reports, bags).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# ``.NAME.XXXXXXXX.tmpSUFFIX``: what ``atomic_path`` names its temporary files (mkstemp's 8 characters).
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[^.]+)?$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The temporary name keeps the suffix of ``path`` so writers that pick a format from the
    extension (``cv2.imwrite``) behave the same. On error the temporary file is removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the result the mode a plain open() would (0666 minus umask).
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsynced before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def remove_stale_temps(folder: str | os.PathLike[str], older_than_s: float = 60.0) -> int:
    """Delete temporary files that a killed writer (SIGKILL, power loss) left under ``folder``.

    Only names made by :func:`atomic_path` are touched, and only when older than ``older_than_s``
    (a live writer's temporary file exists for milliseconds). Readers that glob ``*.png`` would
    otherwise pick the hidden leftovers up. Returns how many were removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in root.rglob(".*.tmp*"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and _TEMP_NAME.match(path.name) and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
