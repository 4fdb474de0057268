"""Searchers behind one strategy interface (one module each), and ``hwnas search`` as a library call.

:mod:`.base` (interface, registry, :class:`SearchContext`), :mod:`.options` (declared options),
:mod:`.random_search`, :mod:`.evolution` (SPOS), :mod:`.coordinate` (FPNAS), :mod:`.probabilistic`
(FP-NAS; its distribution in :mod:`.distribution`), :mod:`.hournas`, :mod:`.joint` (what the two share),
:mod:`.epnas`,
:mod:`.supernet_eval` (scoring and training through the supernet), :mod:`.driver` (one search, its output files),
:mod:`.job` (:class:`SearchJob`: everything ``hwnas search`` does, cheap checks first), :mod:`.setup`
(the cached on-demand LUT and supernet).
"""

from hwnas.search.base import (NEEDS, STRATEGIES, Record, SearchContext, Strategy, describe_strategies, get_strategy,
                               list_strategies, register_strategy)
from hwnas.search.options import Option, OptionError
from hwnas.search import coordinate, epnas, evolution, hournas, probabilistic, random_search  # noqa: F401  (registration)

__all__ = ["NEEDS", "STRATEGIES", "Option", "OptionError", "Record", "SearchContext", "Strategy", "describe_strategies",
           "get_strategy",
           "list_strategies", "register_strategy"]
