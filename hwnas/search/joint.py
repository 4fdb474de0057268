"""What the searchers that learn architecture parameters jointly with the supernet's weights share (FP-NAS's
``probabilistic``, ``hournas``): the training split cut in two (weights learn on one part, architecture
parameters on the other), the weight optimizer, held-out scoring, a per-epoch log (``epochs.csv``), and a
checkpoint after every epoch (``<strategy>.pt``) from which ``--resume`` continues."""

from __future__ import annotations

import os
from typing import Any, Iterator

import torch

from hwnas.errors import ConstraintError, DataError
from hwnas.search.base import Record, Strategy
from hwnas.search.distribution import FOUND_BY
from hwnas.search.outputs import write_rows
from hwnas.search.supernet_eval import WeightOptimizer
from hwnas.space.arch import Arch
from hwnas.supernet.train import to_cl


class JointSearch(Strategy):
    """Base for strategies with ``trains_supernet = True``.  Subclasses set ``weight_fraction`` (the share of the
    training split the weights learn on), implement ``search`` with ``self.epoch`` / ``self.epochs_log`` /
    ``self.save()`` after each epoch, and extend ``save_extra`` / ``load_extra`` with their own state."""

    needs = ("supernet", "data", "cost")
    trains_supernet = True
    weight_fraction = 0.5

    def setup_training(self, batch_size: int, epochs: int, lr: float) -> None:
        ctx = self.context
        self.net = ctx.supernet.to(memory_format=torch.channels_last)  # oneDNN's fast layout, as train() uses
        self.w_data, self.a_data = ctx.data.split_train(self.weight_fraction, self.seed)
        self.batch_size = batch_size
        steps = self.w_data.steps_per_epoch(batch_size)
        if steps < 1 or self.a_data.steps_per_epoch(batch_size) < 1:
            raise DataError(f"batch_size {batch_size} is larger than a part of the training split "
                            f"({len(self.w_data.y_train)} / {len(self.a_data.y_train)} images); lower it")
        self.steps_per_epoch = steps
        self.w_opt = WeightOptimizer(self.net, steps * epochs, lr=lr)
        self.gen = torch.Generator().manual_seed(self.seed)
        self.epoch, self.epochs_log, self.search_wall = 0, [], 0.0
        self.final: Arch | None = None
        self.found_by = ""
        self._val: Iterator | None = None
        self._val_epoch = 0

    # -- batches and steps -----------------------------------------------------------------------------
    def train_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _, x, y in self.w_data.batches(self.batch_size, epoch=self.epoch, seed=self.seed):
            yield to_cl(x), y

    def val_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch of the architecture parameters' part (cycled, reshuffled each pass)."""
        nxt = next(self._val, None) if self._val is not None else None
        if nxt is None:
            self._val_epoch += 1
            self._val = self.a_data.batches(self.batch_size, epoch=self._val_epoch, seed=self.seed + 1)
            nxt = next(self._val)
        _, x, y = nxt
        return to_cl(x), y

    def accuracy(self, arch: Arch) -> float:
        """Held-out accuracy with the supernet's current weights: the search's evaluator, which scores through
        this same supernet (extracted subnet, BN recalibrated on the copy)."""
        return self._evaluate(arch)

    def finish(self, arch: Arch | None, source: str, found_by: str) -> None:
        """Score and keep the result; ``found_by`` (a key of :data:`FOUND_BY`) is reported, and a fallback is a
        warning in result.yaml and on the console."""
        if arch is None:
            raise ConstraintError("no arch satisfying the constraints was found near the learned distribution; "
                                  "loosen them")
        self.found_by = found_by
        if found_by == "fallback":
            self.warnings.append(FOUND_BY["fallback"].format(n=200))
        self.score(arch, f"{source} ({FOUND_BY[found_by].split(':')[0]})", fresh=True,
                   evaluate=lambda: self.accuracy(arch))
        self.final = arch
        self.save()

    @property
    def best(self) -> Record | None:
        """The result once the search has ended; before, the best arch scored so far."""
        recs = [r for r in self.history if self.final is not None and r.arch == str(self.final)]
        return recs[-1] if recs else super().best

    # -- outputs -----------------------------------------------------------------------------------------
    def write_outputs(self, out_dir: str) -> None:
        if not self.epochs_log:
            return
        write_rows(os.path.join(out_dir, "epochs.csv"), self.epochs_log)
        self.plot(out_dir)

    def plot(self, out_dir: str) -> None:
        """Strategy-specific figures from ``epochs_log``; default none."""

    # -- checkpoint and resume ---------------------------------------------------------------------------
    def save_extra(self) -> dict[str, Any]:
        return {}

    def load_extra(self, state: dict[str, Any]) -> None:
        pass

    def save(self) -> None:
        self.save_checkpoint({"net": self.net.state_dict(), "w_opt": self.w_opt.state_dict(), "epoch": self.epoch,
                              "epochs_log": self.epochs_log, "gen": self.gen.get_state(), "wall": self.search_wall,
                              "val_epoch": self._val_epoch, "final": str(self.final) if self.final is not None else "",
                              "found_by": self.found_by,
                              **self.save_extra()})

    def restore(self, ck: dict[str, Any]) -> None:
        self.net.load_state_dict(ck["net"])
        self.w_opt.load_state_dict(ck["w_opt"])
        self.epoch, self.epochs_log = int(ck["epoch"]), list(ck["epochs_log"])
        self.gen.set_state(ck["gen"])
        self.search_wall, self._val_epoch = float(ck["wall"]), int(ck["val_epoch"])
        self.final = self.space.parse(ck["final"]) if ck.get("final") else None
        self.found_by = str(ck.get("found_by", ""))
        if self.found_by == "fallback":
            self.warnings.append(FOUND_BY["fallback"].format(n=200))
        self.load_extra(ck)
