"""Atomic file writes: every file hwnas writes (LUTs, checkpoints, results, plots, artefacts) goes through
:func:`atomic_path`, so a crash or Ctrl-C mid-write leaves the previous file intact, never half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """A fresh temporary path beside ``path`` (same directory, so the rename is atomic), ending in ``suffix``
    for writers that look at the extension.  When the block exits normally it replaces ``path``; when it
    raises (Ctrl-C included), the temporary file is removed and ``path`` is untouched."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
