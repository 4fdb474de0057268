"""Does the supernet rank archs the way training them alone does?  (One-shot ranking fidelity, CIFAR-10 copy.)

On the CIFAR-10 copy in ../shared (one training batch, the test batch) at 32 px: the training batch is split into
a training part and a held-out part (``--holdout``); the test batch is only for reporting.

1. Train a ``proxyless`` supernet on the training part, once with entangled and once with separate sharing
   (``--supernet-epochs``; SPOS uniform path sampling).
2. Pick ``--archs`` archs spread over the space's latency range (the published Pixel-1 LUT's sum of ops, so
   nothing is measured here) and train each one standalone from scratch with one recipe (``--epochs``); a few
   of them (``--repeats``) again with other seeds, to show the noise of standalone training itself.
3. Report Kendall τ and Spearman ρ (with p-values) between supernet accuracy (inherited weights + BN
   recalibration, held-out part) and standalone accuracy (held-out part), the top-k overlap, and the standalone
   noise (the spread of the repeated archs and τ between two seeds).

Shows progress, writes every finished piece to ``--out`` (JSON + checkpoints) and resumes from it, so it can run
in the background (``nohup ... &``; about two hours on 2 cores at the defaults):

    .venv/bin/python benchmarks/ranking_fidelity.py [--out runs/ranking] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
from scipy import stats

from hwnas.data import Dataset, load_dataset
from hwnas.io import atomic_write_text
from hwnas.lut import LatencyPredictor
from hwnas.lut.fidelity import spread_archs
from hwnas.lut.importers import import_proxylessnas
from hwnas.space import get_space
from hwnas.supernet.api import load_supernet, train_supernet
from hwnas.supernet.model import extract
from hwnas.supernet.train import CKPT, TrainConfig, accuracy, load_checkpoint, subnet_accuracy, train

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")
CIFAR = os.path.join(SHARED, "data", "cifar10-batches-py")
PIXEL = os.path.join(SHARED, "data", "luts", "proxylessnas_mobile_trim.yaml")


def cifar_splits(holdout: int, seed: int = 0) -> tuple[Dataset, Dataset]:
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


class Store:
    """Results as JSON in ``out/results.json``, written after every finished piece."""

    def __init__(self, out: str) -> None:
        self.path = os.path.join(out, "results.json")
        self.d = json.load(open(self.path)) if os.path.exists(self.path) else {}

    def get(self, key: str):
        return self.d.get(key)

    def put(self, key: str, value) -> None:
        self.d[key] = value
        atomic_write_text(self.path, json.dumps(self.d, indent=1))


def progress_cb(label: str):
    last = [0.0]

    def cb(stage: str, done: int, total: int, metrics=None) -> None:
        if time.time() - last[0] > 30 or done == total:
            last[0] = time.time()
            m = "  ".join(f"{k} {v:.3g}" for k, v in (metrics or {}).items())
            print(f"  [{label}] {stage} {done}/{total}  {m}", flush=True)

    return cb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/ranking")
    ap.add_argument("--archs", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=2, help="archs trained again with two more seeds")
    ap.add_argument("--supernet-epochs", type=int, default=15)
    ap.add_argument("--epochs", type=int, default=10, help="standalone training epochs per arch")
    ap.add_argument("--holdout", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sharing", default="entangled,separate")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    store = Store(a.out)
    data, test = cifar_splits(a.holdout)
    sp = get_space("proxyless", input_size=32, num_classes=10)
    deploy = get_space("proxyless")
    pred = LatencyPredictor(import_proxylessnas(PIXEL), deploy)
    archs = [str(x) for x in spread_archs(deploy, pred, a.archs, seed=11)]
    print(f"{len(archs)} archs spread over {pred.predict(deploy.parse(archs[0])):.0f}..."
          f"{pred.predict(deploy.parse(archs[-1])):.0f} ms (Pixel-1 LUT); {len(data.y_train)} training / "
          f"{len(data.y_val)} held-out / {len(test.y_val)} test images", flush=True)
    t0 = time.time()
    # 1. supernets
    sn_acc: dict[str, dict[str, float]] = {}
    for sharing in a.sharing.split(","):
        d = os.path.join(a.out, f"supernet-{sharing}")
        ck = os.path.join(d, CKPT)
        done = os.path.exists(ck) and int(load_checkpoint(ck).get("epoch", 0)) >= a.supernet_epochs
        if not done:
            train_supernet(sp, data, TrainConfig(epochs=a.supernet_epochs, lr=0.05, seed=0), d, resume=True,
                           progress=progress_cb(f"supernet {sharing}"), sharing=sharing)
        net, _ = load_supernet(ck)
        key = f"supernet_acc/{sharing}"
        accs = store.get(key) or {}
        for x in archs:
            if x not in accs:
                accs[x] = subnet_accuracy(extract(net, sp.parse(x)), data, True, 20)
        store.put(key, accs)
        sn_acc[sharing] = accs
        print(f"supernet ({sharing}) scored {len(accs)} archs; {time.time() - t0:.0f} s", flush=True)
    # 2. standalone training
    jobs = [(x, 0) for x in archs] + [(x, s) for x in archs[:: max(1, len(archs) // a.repeats)][: a.repeats]
                                      for s in (1, 2)]
    standalone = store.get("standalone") or {}
    for x, seed in jobs:
        key = f"{x}|{seed}"
        if key in standalone:
            continue
        net = sp.build(sp.parse(x))
        torch.manual_seed(seed)
        d = os.path.join(a.out, "standalone", f"{archs.index(x)}-s{seed}")
        res = train(net, lambda m, xb, g: m(xb), data, TrainConfig(epochs=a.epochs, lr=0.05, seed=seed), d,
                    {"kind": "subnet"}, resume=True, progress=progress_cb(f"arch {archs.index(x)} seed {seed}"))
        if res.interrupted:
            return
        standalone[key] = {"heldout": accuracy(net, data.x_val, data.y_val),
                           "test": accuracy(net, test.x_val, test.y_val)}
        store.put("standalone", standalone)
        print(f"arch {archs.index(x)} seed {seed}: held-out {standalone[key]['heldout']:.4f}, test "
              f"{standalone[key]['test']:.4f}; {time.time() - t0:.0f} s", flush=True)
    # 3. report
    alone = np.array([standalone[f"{x}|0"]["heldout"] for x in archs])
    tests = [standalone[f"{x}|0"]["test"] for x in archs]
    print(f"\nstandalone accuracy (held-out part, seed 0): {alone.min():.4f}..{alone.max():.4f}; test batch "
          f"{min(tests):.4f}..{max(tests):.4f}")
    rep = sorted({x for x, s in jobs if s > 0})
    sds = [statistics.stdev([standalone[f"{x}|{s}"]["heldout"] for s in (0, 1, 2)]) for x in rep]
    if rep:
        print(f"standalone noise: sd over 3 seeds {100 * statistics.mean(sds):.2f} points (mean of {len(rep)} archs); "
              f"range of means {100 * (alone.max() - alone.min()):.2f} points")
    for sharing, accs in sn_acc.items():
        s = np.array([accs[x] for x in archs])
        tau = stats.kendalltau(s, alone)
        rho = stats.spearmanr(s, alone)
        top = {k: len(set(np.argsort(-s)[:k]) & set(np.argsort(-alone)[:k])) for k in (3, 5)}
        print(f"supernet ({sharing}, {a.supernet_epochs} epochs): accuracy {s.min():.4f}..{s.max():.4f}; "
              f"Kendall tau {tau.statistic:.3f} (p {tau.pvalue:.3g}), Spearman rho {rho.statistic:.3f} "
              f"(p {rho.pvalue:.3g}); top-3 overlap {top[3]}/3, top-5 {top[5]}/5")
        store.put(f"fidelity/{sharing}", {"kendall_tau": tau.statistic, "kendall_p": tau.pvalue,
                                          "spearman_rho": rho.statistic, "spearman_p": rho.pvalue, "top3": top[3],
                                          "top5": top[5], "supernet_epochs": a.supernet_epochs,
                                          "standalone_epochs": a.epochs})
    print(f"wall {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
