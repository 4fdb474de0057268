"""``hournas``: HourNAS (Yang et al., "HourNAS: Extremely Fast Neural Architecture Search Through an
Hourglass Lens").  Vital blocks first, then space proposals for the rest.

1. **Vital layers** (:meth:`SearchSpace.vital_layers`: every block where resolution or channels change) are
   searched in a minimal supernet in which every other block is reduced to its shortcut.  Weights (training
   part) and θ_vital (validation part, Adam) are updated alternately; archs are drawn by Gumbel-Max at a
   temperature τ_t = τ0·d^t (t counts training steps, each one weight draw and one θ draw; d anneals τ0 = 5
   to 0.5 by the last step unless ``tau_decay`` gives the paper's 0.9999), and θ gets its gradient through the
   sampled op's straight-through weight.  Each vital layer keeps its most important op.
2. **Space proposals**: m = 8 matrices θ_i (layers x ops) optimised without data, in seconds, so that archs
   drawn from each proposal use what the targets allow: resource term (1/nm) Σ_j Σ_n |R_n(G(θ_j)) − T_n| / M_n,
   with R from the per-layer cost table (:class:`hwnas.cost.LayerCosts`: LUT latency, FLOPs/MACs, params,
   BitOps -- several targets at once), weighted α, plus β·Σ_{i≠j} |cos(θ_i, θ_j)| for diverse proposals (α, β
   as in stage 2).  G is the softmax (the expected resource; ``proposal_draw=gumbel``: a Gumbel-softmax draw,
   the paper lists both).  With Gumbel-softmax draws the optimum puts every draw on the target, so the proposals
   ended at 0.08–0.2 nats per layer (uniform: 1.95): stage 2 drew each proposal's mode and had nothing left to
   search, and the draws' resource term, whose sign flips from draw to draw, swamped the accuracy gradient.
   M_n is the target itself (a relative deviation): normalising
   by the space's largest resource, as the paper does, makes a tight target's term so small that the
   diversity term keeps the proposals away from it.  (The paper writes Σ|ΘΘᵀ − I| on raw θ; that pins every
   proposal's norm to 1, i.e. to nearly uniform distributions that cannot reach a target away from the
   space's average, so the rows are centred per layer and normalised: the term is the off-diagonal of the
   cosine matrix.)  An upper bound T is aimed at
   T·(1 − margin), a lower one at T·(1 + margin), a range at its middle, so that drawn archs fall inside.
3. **Non-vital layers** are searched inside the proposals: a proposal sampler Π (uniform at first) picks a
   proposal by Gumbel-Max at each step, the proposal picks the ops; weights, Θ and Π are updated alternately,
   Θ and Π on validation loss + α·(resource term, with the same G), α = 5.0, β = 1e-2; weights SGD lr 0.1,
   architecture parameters Adam lr 0.1 (the paper: 0.01 over an ImageNet epoch, thousands of steps; at 0.01 the
   few hundred steps of a small search left Θ where the data-free step put it).  The result is the best
   proposal's most probable ops (if they break a hard bound: the most probable arch of that proposal that does
   not).  Both defaults were chosen on the planted-optimum task (docs/benchmarks.md, "Planted optimum").

Outputs: ``epochs.csv``; ``proposals.csv`` and ``proposals.png`` (each proposal's sampled archs' costs
against the targets, as the paper's Fig. 3); ``result.yaml`` reports each proposal's expected cost and the
share of its samples that meet the targets.  Resumes from ``hournas.pt`` at the last finished epoch.
"""

from __future__ import annotations

import copy
import math
import os
import time
from typing import Any

import torch
import torch.nn.functional as F

from hwnas.constraints import Constraint, CostModel
from hwnas.errors import ConstraintError
from hwnas.plots import pyplot, save_figure
from hwnas.search.base import register_strategy
from hwnas.search.distribution import ChoiceDistribution, most_probable_satisfying
from hwnas.search.joint import JointSearch
from hwnas.search.options import Option
from hwnas.search.outputs import write_rows
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.supernet.train import subnet_accuracy


def temperature(t: int, tau0: float = 5.0, decay: float = 0.9999) -> float:
    """τ after ``t`` sampling iterations (FBNet's schedule, which HourNAS follows)."""
    return tau0 * decay ** t


