"""Datasets for supernet training, evaluation and final training, held in memory as tensors.

Sources (``--data``):

* ``digits`` — scikit-learn's bundled 8x8 digits (no download; the embedded default).  Upsampled to
  16x16 and repeated to 3 channels so every space's five stride-2 stages apply; a stratified 80/20
  train / held-out split with a fixed seed.
* ``cifar10:PATH`` — the python-pickle batch directory; whichever ``data_batch_*`` files are present
  are the training set, ``test_batch`` the held-out set.
* ``imagefolder:PATH`` — ``PATH/train/<class>/*`` and ``PATH/val/<class>/*`` (or one folder of class
  subfolders, split 90/10), images resized to ``--image-size`` (default 32).

Augmentation (training batches only): random crop with padding, plus horizontal flip where it makes
sense (not for digits).  All randomness comes from explicit generators so runs resume bit-for-bit.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from hwnas.errors import DataError
from hwnas.registry import Registry


@dataclass
class Dataset:
    name: str
    x_train: torch.Tensor  # (N, 3, H, W) float32, normalised
    y_train: torch.Tensor  # (N,) int64
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int
    flip: bool = False
    pad: int = 2

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    def augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        p = self.pad
        xp = F.pad(x, (p, p, p, p), mode="constant")
        dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
        dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
        out = torch.stack([xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
        if self.flip:
            f = torch.rand(n, generator=gen) < 0.5
            out[f] = out[f].flip(-1)
        return out

    def batches(self, batch_size: int, epoch: int, seed: int, rank: int = 0, world: int = 1, augment: bool = True,
                start: int = 0):
        """Yield (step_in_epoch, x, y) over this rank's shard of a seeded permutation."""
        gen = torch.Generator().manual_seed(seed * 100003 + epoch)
        perm = torch.randperm(len(self.y_train), generator=gen)
        per_rank = len(perm) // world
        mine = perm[rank * per_rank:(rank + 1) * per_rank]
        steps = len(mine) // batch_size
        for s in range(start, steps):
            idx = mine[s * batch_size:(s + 1) * batch_size]
            x = self.x_train[idx]
            if augment:
                g = torch.Generator().manual_seed(seed * 7919 + epoch * 100003 + s * 31 + rank)
                x = self.augment(x, g)
            yield s, x, self.y_train[idx]

    def steps_per_epoch(self, batch_size: int, world: int = 1) -> int:
        return (len(self.y_train) // world) // batch_size

    def split_train(self, fraction: float = 0.5, seed: int = 0) -> tuple["Dataset", "Dataset"]:
        """Two disjoint parts of the training split (the held-out split stays with both): searchers that learn
        architecture parameters train weights on the first and the parameters on the second (FP-NAS, HourNAS)."""
        perm = torch.randperm(len(self.y_train), generator=torch.Generator().manual_seed(seed + 7))
        cut = int(round(fraction * len(perm)))
        a, b = perm[:cut], perm[cut:]
        return tuple(Dataset(f"{self.name}[train {f:g}]", self.x_train[i], self.y_train[i], self.x_val, self.y_val,
                             self.num_classes, self.flip, self.pad) for f, i in ((fraction, a), (1 - fraction, b)))


def _normalise(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Normalise with the per-channel mean / std of ``ref`` (the training split)."""
    mean = ref.mean(dim=(0, 2, 3), keepdim=True)
    std = ref.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (x - mean) / std


def load_digits(seed: int = 0, size: int = 16) -> Dataset:
    from sklearn.datasets import load_digits as _ld
    from sklearn.model_selection import train_test_split

    d = _ld()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    y = torch.tensor(d.target, dtype=torch.int64)
    tr, va = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=d.target)
    x = _normalise(x, x[tr])
    return Dataset("digits", x[tr], y[tr], x[va], y[va], 10, flip=False, pad=2)


def _unpickle(path: str) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def load_cifar10(path: str) -> Dataset:
    if not os.path.isdir(path):
        raise DataError(f"CIFAR-10 directory {path} not found; give the folder holding data_batch_* and test_batch")
    train = sorted(f for f in os.listdir(path) if f.startswith("data_batch_"))
    if not train or not os.path.exists(os.path.join(path, "test_batch")):
        raise DataError(f"{path} has no data_batch_* or no test_batch file; expected CIFAR-10's python-pickle layout")

    def load(files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for f in files:
            try:
                b = _unpickle(os.path.join(path, f))
                xs.append(np.asarray(b[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(b[b"labels"], dtype=np.int64))
            except (OSError, KeyError, pickle.UnpicklingError, ValueError, EOFError):
                raise DataError(f"{os.path.join(path, f)} is not a CIFAR-10 batch file") from None
        return torch.from_numpy(np.concatenate(xs)).float() / 255.0, torch.from_numpy(np.concatenate(ys))

    xt, yt = load(train)
    xv, yv = load(["test_batch"])
    mean = xt.mean(dim=(0, 2, 3), keepdim=True)
    std = xt.std(dim=(0, 2, 3), keepdim=True)
    return Dataset("cifar10", (xt - mean) / std, yt, (xv - mean) / std, yv, 10, flip=True, pad=4)


def load_imagefolder(path: str, size: int = 32, seed: int = 0) -> Dataset:
    from PIL import Image

    if not os.path.isdir(path):
        raise DataError(f"image folder {path} not found")

    def read(root: str, classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for ci, c in enumerate(classes):
            d = os.path.join(root, c)
            for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                try:
                    im = Image.open(os.path.join(d, fn)).convert("RGB").resize((size, size))
                except OSError:
                    continue
                xs.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1))
                ys.append(ci)
        if not xs:
            raise DataError(f"no readable images under {root}")
        return torch.stack(xs), torch.tensor(ys)

    if os.path.isdir(os.path.join(path, "train")):
        classes = sorted(os.listdir(os.path.join(path, "train")))
        xt, yt = read(os.path.join(path, "train"), classes)
        vdir = os.path.join(path, "val") if os.path.isdir(os.path.join(path, "val")) else os.path.join(path, "test")
        xv, yv = read(vdir, classes)
    else:
        classes = sorted(c for c in os.listdir(path) if os.path.isdir(os.path.join(path, c)))
        x, y = read(path, classes)
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        cut = max(1, len(y) // 10)
        xv, yv, xt, yt = x[perm[:cut]], y[perm[:cut]], x[perm[cut:]], y[perm[cut:]]
    mean = xt.mean(dim=(0, 2, 3), keepdim=True)
    std = xt.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return Dataset(f"imagefolder:{path}", (xt - mean) / std, yt, (xv - mean) / std, yv, len(classes), flip=True, pad=4)


@dataclass(frozen=True)
class DataSource:
    name: str
    description: str
    load: Callable[..., Dataset]  # (path, seed, image_size) -> Dataset; path "" for sources without one
    takes_path: bool = True

    @property
    def usage(self) -> str:
        return f"{self.name}:PATH" if self.takes_path else self.name


DATA_SOURCES: Registry[DataSource] = Registry("data source")
for _src in (DataSource("digits", "scikit-learn's bundled 8x8 digits at 16x16 (no download)",
                        lambda path, seed, size: load_digits(seed), takes_path=False),
             DataSource("cifar10", "CIFAR-10 python-pickle batches (data_batch_*, test_batch)",
                        lambda path, seed, size: load_cifar10(path)),
             DataSource("imagefolder", "PATH/train/<class>/*, PATH/val/<class>/* (or one folder, split 90/10)",
                        lambda path, seed, size: load_imagefolder(path, size, seed))):
    DATA_SOURCES.register(_src.name)(_src)


def data_usage() -> str:
    """``digits | cifar10:PATH | imagefolder:PATH``, from the registry (CLI help)."""
    return " | ".join(DATA_SOURCES.get(n).usage for n in DATA_SOURCES.names())


def load_dataset(spec: str, seed: int = 0, image_size: int = 32) -> Dataset:
    """``digits`` | ``cifar10:PATH`` | ``imagefolder:PATH`` (any registered source)."""
    kind, _, path = spec.partition(":")
    if kind in DATA_SOURCES:
        src = DATA_SOURCES.get(kind)
        if bool(path) == src.takes_path:
            return src.load(path, seed, image_size)
    raise DataError(
        f"unknown data source '{spec}'; use {', '.join(DATA_SOURCES.get(n).usage for n in DATA_SOURCES.names())}"
    )
