"""Supernet training levers the field uses to make one-shot weights rank archs better: which paths each step
trains, and what they learn from.

* **Sandwich rule** (BigNAS, slimmable nets): each step trains the largest path, the smallest path and ``n`` random
  ones on the same batch, gradients summed, one update.  Largest / smallest are by MACs per layer (a skip, where a
  layer allows one, is the smallest).
* **In-place distillation** (BigNAS / OFA): the largest path learns from the labels; every other path of the step
  learns from the largest path's soft labels (its softmax, detached) instead.
* **Strict fairness** (FairNAS): each step trains ``m`` paths (m = the most choices any layer has) in which every
  layer takes each of its choices exactly once (a random permutation per layer; a layer with fewer choices fills
  the rest from a second permutation), gradients summed, one update -- every choice gets the same number of
  updates.  With the sandwich rule, the fair paths replace the random ones.
* The learning-rate recipe (linear warm-up, cosine decay) and label smoothing are :class:`TrainConfig` fields.

Each lever composes with entangled and separate sharing (it only picks paths), with DDP (every rank draws the
same paths from the step number) and with checkpoints (a step's paths depend only on the seed and the step).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.errors import HwnasError
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.supernet.train import step_rng


@dataclass(frozen=True)
class Recipe:
    """Which paths a supernet step trains and how.  The default (all off) is SPOS: one uniform path per step."""

    sandwich: int = -1     # random paths besides the largest and smallest; -1: no sandwich rule
    distill: bool = False  # in-place distillation from the largest path
    fair: bool = False     # strict fairness (FairNAS)

    def __post_init__(self) -> None:
        if self.sandwich < -1:
            raise HwnasError(f"--sandwich must be -1 (off) or the number of random paths (>= 0), got {self.sandwich}")

    @property
    def uniform(self) -> bool:
        return self.sandwich < 0 and not self.distill and not self.fair

    def describe(self) -> str:
        parts = []
        if self.sandwich >= 0:
            parts.append(f"sandwich (largest + smallest + {'fair paths' if self.fair else f'{self.sandwich} random'})")
        elif self.fair:
            parts.append("strict fairness")
        if self.distill:
            parts.append("in-place distillation")
        return ", ".join(parts) or "uniform single path (SPOS)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the levers ``hwnas train-supernet`` and the search's on-demand supernet use unless told otherwise (SPOS's single
#: uniform path until ``benchmarks/ranking_fidelity.py`` shows a lever that ranks better; see docs/benchmarks.md)
DEFAULT_RECIPE = Recipe()


def extremes(space: SearchSpace) -> tuple[Arch, Arch]:
    """(largest, smallest) path by MACs per layer (first of ties in the space's choice order)."""
    from hwnas.cost.arch_cost import ArchCoster

    lc = ArchCoster(space).layer_costs("macs")
    big = tuple(max(d, key=d.__getitem__) for d in lc.layers)
    small = tuple(min(d, key=d.__getitem__) for d in lc.layers)
    return Arch(space.name, big), Arch(space.name, small)


def fair_paths(space: SearchSpace, rng: random.Random) -> list[Arch]:
    """FairNAS's strict fairness: m paths in which every layer takes each of its choices exactly once (m = the
    most choices a layer has; a layer with fewer fills its remaining paths from a second random permutation)."""
    m = max(len(layer.choices) for layer in space.layers)
    cols = []
    for layer in space.layers:
        perm = list(layer.choices)
        rng.shuffle(perm)
        extra = list(layer.choices)
        rng.shuffle(extra)
        cols.append((perm + extra * m)[:m])
    return [Arch(space.name, tuple(col[j] for col in cols)) for j in range(m)]


def step_paths(space: SearchSpace, recipe: Recipe, rng: random.Random,
               sampler: Callable[[random.Random], Arch] | None = None) -> list[tuple[Arch, bool]]:
    """The paths of one step, each with whether it is the teacher (the largest path under distillation)."""
    draw = sampler or space.random_arch
    big, small = extremes(space)
    if recipe.sandwich >= 0:
        rest = fair_paths(space, rng) if recipe.fair else [draw(rng) for _ in range(recipe.sandwich)]
        paths = [big, small, *rest]
    elif recipe.fair:
        paths = fair_paths(space, rng)
    else:
        paths = [draw(rng)]
    if recipe.distill:
        paths = [big, *[p for p in paths if p != big]] if big in paths else [big, *paths]
        return [(p, i == 0) for i, p in enumerate(paths)]
    return [(p, False) for p in paths]


def distill_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student's logits against the teacher's (detached) softmax."""
    return -(F.softmax(teacher.detach(), 1) * F.log_softmax(student, 1)).sum(1).mean()


def recipe_step(space: SearchSpace, recipe: Recipe, seed: int,
                sampler: Callable[[random.Random], Arch] | None = None):
    """A training step for :func:`hwnas.supernet.train.train`: every path of the step forward and backward on
    the same batch (one graph at a time), gradients summed over the paths (scaled by 1/paths), one update.
    Returns (the mean loss, the logits of the first path) for the progress figures."""

    def step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, g: int,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> tuple[float, torch.Tensor]:
        paths = step_paths(space, recipe, step_rng(seed, g), sampler)
        teacher: torch.Tensor | None = None
        total, first = 0.0, None
        for arch, is_teacher in paths:
            logits = model(x, arch)
            loss = distill_loss(logits, teacher) if teacher is not None and not is_teacher else loss_fn(logits, y)
            (loss / len(paths)).backward()
            if is_teacher:
                teacher = logits.detach()
            total += float(loss.detach())
            first = logits.detach() if first is None else first
        return total / len(paths), first  # type: ignore[return-value]

    return step
