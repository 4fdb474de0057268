"""A planted-optimum task: a search problem whose best arch under a bound is known exactly, so that a searcher's
result can be scored by its regret, not by a noisy accuracy.

* **Accuracy** is planted: ``acc(A) = base + Σ_i u_i[A_i] + Σ_{i≥1} w_i[A_{i-1}, A_i]``.  The unary part grows with
  a choice's cost (bigger ops are better, as on real data) plus noise; the pairwise part couples neighbouring
  layers, so choosing each layer greedily is not optimal.
* **Cost** is a real LUT's per-layer latency (ProxylessNAS's Pixel-1 table for ``proxyless``, or any measured LUT)
  or a counter (FLOPs), rounded to a grid of ``resolution`` units so that the optimum can be computed exactly.
* **The optimum** under the bound comes from a dynamic program over (layer, previous choice, cost bucket):
  every arch's cost is an integer number of grid units, so the program is exact.
* **Every strategy runs its own ``search()``.**  Those that score archs get ``acc`` as their evaluator; those that
  train weights (FP-NAS, HourNAS) get a :class:`PlantedSupernet` whose likelihood of the labels for a sampled
  path is ``acc`` of that path, so their architecture parameters get real scores (FP-NAS's importance weights)
  and real gradients (HourNAS's straight-through scales); FPNAS's coordinate descent gets a trainer whose
  training stages change nothing and whose independent stage returns ``acc``; EPNAS's performance predictor is
  replaced by ``acc`` (:attr:`SearchContext.known_accuracy`).

``benchmarks/planted.py`` runs every registered strategy on it; tests run small versions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.cost.layer_costs import LayerCosts
from hwnas.data import Dataset
from hwnas.search.base import SearchContext, Strategy, get_strategy
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


@dataclass
class PlantedTask:
    """The planted accuracy tables, the rounded cost, the bound and the exact optimum."""

    space: SearchSpace
    cost: LayerCosts          # on the grid: every value a multiple of ``resolution``
    bound: float              # upper bound on ``cost`` (same units)
    resolution: float
    unary: list[np.ndarray]   # per layer: (choices,)
    pair: list[np.ndarray]    # per layer: (previous layer's choices, choices); pair[0] is zeros
    base: float = 0.5
    seed: int = 0
    optimum: Arch | None = field(default=None, init=False)
    optimum_accuracy: float = field(default=math.nan, init=False)

    @classmethod
    def make(cls, space: SearchSpace, cost: LayerCosts, tightness: float = 0.3, resolution: float | None = None,
             seed: int = 0, unary_scale: float = 0.3, pair_scale: float = 0.12) -> "PlantedTask":
        """Tables drawn from ``seed``; the bound sits ``tightness`` of the way from the space's smallest cost to
        its largest.  ``resolution`` (default: 1/2000 of that range) is the cost grid."""
        lo, hi = cost.minimum(), cost.maximum()
        res = resolution or (hi - lo) / 2000
        grid = LayerCosts(cost.metric, round(cost.fixed / res) * res,
                          tuple({c: round(v / res) * res for c, v in d.items()} for d in cost.layers))
        rng = np.random.default_rng(seed)
        n = len(space.layers)
        unary, pair = [], []
        for i, layer in enumerate(space.layers):
            v = np.array([grid.layers[i][c] for c in layer.choices])
            r = (v - v.min()) / max(np.ptp(v), 1e-12)
            u = (np.sqrt(r) + 0.6 * rng.standard_normal(len(v))) * unary_scale / n
            unary.append(u - u.mean())
            k_prev = len(space.layers[i - 1].choices) if i else 1
            w = rng.standard_normal((k_prev, len(v))) * pair_scale / n if i else np.zeros((1, len(v)))
            pair.append(w)
        bound = grid.minimum() + tightness * (grid.maximum() - grid.minimum())
        task = cls(space, grid, round(bound / res) * res, res, unary, pair, seed=seed)
        task.optimum, task.optimum_accuracy = task.solve()
        return task

    # -- the planted accuracy ------------------------------------------------------------------------------
    def index(self, arch: Arch) -> list[int]:
        return [layer.choices.index(c) for layer, c in zip(self.space.layers, arch.choices)]

    def accuracy(self, arch: Arch) -> float:
        j = self.index(arch)
        acc = self.base + sum(float(self.unary[i][k]) for i, k in enumerate(j))
        acc += sum(float(self.pair[i][j[i - 1], j[i]]) for i in range(1, len(j)))
        return acc

    def cost_of(self, arch: Arch) -> float:
        return self.cost.total(arch.choices)

    def regret(self, arch: Arch) -> float:
        """How far ``arch`` falls short of the optimum, relative to it (0: optimal)."""
        return (self.optimum_accuracy - self.accuracy(arch)) / self.optimum_accuracy

    # -- the exact optimum ---------------------------------------------------------------------------------
    def solve(self) -> tuple[Arch, float]:
        """Exact best arch with cost <= bound: DP over (layer, previous choice, cost in grid units)."""
        res = self.resolution
        q = [np.array([round(self.cost.layers[i][c] / res) for c in layer.choices], dtype=np.int64)
             for i, layer in enumerate(self.space.layers)]
        budget = round(self.bound / res) - round(self.cost.fixed / res)
        if budget < sum(int(x.min()) for x in q):
            raise ValueError("the bound is below the space's smallest cost")
        # each layer's costs from its cheapest choice, so that every bucket index is >= 0 (a LUT's per-layer
        # latency, median minus the per-network overhead, can be negative for a skip)
        budget -= sum(int(x.min()) for x in q)
        q = [x - x.min() for x in q]
        width = budget + 1
        neg = -np.inf
        V = np.full((len(q[0]), width), neg)
        for k, qk in enumerate(q[0]):
            if qk <= budget:
                V[k, qk] = self.unary[0][k]
        back: list[np.ndarray] = []
        for i in range(1, len(q)):
            W = np.full((len(q[i]), width), neg)
            B = np.zeros((len(q[i]), width), dtype=np.int16)
            for k, qk in enumerate(q[i]):
                if qk > budget:
                    continue
                cand = V + self.pair[i][:, k][:, None]         # (prev, width): value before adding layer i
                best_prev = cand.argmax(0)
                best = cand[best_prev, np.arange(width)]
                W[k, qk:] = best[:width - qk] + self.unary[i][k]
                B[k, qk:] = best_prev[:width - qk]
            V = W
            back.append(B)
        k, b = np.unravel_index(np.argmax(V), V.shape)
        value = float(V[k, b])
        ks = [int(k)]
        for i in range(len(q) - 1, 0, -1):
            prev = int(back[i - 1][ks[-1], b])
            b -= q[i][ks[-1]]
            ks.append(prev)
        ks.reverse()
        arch = Arch(self.space.name, tuple(layer.choices[k] for layer, k in zip(self.space.layers, ks)))
        assert abs(self.accuracy(arch) - (value + self.base)) < 1e-9 and self.cost_of(arch) <= self.bound + 1e-9
        return arch, self.base + value

    # -- what a search gets --------------------------------------------------------------------------------
    def cost_model(self) -> CostModel:
        return CostModel(self.space, tables={self.cost.metric: self.cost})

    def constraint(self) -> Constraint:
        return Constraint(self.cost.metric, None, self.bound)

    def data(self, n_train: int = 3200, n_val: int = 64) -> Dataset:
        """Inputs that carry their label (a one-hot over the channels of a 1x1 image), so that the planted
        supernet's likelihood of the labels is exactly the planted accuracy."""
        g = torch.Generator().manual_seed(self.seed)
        classes = 10

        def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.randint(0, classes, (n,), generator=g)
            return nn.functional.one_hot(y, classes).float()[:, :, None, None], y

        xt, yt = make(n_train)
        xv, yv = make(n_val)
        return Dataset("planted", xt, yt, xv, yv, classes, flip=False, pad=0)

    def supernet(self) -> "PlantedSupernet":
        return PlantedSupernet(self)

    def context(self, out_dir: str | None = None) -> SearchContext:
        return SearchContext(supernet=self.supernet(), trainer=PlantedTrainer(self), data=self.data(),
                             cost=self.cost_model(), constraints=[self.constraint()], out_dir=out_dir,
                             known_accuracy=self.accuracy)


