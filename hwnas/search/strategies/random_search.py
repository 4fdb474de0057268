"""``random``: constraint-satisfying uniform samples until the budget is spent (the baseline every searcher
must beat)."""

from __future__ import annotations

from hwnas.search.base import Strategy, register_strategy


@register_strategy
class RandomSearch(Strategy):
    """Uniform random search: constraint-satisfying uniform samples until the budget is spent."""

    name = "random"
    #: evaluations between checkpoints (result.yaml, history.csv, state.json): a killed search keeps its work
    CHECKPOINT_EVERY = 50

    def search(self) -> None:
        for _ in range(self.budget * 20):
            before = len(self.history)
            self.score(self.sample(), "random")
            if len(self.history) != before and len(self.history) % self.CHECKPOINT_EVERY == 0:
                self.checkpoint()
