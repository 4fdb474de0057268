"""Searchers behind one strategy interface, and ``hwnas search`` as a library call.

The algorithms are in :mod:`.strategies` (one module each).  The machinery: :mod:`.base` (interface, registry,
:class:`SearchContext`), :mod:`.options` (declared options), :mod:`.distribution` (FP-NAS's and HourNAS's learned
distribution), :mod:`.joint` (joint weight and architecture training, what those two share),
:mod:`.supernet_eval` (scoring and training through the supernet), :mod:`.planted` (the known-optimum task),
:mod:`.plan` (a search's inputs, validated once), :mod:`.driver` (one search, its output files), :mod:`.job`
(:class:`SearchJob`: everything ``hwnas search`` does, cheap checks first), :mod:`.setup` (the cached on-demand LUT
and supernet).
"""

from hwnas.search.base import (NEEDS, STRATEGIES, Record, SearchContext, Strategy, describe_strategies, get_strategy,
                               list_strategies, register_strategy)
from hwnas.search.options import Option, OptionError
from hwnas.search import strategies  # noqa: F401  (registers the searchers)

__all__ = ["NEEDS", "STRATEGIES", "Option", "OptionError", "Record", "SearchContext", "Strategy", "describe_strategies",
           "get_strategy", "list_strategies", "register_strategy"]
