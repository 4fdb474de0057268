"""``coordinate``: FPNAS's block-wise coordinate descent (Algorithm 1)."""

from __future__ import annotations

from typing import Any

from hwnas.search.base import Record, Strategy, register_strategy
from hwnas.search.options import Option


@register_strategy
class CoordinateSearch(Strategy):
    """FPNAS block-wise coordinate descent: per block, a weight-sharing stage, then independent training.

    For T iterations, for each block i with the other blocks fixed: (1) a weight-sharing stage trains the
    supernet for P epochs sampling only block i's choices, scores every constraint-satisfying choice with
    the shared weights and keeps the top E; (2) each of those E archs is trained independently for Q epochs
    (fine-tuned from the inherited weights here, to fit a CPU budget) and the best fixes block i.
    Violations get FPNAS's reward of -1 (they are never trained)."""

    name = "coordinate"
    needs = ("trainer",)
    options = (Option("passes", int, 1, "iterations over all blocks (the paper's T)", min=1, aliases=("T",)),
               Option("shared_epochs", int, 1, "weight-sharing epochs per block (the paper's P)", min=0,
                      aliases=("P",)),
               Option("tune_epochs", int, 1, "independent (fine-tuning) epochs per kept candidate (the paper's Q)",
                      min=0, aliases=("Q",)),
               Option("keep", int, 2, "candidates kept per block after the shared stage (the paper's E)", min=1,
                      aliases=("E",)))

    @classmethod
    def default_budget(cls, params: dict[str, Any]) -> int:
        return 10_000  # the descent ends on its own after T passes; the budget only caps it

    def search(self) -> None:
        p, trainer = self.params, self.context.trainer
        cur = self.sample()
        self.score(cur, "init")
        for t in range(p["passes"]):
            for i, layer in enumerate(self.space.layers):
                ok = [a for a in (cur.replace(i, c) for c in layer.choices) if self.ok(a)]
                if len(ok) <= 1:
                    continue
                src = f"t{t + 1} block {i}"
                trainer.train_block(cur, i, [a.choices[i] for a in ok], p["shared_epochs"],
                                    seed=self.seed + 1000 * t + i)
                shared = {a: self.score(a, f"{src} shared", fresh=True) for a in ok}
                top = sorted(ok, key=lambda a: -shared[a])[: p["keep"]]
                if p["tune_epochs"] > 0:
                    seed = self.seed + i
                    final = {a: self.score(a, f"{src} independent", fresh=True,
                                           evaluate=lambda a=a, s=seed: trainer.train_independent(
                                               a, p["tune_epochs"], s))
                             for a in top}
                else:
                    final = {a: shared[a] for a in top}
                cur = max(top, key=lambda a: final[a])
                self.checkpoint()
        self.final = cur

    @property
    def best(self) -> Record | None:
        """The arch coordinate descent settled on (its latest score), not the top score of mixed stages."""
        final = getattr(self, "final", None)
        recs = [r for r in self.history if final is not None and r.arch == str(final)]
        return recs[-1] if recs else super().best
