"""Supernet-level entry points: build, train, load, evaluate (what the CLI and the searchers call)."""

from __future__ import annotations

import os
import random
from typing import Any, Callable

import torch

from hwnas.constraints import HardFilter
from hwnas.data import Dataset
from hwnas.errors import HwnasError
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace, get_space
from hwnas.supernet.model import Supernet, extract
from hwnas.supernet.train import (CKPT, Progress, TrainConfig, TrainResult, arch_forward, load_checkpoint,
                                  subnet_accuracy, train)

Sampler = Callable[[random.Random], Arch]


def uniform_sampler(space: SearchSpace) -> Sampler:
    """SPOS: every path equally likely."""
    return space.random_arch


def constrained_sampler(hard: HardFilter) -> Sampler:
    """Uniform over archs that satisfy the constraints (rejection; guided under tight bounds).  The
    filter has already checked that the constraint admits some arch, else it raised a clear error."""
    return hard.sample


def train_supernet(space: SearchSpace, data: Dataset, cfg: TrainConfig, out_dir: str, sampler: Sampler | None = None,
                   resume: bool = False, progress: Progress | None = None, device: str = "cpu",
                   sampler_desc: str = "uniform", sharing: str = "separate") -> tuple[Supernet, TrainResult]:
    torch.manual_seed(cfg.seed)
    net = Supernet(space, sharing)
    meta = {"kind": "supernet", **net.config(), "data": data.name, "image_size": data.image_size, "sampler": sampler_desc}
    res = train(net, arch_forward(sampler or uniform_sampler(space), cfg.seed), data, cfg, out_dir, meta, resume,
                progress, device)
    return net, res


def load_supernet(path: str) -> tuple[Supernet, dict[str, Any]]:
    """A supernet from a checkpoint file or a training output directory."""
    if os.path.isdir(path):
        path = os.path.join(path, CKPT)
    ck = load_checkpoint(path)
    meta = ck.get("meta", {})
    if meta.get("kind") != "supernet":
        raise HwnasError(f"{path} is not a supernet checkpoint (it holds a {meta.get('kind', 'unknown')} model)")
    sp = get_space(meta["space"], input_size=meta["input_size"], num_classes=meta["num_classes"], **meta.get("options", {}))
    net = Supernet(sp, meta.get("sharing", "separate"))
    net.load_state_dict(ck["model"])
    return net.eval(), meta


def evaluate(supernet: Supernet, arch: Arch, data: Dataset, bn_recalibrate: bool = True, bn_batches: int = 10) -> float:
    """Held-out accuracy of ``arch`` with inherited weights (BN recalibrated on a copy; the supernet is untouched)."""
    return subnet_accuracy(extract(supernet, arch), data, bn_recalibrate, bn_batches)


__all__ = ["uniform_sampler", "constrained_sampler", "train_supernet", "load_supernet", "evaluate", "TrainConfig"]