class Target:
    """One constraint as a resource target in raw additive units (what :class:`LayerCosts` sums)."""

    def __init__(self, c: Constraint, cost: CostModel, margin: float) -> None:
        lc = cost.layer_costs(c.metric)
        if lc is None:
            raise ConstraintError(f"hournas needs additive costs; {c.metric} is not (drop it or use another strategy)")
        if c.lo is not None and c.hi is not None:
            aim = (c.lo + c.hi) / 2
        elif c.hi is not None:
            aim = c.hi * (1 - margin)
        else:
            aim = c.lo * (1 + margin)  # type: ignore[operator]
        self.constraint, self.metric, self.lc = c, c.metric, lc
        self.aim = aim
        self.raw = cost.to_raw(c.metric, aim)
        self.scale = self.raw  # M_n: the target itself (relative deviation; see the module docstring)
        if not all(math.isfinite(v) for d in lc.layers for v in d.values()):
            raise ConstraintError(f"the LUT lacks ops of this space, so {c.metric} is unknown for some choices; "
                                  "profile them with `hwnas profile --resume`")


class Proposals(torch.nn.Module):
    """m space proposals as one tensor Θ (m, layers, max ops): padded entries are invalid (-inf), the ``fixed``
    layers (the chosen vital ops) are held one-hot and get no gradient.  Everything is batched over proposals
    and layers, so optimising them takes seconds."""

    def __init__(self, space: SearchSpace, m: int, fixed: dict[int, str], seed: int = 0, init_scale: float = 0.5):
        super().__init__()
        self.space_name = space.name
        self.choices = [tuple(layer.choices) for layer in space.layers]
        n_layers, width = len(self.choices), max(len(c) for c in self.choices)
        valid = torch.zeros(n_layers, width, dtype=torch.bool)
        for i, ch in enumerate(self.choices):
            valid[i, :len(ch)] = True
        free = torch.ones(n_layers, dtype=torch.bool)
        pinned = torch.zeros(n_layers, width)
        for i, c in fixed.items():
            free[i] = False
            pinned[i] = -30.0
            pinned[i, self.choices[i].index(c)] = 30.0
        self.register_buffer("valid", valid)
        self.register_buffer("free", free)
        self.register_buffer("pinned", pinned)
        g = torch.Generator().manual_seed(seed)
        self.theta = torch.nn.Parameter(torch.randn(m, n_layers, width, generator=g) * init_scale)

    @property
    def m(self) -> int:
        return self.theta.shape[0]

    def log_probs(self) -> torch.Tensor:
        """(m, L, O) log-probabilities per layer; invalid ops -inf."""
        logits = torch.where(self.free[None, :, None], self.theta, self.pinned[None])
        return torch.log_softmax(logits.masked_fill(~self.valid[None], float("-inf")), -1)

    def gumbel_soft(self, tau: float, g: torch.Generator) -> torch.Tensor:
        u = torch.rand(self.theta.shape, generator=g).clamp(1e-9, 1 - 1e-9)
        return torch.softmax((self.log_probs() - torch.log(-torch.log(u))) / tau, -1)

    def overlap(self) -> torch.Tensor:
        """Σ_{i≠j} |cos(θ_i, θ_j)| over the free layers' valid logits, each layer centred (a softmax ignores shifts)."""
        mask = (self.valid & self.free[:, None]).float()
        n = mask.sum(-1, keepdim=True).clamp_min(1)
        centred = (self.theta - (self.theta * mask).sum(-1, keepdim=True) / n) * mask
        v = centred.reshape(self.m, -1)
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-8)
        return ((v @ v.T) - torch.eye(self.m)).abs().sum()

    def distribution(self, j: int, space: SearchSpace) -> ChoiceDistribution:
        """Proposal ``j`` as a :class:`ChoiceDistribution` (same probabilities)."""
        d = ChoiceDistribution(space)
        with torch.no_grad():
            lp = self.log_probs()[j]
            for i, ch in enumerate(self.choices):
                d.logits[i][0].copy_(lp[i, :len(ch)])
        return d


