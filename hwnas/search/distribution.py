"""A learnable distribution over a space's per-layer choices, shared by the searchers that learn one
(FP-NAS's P(A|α), HourNAS's θ): independent per layer, either *joint* (one logit per choice of a layer) or
*factorised* (one categorical per search variable of a layer -- block, kernel, expansion, width, bits -- so
Σ|D| parameters instead of Π|D|; see :meth:`SearchSpace.variables`).

A factorised layer's probability of a choice is the product of its variables' probabilities, renormalised
over the layer's valid choices (a skip has no kernel: its missing variables are marginalised out; a layer
whose variables do not form a full grid, like FBNet's grouped convs that exist only at e=1, is renormalised).
:meth:`ChoiceDistribution.to_joint` turns a factorised distribution into the joint one with exactly the
same probabilities.  Sampling is exact (``sample``) or Gumbel-softmax with a temperature (``gumbel``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from hwnas.errors import ConstraintError
from hwnas.space.arch import Arch, natural_key
from hwnas.space.base import SearchSpace

if TYPE_CHECKING:
    from hwnas.constraints import HardFilter
    from hwnas.cost.layer_costs import LayerCosts


class ChoiceDistribution(nn.Module):
    def __init__(self, space: SearchSpace, factorised: bool = False) -> None:
        super().__init__()
        self.space_name = space.name
        self.choices = [tuple(layer.choices) for layer in space.layers]
        self.factorised = factorised
        # per layer: the variables, each variable's values, and each choice's value index per variable (-1: absent)
        self.var_names: list[list[str]] = []
        self.var_values: list[list[list[str]]] = []
        self._index: list[torch.Tensor] = []
        params = []
        for ch in self.choices:
            vs = [space.variables(c) for c in ch] if factorised else [{"op": c} for c in ch]
            names = sorted({k for v in vs for k in v})
            values = [sorted({v[n] for v in vs if n in v}, key=natural_key) for n in names]
            idx = torch.tensor([[values[m].index(v[n]) if n in v else -1 for m, n in enumerate(names)] for v in vs])
            self.var_names.append(names)
            self.var_values.append(values)
            self._index.append(idx)
            params.append(nn.ParameterList(nn.Parameter(torch.zeros(len(vals))) for vals in values))
        self.logits = nn.ModuleList(params)
        if factorised:
            self._start_uniform()

    def _start_uniform(self, iters: int = 60) -> None:
        """Set a factorised layer's logits so that its choices start equally likely, as the joint form's do.
        Zero logits would give every *variable value* the same probability, so a layer's lone skip (one block
        value against MBConv's six kernel x expansion combinations) would start at P = 1/2 and the initial mode
        would skip every layer that may.  Each layer's logits are fitted to the uniform distribution (L-BFGS on
        its cross-entropy; exact for the spaces hwnas ships, whose variables form grids per block type)."""
        for i, ch in enumerate(self.choices):
            params = list(self.logits[i])
            if len(ch) < 2 or len(params) < 2:
                continue
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, tolerance_grad=1e-10, tolerance_change=1e-12,
                                    line_search_fn="strong_wolfe")

            def closure(opt: torch.optim.Optimizer = opt, i: int = i) -> torch.Tensor:
                opt.zero_grad()
                loss = -self.layer_log_probs(i).mean()
                loss.backward()
                return loss

            opt.step(closure)
            for q in params:
                q.grad = None

    # -- probabilities ---------------------------------------------------------------------------------
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def layer_log_probs(self, i: int) -> torch.Tensor:
        """log P(choice) over layer ``i``'s choices (differentiable)."""
        idx = self._index[i]
        score = torch.zeros(len(self.choices[i]))
        for m, logit in enumerate(self.logits[i]):
            lp = torch.log_softmax(logit, 0)
            present = idx[:, m] >= 0
            score = score + torch.where(present, lp[idx[:, m].clamp_min(0)], torch.zeros(()))
        return torch.log_softmax(score, 0)

    def log_probs(self) -> list[torch.Tensor]:
        return [self.layer_log_probs(i) for i in range(len(self.choices))]

    def probs(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [lp.exp() for lp in self.log_probs()]

    def entropy(self) -> float:
        """H(P(A|α)) in nats: the sum of the layers' entropies (layers are independent)."""
        with torch.no_grad():
            return float(sum(-(lp.exp() * lp).sum() for lp in self.log_probs()))

    def max_entropy(self) -> float:
        return sum(math.log(len(ch)) for ch in self.choices)

    def log_prob(self, archs: Sequence[Arch]) -> torch.Tensor:
        """log P(A_k|α) for each arch (differentiable), shape (K,)."""
        lps = self.log_probs()
        rows = [sum(lp[ch.index(c)] for lp, ch, c in zip(lps, self.choices, a.choices)) for a in archs]
        return torch.stack([torch.as_tensor(r) for r in rows])

    def expected(self, lc: "LayerCosts") -> float:
        """E_P[cost] of an additive cost, exactly: its fixed part plus each layer's probability-weighted costs."""
        with torch.no_grad():
            return lc.fixed + sum(float((p * torch.tensor([d[c] for c in ch])).sum())
                                  for p, d, ch in zip(self.probs(), lc.layers, self.choices))

    # -- sampling and modes ----------------------------------------------------------------------------
    def sample(self, k: int, generator: torch.Generator) -> list[Arch]:
        """``k`` independent archs from P(A|α)."""
        with torch.no_grad():
            picks = [torch.multinomial(lp.exp(), k, replacement=True, generator=generator) for lp in self.log_probs()]
        return [Arch(self.space_name, tuple(ch[int(p[j])] for ch, p in zip(self.choices, picks))) for j in range(k)]

    def gumbel(self, tau: float, generator: torch.Generator) -> tuple[Arch, list[torch.Tensor]]:
        """One Gumbel-Max sample at temperature ``tau``: the arch (per-layer argmax of (log p + g) / tau) and the
        straight-through one-hot weights per layer (forward one-hot, gradient of the softmax)."""
        arch, weights = [], []
        for lp, ch in zip(self.log_probs(), self.choices):
            u = torch.rand(lp.shape, generator=generator).clamp(1e-9, 1 - 1e-9)
            soft = torch.softmax((lp - torch.log(-torch.log(u))) / tau, 0)
            j = int(soft.argmax())
            hard = torch.zeros_like(soft)
            hard[j] = 1.0
            weights.append(hard - soft.detach() + soft)
            arch.append(ch[j])
        return Arch(self.space_name, tuple(arch)), weights

    def mode(self) -> Arch:
        """The most probable arch (layers are independent: the per-layer argmax)."""
        with torch.no_grad():
            return Arch(self.space_name, tuple(ch[int(lp.argmax())] for lp, ch in zip(self.log_probs(), self.choices)))

    # -- coarse to fine --------------------------------------------------------------------------------
    def to_joint(self) -> "ChoiceDistribution":
        """The joint distribution (one logit per choice) with exactly this distribution's probabilities."""
        joint = ChoiceDistribution.__new__(ChoiceDistribution)
        nn.Module.__init__(joint)
        joint.space_name, joint.choices, joint.factorised = self.space_name, self.choices, False
        joint.var_names = [["op"] for _ in self.choices]
        joint.var_values = [[list(ch)] for ch in self.choices]
        joint._index = [torch.arange(len(ch)).unsqueeze(1) for ch in self.choices]
        with torch.no_grad():
            joint.logits = nn.ModuleList(nn.ParameterList([nn.Parameter(lp.detach().clone())])
                                         for lp in self.log_probs())
        return joint

    def describe(self) -> dict[str, object]:
        return {"factorised": self.factorised, "parameters": self.num_parameters(), "entropy": self.entropy(),
                "mode": str(self.mode())}


#: how :func:`most_probable_satisfying` found its arch
FOUND_BY = {"mode": "the distribution's mode", "beam": "the most probable satisfying arch (beam search)",
            "fallback": "FALLBACK: the beam search found no satisfying arch; the most probable of {n} satisfying "
                        "random draws (not what the distribution learned)"}


def most_probable_satisfying(dist: ChoiceDistribution, hard: "HardFilter | None", beam: int = 512,
                             fallback_draws: int = 200, seed: int = 0) -> tuple[Arch | None, str]:
    """The most probable arch that satisfies every hard bound, and how it was found (a key of :data:`FOUND_BY`):
    the mode if it does; else a beam search over layers (log-probability order) that keeps only partial archs
    from which every additive upper bound is still reachable, checked in full at the end; else -- said so, since
    it is no longer what the distribution learned -- the most probable of ``fallback_draws`` satisfying samples."""
    import random

    mode = dist.mode()
    if hard is None or hard.ok(mode):
        return mode, "mode"
    cost = hard.cost
    bounds = [(cost.to_raw(c.metric, c.hi), lc) for c in hard.constraints if c.hi is not None
              for lc in [cost.layer_costs(c.metric)] if lc is not None]
    lps = [lp.detach().tolist() for lp in dist.log_probs()]
    rest = [[sum(min(d.values()) for d in lc.layers[i:]) for i in range(len(lc.layers) + 1)] for _, lc in bounds]
    partial: list[tuple[float, tuple[str, ...], tuple[float, ...]]] = [(0.0, (), tuple(lc.fixed for _, lc in bounds))]
    for i, ch in enumerate(dist.choices):
        grown = []
        for lp, chosen, spent in partial:
            for j, c in enumerate(ch):
                s = tuple(sp + lc.layers[i][c] for sp, (_, lc) in zip(spent, bounds))
                if all(sv + rest[b][i + 1] <= hi * (1 + 1e-12) for b, (sv, (hi, _)) in enumerate(zip(s, bounds))):
                    grown.append((lp + lps[i][j], chosen + (c,), s))
        partial = sorted(grown, key=lambda t: -t[0])[:beam]
    for _, chosen, _ in partial:
        a = Arch(dist.space_name, chosen)
        if hard.ok(a):
            return a, "beam"
    rng = random.Random(seed)
    try:
        drawn = {hard.sample(rng) for _ in range(fallback_draws)}
    except ConstraintError:  # nothing satisfies: the caller reports it
        return None, "fallback"
    with torch.no_grad():
        return max(drawn, key=lambda a: float(dist.log_prob([a])[0])), "fallback"
