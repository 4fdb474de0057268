"""Scoring and training through a weight-sharing supernet, for the searchers: an arch's accuracy with
inherited weights (+ BN recalibration), and the training stages searchers run on the supernet."""

from __future__ import annotations

import tempfile

import torch

from hwnas.data import Dataset
from hwnas.space.arch import Arch
from hwnas.supernet.model import Supernet, extract
from hwnas.supernet.train import TrainConfig, arch_forward, subnet_accuracy, train


class SupernetTrainer:
    """Scores archs with the supernet (inherited weights + BN recalibration) and runs FPNAS's training
    stages on it."""

    def __init__(
        self, supernet: Supernet, data: Dataset, bn_batches: int = 5, lr: float = 0.02, batch_size: int = 64
    ) -> None:
        self.supernet, self.data, self.bn_batches, self.lr, self.batch_size = supernet, data, bn_batches, lr, batch_size

    def accuracy(self, arch: Arch) -> float:
        return subnet_accuracy(extract(self.supernet, arch), self.data, True, self.bn_batches)

    def train_block(self, cur: Arch, index: int, choices: list[str], epochs: int, seed: int) -> None:
        """Weight-sharing stage: train the supernet with only block ``index`` varying."""
        def sampler(rng):
            return cur.replace(index, rng.choice(choices))

        with tempfile.TemporaryDirectory() as d:
            train(self.supernet, arch_forward(sampler, seed), self.data,
                  TrainConfig(epochs=epochs, lr=self.lr, batch_size=self.batch_size, seed=seed, warmup_epochs=0),
                  d, {"kind": "supernet-block"})

    def train_independent(self, arch: Arch, epochs: int, seed: int) -> float:
        """Independent stage: fine-tune the extracted subnet alone, then measure it."""
        net = extract(self.supernet, arch)
        with tempfile.TemporaryDirectory() as d:
            train(net, lambda m, x, g: m(x), self.data,
                  TrainConfig(epochs=epochs, lr=self.lr, batch_size=self.batch_size, seed=seed, warmup_epochs=0),
                  d, {"kind": "subnet"})
        return subnet_accuracy(net, self.data, True, self.bn_batches)


class WeightOptimizer:
    """The supernet's weights, stepped by searchers that run their own loop (FP-NAS, HourNAS): SGD (nesterov,
    momentum 0.9) with a per-step cosine decay over ``total_steps`` and gradient-norm clipping -- the recipe of
    :func:`hwnas.supernet.train.train`.  Gradients accumulate over ``backward`` calls (one per sampled arch, so
    K archs never hold K graphs at once) until ``step``."""

    def __init__(self, net: torch.nn.Module, total_steps: int, lr: float = 0.05, weight_decay: float = 4e-5,
                 clip: float = 5.0) -> None:
        import math

        self.net, self.clip = net, clip
        self.opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
        total = max(total_steps, 1)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        self.opt.zero_grad(set_to_none=True)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self) -> None:
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict(), "sched": self.sched.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
