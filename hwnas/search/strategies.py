"""The searchers: ``random``, ``evolution`` (SPOS), ``coordinate`` (FPNAS Algorithm 1)."""

from __future__ import annotations

from typing import Any, Callable

from hwnas.errors import HwnasError
from hwnas.search.base import Strategy, register_strategy
from hwnas.space.arch import Arch


@register_strategy
class RandomSearch(Strategy):
    """Constraint-satisfying uniform samples until the budget is spent."""

    name = "random"

    def search(self) -> None:
        for _ in range(self.budget * 20):
            self.score(self.sample(), "random")


@register_strategy
class EvolutionSearch(Strategy):
    """SPOS evolutionary search: population 50, 20 generations, top-k 10, mutation probability 0.1,
    half the children by mutation and half by crossover, every child generated to satisfy the
    constraints (resampled up to ``max_tries`` times); the first population is constraint-satisfying
    random samples.  ``budget`` caps the total number of evaluations."""

    name = "evolution"
    defaults = {"population": 50, "generations": 20, "topk": 10, "mutation_prob": 0.1, "max_tries": 200}

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.p = {**self.defaults, **{k: v for k, v in self.params.items() if k in self.defaults and v is not None}}

    def _child(self, make: Callable[[], Arch], seen: set[Arch]) -> Arch | None:
        for _ in range(self.p["max_tries"]):
            a = make()
            if a not in seen and self.ok(a):
                return a
        return None

    def mutate(self, parent: Arch) -> Arch:
        ch = [self.rng.choice(layer.choices) if self.rng.random() < self.p["mutation_prob"] else c
              for c, layer in zip(parent.choices, self.space.layers)]
        return Arch(parent.space, tuple(ch))

    def crossover(self, a: Arch, b: Arch) -> Arch:
        return Arch(a.space, tuple(x if self.rng.random() < 0.5 else y for x, y in zip(a.choices, b.choices)))

    def search(self) -> None:
        P, k = self.p["population"], self.p["topk"]
        seen: set[Arch] = set()
        pop: list[Arch] = []
        for _ in range(P * 20):
            if len(pop) == P:
                break
            a = self.sample()
            if a not in seen:
                seen.add(a)
                pop.append(a)
        for a in pop:
            self.score(a, "init")
        self.checkpoint()
        for g in range(self.p["generations"]):
            ranked = sorted(self._scores.items(), key=lambda kv: -kv[1])
            top = [a for a, _ in ranked if self.ok(a)][:k]
            if not top:
                raise HwnasError("no evaluated arch satisfies the constraints; loosen them")
            children: list[tuple[Arch, str]] = []
            for _ in range(P // 2):
                c = self._child(lambda: self.mutate(self.rng.choice(top)), seen)
                if c is not None:
                    seen.add(c)
                    children.append((c, f"mutation g{g + 1}"))
            for _ in range(P - len(children)):
                if len(top) < 2:
                    break
                c = self._child(lambda: self.crossover(*self.rng.sample(top, 2)), seen)
                if c is not None:
                    seen.add(c)
                    children.append((c, f"crossover g{g + 1}"))
            for c, src in children:
                self.score(c, src)
            self.checkpoint()


@register_strategy
class CoordinateSearch(Strategy):
    """FPNAS Algorithm 1: block-wise coordinate descent.

    For T iterations, for each block i with the other blocks fixed: (1) a weight-sharing stage trains
    the supernet for P epochs sampling only block i's choices, scores every constraint-satisfying choice
    with the shared weights and keeps the top E; (2) each of those E archs is trained independently for Q
    epochs (fine-tuned from the inherited weights here, to fit a CPU budget) and the best fixes block i.
    Violations get FPNAS's reward of -1 (they are never trained).  Needs ``trainer`` (see
    :class:`hwnas.search.driver.SupernetContext`).
    """

    name = "coordinate"
    defaults = {"P": 1, "Q": 1, "E": 2, "T": 1}

    def __init__(self, *a: Any, trainer: Any = None, **kw: Any) -> None:
        super().__init__(*a, **kw)
        if trainer is None:
            raise HwnasError("the coordinate strategy needs a supernet trainer")
        self.trainer = trainer
        self.p = {**self.defaults, **{k: v for k, v in self.params.items() if k in self.defaults and v is not None}}

    def search(self) -> None:
        cur = self.sample()
        self.score(cur, "init")
        for t in range(self.p["T"]):
            for i, layer in enumerate(self.space.layers):
                ok = [a for a in (cur.replace(i, c) for c in layer.choices) if self.ok(a)]
                if len(ok) <= 1:
                    continue
                src = f"t{t + 1} block {i}"
                self.trainer.train_block(cur, i, [a.choices[i] for a in ok], self.p["P"], seed=self.seed + 1000 * t + i)
                shared = {a: self.score(a, f"{src} shared", fresh=True) for a in ok}
                top = sorted(ok, key=lambda a: -shared[a])[: self.p["E"]]
                if self.p["Q"] > 0:
                    final = {a: self.score(a, f"{src} independent", fresh=True,
                                           evaluate=lambda a=a: self.trainer.train_independent(a, self.p["Q"], seed=self.seed + i))
                             for a in top}
                else:
                    final = {a: shared[a] for a in top}
                cur = max(top, key=lambda a: final[a])
                self.checkpoint()
        self.final = cur

    @property
    def best(self):
        """The arch coordinate descent settled on (its latest score), not the top score of mixed stages."""
        final = getattr(self, "final", None)
        recs = [r for r in self.history if final is not None and r.arch == str(final)]
        return recs[-1] if recs else super().best

