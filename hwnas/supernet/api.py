"""Supernet-level entry points: build, train, load, evaluate (what the CLI and the searchers call)."""

from __future__ import annotations

import itertools
import os
import random
from typing import Any, Callable

import torch

from hwnas.constraints import HardFilter
from hwnas.data import Dataset
from hwnas.errors import CheckpointError, HwnasError
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace, get_space
from hwnas.supernet.model import Supernet, extract
from hwnas.space.quant import PACT_START, clip_levels, init_pact_levels
from hwnas.supernet.levers import DEFAULT_RECIPE, Recipe, recipe_step
from hwnas.supernet.train import (CKPT, Progress, TrainConfig, TrainResult, arch_forward, load_checkpoint,
                                  subnet_accuracy, to_cl, train)

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
                   sampler_desc: str = "uniform", sharing: str = "separate",
                   pact_init: str = PACT_START, recipe: Recipe = DEFAULT_RECIPE) -> tuple[Supernet, TrainResult]:
    """Train a supernet.  In a quantized space, ``pact_init`` is how its PACT clipping levels start and learn
    (:data:`hwnas.space.quant.CLIP_LEVELS`; ``data``: from the activations of one batch through random paths).
    ``recipe``: the training levers (:mod:`hwnas.supernet.levers`; default SPOS's single uniform path)."""
    torch.manual_seed(cfg.seed)
    net = Supernet(space, sharing)
    meta = {"kind": "supernet", **net.config(), "data": data.name, "image_size": data.image_size,
            "sampler": sampler_desc, "pact_init": str(pact_init), "recipe": recipe.to_dict()}
    ck_path = os.path.join(out_dir, CKPT)
    if resume and os.path.exists(ck_path):
        saved = load_checkpoint(ck_path).get("meta", {}).get("recipe", Recipe().to_dict())
        if saved != recipe.to_dict():
            raise HwnasError(f"{ck_path} was trained with {Recipe(**saved).describe()}, not {recipe.describe()}; "
                             "use the same levers or another --out")
    alphas = [a for layer in net.choices for a in layer.alphas.values()]
    if alphas:  # random paths through one batch until every (layer, conv, activation bits) level has been seen
        rng = random.Random(cfg.seed)
        _, x, _ = next(data.batches(cfg.batch_size, epoch=0, seed=cfg.seed, augment=False))
        init_pact_levels(lambda x: net.train()(to_cl(x), space.random_arch(rng)), itertools.repeat(x, 300),
                         pact_init, until=alphas)
    step = None if recipe.uniform else recipe_step(space, recipe, cfg.seed, sampler)
    with clip_levels(pact_init):
        res = train(net, arch_forward(sampler or uniform_sampler(space), cfg.seed), data, cfg, out_dir, meta, resume,
                    progress, device, step=step)
    return net, res


#: a supernet whose last training epoch stays under this multiple of chance accuracy gives scores that do not rank
CHANCE_MARGIN = 2.0


def chance_warning(history: list[dict[str, float]], num_classes: int) -> str | None:
    """A warning when a supernet's last training epoch is near chance accuracy, so that its scores would be
    noise.  Measured on ``fbnet`` and ``spos`` (docs/benchmarks.md, "Why the ``fbnet`` supernet stays at chance"):
    separate candidates at layers without a shortcut hold a single-path supernet there for hundreds of steps."""
    acc = history[-1].get("train_acc") if history else None
    chance = 1 / max(num_classes, 1)
    if acc is None or num_classes < 2 or acc >= CHANCE_MARGIN * chance:
        return None
    return (f"the supernet's training accuracy in its last epoch is {acc:.3f}, near chance ({chance:.3f}), so its "
            "scores will not rank archs: train it longer, or see the README's 'Which spaces a one-shot supernet "
            "learns quickly'")


def pact_levels(net: Supernet) -> dict[str, float]:
    """Every PACT clipping level of a supernet by layer, conv and activation bits (``s1b1/g0__conv1__0__a4``)."""
    return {f"{net.space.layers[i].name}/{k}": round(float(v.detach()), 4) for i, layer in enumerate(net.choices)
            for k, v in layer.alphas.items()}


def load_supernet(path: str) -> tuple[Supernet, dict[str, Any]]:
    """A supernet from a checkpoint file or a training output directory."""
    if os.path.isdir(path):
        path = os.path.join(path, CKPT)
    return supernet_from_checkpoint(load_checkpoint(path), path)


