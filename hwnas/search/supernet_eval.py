"""Scoring and training through a weight-sharing supernet, for the searchers: an arch's accuracy with
inherited weights (+ BN recalibration), and the training stages searchers run on the supernet."""

from __future__ import annotations

import tempfile

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
