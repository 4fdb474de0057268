"""Atomic file writes: every file hwnas writes (LUTs, checkpoints, results, plots, artefacts) goes through
:func:`atomic_path`, so a crash or Ctrl-C mid-write leaves the previous file intact, never half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: files hwnas writes get the user's umask, as ``open()`` would give them (``mkstemp`` makes them 0600)
FILE_MODE = 0o666 & ~_umask()


def check_output_dir(path: str, flag: str = "--out", *, state: str | None = None, marks: tuple[str, ...] = (),
                     resume: bool = False, overwrite: bool = False, what: str = "run") -> None:
    """Fail in a second, before any work, when ``path`` cannot hold outputs: an existing file (or a file where a
    parent directory should be), or a directory that cannot be written -- tried in the nearest directory that
    exists, so nothing is created here (one line naming the problem and what to do).

    With ``state`` (the file a run resumes from) the one rule for existing outputs, in every command: a directory
    that already holds a run (``state`` or any of ``marks``) is refused unless ``resume`` (which then needs
    ``state``) or ``overwrite`` (start again; the old files are replaced as the new run writes them)."""
    from hwnas.errors import HwnasError

    probe_dir = os.path.abspath(path)
    while not os.path.exists(probe_dir):
        probe_dir = os.path.dirname(probe_dir)
    if not os.path.isdir(probe_dir):
        what_is = "is a file" if probe_dir == os.path.abspath(path) else f"lies under a file ({probe_dir})"
        raise HwnasError(f"{flag} {path} {what_is}, not a directory; give a directory for the outputs")
    try:
        fd, probe = tempfile.mkstemp(dir=probe_dir, prefix=".hwnas-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise HwnasError(f"{flag} {path} cannot be written ({e.strerror}); choose a writable directory") from None
    if state is None:
        return
    if resume and overwrite:
        raise HwnasError("--resume and --overwrite exclude each other: continue the run, or start it again")
    if resume:
        if not os.path.exists(os.path.join(path, state)):
            raise HwnasError(f"--resume: {path} holds no {what} to continue (no {state}); drop --resume to start "
                             "one there")
        return
    found = [f for f in (state, *marks) if os.path.exists(os.path.join(path, f))]
    if found and not overwrite:
        raise HwnasError(f"{flag} {path} already holds a {what} ({', '.join(found)}); pass --resume to continue it "
                         "or --overwrite to start again")


def check_output_file(path: str, overwrite: bool = False, flag: str = "--out", *, resume: bool | None = None) -> None:
    """The same rule for a command that writes one file (``export``, ``lut import``, ``profile``): an existing file
    is replaced only with ``overwrite`` (or, where the command can continue one, kept with ``resume``: None where it
    cannot, and the message does not offer it); a directory there, or an unwritable place, is an error -- in a
    second, before any work."""
    from hwnas.errors import HwnasError

    if os.path.isdir(path):
        raise HwnasError(f"{flag} {path} is a directory; give the file to write")
    if resume and overwrite:
        raise HwnasError("--resume and --overwrite exclude each other: continue the file, or start it again")
    if os.path.exists(path) and not (overwrite or resume):
        also = "--resume to continue it, " if resume is not None else ""
        raise HwnasError(f"{flag} {path} already exists; pass {also}--overwrite to replace it, or choose another path")
    check_output_dir(os.path.dirname(os.path.abspath(path)), flag)


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
        os.chmod(tmp, FILE_MODE)
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
