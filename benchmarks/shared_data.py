"""Where the benchmarks find ../shared's data, and the one way they cut the CIFAR-10 copy.

The copy holds one training batch and the test batch.  Search and ranking must never look at the test batch, so
the training batch is split into a training part and a held-out part (``holdout`` images, seeded permutation);
the test batch is only for reporting.
"""

from __future__ import annotations

import os

import torch

from hwnas.data import Dataset, load_dataset

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
CIFAR = os.path.join(SHARED, "data", "cifar10-batches-py")
PIXEL = os.path.join(SHARED, "data", "luts", "proxylessnas_mobile_trim.yaml")


def cifar_splits(holdout: int = 2000, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(search data: training part + held-out part of the training batch, test data: same training part + the
    test batch as its held-out split)."""
    full = load_dataset(f"cifar10:{CIFAR}")
    perm = torch.randperm(len(full.y_train), generator=torch.Generator().manual_seed(seed))
    tr, ho = perm[holdout:], perm[:holdout]
    search = Dataset("cifar10-copy", full.x_train[tr], full.y_train[tr], full.x_train[ho], full.y_train[ho], 10,
                     flip=True, pad=4)
    test = Dataset("cifar10-copy-test", full.x_train[tr], full.y_train[tr], full.x_val, full.y_val, 10, flip=True,
                   pad=4)
    return search, test
