"""Evolution (SPOS) vs random search under the same constraint and evaluation budget, on a supernet
trained on the embedded ``digits`` data, over several seeds.  Prints mean ± sd of the best supernet
accuracy (held-out split, BN recalibrated) that each strategy finds, and how often evolution wins.

The latency constraint uses the published Pixel-1 LUT when ../shared is present (no measuring needed),
else a LUT measured here.  Scores are cached per arch across strategies: both see identical accuracies.

    .venv/bin/python benchmarks/search_quality.py [--seeds 5] [--budget 300] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.data import load_dataset
from hwnas.lut import LatencyPredictor
from hwnas.search import get_strategy
from hwnas.search.driver import SupernetContext
from hwnas.search.setup import ensure_lut, ensure_supernet
from hwnas.space import get_space

PIXEL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "luts", "proxylessnas_mobile_trim.yaml")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--population", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--tight", type=float, default=1.15, help="latency bound = tight x the space's minimum")
    a = ap.parse_args()
    torch.set_num_threads(2)
    data = load_dataset("digits")
    _, net, _ = ensure_supernet("proxyless", data, a.epochs, 0)
    if os.path.exists(PIXEL):
        from hwnas.lut.importers import import_proxylessnas
        lut, src = import_proxylessnas(PIXEL), "published Pixel-1 LUT"
        deploy = get_space("proxyless")
    else:
        _, lut = ensure_lut("proxyless", 224, 10)
        src, deploy = "LUT measured here (ort cpu)", get_space("proxyless", num_classes=10)
    cost = CostModel(deploy, LatencyPredictor(lut, deploy))
    bound = cost.minimum("latency") * a.tight
    cons = [Constraint.parse("latency", f"{bound:.3f}ms")]
    ctx = SupernetContext(net, data)
    cache: dict = {}

    def evaluate(arch):
        if arch not in cache:
            cache[arch] = ctx.accuracy(arch)
        return cache[arch]

    gens = max(1, a.budget // a.population - 1)
    print(f"constraint {cons[0]} ({src}); budget {a.budget} evaluations; evolution population {a.population}, "
          f"{gens} generations; {a.seeds} seeds")
    res: dict[str, list[float]] = {"random": [], "evolution": []}
    t0 = time.time()
    for seed in range(a.seeds):
        for name in res:
            hard = HardFilter(cons, cost)
            s = get_strategy(name)(deploy, evaluate, hard, budget=a.budget, seed=seed, population=a.population,
                                   generations=gens, topk=10).run()
            res[name].append(s.best.accuracy)
        print(f"  seed {seed}: random {100 * res['random'][-1]:.2f}%  evolution {100 * res['evolution'][-1]:.2f}%")
    for name, v in res.items():
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"{name:<10} best accuracy {100 * statistics.mean(v):.2f} ± {100 * sd:.2f} %")
    wins = sum(e > r for e, r in zip(res["evolution"], res["random"]))
    ties = sum(e == r for e, r in zip(res["evolution"], res["random"]))
    print(f"evolution better in {wins}/{a.seeds} seeds ({ties} ties); {len(cache)} distinct archs scored; "
          f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
