"""Training loop shared by supernet training and final (standalone) training.

SGD (momentum 0.9, nesterov) with a linear warm-up then a per-step cosine schedule, and global
gradient-norm clipping.  Every source of randomness is derived
from (seed, epoch, step): the data order, the augmentation, dropout and — for supernets — the sampled
path, so an interrupted run resumed from its checkpoint continues bit-for-bit, and every DDP rank
samples the same arch at each step.  Checkpoints hold only tensors and plain types (they load with
``torch.load(weights_only=True)``) and are written atomically after every epoch and on Ctrl-C.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from hwnas.data import Dataset
from hwnas.errors import CheckpointError, HwnasError
from hwnas.io import atomic_path
from hwnas.space.arch import Arch

Progress = Callable[[str, int, int, dict[str, float]], None]  # (stage, done, total, metrics)
CKPT = "checkpoint.pt"


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 4e-5
    seed: int = 0
    label_smoothing: float = 0.0
    warmup_epochs: float = 1.0  # linear LR warm-up before the cosine decay
    clip_grad: float = 5.0      # global gradient-norm clip (deep BN nets explode early at small batch)


@dataclass
class TrainResult:
    epochs_done: int
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: str = ""
    interrupted: bool = False
    wall_s: float = 0.0
    rank_digests: list[str] = field(default_factory=list)  # weights' sha256 on every rank (DDP check)


CL = torch.channels_last  # NHWC: oneDNN runs these small-spatial convs several times faster than NCHW


def to_cl(x: torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    return x.to(device).contiguous(memory_format=CL)


def step_rng(seed: int, step: int) -> random.Random:
    """The per-step RNG that picks a supernet path (same on every rank, same after resume)."""
    return random.Random(seed * 1_000_003 + step)


def atomic_torch_save(obj: Any, path: str) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise HwnasError(f"checkpoint {path} not found; train first or drop --resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt / not a checkpoint
        raise HwnasError(
            f"{path} is not a readable hwnas checkpoint ({type(e).__name__}); delete it or train again"
        ) from None


def dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int]:
    """Join a torchrun job if one launched us (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist_info()


#: a training step that does its own forward and backward: (model, x, y, global step, loss_fn) -> (loss, logits)
Step = Callable[[nn.Module, torch.Tensor, torch.Tensor, int, Callable[..., torch.Tensor]], tuple[float, torch.Tensor]]

#: PACT clipping levels learn ``ALPHA_LR`` times faster than the weights and are not weight-decayed: a level is
#: O(1) where conv weights are O(0.05), so at the weights' rate it moved 0.0007 in ten steps (and decay, not the
#: data, decided where it went)
ALPHA_LR = 10.0


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """The weights, and (quantized nets only) the PACT clipping levels as a group of their own."""
    from hwnas.space.quant import ALPHA

    named = list(model.named_parameters())
    alphas = [p for n, p in named if ALPHA in n.rsplit(".", 1)[-1]]
    rest = [p for n, p in named if ALPHA not in n.rsplit(".", 1)[-1]]
    if not alphas:
        return [{"params": rest}]
    return [{"params": rest}, {"params": alphas, "lr": cfg.lr * ALPHA_LR, "weight_decay": 0.0}]


def load_training_state(path: str, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, cfg: TrainConfig,
                        meta: dict[str, Any]) -> tuple[int, int, list[dict[str, Any]]]:
    """Model, optimizer and schedule from a checkpoint written with the same settings; (epoch, step in that epoch,
    history)."""
    ck = load_checkpoint(path)
    if ck.get("meta", {}).get("kind") != meta.get("kind") or ck.get("config") != asdict(cfg):
        raise HwnasError(f"{path} was written with other settings ({ck.get('config')}); use the same options "
                         "or another --out")
    model.load_state_dict(ck["model"])
    try:
        opt.load_state_dict(ck["optimizer"])
    except ValueError:  # parameter groups of an older layout (before the clipping levels had their own)
        raise CheckpointError(f"{path} was written by an older hwnas (its optimizer groups differ); "
                              "train again with another --out") from None
    sched.load_state_dict(ck["scheduler"])
    return int(ck["epoch"]), int(ck["step_in_epoch"]), list(ck["history"])


def forward_step(forward: Callable[[nn.Module, torch.Tensor, int], torch.Tensor]) -> Step:
    """The plain step: one forward (the path ``forward`` picks), the loss, backward; (loss, logits)."""

    def step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, g: int,
             loss_fn: Callable[..., torch.Tensor]) -> tuple[float, torch.Tensor]:
        logits = forward(model, x, g)
        loss = loss_fn(logits, y)
        loss.backward()
        return float(loss.detach()), logits

    return step


