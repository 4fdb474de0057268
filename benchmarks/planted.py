"""Planted-optimum benchmark: does each searcher find a known best arch?

The task (:mod:`hwnas.search.planted`): accuracy is a planted table (per-layer values plus neighbour
interactions, so greedy is not optimal), the cost is a real LUT's per-layer latency (ProxylessNAS's published
Pixel-1 table for ``proxyless``; ``--space fbnet`` uses a LUT measured on this machine, cached), the bound sits
``--tightness`` of the way from the space's smallest to its largest latency, and the exact optimum comes from a
dynamic program.  Every registered strategy runs its own ``search()`` at each budget scale (``--scales``: 1 is
the strategy's defaults; 0.5 halves its epochs / episodes / generations / budget) over ``--seeds`` seeds (each
seed is a new task and a new search).

Prints per strategy and scale: median and mean regret (1 - acc(result) / acc(optimum)), the share of runs within
0.5% of the optimum, evaluations and wall time; writes ``planted.json`` (resumable: finished runs are kept) and
``planted.png`` (anytime regret against evaluations, median over seeds).

    .venv/bin/python benchmarks/planted.py [--seeds 10] [--scales 0.5,1] [--strategies all] [--out runs/planted]
        [--opt KEY=VALUE ...]

``--opt`` sets a strategy option on top of the scaled ones (``--strategies hournas --opt vital_share=0.3 --opt
epochs=8``); such runs are stored and reported under a label that names the options (``hournas[epochs=8,...]``), so
they sit beside the default runs in one ``planted.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import yaml

from hwnas.io import atomic_write_text
from hwnas.lut import LatencyPredictor
from hwnas.plots import pyplot, save_figure
from hwnas.search import get_strategy, list_strategies
from hwnas.search.planted import PlantedTask, run_planted
from hwnas.space import get_space

#: the option (or the budget) each strategy's search length scales with
SCALED = {"random": None, "evolution": "generations", "coordinate": "passes", "probabilistic": "epochs",
          "hournas": "epochs", "epnas": None}


def scaled_options(strategy: str, scale: float) -> tuple[dict, int | None]:
    """(options, budget) of ``strategy`` at ``scale`` times its default length."""
    cls = get_strategy(strategy)
    defaults = cls.validate({})
    key = SCALED.get(strategy)
    if key is None:
        return {}, max(1, round(cls.default_budget(defaults) * scale))
    opts = {key: max(1, round(defaults[key] * scale))}
    if strategy == "probabilistic":
        opts["warmup"] = min(defaults["warmup"], opts["epochs"] - 1)
        opts["theta"] = min(defaults["theta"], opts["epochs"])
    if strategy == "hournas":
        opts["vital_epochs"] = max(1, round(defaults["vital_epochs"] * scale))
    return opts, None


def make_task(space: str, seed: int, tightness: float) -> PlantedTask:
    sp = get_space(space)
    if space == "proxyless":
        from shared_data import PIXEL

        from hwnas.lut.importers import import_proxylessnas

        lut = import_proxylessnas(PIXEL)
    else:
        from hwnas.search.setup import ensure_lut

        _, lut = ensure_lut(space, 224, 1000)
    return PlantedTask.make(sp, LatencyPredictor(lut, sp).layer_costs(), tightness=tightness, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--scales", default="0.5,1")
    ap.add_argument("--strategies", default="all")
    ap.add_argument("--tightness", type=float, default=0.3)
    ap.add_argument("--out", default="runs/planted")
    ap.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                    help="a strategy option set on top of the scaled ones (repeatable; YAML value)")
    a = ap.parse_args()
    extra = parse_opts(ap, a.opt)
    tag = "[" + ",".join(f"{k}={v}" for k, v in sorted(extra.items())) + "]" if extra else ""
    import torch

    torch.set_num_threads(1)
    strategies = list_strategies() if a.strategies == "all" else a.strategies.split(",")
    scales = [float(s) for s in a.scales.split(",")]
    for s in strategies:  # an unknown option fails here, before any search
        try:
            get_strategy(s).validate({**scaled_options(s, 1.0)[0], **extra})
        except (KeyError, ValueError, TypeError) as e:
            ap.error(f"--opt for {s}: {e}")
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "planted.json")
    done = json.load(open(path)) if os.path.exists(path) else {}
    for seed in range(a.seeds):
        task = make_task(a.space, seed, a.tightness)
        for scale in scales:
            for s in strategies:
                key = f"{a.space}|{s}{tag}|{scale:g}|{seed}"
                opts, budget = scaled_options(s, scale)
                opts.update(extra)
                params = json.loads(json.dumps(get_strategy(s).validate(dict(opts))))
                if key in done and done[key].get("params") == params and done[key]["budget"] == budget:
                    continue  # finished with the same settings (a changed default reruns it)
                t0 = time.time()
                run = run_planted(task, s, seed=seed, budget=budget, options=opts)
                done[key] = {**run.to_dict(), "wall_s": round(time.time() - t0, 2), "options": opts,
                             "params": params, "budget": budget, "optimum": task.optimum_accuracy, "bound": task.bound}
                atomic_write_text(path, json.dumps(done))
                print(f"seed {seed} scale {scale:g} {s + tag:14s} regret {run.regret:.4f} evals {run.evaluations:5d} "
                      f"{time.time() - t0:6.1f} s", flush=True)
    report(done, a.space, [s + tag for s in strategies], scales, a.out)


def parse_opts(ap: argparse.ArgumentParser, items: list[str]) -> dict:
    """``KEY=VALUE`` strings to an options dict (values read as YAML: ``0.3`` is a float, ``true`` a bool)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            ap.error(f"--opt {item!r}: write it as KEY=VALUE, e.g. --opt vital_share=0.3")
        out[key] = yaml.safe_load(value)
    return out


def report(done: dict, space: str, strategies: list[str], scales: list[float], out: str) -> None:
    print(f"\nplanted optimum on {space}: regret = 1 - acc(result)/acc(optimum), median over seeds")
    w = max(14, *(len(s) for s in strategies))
    print(f"{'strategy':{w}s} {'scale':>5s} {'runs':>4s} {'median':>8s} {'mean':>8s} {'<=0.5%':>7s} {'evals':>6s} "
          f"{'wall s':>7s}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for s in strategies:
        for scale in scales:
            runs = [v for k, v in done.items() if k.startswith(f"{space}|{s}|{scale:g}|")]
            if not runs:
                continue
            reg = [r["regret"] for r in runs]
            within = sum(x <= 0.005 for x in reg) / len(reg)
            evals = statistics.median(r["evaluations"] for r in runs)
            print(f"{s:{w}s} {scale:5g} {len(runs):4d} {statistics.median(reg):8.4f} {statistics.mean(reg):8.4f} "
                  f"{within:7.0%} {evals:6.0f} {statistics.median(r['wall_s'] for r in runs):7.1f}")
            if scale == max(scales):
                n = max(len(r["anytime"]) for r in runs)
                curves = np.array([[r["anytime"][min(i, len(r["anytime"]) - 1)][1] for i in range(n)] for r in runs])
                ax.plot(np.arange(1, n + 1), np.median(curves, 0), label=s)
    ax.set(xscale="log", xlabel="evaluations", ylabel="regret of the best so far (median)",
           title=f"planted optimum ({space}), scale {max(scales):g}")
    ax.legend(fontsize=8)
    save_figure(fig, os.path.join(out, "planted.png"))
    print(f"\nwritten: {out}/planted.json, {out}/planted.png")


if __name__ == "__main__":
    main()