def supernet_from_checkpoint(ck: dict[str, Any], path: str) -> tuple[Supernet, dict[str, Any]]:
    """The supernet of an already loaded checkpoint ``ck`` (read from ``path``, which error messages name)."""
    meta = ck.get("meta", {})
    if meta.get("kind") != "supernet":
        raise HwnasError(f"{path} is not a supernet checkpoint (it holds a {meta.get('kind', 'unknown')} model)")
    sp = get_space(
        meta["space"], input_size=meta["input_size"], num_classes=meta["num_classes"], **meta.get("options", {})
    )
    net = Supernet(sp, meta.get("sharing", "separate"))
    try:
        net.load_state_dict(ck["model"])
    except RuntimeError as e:  # missing / unexpected / mis-shaped tensors: an older layout of the weights
        lines = str(e).splitlines()
        detail = lines[1].strip() if len(lines) > 1 else lines[0]
        raise CheckpointError(f"{path} does not fit this hwnas version's {meta['space']} supernet layout "
                              f"({detail}); train the supernet again") from None
    return net.eval(), meta


def evaluate(supernet: Supernet, arch: Arch, data: Dataset, bn_recalibrate: bool = True, bn_batches: int = 10) -> float:
    """Held-out accuracy of ``arch`` with inherited weights (BN recalibrated on a copy; the supernet is untouched)."""
    return subnet_accuracy(extract(supernet, arch), data, bn_recalibrate, bn_batches)


def train_supernet_job(space: str, data: str, out_dir: str, epochs: int = 10, sampler: str = "uniform",
                       sharing: str = "entangled", constraints: dict[str, str | None] | None = None,
                       lut: str | None = None, input_size: int = 224, batch_size: int = 64, lr: float = 0.05,
                       seed: int = 0, resume: bool = False, progress: Progress | None = None,
                       pact_init: str = PACT_START, recipe: Recipe = DEFAULT_RECIPE, warmup_epochs: float = 1.0,
                       label_smoothing: float = 0.0, overwrite: bool = False) -> dict[str, Any]:
    """``hwnas train-supernet`` (also under torchrun: every rank trains, rank 0 writes): train, write
    ``metrics.yaml`` atomically, return the metrics (``rank`` says which process this is).  ``sampler``
    ``constrained`` samples only archs that satisfy ``constraints`` at the deployment size ``input_size``."""
    import yaml

    from hwnas.constraints import cost_filter, parse_constraints
    from hwnas.data import load_dataset
    from hwnas.errors import ConstraintError, Interrupted
    from hwnas.io import check_output_dir
    from hwnas.io import atomic_write_text
    from hwnas.space.quant import check_clip_levels
    from hwnas.supernet.train import init_distributed

    check_clip_levels(pact_init)  # a wrong value fails before any data is loaded
    check_output_dir(out_dir, state=CKPT, marks=("metrics.yaml",), resume=resume, overwrite=overwrite,
                     what="supernet training run")
    if sampler not in ("uniform", "constrained"):
        raise HwnasError(f"unknown sampler '{sampler}'; choose uniform or constrained")
    cons = parse_constraints(**(constraints or {}))
    samp, desc = None, "uniform"
    if sampler == "constrained":
        hard = cost_filter(space, cons, input_size=input_size, lut=lut)
        if hard is None:
            raise ConstraintError("--sampler constrained needs a constraint, e.g. --flops 300M")
        samp, desc = constrained_sampler(hard), "constrained: " + ", ".join(map(str, cons))
    rank, world = init_distributed()
    ds = load_dataset(data, seed=seed)
    sp = get_space(space, input_size=ds.image_size, num_classes=ds.num_classes)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, warmup_epochs=warmup_epochs,
                      label_smoothing=label_smoothing)
    net, res = train_supernet(sp, ds, cfg, out_dir, samp, resume, progress, sampler_desc=desc, sharing=sharing,
                              pact_init=pact_init, recipe=recipe)
    metrics = {"space": space, "data": ds.name, "epochs_done": res.epochs_done, "steps": res.steps, "world_size": world,
               "interrupted": res.interrupted, "wall_s": round(res.wall_s, 2), "sampler": desc, "sharing": sharing,
               "recipe": recipe.describe(), "warmup_epochs": warmup_epochs, "label_smoothing": label_smoothing,
               "history": res.history, "checkpoint": res.checkpoint,
               "ranks_identical": len(set(res.rank_digests)) == 1 if res.rank_digests else None}
    warning = chance_warning(res.history, ds.num_classes) if not res.interrupted else None
    if warning:
        metrics["warnings"] = [warning]
    if any(layer.alphas for layer in net.choices):  # where each clipping level ended (layer/conv, activation bits)
        metrics["pact_init"] = str(pact_init)
        metrics["pact_levels"] = pact_levels(net)
    if rank == 0:
        atomic_write_text(os.path.join(out_dir, "metrics.yaml"), yaml.safe_dump(metrics, sort_keys=False))
    if res.interrupted:
        raise Interrupted(f"interrupted: checkpoint saved at {res.checkpoint}; continue with --resume")
    return {**metrics, "rank": rank}


__all__ = ["uniform_sampler", "constrained_sampler", "train_supernet", "train_supernet_job", "load_supernet",
           "evaluate", "pact_levels", "chance_warning", "TrainConfig"]
