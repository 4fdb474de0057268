"""Evolution (SPOS) vs random search under the same constraint and evaluation budget, on a supernet
trained on the embedded ``digits`` data, over several seeds.

Prints, per seed and as mean ± sd: the best supernet accuracy each strategy found (held-out split, BN
recalibrated), the mean of its 10 best, and the best-so-far after a quarter and a half of the budget;
then how often evolution wins, with a paired Wilcoxon signed-rank test (ties dropped).  The latency
bound defaults to the ``--quantile`` of uniformly random archs' predicted latency (a realistic, selective
target; the space's all-skip minimum is far below any real model).

The latency comes from the published Pixel-1 LUT when ../shared is present (no measuring needed), else
from a LUT measured here.  Runs are spread over ``--jobs`` processes (1 torch thread each).

    .venv/bin/python benchmarks/search_quality.py [--seeds 10] [--budget 300] [--epochs 8] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from scipy import stats

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.data import load_dataset
from hwnas.lut import LatencyPredictor
from hwnas.search import get_strategy
from hwnas.search.supernet_eval import SupernetTrainer
from hwnas.search.setup import ensure_lut, ensure_supernet
from hwnas.space import get_space

PIXEL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "luts", "proxylessnas_mobile_trim.yaml")
STRATEGIES = ("random", "evolution")
_W: dict = {}


def _cost():
    if os.path.exists(PIXEL):
        from hwnas.lut.importers import import_proxylessnas
        deploy = get_space("proxyless")
        return CostModel(deploy, LatencyPredictor(import_proxylessnas(PIXEL), deploy)), "published Pixel-1 LUT"
    _, lut = ensure_lut("proxyless", 224, 10)
    deploy = get_space("proxyless", num_classes=10)
    return CostModel(deploy, LatencyPredictor(lut, deploy)), "LUT measured here (ort cpu)"


def _init(epochs: int) -> None:
    torch.set_num_threads(1)
    data = load_dataset("digits")
    _, net, _ = ensure_supernet("proxyless", data, epochs, 0)
    _W["ctx"], (_W["cost"], _) = SupernetTrainer(net, data), _cost()


def _run(job: tuple[str, int, str, int, int, int]) -> dict:
    name, seed, bound, budget, population, generations = job
    hard = HardFilter([Constraint.parse("latency", bound)], _W["cost"])
    opts = {"population": population, "generations": generations, "topk": 10} if name == "evolution" else {}
    s = get_strategy(name)(_W["cost"].space, _W["ctx"].accuracy, hard, budget=budget, seed=seed, **opts).run()
    accs = [r.accuracy for r in s.history]
    assert all(r.satisfied for r in s.history)
    return {"name": name, "seed": seed, "best": max(accs), "top10": float(np.mean(sorted(accs)[-10:])),
            "q1": max(accs[: budget // 4]), "q2": max(accs[: budget // 2]),
            "latency": s.best.metrics["latency"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--population", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=8, help="supernet training epochs on digits")
    ap.add_argument("--latency", default=None, help="latency bound, e.g. 80ms [default: --quantile of random archs]")
    ap.add_argument("--quantile", type=float, default=0.05)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    ensure_supernet("proxyless", load_dataset("digits"), a.epochs, 0)  # train once, before the workers load it
    cost, src = _cost()
    rng = random.Random(0)
    lat = cost.predictor.predict_many([cost.space.random_arch(rng) for _ in range(5000)])
    bound = a.latency or f"{float(np.quantile(lat, a.quantile)):.2f}ms"
    gens = max(1, a.budget // a.population - 1)
    print(
        f"constraint latency <= {bound} ({src}; "
        f"{100 * float(np.mean(lat <= Constraint.parse('latency', bound).hi)):.1f}% "
        f"of uniform random archs satisfy it); budget {a.budget} evaluations; evolution population "
        f"{a.population}, {gens} generations, top-k 10; supernet {a.epochs} epochs; {a.seeds} seeds",
        flush=True,
    )
    jobs = [(n, s, bound, a.budget, a.population, gens) for s in range(a.seeds) for n in STRATEGIES]
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs, initializer=_init, initargs=(a.epochs,)) as ex:
        out = list(ex.map(_run, jobs))
    res = {n: sorted((r for r in out if r["name"] == n), key=lambda r: r["seed"]) for n in STRATEGIES}
    for r, e in zip(res["random"], res["evolution"]):
        print(f"  seed {r['seed']}: best random {100 * r['best']:.2f}% evolution {100 * e['best']:.2f}%   "
              f"top-10 mean random {100 * r['top10']:.2f}% evolution {100 * e['top10']:.2f}%")

    def ms(rows: list[dict], k: str) -> str:
        v = [100 * r[k] for r in rows]
        return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"

    for n, rows in res.items():
        print(
            f"{n:<10} best {ms(rows, 'best')} %   top-10 mean {ms(rows, 'top10')} %   best after 1/4 budget "
            f"{ms(rows, 'q1')} %, 1/2 {ms(rows, 'q2')} %   "
            f"latency of best {statistics.mean(r['latency'] for r in rows):.1f} ms"
        )
    pairs = list(zip(res["evolution"], res["random"]))
    wins, ties = sum(e["best"] > r["best"] for e, r in pairs), sum(e["best"] == r["best"] for e, r in pairs)
    diff = [e["best"] - r["best"] for e, r in pairs]
    p = stats.wilcoxon(diff, alternative="greater").pvalue if any(diff) else 1.0
    print(f"evolution better in {wins}/{len(pairs)} seeds ({ties} ties, {len(pairs) - wins - ties} worse); paired "
          f"difference {100 * statistics.mean(diff):+.2f} points, Wilcoxon signed-rank one-sided p = {p:.3f}; "
          f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