class PlantedSupernet(nn.Module):
    """The supernet interface (``net(x, path, scales)``) with the planted accuracy as its behaviour: the
    probability it gives the true label of every input is ``acc`` of the path.  ``scales`` (straight-through
    one-hot weights, 1 in the forward pass) multiply each layer's planted contribution, so architecture
    parameters get the gradient of ``acc``.  A ``None`` choice (HourNAS's pass-through) contributes nothing.
    Its one weight does not change what it computes (the searchers' weight steps have something to step)."""

    def __init__(self, task: PlantedTask) -> None:
        super().__init__()
        self.task = task
        self.choice_index = [{c: k for k, c in enumerate(layer.choices)} for layer in task.space.layers]
        self.unused = nn.Parameter(torch.zeros(()))

    def path_accuracy(self, path: Any, scales: Any = None) -> torch.Tensor:
        choices = path.choices if isinstance(path, Arch) else tuple(path)
        j = [None if c is None else self.choice_index[i][c] for i, c in enumerate(choices)]
        one = torch.ones(())
        s = [one if scales is None or scales[i] is None else scales[i] for i in range(len(j))]
        acc = torch.full((), self.task.base)
        for i, k in enumerate(j):
            if k is None:
                continue
            acc = acc + s[i] * float(self.task.unary[i][k])
            if i and j[i - 1] is not None:
                acc = acc + s[i - 1] * s[i] * float(self.task.pair[i][j[i - 1], k])
        return acc.clamp(0.01, 0.99)

    def forward(self, x: torch.Tensor, path: Any, scales: Any = None) -> torch.Tensor:
        acc = self.path_accuracy(path, scales)
        classes = x.shape[1]
        margin = torch.log(acc * (classes - 1) / (1 - acc))  # softmax gives the label exactly acc
        return x.flatten(1) * margin + 0.0 * self.unused


