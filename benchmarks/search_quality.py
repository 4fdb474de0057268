"""Search quality.  Three modes:

* ``evo-vs-random`` (default): evolution (SPOS) vs random search under the same constraint and evaluation budget,
  on a supernet trained on the embedded ``digits`` data, over several seeds (below).
* ``all [--data digits|cifar]``: every registered strategy under one latency bound, each result retrained
  standalone beside the median of random satisfying archs, with wall time and whether the bound was met.
  Resumable: results.json, the supernet, every search and every retraining are kept in ``--out``
  (runs/search-quality-DATA); re-running the same command goes on where it stopped, and more ``--seeds`` or
  ``--random-baseline`` add to what is there.
* ``fpnas-sampling``: FP-NAS's adaptive vs fixed K and coarse-to-fine vs joint-only, at small scale.

Evolution vs random:

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
import functools
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
from shared_data import PIXEL, Store, cifar_splits

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


def evo_vs_random(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="search_quality.py evo-vs-random")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--population", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=8, help="supernet training epochs on digits")
    ap.add_argument("--latency", default=None, help="latency bound, e.g. 80ms [default: --quantile of random archs]")
    ap.add_argument("--quantile", type=float, default=0.05)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
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


# -- every registered strategy under one constraint ------------------------------------------------------

#: per strategy: options that fit a CPU benchmark (the learning searchers train their own supernet from scratch)
SMALL = {"evolution": {"population": 10, "generations": 3}, "random": {},
         "coordinate": {"P": 0, "Q": 0, "E": 2, "T": 1},
         "probabilistic": {"epochs": 6, "warmup": 1, "theta": 3},
         "hournas": {"vital_epochs": 2, "epochs": 3},
         "epnas": {"episodes": 2, "branches": 4, "steps": 5, "pp_steps": 2}}


def _data(name: str, train_images: int = 8000):
    """(search data, test data): digits' own splits, or the CIFAR-10 copy with an explicit cut: ``train_images``
    training images and 2,000 held-out (8,000: data_batch_1 alone, the cut of the figures recorded so far)."""
    if name == "digits":
        d = load_dataset("digits")
        return d, d
    return cifar_splits(2000, train=train_images, first_batch_only=train_images <= 8000)


def every_strategy(argv: list[str]) -> None:
    """Each registered strategy, over seeds, under one latency bound (from the same LUT as evo-vs-random: the
    published Pixel-1 one where ../shared has it, so nothing here is timed), scored by its supernet; then its result
    retrained standalone beside the median of random satisfying archs retrained the same way."""
    import hashlib

    from hwnas.search import list_strategies
    from hwnas.search.driver import run_search
    from hwnas.search.plan import SearchPlan
    from hwnas.space import get_space
    from hwnas.supernet import Supernet
    from hwnas.supernet.train import TrainConfig, accuracy, train

    ap = argparse.ArgumentParser(prog="search_quality.py all")
    ap.add_argument("--data", default="digits", help="digits or cifar (the copy in ../shared)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--budget", type=int, default=40, help="evaluations of the scoring strategies")
    ap.add_argument("--epochs", type=int, default=8, help="pretrained supernet epochs (scoring strategies)")
    ap.add_argument("--quantile", type=float, default=0.05)
    ap.add_argument("--retrain-epochs", type=int, default=10)
    ap.add_argument("--random-baseline", type=int, default=5, help="random satisfying archs retrained")
    ap.add_argument("--strategies", default=",".join(list_strategies()))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-images", type=int, default=8000,
                    help="--data cifar: training images of the copy's 50,000 (8000: the earlier figures' cut)")
    ap.add_argument("--out", default=None, help="results and checkpoints; a run resumes from here "
                    "[default: runs/search-quality-DATA]")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    work = a.out or os.path.join("runs", f"search-quality-{a.data}")
    os.makedirs(work, exist_ok=True)
    store = Store(work)
    settings = {k: v for k, v in vars(a).items() if k not in ("threads", "out", "seeds", "random_baseline",
                                                                "strategies")}
    if store.get("settings") not in (None, settings):
        raise SystemExit(f"error: {work} holds a run with other settings ({store.get('settings')}); "
                         "use another --out")
    store.put("settings", settings)
    data, test = _data(a.data, a.train_images)
    cost, src = _cost()
    lut = cost.predictor.lut
    rng = random.Random(0)
    lat = cost.predictor.predict_many([cost.space.random_arch(rng) for _ in range(5000)])
    bound = Constraint.parse("latency", f"{float(np.quantile(lat, a.quantile)):.2f}ms")
    hard = HardFilter([bound], cost)
    print(f"{a.data}: {len(data.y_train)} training / {len(data.y_val)} held-out / {len(test.y_val)} test images; "
          f"constraint {bound} ({src}, the {a.quantile:.0%} quantile of random archs)", flush=True)
    sp = get_space("proxyless", input_size=data.image_size, num_classes=10)

    @functools.lru_cache(maxsize=None)  # trained only when a scoring strategy runs
    def pretrained_supernet() -> Supernet:
        if a.data == "digits":
            return ensure_supernet("proxyless", data, a.epochs, 0)[1]
        from hwnas.supernet.api import load_supernet, train_supernet
        from hwnas.supernet.train import load_checkpoint

        # ranking_fidelity.py's entangled supernet (same data cut, same recipe) when it finished at least --epochs
        ck = os.path.join("runs", "ranking", "supernet-entangled-e15", "checkpoint.pt")
        done = int(load_checkpoint(ck).get("epoch", 0)) if os.path.exists(ck) else 0
        if done >= a.epochs:
            net = load_supernet(ck)[0]
        else:
            done = a.epochs
            net, _ = train_supernet(sp, data, TrainConfig(epochs=a.epochs, lr=0.05), os.path.join(work, "sn"),
                                    sharing="entangled", resume=True)
        print(f"scoring supernet: entangled, {done} epochs", flush=True)
        return net

    def retrain(arch: str, seed: int = 0) -> tuple[float, float]:
        """(held-out, test) accuracy of ``arch`` trained standalone; kept in results.json, so two searches that
        return the same arch, and a resumed run, share it."""
        key = f"{arch}|{seed}"
        done = (store.get("retrained") or {}).get(key)
        if done is not None:
            return tuple(done)
        net = sp.build(sp.parse(arch))
        torch.manual_seed(seed)
        tag = hashlib.sha1(key.encode()).hexdigest()[:12]
        train(net, lambda m, x, g: m(x), data, TrainConfig(epochs=a.retrain_epochs, lr=0.05, seed=seed),
              os.path.join(work, f"retrain-{tag}"), {"kind": "subnet"}, resume=True)
        res = accuracy(net, data.x_val, data.y_val), accuracy(net, test.x_val, test.y_val)
        store.put("retrained", {key: list(res)}, merge=True)
        return res

    # the baseline first: a run cut short still has what every strategy is compared with
    base = []
    for i in range(a.random_baseline):
        base.append(retrain(str(hard.sample(random.Random(100 + i))), i))
        print(f"  random satisfying arch {i}: retrained held-out {100 * base[-1][0]:.2f}% "
              f"test {100 * base[-1][1]:.2f}%", flush=True)
    med_ho, med_te = statistics.median(b[0] for b in base), statistics.median(b[1] for b in base)
    print(f"random satisfying archs retrained (n={len(base)}): median held-out {100 * med_ho:.2f}%, test "
          f"{100 * med_te:.2f}% (range {100 * min(b[1] for b in base):.2f}..{100 * max(b[1] for b in base):.2f}%)",
          flush=True)
    rows = store.get("rows") or []
    for name in a.strategies.split(","):
        cls = get_strategy(name)
        for seed in range(a.seeds):
            if any(r["strategy"] == name and r["seed"] == seed for r in rows):
                continue  # finished in an earlier run of this --out
            net = Supernet(sp, "entangled") if cls.trains_supernet else pretrained_supernet()
            t0 = time.time()
            plan = SearchPlan.make(cost.space, [bound], name, SMALL.get(name, {}),
                                   None if cls.trains_supernet else a.budget, lut, seed)
            out = run_search(plan, net, data, os.path.join(work, f"{name}-{seed}"), {}, remeasure=False,
                             resume=True)
            wall = time.time() - t0
            r = out.result
            ok = hard.ok(cost.space.parse(r["arch"]))
            ho, te = retrain(r["arch"])
            rows.append({"strategy": name, "seed": seed, "supernet_acc": r["accuracy"], "retrained_heldout": ho,
                         "retrained_test": te, "latency_ms": r["latency"]["predicted_ms"], "met": ok,
                         "evaluated": r["evaluated"], "wall_s": wall, "report": r.get("report", "")})
            store.put("rows", rows)
            print(f"  {name:<13} seed {seed}: supernet {100 * r['accuracy']:.2f}%  retrained held-out {100 * ho:.2f}% "
                  f"test {100 * te:.2f}%  latency {r['latency']['predicted_ms']:.1f} ms (bound met: {ok})  "
                  f"{r['evaluated']} evaluated  {wall:.0f} s  {r.get('report', '')}", flush=True)
    for name in a.strategies.split(","):
        rs = [r for r in rows if r["strategy"] == name and r["seed"] < a.seeds]
        te = [100 * r["retrained_test"] for r in rs]
        sn_mean = statistics.mean(100 * r["supernet_acc"] for r in rs)
        print(f"{name:<13} retrained test {statistics.mean(te):.2f}% (seeds: {', '.join(f'{v:.2f}' for v in te)}) vs "
              f"random median {100 * med_te:.2f}%; supernet {sn_mean:.2f}%; "
              f"bound met {sum(r['met'] for r in rs)}/{len(rs)}; wall {statistics.mean(r['wall_s'] for r in rs):.0f} s")


def fpnas_sampling(argv: list[str]) -> None:
    """FP-NAS at small scale: adaptive vs fixed K (14, the paper's baseline), and with vs without coarse-to-fine
    (factorised until epoch theta, vs joint throughout): sampled archs, wall time, final entropy, result."""
    import tempfile

    from hwnas.search.driver import run_search
    from hwnas.search.plan import SearchPlan
    from hwnas.space import get_space
    from hwnas.supernet import Supernet

    ap = argparse.ArgumentParser(prog="search_quality.py fpnas-sampling")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--space", default="fbnetv2", help="fbnetv2: FP-NAS's five variables per layer")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    data = load_dataset("digits")
    work = tempfile.mkdtemp(prefix="hwnas-fp-")
    if a.space == "proxyless":
        cost, _ = _cost()
        deploy, lut = cost.space, cost.predictor.lut
        bound = Constraint.parse("latency", "80ms")
    else:  # a FLOPs bound needs no LUT: the counters are exact
        deploy, lut = get_space(a.space, input_size=32, num_classes=10), None
        bound = Constraint.parse("flops", f"{2 * 0.7 * (CostModel(deploy).layer_costs('macs').maximum()) / 1e6:.1f}M")
    sp = get_space(a.space, input_size=data.image_size, num_classes=10)
    variants = {"adaptive K, coarse-to-fine": {}, "adaptive K, joint only": {"theta": 0},
                "fixed K=14, coarse-to-fine": {"k": 14}, "fixed K=14, joint only (PARSEC-like)": {"k": 14, "theta": 0}}
    print(f"FP-NAS on digits, space {a.space}, {a.epochs} epochs, constraint {bound}", flush=True)
    for label, extra in variants.items():
        for seed in range(a.seeds):
            opts = {"epochs": a.epochs, "warmup": 1, "theta": max(2, a.epochs // 3), **extra}
            t0 = time.time()
            plan = SearchPlan.make(deploy, [bound], "probabilistic", opts, None, lut, seed)
            out = run_search(plan, Supernet(sp, "entangled"), data, os.path.join(work, f"{len(label)}-{seed}"), {},
                             remeasure=False)
            p = out.result["probabilistic"]
            print(f"  {label:<38} seed {seed}: {p['sampled_archs']:5d} sampled archs, {time.time() - t0:6.0f} s, final "
                  f"entropy {p['final_entropy']:.2f}, {p['distribution']} ({p['parameters']} params), result "
                  f"{100 * out.result['accuracy']:.2f}%", flush=True)


def main() -> None:
    import sys

    modes = {"evo-vs-random": evo_vs_random, "all": every_strategy, "fpnas-sampling": fpnas_sampling}
    argv = sys.argv[1:]
    mode = argv.pop(0) if argv and argv[0] in modes else "evo-vs-random"
    modes[mode](argv)


if __name__ == "__main__":
    main()
