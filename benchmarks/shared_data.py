"""Where the benchmarks find ../shared's data, and the one way they cut the CIFAR-10 copy.

The copy holds all 50,000 training images (data_batch_1..5) and the test batch.  Search and ranking must never look
at the test batch, so the training images are split into a training part and a held-out part (``holdout`` images,
seeded permutation); the test batch is only for reporting.  Each benchmark sets its cut explicitly: ``train``
images of the training part (None: all the rest).  ``train=8000, holdout=2000`` is the cut every figure before
the full set arrived used (data_batch_1 alone, 10,000 images).
"""

from __future__ import annotations

import fcntl
import json
import os

import torch

from hwnas.data import Dataset, load_dataset
from hwnas.io import atomic_write_text

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
CIFAR = os.path.join(SHARED, "data", "cifar10-batches-py")
PIXEL = os.path.join(SHARED, "data", "luts", "proxylessnas_mobile_trim.yaml")


def cifar_splits(holdout: int = 2000, seed: int = 0, train: int | None = None,
                 first_batch_only: bool = False) -> tuple[Dataset, Dataset]:
    """(search data: training part + held-out part of the training images, test data: same training part + the
    test batch as its held-out split).  ``first_batch_only``: data_batch_1 alone (the earlier figures' source)."""
    full = load_dataset(f"cifar10:{CIFAR}")
    if first_batch_only:
        full = Dataset(full.name, full.x_train[:10_000], full.y_train[:10_000], full.x_val, full.y_val, 10)
    perm = torch.randperm(len(full.y_train), generator=torch.Generator().manual_seed(seed))
    tr, ho = perm[holdout:], perm[:holdout]
    if train is not None:
        tr = tr[:train]
    search = Dataset("cifar10-copy", full.x_train[tr], full.y_train[tr], full.x_train[ho], full.y_train[ho], 10,
                     flip=True, pad=4)
    test = Dataset("cifar10-copy-test", full.x_train[tr], full.y_train[tr], full.x_val, full.y_val, 10, flip=True,
                   pad=4)
    return search, test


class Store:
    """Results as JSON in ``out/results.json``, written after every finished piece."""

    def __init__(self, out: str) -> None:
        self.path = os.path.join(out, "results.json")
        self.d = json.load(open(self.path)) if os.path.exists(self.path) else {}

    def get(self, key: str):
        return self.d.get(key)

    def put(self, key: str, value, merge: bool = False) -> None:
        """Store ``value`` under ``key``.  Parts run as separate processes on one ``out`` (``--part``, ``--shard``):
        under a lock, the file is re-read and only ``key`` changes; ``merge`` adds a dict's entries to those
        already there, so two processes filling one dict do not drop each other's."""
        with open(self.path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.d = json.load(open(self.path)) if os.path.exists(self.path) else self.d
            self.d[key] = {**(self.d.get(key) or {}), **value} if merge else value
            atomic_write_text(self.path, json.dumps(self.d, indent=1))
