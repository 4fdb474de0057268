"""The searchers, one module each, every one a registered :class:`hwnas.search.base.Strategy`:
:mod:`.random_search`, :mod:`.evolution` (SPOS), :mod:`.coordinate` (FPNAS), :mod:`.probabilistic` (FP-NAS),
:mod:`.hournas` and :mod:`.epnas`.  The machinery they share (interface, options, distributions, joint training,
supernet scoring, the driver) lives one level up, in :mod:`hwnas.search`."""

from hwnas.search.strategies import (coordinate, epnas, evolution, hournas, probabilistic,  # noqa: F401
                                     random_search)