class PlantedTrainer:
    """FPNAS's training stages on the planted task: weight sharing changes nothing, independent training
    returns the planted accuracy."""

    def __init__(self, task: PlantedTask) -> None:
        self.task = task

    def accuracy(self, arch: Arch) -> float:
        return self.task.accuracy(arch)

    def train_block(self, cur: Arch, index: int, choices: list[str], epochs: int, seed: int) -> None:
        return None

    def train_independent(self, arch: Arch, epochs: int, seed: int) -> float:
        return self.task.accuracy(arch)


@dataclass
class PlantedRun:
    strategy: str
    seed: int
    arch: str
    accuracy: float
    regret: float
    evaluations: int
    anytime: list[tuple[int, float]]   # (evaluations so far, regret of the best so far)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "seed": self.seed, "arch": self.arch, "accuracy": self.accuracy,
                "regret": self.regret, "evaluations": self.evaluations, "anytime": self.anytime, **self.extra}


def planted_strategy(task: PlantedTask, strategy: str, seed: int = 0, budget: int | None = None,
                     options: dict[str, Any] | None = None, out_dir: str | None = None) -> Strategy:
    """``strategy`` set up on ``task`` (its context, the bound as the hard filter), not yet run."""
    cls = get_strategy(strategy)
    ctx = task.context(out_dir)
    return cls(task.space, task.accuracy, HardFilter([task.constraint()], ctx.cost), budget, seed, context=ctx,
               params=cls.validate(dict(options or {})))


def run_planted(task: PlantedTask, strategy: str, seed: int = 0, budget: int | None = None,
                options: dict[str, Any] | None = None, out_dir: str | None = None,
                on_strategy: Callable[[Strategy], None] | None = None) -> PlantedRun:
    """One search of ``strategy`` on ``task`` through the strategy's own ``search()``; the regret of its
    result and of its best-so-far after every evaluation."""
    strat = planted_strategy(task, strategy, seed, budget, options, out_dir)
    strat.run()
    if on_strategy:
        on_strategy(strat)
    best = strat.best
    arch = task.space.parse(best.arch) if best else None
    curve, run_best = [], -math.inf
    for r in strat.history:
        if r.satisfied:
            run_best = max(run_best, r.accuracy)
        curve.append((r.index + 1, (task.optimum_accuracy - run_best) / task.optimum_accuracy))
    acc = task.accuracy(arch) if arch else math.nan
    return PlantedRun(strategy, seed, str(arch) if arch else "", acc, task.regret(arch) if arch else math.nan,
                      len(strat.history), curve)
