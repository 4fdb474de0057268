"""Standalone training of one arch (``hwnas train``): from scratch, or from a supernet's weights.

``train_arch`` reuses the supernet training loop (same progress, checkpoints, resume); weights are saved
as ``weights.pt`` = ``{"model": state_dict, "meta": {...}}`` (loads with ``weights_only=True``), which
``hwnas export`` reads back through :func:`load_weights`.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import torch
import yaml

from hwnas.data import Dataset
from hwnas.errors import HwnasError
from hwnas.io import atomic_write_text
from hwnas.space.arch import Arch, arch_from
from hwnas.space.base import Network, SearchSpace, get_space
from hwnas.supernet.api import load_supernet
from hwnas.supernet.model import extract
from hwnas.supernet.train import (CKPT, Progress, TrainConfig, TrainResult, atomic_torch_save, load_checkpoint,
                                  subnet_accuracy, train)


#: learning rates when none is given: from scratch, and fine-tuning inherited supernet weights (a tenth, so the
#: first steps do not undo what the supernet learned; the measured drop at 0.05 is in docs/benchmarks.md)
SCRATCH_LR, FINETUNE_LR = 0.05, 0.005


def train_arch(space: SearchSpace, arch: Arch, data: Dataset, cfg: TrainConfig, out_dir: str, init: str | None = None,
               resume: bool = False, progress: Progress | None = None) -> tuple[Network, TrainResult, dict[str, Any]]:
    """Train ``arch`` standalone.  With ``init='supernet:CHECKPOINT'`` it starts from the supernet's weights with
    its BatchNorm statistics recalibrated for this path (where the search scored it), so fine-tuning starts at the
    inherited accuracy (``init_accuracy`` in the metrics); the network then has the supernet's layout."""
    torch.manual_seed(cfg.seed)
    init_acc = None
    if init:
        kind, _, path = init.partition(":")
        if kind != "supernet" or not path:
            raise HwnasError(f"--init must be supernet:CHECKPOINT, got {init!r}")
        sn, meta = load_supernet(path)
        if meta["space"] != space.name:
            raise HwnasError(f"supernet {path} is for space '{meta['space']}', not '{space.name}'")
        space = sn.space
        net = extract(sn, space.parse(str(arch)))
        if not resume:
            init_acc = subnet_accuracy(net, data, bn_recalibrate=True, bn_batches=10)
    else:
        net = space.build(arch)
    meta = {"kind": "subnet", "space": space.name, "arch": str(arch), "input_size": space.input_size,
            "num_classes": space.num_classes, "options": dict(space.options), "data": data.name,
            "init": init or "scratch"}
    res = train(net, lambda m, x, g: m(x), data, cfg, out_dir, meta, resume, progress)
    acc = subnet_accuracy(net, data, bn_recalibrate=False)
    metrics = {"space": space.name, "arch": str(arch), "data": data.name, "val_accuracy": acc,
               "init_accuracy": init_acc, "epochs_done": res.epochs_done, "interrupted": res.interrupted,
               "wall_s": round(res.wall_s, 2), "history": res.history, "config": asdict(cfg)}
    atomic_torch_save({"model": net.state_dict(), "meta": meta}, os.path.join(out_dir, "weights.pt"))
    atomic_write_text(os.path.join(out_dir, "metrics.yaml"), yaml.safe_dump(metrics, sort_keys=False))
    return net, res, metrics


def train_job(arch_text: str, out_dir: str, space: str | None = None, data: str = "digits", epochs: int = 10,
              init: str | None = None, batch_size: int = 64, lr: float | None = None, seed: int = 0,
              resume: bool = False, progress: Progress | None = None, overwrite: bool = False) -> dict[str, Any]:
    """``hwnas train``: an arch string, named arch or search ``result.yaml``, trained standalone on ``data``
    (from scratch, or from a supernet's weights with ``init='supernet:CHECKPOINT'``).  An ``out_dir`` that holds
    a run needs ``resume`` or ``overwrite``."""
    from hwnas.data import load_dataset
    from hwnas.errors import Interrupted
    from hwnas.io import check_output_dir

    check_output_dir(out_dir, state=CKPT, marks=("weights.pt", "metrics.yaml"), resume=resume, overwrite=overwrite,
                     what="training run")
    space, text, _ = arch_from(space, arch_text)
    ds = load_dataset(data, seed=seed)
    sp = get_space(space, text, input_size=ds.image_size, num_classes=ds.num_classes)
    lr = lr if lr is not None else (FINETUNE_LR if init else SCRATCH_LR)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    _, res, metrics = train_arch(sp, sp.parse(text), ds, cfg,
                                 out_dir, init, resume, progress)
    if res.interrupted:
        raise Interrupted(f"interrupted: checkpoint saved in {out_dir}; continue with --resume")
    return {**metrics, "weights": os.path.join(out_dir, "weights.pt")}


def load_weights(path: str) -> dict[str, Any]:
    if os.path.isdir(path):
        path = os.path.join(path, "weights.pt")
    if not os.path.exists(path):
        raise HwnasError(f"weights file {path} not found; train with `hwnas train --out DIR` and pass DIR/weights.pt")
    ck = load_checkpoint(path)
    if "model" not in ck or ck.get("meta", {}).get("kind") != "subnet":
        raise HwnasError(f"{path} does not hold a trained subnet (train one with `hwnas train`)")
    return ck
