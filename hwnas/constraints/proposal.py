"""Space proposals: searchers that reshape the space toward the targets (HourNAS) plug in here."""

from __future__ import annotations

import random
from typing import Callable, Sequence

from hwnas.constraints.cost_model import CostModel
from hwnas.constraints.language import Constraint
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


class SpaceProposal:
    """Hook for searchers that reshape the space toward the target (HourNAS): given the constraints
    and cost model, return per-layer allowed choices.  The base proposal keeps the whole space."""

    def propose(self, space: SearchSpace, constraints: Sequence[Constraint], cost: CostModel) -> list[tuple[str, ...]]:
        return [layer.choices for layer in space.layers]

    @staticmethod
    def sampler(allowed: list[tuple[str, ...]], space_name: str) -> Callable[[random.Random], Arch]:
        return lambda rng: Arch(space_name, tuple(rng.choice(ch) for ch in allowed))
