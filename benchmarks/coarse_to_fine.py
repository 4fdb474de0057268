"""FP-NAS's coarse-to-fine on a multi-variable space: parameters and entropy of the factorised and joint forms.

The space is ``fbnetv2`` (every layer: kernel x expansion x channels x nonlinearity x Squeeze-Excite, FP-NAS's five
variables; 17 factorised parameters per layer against 145 joint).  The task is the planted optimum of
:mod:`hwnas.search.planted` with a cost table from the exact counters (``--metric``, default MACs, at ``--size`` px;
a counter, so no machine's timing enters), the bound ``--tightness`` of the way up the space's range.  Three forms
of FP-NAS run on the same tasks, same budget (``epochs``):

* ``joint``: the joint distribution from the start (``theta=0``, PARSEC-like);
* ``coarse-to-fine``: factorised, then joint from epoch ``theta`` (FP-NAS, the default ``theta``);
* ``factorised``: factorised throughout (``theta=epochs``).

Prints, per form: the parameters at the start and at the end, the entropy per epoch (median over seeds), the
samples drawn (adaptive K follows the entropy), the median regret and wall time, and random search's regret at its
default budget on the same tasks, for scale; writes ``coarse_to_fine.json``
(resumable) and ``coarse_to_fine.png`` (entropy and K per epoch).

    .venv/bin/python benchmarks/coarse_to_fine.py [--seeds 5] [--out runs/coarse_to_fine]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from hwnas.cost import ArchCoster
from hwnas.io import atomic_write_text
from hwnas.plots import pyplot, save_figure
from hwnas.search import get_strategy
from hwnas.search.planted import PlantedTask, run_planted
from hwnas.space import get_space


def forms(epochs: int) -> dict[str, dict]:
    theta = get_strategy("probabilistic").validate({})["theta"]
    return {"joint": {"theta": 0}, "coarse-to-fine": {"theta": theta}, "factorised": {"theta": epochs}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="fbnetv2")
    ap.add_argument("--metric", default="macs")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tightness", type=float, default=0.3)
    ap.add_argument("--out", default="runs/coarse_to_fine")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "coarse_to_fine.json")
    done = json.load(open(path)) if os.path.exists(path) else {}
    sp = get_space(a.space, input_size=a.size)
    cost = ArchCoster(sp).layer_costs(a.metric)
    epochs = get_strategy("probabilistic").validate({})["epochs"]
    for seed in range(a.seeds):
        task = PlantedTask.make(sp, cost, tightness=a.tightness, seed=seed)
        for form, opts in forms(epochs).items():
            key = f"{a.space}|{form}|{seed}"
            if key in done:
                continue
            logs: list = []
            t0 = time.time()
            run = run_planted(task, "probabilistic", seed=seed, options=opts,
                              on_strategy=lambda s, logs=logs: logs.extend(s.epochs_log))
            done[key] = {"form": form, "seed": seed, "regret": run.regret, "wall_s": round(time.time() - t0, 2),
                         "epochs": [{k: r[k] for k in ("epoch", "phase", "entropy", "k_mean", "samples",
                                                          "parameters")} for r in logs]}
            atomic_write_text(path, json.dumps(done))
            print(f"seed {seed} {form:15s} regret {run.regret:.4f} samples {logs[-1]['samples']:5d} "
                  f"parameters {logs[0]['parameters']} -> {logs[-1]['parameters']} {time.time() - t0:6.1f} s",
                  flush=True)
        key = f"{a.space}|random|{seed}"
        if key not in done:  # for scale: uniform random search at its default budget on the same task
            done[key] = {"form": "random", "seed": seed, "regret": run_planted(task, "random", seed=seed).regret,
                         "epochs": []}
            atomic_write_text(path, json.dumps(done))
    report(done, a.space, epochs, a.out)


def report(done: dict, space: str, epochs: int, out: str) -> None:
    print(f"\nFP-NAS on {space}, planted task: median over seeds")
    print(f"{'form':15s} {'params start':>12s} {'params end':>10s} {'H start':>8s} {'H end':>7s} {'samples':>8s} "
          f"{'regret':>7s} {'wall s':>7s}")
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for form in forms(epochs):
        runs = [v for v in done.values() if v["form"] == form and v["epochs"]]
        if not runs:
            continue
        per_epoch = list(zip(*[r["epochs"] for r in runs]))
        ent = [statistics.median(e["entropy"] for e in ep) for ep in per_epoch]
        ks = [statistics.median(e["k_mean"] for e in ep) for ep in per_epoch]
        first, last = runs[0]["epochs"][0], runs[0]["epochs"][-1]
        print(f"{form:15s} {first['parameters']:12d} {last['parameters']:10d} {ent[0]:8.1f} {ent[-1]:7.1f} "
              f"{statistics.median(r['epochs'][-1]['samples'] for r in runs):8.0f} "
              f"{statistics.median(r['regret'] for r in runs):7.4f} "
              f"{statistics.median(r['wall_s'] for r in runs):7.1f}")
        xs = [ep[0]["epoch"] for ep in per_epoch]
        axes[0].plot(xs, ent, marker="o", label=f"{form} ({first['parameters']} -> {last['parameters']} params)")
        axes[1].plot(xs, ks, marker="o", label=form)
    rand = [v["regret"] for v in done.values() if v["form"] == "random"]
    if rand:
        print(f"{'random (1000)':15s} {'':12s} {'':10s} {'':8s} {'':7s} {1000:8d} {statistics.median(rand):7.4f}")
    axes[0].set(xlabel="epoch", ylabel="entropy H (nats)", title=f"{space}: distribution entropy (median)")
    axes[1].set(xlabel="epoch", ylabel="archs sampled per step (K)", title="adaptive K = ceil(lam * H)")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    save_figure(fig, os.path.join(out, "coarse_to_fine.png"), dpi=120)


if __name__ == "__main__":
    main()
