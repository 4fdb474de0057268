"""``random``: constraint-satisfying uniform samples until the budget is spent (the baseline every searcher
must beat)."""

from __future__ import annotations

from hwnas.search.base import Strategy, register_strategy


@register_strategy
class RandomSearch(Strategy):
    """Uniform random search: constraint-satisfying uniform samples until the budget is spent."""

    name = "random"

    def search(self) -> None:
        for _ in range(self.budget * 20):
            self.score(self.sample(), "random")
