"""Which choices slow a supernet down: the same supernet trained with uniform single paths drawn from a subset
of each layer's choices, one run per subset, side by side (same data, epochs, seed, learning rate).

Written for FP-NAS's near-chance results on ``digits`` (docs/benchmarks.md, "FP-NAS sampling"): is it the
searcher, or does the ``fbnet`` supernet itself not learn in that many steps?  Prints each run's training
accuracy (training-mode BN, the path drawn at each step) per epoch, then the held-out accuracy of
``--eval-paths`` random paths of the subset with inherited weights (BN recalibrated), and writes
``supernet_choices.json``.  ``--sandwich N`` / ``--fair`` train with those levers instead of one uniform path
(their largest and smallest paths are the whole space's).

    .venv/bin/python benchmarks/supernet_choices.py --space fbnet --data digits --epochs 4 \\
        --subsets "all;k3_e6;k3_e6,k5_e6;k3_e3,k3_e6;k3_e1,k3_e3,k3_e6;-k3_e1_g2,-k5_e1_g2" --out runs/choices

A subset is ``all``, a comma list of choices, or a comma list of ``-choice`` exclusions; a layer where none of
a subset's choices exists keeps all of its own.  ``A|B`` applies A to the layers with an identity shortcut
(stride 1, same width in and out) and B to the others (each stage's first layer), e.g. ``skip,k3_e6|k3_e6``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics

import torch

from hwnas.data import load_dataset
from hwnas.io import atomic_write_text
from hwnas.space import get_space
from hwnas.space.arch import Arch
from hwnas.space.base import LayerSpec
from hwnas.supernet.api import evaluate, train_supernet
from hwnas.supernet.levers import Recipe
from hwnas.supernet.train import TrainConfig


def layer_choices(layer: LayerSpec, subset: str) -> list[str]:
    """The choices of one layer that ``subset`` keeps (all of them where it keeps none)."""
    choices = layer.choices
    if "|" in subset:
        residual, first = subset.split("|", 1)
        subset = residual if layer.stride == 1 and layer.in_shape[0] == layer.cout else first
    items = [s.strip() for s in subset.split(",") if s.strip()]
    if subset == "all":
        kept = list(choices)
    elif all(s.startswith("-") for s in items):
        kept = [c for c in choices if "-" + c not in items]
    else:
        kept = [c for c in choices if c in items]
    return kept or list(choices)


def paths_text(accs: list[float]) -> str:
    if not accs:
        return ""
    return f"  | paths held-out median {statistics.median(accs):.2f} ({min(accs):.2f}..{max(accs):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--sharing", default="entangled")
    ap.add_argument("--subsets", default="all")
    ap.add_argument("--sandwich", type=int, default=-1, help="sandwich rule with N random paths (-1: off)")
    ap.add_argument("--fair", action="store_true", help="FairNAS strict fairness")
    ap.add_argument("--eval-paths", type=int, default=8, help="random paths scored on the held-out split")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/choices")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load_dataset(a.data, image_size=a.size)
    sp = get_space(a.space, input_size=a.size, num_classes=data.num_classes)
    recipe = Recipe(sandwich=a.sandwich, fair=a.fair)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "supernet_choices.json")
    done = json.load(open(path)) if os.path.exists(path) else {}
    print(f"{a.space} supernet ({a.sharing}, {recipe.describe()}) on {a.data} at {a.size} px, {a.epochs} epochs, "
          f"lr {a.lr}: training accuracy per epoch; held-out accuracy of {a.eval_paths} random paths")
    for subset in a.subsets.split(";"):
        key = f"{a.space}|{a.data}|{a.size}|{a.epochs}|{a.lr}|{a.sharing}|{recipe.describe()}|{a.eval_paths}|{subset}"
        if key not in done:
            kept = [layer_choices(layer, subset) for layer in sp.layers]

            def sampler(rng: random.Random, kept: list[list[str]] = kept) -> Arch:
                return Arch(sp.name, tuple(rng.choice(cs) for cs in kept))

            run_dir = os.path.join(a.out, f"run{len(done)}")
            net, res = train_supernet(sp, data, TrainConfig(epochs=a.epochs, lr=a.lr), run_dir, sampler=sampler,
                                      sharing=a.sharing, recipe=recipe)
            rng = random.Random(1)
            paths = [evaluate(net, sampler(rng), data) for _ in range(a.eval_paths)]
            done[key] = {"subset": subset, "steps": res.steps, "paths_heldout": [round(x, 4) for x in paths],
                         "train_acc": [round(h["train_acc"], 4) for h in res.history],
                         "loss": [round(h["loss"], 3) for h in res.history]}
            atomic_write_text(path, json.dumps(done, indent=1))
        r = done[key]
        print(f"  {subset:40s} {r['steps']:5d} steps  acc " + " ".join(f"{x:.2f}" for x in r["train_acc"]) +
              "  loss " + " ".join(f"{x:.2f}" for x in r["loss"]) + paths_text(r["paths_heldout"]), flush=True)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
