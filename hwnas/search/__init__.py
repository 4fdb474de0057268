"""Searchers behind one strategy interface, and the ``hwnas search`` driver."""

from hwnas.search import strategies  # noqa: F401  (registration)
from hwnas.search.base import STRATEGIES, Record, Strategy, get_strategy, list_strategies, register_strategy

__all__ = ["STRATEGIES", "Record", "Strategy", "get_strategy", "list_strategies", "register_strategy"]
