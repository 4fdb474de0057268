"""``probabilistic``: FP-NAS (Yan et al., "FP-NAS: Fast Probabilistic Neural Architecture Search").

A distribution P(A|α) over the space's per-layer choices is learned jointly with the supernet's weights ω:
ω on one half of the training split with archs sampled from P, α with Adam on the other half, after a warm-up
of weight-only epochs.  Each step draws K = max(1, ⌈λ·H(P)⌉) archs (adaptive sampling, λ = 1/4: many early,
few late; or a fixed K).  The α-gradient is Σ_k m_k ∇α(−log P(A_k|α)) with cost-aware importance weights m_k,
where C(A) = Σ over the constraints of the hinge max(0, cost/TAR − 1) (and max(0, TAR_lo/cost − 1) for lower
bounds) -- any mix of LUT latency, FLOPs/MACs, params and BitOps.  Two forms (option ``importance``):

* ``paper`` -- FP-NAS eq. 7 as published:
  m_k = P(y_val|X_val, ω, A_k) / Σ_j P(y_val|X_val, ω, A_j)  −  β C(A_k) / Σ_j C(A_j).
  The cost share is normalised over the K samples, so when every sample violates by about as much, it is
  about β/K each and no longer pulls the distribution under the target; on the planted-optimum task
  (``benchmarks/planted.py``) the distribution settled above the bound and the result was a poor projection
  (median regret 0.149 at β = 1, 10 seeds).
* ``posterior`` (the default) -- the hinge cost as a prior on archs, exp(−β·n·C(A)), inside the same
  normalisation: m_k = softmax_k(log P(y_val|X_val, ω, A_k) − β·n·C(A_k)), with n the validation images
  (so β weighs the hinge against the per-image log-likelihood, whatever the batch size).  The weights are
  the posterior share of each sample; a violating sample loses weight in proportion to how far it violates,
  not to how the other samples violate.  Same task, same budget, β = 0.3: median regret 0.062.

When every sampled arch meets every target (Σ C = 0) both forms reduce to the likelihood share.  The reported
cost term β·log C(α) uses C(α) floored at :data:`COST_FLOOR`, so the loss stays finite.

Coarse to fine: until epoch θ the distribution is factorised (one categorical per search variable of a layer,
:meth:`SearchSpace.variables`), then converted to the joint per-layer distribution with the same
probabilities (a fresh Adam state for the new parameters).  The result is the most probable arch that
satisfies the hard bounds.  Per epoch: entropy, K, expected cost, mode (``epochs.csv``, ``distribution.png``).
Resumes from ``probabilistic.pt`` at the last finished epoch.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import torch
import torch.nn.functional as F

from hwnas.constraints import HingeCost
from hwnas.plots import pyplot, save_figure
from hwnas.search.base import register_strategy
from hwnas.search.distribution import ChoiceDistribution, most_probable_satisfying
from hwnas.search.joint import JointSearch
from hwnas.search.options import Option, OptionError
from hwnas.space.arch import Arch

COST_FLOOR = 1e-6  # C(α) inside log C(α) when every sample meets the targets


def adaptive_k(entropy: float, lam: float) -> int:
    """FP-NAS eq. 4 with a floor of one: K = max(1, ⌈λ·H(P(A|α))⌉)."""
    return max(1, math.ceil(lam * entropy))


IMPORTANCE_FORMS = ("posterior", "paper")


def importance_weights(log_liks: torch.Tensor, costs: torch.Tensor, beta: float, form: str = "paper",
                       batch: int = 1) -> torch.Tensor:
    """``paper``: m_k = softmax_k(log P(y_val|X_val, ω, A_k)) − β C(A_k)/Σ_j C(A_j) (the cost share is 0 when
    Σ C = 0); ``posterior``: m_k = softmax_k(log P(y_val|X_val, ω, A_k) − β·batch·C(A_k))."""
    if form == "posterior":
        return torch.softmax(log_liks - beta * batch * costs, 0)
    if form != "paper":
        raise ValueError(f"importance form {form!r} is not one of {IMPORTANCE_FORMS}")
    total = float(costs.sum())
    share = costs / total if total > 0 else torch.zeros_like(costs)
    return torch.softmax(log_liks, 0) - beta * share


def cost_aware_loss(log_liks: torch.Tensor, costs: torch.Tensor, beta: float, batch: int) -> tuple[float, float]:
    """The two terms of L = −log P(y|X, ω, α) + β log C(α), both finite: the data term per validation image
    (−(logsumexp_k LL_k − log K) / batch) and β·log(max(mean C, COST_FLOOR))."""
    k = len(log_liks)
    data = -(float(torch.logsumexp(log_liks, 0)) - math.log(k)) / batch
    return data, beta * math.log(max(float(costs.mean()), COST_FLOOR))


def alpha_update(dist: ChoiceDistribution, opt: torch.optim.Optimizer, archs: list[Arch], log_liks: torch.Tensor,
                 costs: torch.Tensor, beta: float, form: str = "paper", batch: int = 1) -> torch.Tensor:
    """One step of FP-NAS eq. 7: descend Σ_k m_k (−log P(A_k|α)) with the importance weights held fixed."""
    m = importance_weights(log_liks, costs, beta, form, batch)
    loss = -(m.detach() * dist.log_prob(archs)).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return m


@register_strategy
class ProbabilisticSearch(JointSearch):
    """FP-NAS: a learned distribution over choices, adaptive sampling K = ⌈λH⌉, coarse-to-fine, hinge costs.

    Trains the supernet from scratch on half the training split, the distribution on the other half; the
    result is the most probable arch that satisfies the hard bounds."""

    name = "probabilistic"
    options = (Option("epochs", int, 12, "search epochs in all (the paper: 315)", min=1),
               Option("warmup", int, 2, "weight-only epochs first (the paper: 45 of 315)", min=0),
               Option("theta", int, 4, "epoch at which the factorised distribution becomes joint (0: joint "
                      "throughout; >= epochs: factorised throughout)", min=0),
               Option("lam", float, 0.25, "adaptive sampling: K = max(1, ceil(lam * entropy))", min=0),
               Option("k", int, 0, "fixed K archs per step instead of adaptive (0: adaptive)", min=0),
               Option("importance", str, "posterior", "importance weights: 'posterior' (hinge cost as a prior "
                      "exp(-cost_weight*n*C) on each sample; default, see the module doc) or 'paper' (FP-NAS eq. 7)",
                      choices=IMPORTANCE_FORMS),
               Option("cost_weight", float, 0.3, "weight of the cost term (the paper's beta = 0.3; with "
                      "importance=paper, 1 makes the weights sum to 0 when any sample violates, which short "
                      "schedules need)", min=0, aliases=("beta",)),
               Option("arch_lr", float, 0.05, "Adam learning rate of the architecture parameters alpha (the paper: "
                      "0.016 over ~100x more steps)", min=0),
               Option("lr", float, 0.05, "SGD learning rate of the weights (cosine decay)", min=0),
               Option("batch_size", int, 64, "images per step, for weights and for architecture parameters", min=1))

    @classmethod
    def default_budget(cls, params: dict[str, Any]) -> int:
        return params["epochs"] + 1  # the mode scored after every epoch, and the result

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        p, ctx = self.params, self.context
        if p["warmup"] >= p["epochs"]:
            raise OptionError(f"option warmup={p['warmup']} for strategy '{self.name}' leaves no search epoch of "
                              f"epochs={p['epochs']}; lower warmup or raise epochs")
        self.setup_training(p["batch_size"], p["epochs"], p["lr"])
        self.dist = ChoiceDistribution(self.space, factorised=p["theta"] > 0)
        self.a_opt = torch.optim.Adam(self.dist.parameters(), lr=p["arch_lr"])
        self.penalty = HingeCost(ctx.constraints, ctx.cost, beta=1.0)
        self.samples = 0

    # -- one step --------------------------------------------------------------------------------------
    def k_now(self) -> int:
        return self.params["k"] or adaptive_k(self.dist.entropy(), self.params["lam"])

    def costs(self, archs: list[Arch]) -> torch.Tensor:
        """C(A_k): the summed hinge violations of every constraint (0 when all are met)."""
        return torch.tensor([self.penalty.from_metrics(self.hard.metrics(a) if self.hard else {})[0] for a in archs])

    @torch.no_grad()
    def log_likelihoods(self, archs: list[Arch], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log P(y_val|X_val, ω, A_k): the summed log-probability of the batch's labels under each arch."""
        self.net.train()  # batch statistics: the supernet's running ones belong to the mixture of paths
        return torch.stack([F.log_softmax(self.net(x, a), 1).gather(1, y[:, None]).sum() for a in archs])

    def weight_step(self, archs: list[Arch], x: torch.Tensor, y: torch.Tensor) -> None:
        self.net.train()
        for a in archs:
            self.w_opt.backward(F.cross_entropy(self.net(x, a), y) / len(archs))
        self.w_opt.step()

    # -- the search ------------------------------------------------------------------------------------
    def search(self) -> None:
        p = self.params
        while self.epoch < p["epochs"]:
            t0 = time.time()
            e = self.epoch
            if e == p["theta"] and self.dist.factorised:  # coarse to fine
                self.dist = self.dist.to_joint()
                self.a_opt = torch.optim.Adam(self.dist.parameters(), lr=p["arch_lr"])
            learn_alpha = e >= p["warmup"]
            ks, data_terms, cost_terms = [], [], []
            for x, y in self.train_batches():
                k = self.k_now()
                archs = self.dist.sample(k, self.gen)
                self.weight_step(archs, x, y)
                if learn_alpha:
                    xv, yv = self.val_batch()
                    ll, c = self.log_likelihoods(archs, xv, yv), self.costs(archs)
                    alpha_update(self.dist, self.a_opt, archs, ll, c, p["cost_weight"], p["importance"], len(yv))
                    d, ct = cost_aware_loss(ll, c, p["cost_weight"], len(yv))
                    data_terms.append(d)
                    cost_terms.append(ct)
                ks.append(k)
                self.samples += k
            self.search_wall += time.time() - t0
            mode = self.dist.mode()
            acc = self.score(mode, f"epoch {e + 1} mode", fresh=True, evaluate=lambda m=mode: self.accuracy(m))
            phase = "warm-up" if not learn_alpha else ("factorised" if self.dist.factorised else "joint")
            self.epochs_log.append({
                "epoch": e + 1, "phase": phase,
                "entropy": round(self.dist.entropy(), 4), "k_mean": round(sum(ks) / len(ks), 3), "k_last": ks[-1],
                "samples": self.samples, "parameters": self.dist.num_parameters(),
                "data_loss": round(sum(data_terms) / len(data_terms), 5) if data_terms else None,
                "cost_term": round(sum(cost_terms) / len(cost_terms), 5) if cost_terms else None,
                **{f"expected_{m}": v for m, v in self.expected_costs().items()},
                "mode": str(mode), "mode_accuracy": acc, "wall_s": round(self.search_wall, 2)})
            self.epoch += 1
            self.save()
            self.checkpoint()
        if self.final is not None:  # resumed after the end
            return
        final, found_by = most_probable_satisfying(self.dist, self.hard, seed=self.seed)
        self.finish(final, "result", found_by)

    def expected_costs(self) -> dict[str, float]:
        """E_P[cost] of each constrained additive metric, exactly from the per-layer cost arrays (latency: the
        calibration of the expected LUT sum)."""
        cost = self.context.cost
        return {c.metric: round(cost.from_raw(c.metric, self.dist.expected(lc)), 6) for c in self.context.constraints
                for lc in [cost.layer_costs(c.metric)] if lc is not None}

    # -- outputs and resume ----------------------------------------------------------------------------
    def extra_result(self) -> dict[str, Any]:
        last = self.epochs_log[-1] if self.epochs_log else {}
        return {"probabilistic": {"epochs_done": self.epoch, "sampled_archs": self.samples,
                                  "search_wall_s": round(self.search_wall, 2), "final_entropy": last.get("entropy"),
                                  "distribution": "factorised" if self.dist.factorised else "joint",
                                  "parameters": self.dist.num_parameters(), "adaptive_k": not self.params["k"],
                                  "per_epoch": "epochs.csv, distribution.png"}}

    def report(self) -> str:
        last = self.epochs_log[-1] if self.epochs_log else {}
        k = "adaptive K = ceil(lam * entropy)" if not self.params["k"] else f"fixed K = {self.params['k']}"
        return (f"{self.samples} sampled archs ({k}) in {self.epoch} epochs, {self.search_wall:.1f} s search wall; "
                f"final entropy {last.get('entropy', float('nan')):.2f} nats, "
                f"{'factorised' if self.dist.factorised else 'joint'} distribution of {self.dist.num_parameters()} "
                "parameters; per epoch: epochs.csv, distribution.png")

    def plot(self, out_dir: str) -> None:
        plt = pyplot()

        log = self.epochs_log
        ep = [r["epoch"] for r in log]
        metrics = [k for k in log[-1] if k.startswith("expected_")]
        fig, axes = plt.subplots(1, 2 + bool(metrics), figsize=(4.2 * (2 + bool(metrics)), 3.6))
        axes[0].plot(ep, [r["entropy"] for r in log], marker="o")
        axes[0].set(xlabel="epoch", ylabel="entropy H(P(A|α)) (nats)", title="distribution entropy")
        axes[1].plot(ep, [r["k_mean"] for r in log], marker="o", color="tab:orange")
        axes[1].set(xlabel="epoch", ylabel="archs sampled per step (K)", title=f"K ({self.samples} samples in all)")
        if metrics:
            for m in metrics:
                base = next(c for c in self.context.constraints if c.metric == m.removeprefix("expected_"))
                ref = base.hi or base.lo
                axes[2].plot(ep, [r[m] / ref for r in log], marker="o", label=f"{base}")
            axes[2].axhline(1.0, color="tab:red", ls="--", lw=1)
            axes[2].set(xlabel="epoch", ylabel="expected cost / target", title="E[cost] under P (target = 1)")
            axes[2].legend(fontsize=8)
        save_figure(fig, os.path.join(out_dir, "distribution.png"), dpi=100)

    def save_extra(self) -> dict[str, Any]:
        return {"factorised": self.dist.factorised, "dist": self.dist.state_dict(), "a_opt": self.a_opt.state_dict(),
                "samples": self.samples}

    def load_extra(self, ck: dict[str, Any]) -> None:
        if not ck["factorised"] and self.dist.factorised:
            self.dist = self.dist.to_joint()
            self.a_opt = torch.optim.Adam(self.dist.parameters(), lr=self.params["arch_lr"])
        self.dist.load_state_dict(ck["dist"])
        self.a_opt.load_state_dict(ck["a_opt"])
        self.samples = int(ck["samples"])