def cost_tables(targets: list["Target"], choices: list[tuple[str, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, L, O) per-op costs (0 where padded) and (n,) fixed parts, in raw units."""
    n_layers, width = len(choices), max(len(c) for c in choices)
    tab = torch.zeros(len(targets), n_layers, width)
    for n, t in enumerate(targets):
        for i, ch in enumerate(choices):
            tab[n, i, :len(ch)] = torch.tensor([t.lc.layers[i][c] for c in ch])
    return tab, torch.tensor([t.lc.fixed for t in targets])


def resource(weights: torch.Tensor, tables: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """R(A) = fixed + Σ_l Σ_o A_lo F_lo: weights (..., L, O), tables (n, L, O) -> (..., n)."""
    return fixed + torch.einsum("...lo,nlo->...n", weights, tables)


def resource_loss(r: torch.Tensor, targets: list["Target"]) -> torch.Tensor:
    """(1/n) Σ_n |R_n − T_n| / M_n, averaged over any leading dimensions (proposals)."""
    aim = torch.tensor([t.raw for t in targets])
    scale = torch.tensor([t.scale for t in targets])
    return ((r - aim).abs() / scale).mean()


def optimize_proposals(space: SearchSpace, targets: list[Target], fixed: dict[int, str], m: int = 8,
                       iters: int = 1000, lr: float = 0.05, alpha: float = 5.0, beta: float = 1e-2, tau: float = 0.5,
                       seed: int = 0, draw: str = "softmax") -> tuple[Proposals, dict[str, Any]]:
    """m proposals over the layers not in ``fixed``, from random starts: α times the resource term plus β times
    the overlap -- the same α, β as the stage-2 architecture loss.  ``draw``: the resource of the expected arch
    (``softmax``: the proposals keep their spread, which stage 2 then searches) or of a Gumbel-softmax draw
    (``gumbel``: every draw lands near the targets, and the proposals end nearly deterministic)."""
    props = Proposals(space, m, fixed, seed)
    tables, consts = cost_tables(targets, props.choices)
    g = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam([props.theta], lr=lr)
    with torch.no_grad():
        overlap0 = float(props.overlap())
    t0 = time.time()
    for _ in range(iters):
        weights = props.gumbel_soft(tau, g) if draw == "gumbel" else props.log_probs().exp()
        res = resource_loss(resource(weights, tables, consts), targets)
        loss = alpha * res + beta * props.overlap()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        info = {"iterations": iters, "seconds": round(time.time() - t0, 3), "overlap_initial": round(overlap0, 4),
                "overlap_final": round(float(props.overlap()), 4)}
    return props, info


def fix_layers(dist: ChoiceDistribution, fixed: dict[int, str], strength: float = 30.0) -> ChoiceDistribution:
    """``dist`` with the ``fixed`` layers' logits set so that those choices have probability ~1."""
    with torch.no_grad():
        for i, c in fixed.items():
            row = torch.full((len(dist.choices[i]),), -strength)
            row[dist.choices[i].index(c)] = strength
            dist.logits[i][0].copy_(row)
    return dist


def sample_at(dist: ChoiceDistribution, n: int, tau: float, g: torch.Generator) -> list[Arch]:
    """``n`` archs from softmax(log p / τ) per layer (τ < 1 sharpens toward the most probable ops)."""
    with torch.no_grad():
        picks = [torch.multinomial(torch.softmax(lp / tau, 0), n, replacement=True, generator=g)
                 for lp in dist.log_probs()]
    return [Arch(dist.space_name, tuple(ch[int(p[j])] for ch, p in zip(dist.choices, picks))) for j in range(n)]


class _Path(torch.nn.Module):
    """A supernet path as a module (for BN recalibration and accuracy of the minimal supernet)."""

    def __init__(self, net: torch.nn.Module, path: list[str | None]) -> None:
        super().__init__()
        self.net, self.path = net, path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.path)


@register_strategy
class HourNASSearch(JointSearch):
    """HourNAS: vital blocks first (minimal supernet, Gumbel-Max), then 8 space proposals for the rest.

    Trains the supernet from scratch (weights on 80% of the training split, architecture parameters on 20%);
    the result is the best proposal's most probable ops, within the hard bounds."""

    name = "hournas"
    weight_fraction = 0.8
    options = (Option("vital_epochs", int, 2, "stage 1: epochs on the vital layers (the paper: 1 ImageNet epoch)",
                      min=1),
               Option("epochs", int, 4, "stage 2: epochs on the non-vital layers inside the proposals", min=1),
               Option("proposals", int, 8, "space proposals m", min=1),
               Option("proposal_iters", int, 1000, "optimisation steps of the proposals (data-free)", min=1),
               Option("vital_share", float, 1.0, "share of an upper bound's headroom (above the smallest arch) the "
                      "vital layers may take (1: the paper's rule, each vital layer's most important op within the "
                      "bound)", min=0, max=1),
               Option("margin", float, 0.02, "proposals aim this far inside each bound", min=0, max=0.5),
               Option("proposal_draw", str, "softmax", "G of the resource term (proposals and stage 2): 'softmax' (the "
                      "expected resource) or 'gumbel' (a Gumbel-softmax draw's)", choices=("gumbel", "softmax")),
               Option("proposal_tau", float, 0.5, "Gumbel-softmax temperature of the proposals' draws (with "
                      "proposal_draw=gumbel)", min=1e-3),
               Option("tau0", float, 5.0, "initial Gumbel temperature", min=1e-3),
               Option("tau_decay", float, 0.0, "temperature factor per step (the paper: 0.9999, for ImageNet's "
                      "thousands of steps; 0: the factor that brings tau0 to tau_final at the last step)", min=0,
                      max=1),
               Option("tau_final", float, 0.5, "temperature at the last step when tau_decay is 0", min=1e-3),
               Option("cost_weight", float, 5.0, "weight of the resource term in the proposals' and stage 2's "
                      "architecture loss (the paper's alpha)", min=0, aliases=("alpha",)),
               Option("diversity_weight", float, 1e-2, "weight of the proposals' orthogonality term (the paper's "
                      "beta)", min=0, aliases=("beta",)),
               Option("lr", float, 0.1, "SGD learning rate of the weights", min=0),
               Option("arch_lr", float, 0.1, "Adam learning rate of the architecture parameters (the paper: 0.01, "
                      "over an ImageNet epoch's thousands of steps)", min=0),
               Option("batch_size", int, 64, "images per step", min=1))

    @classmethod
    def default_budget(cls, params: dict[str, Any]) -> int:
        return params["epochs"] + 1  # stage 2's best mode after every epoch, and the result

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        p, ctx = self.params, self.context
        self.targets = [Target(c, ctx.cost, p["margin"]) for c in ctx.constraints]
        self.setup_training(p["batch_size"], p["vital_epochs"] + p["epochs"], p["lr"])
        self.vital = self.space.vital_layers()
        self.nonvital = [i for i in range(len(self.space.layers)) if i not in self.vital]
        self.theta_vital = ChoiceDistribution(self.space)
        self.v_opt = torch.optim.Adam(self.theta_vital.parameters(), lr=p["arch_lr"])
        self.t = 0  # sampling iterations, for τ
        self.fixed: dict[int, str] = {}
        self.proposals: Proposals | None = None
        self.pi = torch.nn.Parameter(torch.zeros(p["proposals"]))
        self.p_opt: torch.optim.Optimizer | None = None
        self.proposal_info: dict[str, Any] = {}

    @property
    def tau(self) -> float:
        return temperature(self.t, self.params["tau0"], self.decay)

    @property
    def decay(self) -> float:
        """τ's factor per step: the given one, or (τ_final/τ0)^(1/steps) so that a short search anneals fully
        (at 0.9999 a search of a few hundred steps would keep τ near 5, where every Gumbel-softmax draw is
        nearly uniform and θ gets almost no gradient)."""
        p = self.params
        if p["tau_decay"]:
            return p["tau_decay"]
        steps = self.steps_per_epoch * (p["vital_epochs"] + p["epochs"])
        return (p["tau_final"] / p["tau0"]) ** (1 / max(steps, 1))

    # -- stage 1 ---------------------------------------------------------------------------------------
    def vital_path(self, arch: Arch) -> list[str | None]:
        return [c if i in self.vital else None for i, c in enumerate(arch.choices)]

    def vital_epoch(self) -> None:
        for x, y in self.train_batches():
            arch, _ = self.theta_vital.gumbel(self.tau, self.gen)
            self.net.train()
            self.w_opt.backward(F.cross_entropy(self.net(x, self.vital_path(arch)), y))
            self.w_opt.step()
            xv, yv = self.val_batch()
            arch, w = self.theta_vital.gumbel(self.tau, self.gen)
            self.t += 1  # τ advances once per step (one weight draw and one θ draw)
            scales = [w[i][w[i].argmax()] if i in self.vital else None for i in range(len(w))]
            loss = F.cross_entropy(self.net(xv, self.vital_path(arch), scales), yv)
            self.v_opt.zero_grad()
            loss.backward()
            self.v_opt.step()
            self.net.zero_grad(set_to_none=True)

    def choose_vital(self) -> dict[int, str]:
        """Each vital layer's most important op (the paper: the largest θ), kept within the bounds: with every other
        layer at its cheapest op, the vital layers may use at most ``vital_share`` (default 1: all, the paper's
        rule; lower it to leave the proposals more room) of what an upper bound allows above the
        space's smallest arch, so that the proposals keep room to search the non-vital layers."""
        from hwnas.constraints import HardFilter

        d = ChoiceDistribution(self.space)
        lps = self.theta_vital.log_probs()
        with torch.no_grad():
            for i in self.vital:
                d.logits[i][0].copy_(lps[i])
        cheapest = {}
        for i in self.nonvital:
            costs = [sum(t.lc.layers[i][c] / t.scale for t in self.targets) for c in self.space.layers[i].choices]
            cheapest[i] = self.space.layers[i].choices[min(range(len(costs)), key=costs.__getitem__)]
        fix_layers(d, cheapest)
        cost, share = self.context.cost, self.params["vital_share"]
        tighter = []
        for c in self.context.constraints:
            lo = cost.minimum(c.metric)
            hi = c.hi if c.hi is None or lo is None else lo + share * (c.hi - lo)
            tighter.append(Constraint(c.metric, c.lo, hi))
        a, _ = most_probable_satisfying(d, HardFilter(tighter, cost) if tighter else None, seed=self.seed)
        if a is None:
            raise ConstraintError("no choice of the vital layers leaves room for the bounds; loosen them")
        return {i: a.choices[i] for i in self.vital}

    def make_proposals(self) -> None:
        p = self.params
        if self.targets:
            self.proposals, self.proposal_info = optimize_proposals(
                self.space, self.targets, self.fixed, p["proposals"], p["proposal_iters"], alpha=p["cost_weight"],
                beta=p["diversity_weight"], tau=p["proposal_tau"], seed=self.seed, draw=p["proposal_draw"])
        else:  # nothing to aim at: uniform proposals
            self.proposals = Proposals(self.space, p["proposals"], self.fixed, self.seed, init_scale=0.0)
            self.proposal_info = {"iterations": 0, "seconds": 0.0, "note": "no targets: uniform proposals"}
        self.p_opt = torch.optim.Adam([self.proposals.theta, self.pi], lr=p["arch_lr"])

    def draw(self) -> tuple[int, Arch, torch.Tensor, list[torch.Tensor | None]]:
        """A proposal by Gumbel-Max over Π, then its ops by Gumbel-Max; (L, O) straight-through weights (scaled
        by the proposal's) and per-layer output scales for the supernet."""
        u = torch.rand(self.pi.shape, generator=self.gen).clamp(1e-9, 1 - 1e-9)
        soft_pi = torch.softmax((torch.log_softmax(self.pi, 0) - torch.log(-torch.log(u))) / self.tau, 0)
        j = int(soft_pi.argmax())
        pi_st = 1.0 - soft_pi[j].detach() + soft_pi[j]
        soft = self.proposals.gumbel_soft(self.tau, self.gen)[j]
        idx = soft.argmax(-1)
        hard = torch.zeros_like(soft).scatter_(-1, idx[:, None], 1.0)
        w = pi_st * (hard - soft.detach() + soft)
        arch = Arch(self.space.name, tuple(ch[int(k)] for ch, k in zip(self.proposals.choices, idx)))
        scales = [w[i, idx[i]] if i in self.nonvital else None for i in range(len(idx))]
        return j, arch, w, scales

    def nonvital_epoch(self) -> None:
        p = self.params
        tables, consts = cost_tables(self.targets, self.proposals.choices) if self.targets else (None, None)
        for x, y in self.train_batches():
            _, arch, _, _ = self.draw()
            self.net.train()
            self.w_opt.backward(F.cross_entropy(self.net(x, arch), y))
            self.w_opt.step()
            xv, yv = self.val_batch()
            _, arch, w, scales = self.draw()
            loss = F.cross_entropy(self.net(xv, arch, scales), yv) + p["diversity_weight"] * self.proposals.overlap()
            if self.targets:
                rw = w if p["proposal_draw"] == "gumbel" else self.proposals.log_probs().exp()
                loss = loss + p["cost_weight"] * resource_loss(resource(rw, tables, consts), self.targets)
            self.p_opt.zero_grad()
            loss.backward()
            self.p_opt.step()
            self.net.zero_grad(set_to_none=True)
            self.t += 1  # τ advances once per step

    def best_proposal(self) -> int:
        return int(self.pi.detach().argmax())

    # -- the search ------------------------------------------------------------------------------------
    def search(self) -> None:
        p = self.params
        total = p["vital_epochs"] + p["epochs"]
        while self.epoch < total:
            t0 = time.time()
            if self.epoch < p["vital_epochs"]:
                self.vital_epoch()
                self.search_wall += time.time() - t0
                self.epoch += 1
                mode = self.theta_vital.mode()
                path = self.vital_path(mode)
                self.epochs_log.append({
                    "epoch": self.epoch, "stage": "vital", "tau": round(self.tau, 5), "iterations": self.t,
                    "mode": " ".join(f"{self.space.layers[i].name}={mode.choices[i]}" for i in self.vital),
                    "mode_accuracy": self.path_accuracy(path), "wall_s": round(self.search_wall, 2)})
            else:
                if self.proposals is None:
                    self.fixed = self.choose_vital()
                    self.make_proposals()
                self.nonvital_epoch()
                self.search_wall += time.time() - t0
                self.epoch += 1
                mode = self.proposals.distribution(self.best_proposal(), self.space).mode()
                acc = self.score(mode, f"epoch {self.epoch} best proposal's mode", fresh=True,
                                 evaluate=lambda m=mode: self.accuracy(m))
                self.epochs_log.append({
                    "epoch": self.epoch, "stage": "non-vital", "tau": round(self.tau, 5), "iterations": self.t,
                    "mode": str(mode), "mode_accuracy": acc, "wall_s": round(self.search_wall, 2),
                    "best_proposal": self.best_proposal(),
                    "proposal_probs": " ".join(f"{v:.3f}" for v in torch.softmax(self.pi.detach(), 0).tolist())})
            self.save()
            self.checkpoint()
        if self.final is not None:
            return
        j = self.best_proposal()
        final, found_by = most_probable_satisfying(self.proposals.distribution(j, self.space), self.hard,
                                                   seed=self.seed)
        self.finish(final, f"result: proposal {j}", found_by)

    def path_accuracy(self, path: list[str | None]) -> float:
        """Held-out accuracy of the minimal supernet's path (non-vital blocks as shortcuts), BN recalibrated on a
        copy (the training supernet's running statistics stay as they are)."""
        return subnet_accuracy(_Path(copy.deepcopy(self.net), path), self.context.data, True, 5)

    # -- reports -----------------------------------------------------------------------------------------
    def proposal_report(self, n: int = 1000, taus: tuple[float, ...] = (1.0, 0.1)) -> list[dict[str, Any]]:
        """Per proposal: expected cost of every target, and the share of ``n`` sampled archs that meet the
        targets at each temperature; plus the same share under uniform sampling of the space, for scale."""
        g = torch.Generator().manual_seed(self.seed + 99)
        out = []
        cost = self.context.cost
        rows = [("uniform", fix_layers(ChoiceDistribution(self.space), self.fixed), None)]
        probs = torch.softmax(self.pi.detach(), 0).tolist()
        rows += [(j, self.proposals.distribution(j, self.space), probs[j]) for j in range(self.proposals.m)]
        for name, dist, prob in rows:
            exp = {t.metric: round(cost.from_raw(t.metric, dist.expected(t.lc)), 6) for t in self.targets}
            r: dict[str, Any] = {"proposal": name, "probability": prob, "expected": exp}
            for tau in taus:
                archs = sample_at(dist, n, tau, g)
                r[f"meets_targets_tau{tau:g}"] = round(sum(self.hard.ok(a) for a in archs) / n, 4) if self.hard else 1.0
                if tau == taus[-1]:
                    r["_samples"] = [[self.hard.metrics(a)[t.metric] for t in self.targets] for a in archs[:300]]
            out.append(r)
        return out

    def extra_result(self) -> dict[str, Any]:
        if self.proposals is None:
            return {"hournas": {"epochs_done": self.epoch, "stage": "vital"}}
        rep = [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.proposal_report(n=300)]
        return {"hournas": {"epochs_done": self.epoch, "vital_layers": [self.space.layers[i].name for i in self.vital],
                            "vital_choices": {self.space.layers[i].name: c for i, c in self.fixed.items()},
                            "targets": {t.metric: t.aim for t in self.targets},
                            "proposal_optimisation": self.proposal_info, "best_proposal": self.best_proposal(),
                            "proposals": rep, "stage_wall_s": self.stage_walls(),
                            "per_epoch": "epochs.csv, proposals.csv, proposals.png"}}

    def stage_walls(self) -> dict[str, float]:
        v = [r["wall_s"] for r in self.epochs_log if r["stage"] == "vital"]
        nv = [r["wall_s"] for r in self.epochs_log if r["stage"] == "non-vital"]
        return {"vital": v[-1] if v else 0.0, "proposals": float(self.proposal_info.get("seconds", 0.0)),
                "non_vital": round(nv[-1] - (v[-1] if v else 0.0), 2) if nv else 0.0}

    def report(self) -> str:
        if self.proposals is None:
            return f"stage 1 (vital layers), {self.epoch} epochs"
        w = self.stage_walls()
        stages = [f"vital layers {w['vital']:.1f} s", f"{self.proposals.m} proposals optimised in "
                  f"{w['proposals']:.2f} s", f"non-vital {w['non_vital']:.1f} s"]
        return ", ".join(stages) + f"; best proposal {self.best_proposal()}; proposals' costs and target shares in " \
            "result.yaml, proposals.png"

    def plot(self, out_dir: str) -> None:
        if self.proposals is None or not self.targets:
            return
        plt = pyplot()

        rep = self.proposal_report(n=300, taus=(0.1,))
        write_rows(os.path.join(out_dir, "proposals.csv"),
                   [{"proposal": r["proposal"], "probability": r["probability"],
                     **{f"expected_{m}": v for m, v in r["expected"].items()},
                     "meets_targets_tau0.1": r["meets_targets_tau0.1"]} for r in rep])
        cols = min(3, len(rep))
        nrows = math.ceil(len(rep) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 3.0 * nrows), squeeze=False)
        for ax, r in zip(axes.flat, rep):
            pts = r["_samples"]
            if len(self.targets) >= 2:
                ax.scatter([q[0] for q in pts], [q[1] for q in pts], s=4, alpha=0.4)
                for v, fn in ((self.targets[0].constraint, ax.axvline), (self.targets[1].constraint, ax.axhline)):
                    for b in (v.lo, v.hi):
                        if b is not None:
                            fn(b, color="tab:red", ls="--", lw=1)
                ax.set(xlabel=self.targets[0].metric, ylabel=self.targets[1].metric)
            else:
                ax.hist([q[0] for q in pts], bins=30)
                for b in (self.targets[0].constraint.lo, self.targets[0].constraint.hi):
                    if b is not None:
                        ax.axvline(b, color="tab:red", ls="--", lw=1)
                ax.set(xlabel=self.targets[0].metric)
            name = ("uniform sampling" if r["proposal"] == "uniform"
                    else f"proposal {r['proposal']} (π {r['probability']:.2f})")
            ax.set_title(f"{name}: {100 * r['meets_targets_tau0.1']:.0f}% meet", fontsize=8)
        for ax in list(axes.flat)[len(rep):]:
            ax.axis("off")
        fig.suptitle("archs sampled at τ = 0.1 (targets dashed)", fontsize=9)
        save_figure(fig, os.path.join(out_dir, "proposals.png"), dpi=90)

    # -- resume --------------------------------------------------------------------------------------------
    def save_extra(self) -> dict[str, Any]:
        return {"theta_vital": self.theta_vital.state_dict(), "v_opt": self.v_opt.state_dict(), "t": self.t,
                "fixed": {str(i): c for i, c in self.fixed.items()},
                "proposals": self.proposals.state_dict() if self.proposals is not None else {},
                "pi": self.pi.detach().clone(), "p_opt": self.p_opt.state_dict() if self.p_opt is not None else {},
                "proposal_info": dict(self.proposal_info)}

    def load_extra(self, ck: dict[str, Any]) -> None:
        self.theta_vital.load_state_dict(ck["theta_vital"])
        self.v_opt.load_state_dict(ck["v_opt"])
        self.t = int(ck["t"])
        self.fixed = {int(i): c for i, c in ck["fixed"].items()}
        if ck["proposals"]:
            self.proposals = Proposals(self.space, self.params["proposals"], self.fixed)
            self.proposals.load_state_dict(ck["proposals"])
            with torch.no_grad():
                self.pi.copy_(ck["pi"])
            self.p_opt = torch.optim.Adam([self.proposals.theta, self.pi], lr=self.params["arch_lr"])
            self.p_opt.load_state_dict(ck["p_opt"])
        self.proposal_info = dict(ck["proposal_info"])
