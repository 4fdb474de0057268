"""User-facing errors.

Every mistake a user can make (bad flag value, unknown name, corrupt file, missing runtime) raises a
subclass of :class:`HwnasError` whose message is one line saying what is wrong and what to do.  The CLI
prints that line and exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HwnasError(Exception):
    """Base class: a problem the user can fix; ``str(err)`` is the one-line message."""

    exit_code = 2


class UnknownNameError(HwnasError, KeyError):
    """A name (space, op, profiler, strategy, arch) is not registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ArchError(HwnasError, ValueError):
    """An architecture does not fit its space (length, unknown choice, choice not allowed there)."""


class LUTError(HwnasError):
    """A lookup table is missing, corrupt, of the wrong schema or lacks an op."""


class BackendUnavailableError(HwnasError):
    """A runtime or device is not available on this machine."""


class ConstraintError(HwnasError, ValueError):
    """A constraint is malformed or cannot be met by the space."""


class DataError(HwnasError):
    """A dataset is missing or malformed."""


class CheckpointError(HwnasError):
    """A checkpoint does not fit the model this version builds (written by an older supernet layout)."""


class Interrupted(HwnasError):
    """Ctrl-C during long work that saved what it had; the message says where and how to continue."""

    exit_code = 130
