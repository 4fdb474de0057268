"""``evolution``: SPOS's evolutionary search (Guo et al., Sec. 3.4)."""

from __future__ import annotations

from typing import Any, Callable

from hwnas.errors import HwnasError
from hwnas.search.base import Strategy, register_strategy
from hwnas.search.options import Option
from hwnas.space.arch import Arch


@register_strategy
class EvolutionSearch(Strategy):
    """SPOS evolution: population 50, 20 generations, top-k 10, mutation probability 0.1.

    Half the children come by mutation and half by crossover, every child generated to satisfy the
    constraints (resampled up to ``max_tries`` times); the first population is constraint-satisfying random
    samples.  ``budget`` caps the total number of evaluations."""

    name = "evolution"
    options = (Option("population", int, 50, "archs per generation", min=2),
               Option("generations", int, 20, "generations after the first population", min=0),
               Option("topk", int, 10, "parents: the best archs so far", min=1),
               Option("mutation_prob", float, 0.1, "per-layer probability of a mutation", min=0, max=1),
               Option("max_tries", int, 200, "draws per child before giving up on it", min=1))

    @classmethod
    def default_budget(cls, params: dict[str, Any]) -> int:
        return params["population"] * (params["generations"] + 1)

    def _child(self, make: Callable[[], Arch], seen: set[Arch]) -> Arch | None:
        for _ in range(self.params["max_tries"]):
            a = make()
            if a not in seen and self.ok(a):
                return a
        return None

    def mutate(self, parent: Arch) -> Arch:
        ch = [self.rng.choice(layer.choices) if self.rng.random() < self.params["mutation_prob"] else c
              for c, layer in zip(parent.choices, self.space.layers)]
        return Arch(parent.space, tuple(ch))

    def crossover(self, a: Arch, b: Arch) -> Arch:
        return Arch(a.space, tuple(x if self.rng.random() < 0.5 else y for x, y in zip(a.choices, b.choices)))

    def initial_population(self, size: int, seen: set[Arch]) -> list[Arch]:
        """Up to ``size`` distinct archs that meet the bounds (bounded tries)."""
        pop: list[Arch] = []
        for _ in range(size * 20):
            if len(pop) == size:
                break
            a = self.sample()
            if a not in seen:
                seen.add(a)
                pop.append(a)
        return pop

    def children(self, top: list[Arch], size: int, seen: set[Arch], g: int) -> list[tuple[Arch, str]]:
        """``size // 2`` mutations of the top-k, then crossovers of two of them for the places left; each new and
        within the bounds (bounded tries)."""
        out: list[tuple[Arch, str]] = []

        def add(kind: str, make: Callable[[], Arch]) -> None:
            c = self._child(make, seen)
            if c is not None:
                seen.add(c)
                out.append((c, f"{kind} g{g + 1}"))

        for _ in range(size // 2):
            add("mutation", lambda: self.mutate(self.rng.choice(top)))
        for _ in range(size - len(out) if len(top) >= 2 else 0):
            add("crossover", lambda: self.crossover(*self.rng.sample(top, 2)))
        return out

    def search(self) -> None:
        P, k = self.params["population"], self.params["topk"]
        seen: set[Arch] = set()
        for a in self.initial_population(P, seen):
            self.score(a, "init")
        self.checkpoint()
        for g in range(self.params["generations"]):
            ranked = sorted(self._scores.items(), key=lambda kv: -kv[1])
            top = [a for a, _ in ranked if self.ok(a)][:k]
            if not top:
                raise HwnasError("no evaluated arch satisfies the constraints; loosen them")
            children = self.children(top, P, seen, g)
            for c, src in children:
                self.score(c, src)
            self.checkpoint()