def train(model: nn.Module, forward: Callable[[nn.Module, torch.Tensor, int], torch.Tensor], data: Dataset,
          cfg: TrainConfig, out_dir: str, meta: dict[str, Any], resume: bool = False,
          progress: Progress | None = None, device: str = "cpu", step: Step | None = None) -> TrainResult:
    """Train ``model``; ``forward(model, x, global_step)`` gives the logits (supernets pick the path there).
    ``step``, when given, replaces forward + loss + backward for steps that train several paths
    (:func:`hwnas.supernet.levers.recipe_step`); it returns (loss, logits for the accuracy figure)."""
    rank, world = dist_info()
    os.makedirs(out_dir, exist_ok=True)
    ckpt_path = os.path.join(out_dir, CKPT)
    model.to(device, memory_format=CL)
    steps_per_epoch = data.steps_per_epoch(cfg.batch_size, world)
    if steps_per_epoch < 1:
        raise HwnasError(f"batch size {cfg.batch_size} is larger than the training set ({len(data.y_train)} samples)")
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    sched = warmup_cosine(opt, min(int(cfg.warmup_epochs * steps_per_epoch), total - 1), total)
    epoch, start_step, history = 0, 0, []
    if resume and os.path.exists(ckpt_path):
        epoch, start_step, history = load_training_state(ckpt_path, model, opt, sched, cfg, meta)
    wrapped: nn.Module = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def save(ep: int, st: int) -> None:
        if rank == 0:
            atomic_torch_save(
                {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "epoch": ep, "step_in_epoch": st, "history": history, "config": asdict(cfg), "meta": meta},
                ckpt_path,
            )

    t0 = time.time()
    step_in_epoch = start_step
    try:
        while epoch < cfg.epochs:
            wrapped.train()
            seen = correct = 0
            loss_sum = 0.0
            for s, x, y in data.batches(cfg.batch_size, epoch, cfg.seed, rank, world, start=step_in_epoch):
                step_in_epoch = s
                g = epoch * steps_per_epoch + s
                torch.manual_seed(cfg.seed * 1_000_003 + g)
                x, y = to_cl(x, device), y.to(device)
                opt.zero_grad(set_to_none=True)
                loss, logits = (step or forward_step(forward))(wrapped, x, y, g, loss_fn)
                if cfg.clip_grad:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
                opt.step()
                sched.step()
                step_in_epoch = s + 1
                seen += len(y)
                correct += int((logits.argmax(1) == y).sum())
                loss_sum += loss * len(y)
                if progress and rank == 0:
                    progress(
                        "train", g + 1, total, {"epoch": epoch + 1, "loss": loss_sum / seen, "acc": correct / seen}
                    )
            history.append({"epoch": epoch + 1, "loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
                            "lr": sched.get_last_lr()[0]})
            epoch, step_in_epoch = epoch + 1, 0
            save(epoch, 0)
    except KeyboardInterrupt:
        save(epoch, step_in_epoch)
        return TrainResult(epoch, epoch * steps_per_epoch + step_in_epoch, history, ckpt_path, True, time.time() - t0)
    return TrainResult(epoch, total, history, ckpt_path, False, time.time() - t0, rank_digests(model, world))


def warmup_cosine(opt: torch.optim.Optimizer, warm: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warm`` steps, then cosine decay to 0 at step ``total``."""

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / (warm + 1)
        return 0.5 * (1 + math.cos(math.pi * min(s - warm, total - warm) / max(total - warm, 1)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def rank_digests(model: nn.Module, world: int) -> list[str]:
    """Every rank's weights digest (one entry without DDP): equal digests show the ranks stayed in step."""
    if world <= 1:
        return [weights_digest(model)]
    digests: list[str] = [""] * world
    dist.all_gather_object(digests, weights_digest(model))
    return digests


def weights_digest(model: nn.Module) -> str:
    """sha256 of every parameter (BN running statistics are per-rank estimates, not weights)."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.named_parameters()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    model.eval().to(memory_format=CL)
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(to_cl(x[i:i + batch_size])).argmax(1) == y[i:i + batch_size]).sum())
    return correct / max(len(y), 1)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, data: Dataset, batches: int = 10, batch_size: int = 128, seed: int = 0) -> None:
    """Reset every BatchNorm's running statistics and re-estimate them (cumulative average) from
    ``batches`` training batches — SPOS's fix for statistics that belong to the mixture of paths."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train().to(memory_format=CL)
    for i, (_, x, _) in enumerate(data.batches(batch_size, epoch=10_000 + seed, seed=seed, augment=False)):
        if i >= batches:
            break
        model(to_cl(x))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


def subnet_accuracy(net: nn.Module, data: Dataset, bn_recalibrate: bool = True, bn_batches: int = 10) -> float:
    """Held-out accuracy of a standalone subnet, after BN recalibration unless disabled."""
    if bn_recalibrate:
        recalibrate_bn(net, data, batches=bn_batches)
    return accuracy(net, data.x_val, data.y_val)


def arch_forward(sampler: Callable[[random.Random], Arch],
                 seed: int) -> Callable[[nn.Module, torch.Tensor, int], torch.Tensor]:
    """The supernet forward for training: the path of step ``g`` comes from ``sampler(step_rng(seed, g))``."""
    return lambda model, x, g: model(x, sampler(step_rng(seed, g)))
