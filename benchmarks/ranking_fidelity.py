"""Does the supernet rank archs the way training them alone does?  (One-shot ranking fidelity, CIFAR-10 copy.)

On the CIFAR-10 copy in ../shared (50,000 training images, the test batch): the training images are cut into
``--train-images`` for training and a held-out part (``--holdout``), at ``--size`` px (images resized, both sides
the same); the test batch is only for reporting.  ``--first-batch-only`` reproduces the earlier figures' cut.

1. Train a supernet of ``--space`` on the training part, for each sharing (``--sharing``), each of
   ``--supernet-epochs`` (a comma list) and each training lever in ``--levers`` (a comma list of names:
   ``base`` = SPOS's one uniform path; ``sandwich`` = largest + smallest + 2 random; ``distill`` = sandwich with
   in-place distillation; ``fair`` = FairNAS strict fairness; ``fair+distill``; see hwnas/supernet/levers.py).
2. Pick ``--archs`` archs spread over the space's latency range (the published Pixel-1 LUT's sum of ops, so
   nothing is measured here) and train each one standalone from scratch with one recipe (``--epochs``); a few
   of them (``--repeats``) again with more seeds (``--standalone-seeds`` in all, default 3), to show the noise of
   standalone training itself.  With ``--repeats`` equal to ``--archs`` every arch has those seeds and the
   reference is their mean (the noise ceiling below then uses the noise of that mean, sd/√k); τ against seed 0
   alone is printed beside it.  ``--arch-pool`` fixes the pool the archs are spread from: then ``--archs 2n-1``
   keeps every arch of ``--archs n`` (their results are reused) and adds one between each pair.
3. Report Kendall τ and Spearman ρ (with p-values) between supernet accuracy (inherited weights + BN
   recalibration, held-out part) and standalone accuracy (held-out part), the top-k overlap, and the standalone
   noise: the sd over the seeds of the repeated archs, and the τ that two standalone runs of all archs would
   show between themselves with that sd (simulated, and labelled so): a supernet cannot be expected to agree
   with one standalone run much better than that.  A diagnostic of evaluation noise (2,000 held-out images give
   a binomial sd of about 1.1 points): τ with both sides scored on the 10,000-image test batch.
   Two bars beside it: the τ of no training at all (the deployed model's MACs, parameters, latency), which a
   supernet has to beat to be worth its cost; and the τ a perfect ranker would score against the reference
   (simulated), the most any supernet can show -- with the number of standalone seeds that would lift it to 0.7.
   With ``--supernet-seeds`` (a comma list) every supernet is trained once per seed, and the report gives τ's
   spread over those seeds and the τ of their mean score: one supernet's τ is itself a sample.
   ``--compare OUT`` adds the τ between this run's standalone reference and another run's on the archs both
   have -- e.g. a longer recipe (``--epochs 12``) on the nested ``--archs 12`` of a 23-arch run, to see whether
   the shorter recipe, which is not at its plateau (``--part plateau``), orders the archs the same way.

Shows progress, writes every finished piece to ``--out`` (JSON + checkpoints) and resumes from it, so it can run
in the background (``nohup ... &``), and in parts (``--part supernets``, ``--part standalone`` -- two processes
can run them side by side on the same ``--out``, and ``--shard 0/2``, ``--shard 1/2`` split the standalone part
between two more -- then ``--part report``).  ``--device cuda`` trains on a GPU; the
report names the device.

    .venv/bin/python benchmarks/ranking_fidelity.py [--out runs/ranking] [--threads 1] [--part all]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import statistics
import time

import numpy as np
import torch
from scipy import stats

from hwnas.lut import LatencyPredictor
from hwnas.lut.measure import spread_archs
from hwnas.lut.importers import import_proxylessnas
from hwnas.space import get_space
from hwnas.supernet.api import load_supernet, train_supernet
from hwnas.supernet.levers import Recipe
from hwnas.supernet.model import extract
from hwnas.supernet.train import CKPT, TrainConfig, accuracy, load_checkpoint, recalibrate_bn, train
from shared_data import PIXEL, Store, cifar_splits


LEVERS = {"base": Recipe(), "sandwich": Recipe(sandwich=2), "distill": Recipe(sandwich=2, distill=True),
          "fair": Recipe(fair=True), "fair+distill": Recipe(sandwich=0, fair=True, distill=True)}


def resized(ds, size: int):
    """``ds`` at ``size`` px (bilinear, antialiased), or ``ds`` itself at its own size."""
    from hwnas.data import Dataset

    if size == ds.image_size:
        return ds
    r = lambda x: torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)  # noqa: E731
    return Dataset(ds.name, r(ds.x_train), ds.y_train, r(ds.x_val), ds.y_val, ds.num_classes, ds.flip,
                   max(1, ds.pad * size // ds.image_size))


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
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--arch-pool", type=int, default=0,
                    help="random candidates the archs are spread from (default 40 per arch); with it fixed, "
                         "--archs 2n-1 keeps the archs of --archs n and adds one between each pair (extends a run)")
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--levers", default="base,sandwich,distill,fair")
    ap.add_argument("--train-images", type=int, default=5000)
    ap.add_argument("--size", type=int, default=16, help="image size of both sides (CIFAR is 32 px)")
    ap.add_argument("--first-batch-only", action="store_true", help="data_batch_1 alone (the earlier cut)")
    ap.add_argument("--part", default="all", choices=["all", "supernets", "standalone", "plateau", "report"])
    ap.add_argument("--plateau-epochs", type=int, default=40,
                    help="--part plateau: the middle arch trained this long, held-out accuracy after every epoch")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2, help="archs trained again with more seeds")
    ap.add_argument("--standalone-seeds", type=int, default=3,
                    help="seeds per repeated arch (0..k-1); more seeds make a quieter reference")
    ap.add_argument("--supernet-epochs", default="15", help="comma list: one supernet per value (and sharing)")
    ap.add_argument("--supernet-seeds", default="0",
                    help="comma list: each supernet trained once per seed (init, data order, paths); the report "
                         "gives tau's spread over seeds and the tau of their mean score")
    ap.add_argument("--epochs", type=int, default=15, help="standalone training epochs per arch")
    ap.add_argument("--bn-batches", default="20", help="comma list: BN recalibration batches before scoring")
    ap.add_argument("--holdout", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sharing", default="entangled")
    ap.add_argument("--compare", default="", metavar="OUT",
                    help="--part report: another run's --out (e.g. a longer standalone recipe on some of these "
                         "archs): Kendall tau between its standalone reference and this one on the archs both have")
    ap.add_argument("--shard", default="0/1", metavar="I/N",
                    help="--part standalone: train only every N-th job from the I-th, so N processes share the work")
    a = ap.parse_args()
    m = re.fullmatch(r"(\d+)/(\d+)", a.shard)
    shard, shards = (int(m[1]), int(m[2])) if m else (0, 0)
    if not shard < shards:
        ap.error(f"--shard {a.shard!r}: give I/N with 0 <= I < N, e.g. 0/2 and 1/2 for two processes")
    if a.standalone_seeds < 1:
        ap.error("--standalone-seeds must be at least 1 (seed 0 is every arch's reference run)")
    if a.arch_pool < 0 or (a.arch_pool and a.arch_pool < a.archs):
        ap.error(f"--arch-pool {a.arch_pool}: give 0 (the default pool) or at least --archs ({a.archs}) candidates")
    if not 0 < a.repeats <= a.archs:
        ap.error(f"--repeats {a.repeats}: give 1..--archs ({a.archs}); --standalone-seeds 1 trains no repeats")
    if a.compare and not os.path.exists(os.path.join(a.compare, "results.json")):
        ap.error(f"--compare {a.compare}: no results.json there; give the --out of a finished run")
    if shards > 1 and a.part != "standalone":
        ap.error("--shard splits --part standalone only; run --part report once every shard has finished")
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    store = Store(a.out)
    data, test = cifar_splits(a.holdout, train=a.train_images, first_batch_only=a.first_batch_only)
    data, test = resized(data, a.size), resized(test, a.size)
    sp = get_space(a.space, input_size=a.size, num_classes=10)
    deploy = get_space(a.space)
    if a.space == "proxyless":
        pred, unit = LatencyPredictor(import_proxylessnas(PIXEL), deploy), "ms (Pixel-1 LUT)"
    else:  # no published LUT: spread over a counter (BitOps where the space chooses bits, else MACs)
        from hwnas.constraints import CostModel

        metric = "bitops" if a.space == "resnet" else "macs"
        pred, unit = _CounterPredictor(CostModel(deploy), metric), f"M {metric}"
    archs = [str(x) for x in spread_archs(deploy, pred, a.archs, seed=11, draws=a.arch_pool or None)]
    device = a.device if a.device == "cpu" else f"{a.device} ({torch.cuda.get_device_name(0)})"
    print(f"{a.space}: {len(archs)} archs spread over {pred.predict(deploy.parse(archs[0])):.0f}..."
          f"{pred.predict(deploy.parse(archs[-1])):.0f} {unit}; {len(data.y_train)} training / "
          f"{len(data.y_val)} held-out / {len(test.y_val)} test images at {a.size} px; device {device}", flush=True)
    store.put("setting", {"space": a.space, "archs": len(archs), "train_images": len(data.y_train),
                          "holdout": len(data.y_val), "size": a.size, "standalone_epochs": a.epochs,
                          "device": device, "supernet_epochs": a.supernet_epochs})
    t0 = time.time()
    if a.part == "plateau":
        return plateau(sp, archs[len(archs) // 2], data, a, store)
    # 1. supernets: one per (sharing, epochs); each is scored on the same archs, per BN recalibration size
    sn_acc: dict[str, dict[str, float]] = {}
    sn_test: dict[str, dict[str, float]] = {}  # diagnostic only: scored on the 10,000-image test batch
    plan = [(s, e, lv, sd) for s in a.sharing.split(",") for e in map(int, a.supernet_epochs.split(","))
            for lv in a.levers.split(",") for sd in map(int, a.supernet_seeds.split(","))]
    for sharing, epochs, lever, sn_seed in plan:
            if a.part == "standalone":
                break
            name = f"{sharing}-e{epochs}-{lever}" + (f"-s{sn_seed}" if sn_seed else "")  # seed 0: the old names
            d = os.path.join(a.out, f"supernet-{name}")
            ck = os.path.join(d, CKPT)
            done = f"supernet_acc/{name}-bn{a.bn_batches.split(',')[-1]}"
            if a.part == "report":
                if store.get(done):
                    for bn in map(int, a.bn_batches.split(",")):
                        sn_acc[f"{name}-bn{bn}"] = store.get(f"supernet_acc/{name}-bn{bn}")
                        sn_test[f"{name}-bn{bn}"] = store.get(f"supernet_test/{name}-bn{bn}")
                continue
            if not (os.path.exists(ck) and int(load_checkpoint(ck).get("epoch", 0)) >= epochs):
                t1 = time.time()
                train_supernet(sp, data, TrainConfig(epochs=epochs, lr=0.05, seed=sn_seed), d, resume=True,
                               progress=progress_cb(f"supernet {name}"), sharing=sharing, recipe=LEVERS[lever],
                               device=a.device)
                store.put(f"supernet_wall/{name}", round(time.time() - t1, 1))
            net, _ = load_supernet(ck)
            for bn in map(int, a.bn_batches.split(",")):
                key = f"supernet_acc/{name}-bn{bn}"
                accs, on_test = store.get(key) or {}, store.get(f"supernet_test/{name}-bn{bn}") or {}
                for x in archs:
                    if x not in accs or x not in on_test:  # one recalibration scores both sets
                        m = extract(net, sp.parse(x))
                        recalibrate_bn(m, data, batches=bn)
                        accs[x], on_test[x] = accuracy(m, data.x_val, data.y_val), accuracy(m, test.x_val, test.y_val)
                store.put(key, accs)
                store.put(f"supernet_test/{name}-bn{bn}", on_test)
                sn_acc[f"{name}-bn{bn}"], sn_test[f"{name}-bn{bn}"] = accs, on_test
                print(f"supernet ({sharing}, {epochs} epochs, {lever}, seed {sn_seed}) scored {len(accs)} archs "
                      f"after {bn} BN recalibration batches; {time.time() - t0:.0f} s", flush=True)
    # 2. standalone training
    jobs = [(x, 0) for x in archs] + [(x, s) for x in archs[:: max(1, len(archs) // a.repeats)][: a.repeats]
                                      for s in range(1, a.standalone_seeds)]
    standalone = store.get("standalone") or {}
    for x, seed in jobs[shard::shards] if a.part in ("all", "standalone") else []:
        key = f"{x}|{seed}"
        if key in standalone:
            continue
        net = sp.build(sp.parse(x))
        torch.manual_seed(seed)
        # named by the arch itself: an index would point at another arch's checkpoint once a run is extended
        d = os.path.join(a.out, "standalone", f"{hashlib.sha1(x.encode()).hexdigest()[:12]}-s{seed}")
        res = train(net, lambda m, xb, g: m(xb), data, TrainConfig(epochs=a.epochs, lr=0.05, seed=seed), d,
                    {"kind": "subnet"}, resume=True, progress=progress_cb(f"arch {archs.index(x)} seed {seed}"),
                    device=a.device)
        net = net.cpu()
        if res.interrupted:
            return
        standalone[key] = {"heldout": accuracy(net, data.x_val, data.y_val),
                           "test": accuracy(net, test.x_val, test.y_val)}
        store.put("standalone", {key: standalone[key]}, merge=True)
        print(f"arch {archs.index(x)} seed {seed}: held-out {standalone[key]['heldout']:.4f}, test "
              f"{standalone[key]['test']:.4f}; {time.time() - t0:.0f} s", flush=True)
    # 3. report
    if a.part in ("supernets", "standalone"):
        return
    standalone = Store(a.out).get("standalone") or {}  # with every part's runs (other processes may have added)
    # the reference: seed 0, or the mean over every seed that all archs have (--repeats equal to --archs)
    def complete(xs) -> list[int]:
        return seeds_all_have(standalone, xs, range(a.standalone_seeds))

    seeds = complete(archs)
    if not seeds:
        missing = sum(f"{x}|0" not in standalone for x in archs)
        raise SystemExit(f"{a.out}: {missing} of {len(archs)} archs have no standalone result yet; run --part "
                         "standalone (every shard) with the same options before the report")
    ref = "seed 0" if len(seeds) == 1 else f"mean of {len(seeds)} seeds"

    def mean_of(part: str, ss: list[int]) -> np.ndarray:
        return seed_mean(standalone, archs, ss, part)

    alone, alone_test = mean_of("heldout", seeds), mean_of("test", seeds)
    print(f"\nstandalone accuracy (held-out part, {ref}): {alone.min():.4f}..{alone.max():.4f}; test batch "
          f"{alone_test.min():.4f}..{alone_test.max():.4f}")
    rep = sorted({x for x, s in jobs if s > 0})
    rep_seeds = complete(rep)
    if rep and len(rep_seeds) > 1:  # a partial run (the repeats' seeds still training) reports without noise
        sd = statistics.mean(statistics.stdev([standalone[f"{x}|{s}"]["heldout"] for s in rep_seeds]) for x in rep)
        ref_sd = sd / len(seeds) ** 0.5  # the noise of one reference: a mean of len(seeds) runs
        rng = np.random.default_rng(0)
        sim = [stats.kendalltau(alone + rng.normal(0, ref_sd, len(alone)),
                                alone + rng.normal(0, ref_sd, len(alone))).statistic for _ in range(2000)]
        print(f"standalone noise: sd over {len(rep_seeds)} seeds {100 * sd:.2f} points (mean of {len(rep)} archs); "
              f"range of means {100 * (alone.max() - alone.min()):.2f} points; Kendall tau between two standalone "
              f"references ({ref}) with that noise (simulated, 2000 draws): median {np.median(sim):.3f} "
              f"(10-90% {np.quantile(sim, 0.1):.3f}..{np.quantile(sim, 0.9):.3f})")
        perfect, need = perfect_ranker(alone, sd, len(seeds), rng)
        print(f"a perfect ranker (the archs' expected standalone accuracy; spread estimated as the variance of the "
              f"references less their noise, Gaussian, simulated) against this reference: Kendall tau median "
              f"{np.median(perfect):.3f} (10-90% {np.quantile(perfect, 0.1):.3f}..{np.quantile(perfect, 0.9):.3f}, "
              f"P(tau >= 0.7) {np.mean(perfect >= 0.7):.2f}); its median reaches 0.7 with "
              + (f"{need} seeds per arch" if need else "more than 30 seeds per arch"))
        store.put("noise", {"sd": sd, "reference": ref, "simulated_tau_two_runs": float(np.median(sim)),
                            "simulated_tau_perfect_ranker": float(np.median(perfect)),
                            "seeds_for_perfect_ranker_tau_0.7": need})
    seed0 = mean_of("heldout", [0])
    if a.compare:
        compare_references(a.compare, archs, alone, ref, store)
    # no training at all: how well the deployed model's size ranks the archs (the bar a supernet has to clear)
    base = {m: np.array([fn(deploy.parse(x)) for x in archs]) for m, fn in baselines(deploy, pred, a.space).items()}
    for metric, v in base.items():
        tau = stats.kendalltau(v, alone)
        print(f"baseline, no training ({metric}, larger = better): Kendall tau {tau.statistic:.3f} "
              f"(p {tau.pvalue:.3g}) against {ref}")
        store.put(f"baseline/{metric}", {"kendall_tau": tau.statistic, "kendall_p": tau.pvalue, "reference": ref})
    # the supernets that differ only in their seed: tau's spread over seeds, and the tau of their mean score
    groups: dict[str, list[str]] = {}
    for name in sn_acc:
        groups.setdefault(re.sub(r"-s\d+(?=-bn\d+$)", "", name), []).append(name)
    for group, names in groups.items():
        if len(names) < 2:
            continue
        taus = [stats.kendalltau([sn_acc[n][x] for x in archs], alone).statistic for n in names]
        ens = np.mean([[sn_acc[n][x] for x in archs] for n in names], axis=0)
        tau = stats.kendalltau(ens, alone)
        print(f"supernet ({group}) over {len(names)} seeds: Kendall tau {statistics.mean(taus):.3f} +- "
              f"{statistics.stdev(taus):.3f} (min {min(taus):.3f}, max {max(taus):.3f}); their mean score: "
              f"Kendall tau {tau.statistic:.3f} (p {tau.pvalue:.3g})")
        store.put(f"seeds/{group}", {"seeds": len(names), "kendall_taus": taus, "kendall_tau_of_mean": tau.statistic,
                                     "kendall_p_of_mean": tau.pvalue, "reference": ref})
    panels: dict[str, tuple[np.ndarray, float]] = {}  # each supernet's scores and tau, for the figure
    for name, accs in sn_acc.items():
        s = np.array([accs[x] for x in archs])
        tau = stats.kendalltau(s, alone)
        panels[name] = (s, tau.statistic)
        rho = stats.spearmanr(s, alone)
        top = {k: len(set(np.argsort(-s)[:k]) & set(np.argsort(-alone)[:k])) for k in (3, 5)}
        st = np.array([sn_test[name][x] for x in archs])
        tau_t = stats.kendalltau(st, alone_test)
        tau_0 = stats.kendalltau(s, seed0)
        size = stats.kendalltau(s, base["macs"]).statistic  # how far the score follows size (compare the baseline)
        print(f"supernet ({name}): accuracy {s.min():.4f}..{s.max():.4f}; against {ref}: "
              f"Kendall tau {tau.statistic:.3f} (p {tau.pvalue:.3g}), Spearman rho {rho.statistic:.3f} "
              f"(p {rho.pvalue:.3g}); top-3 overlap {top[3]}/3, top-5 {top[5]}/5; diagnostic, both scored on the "
              f"10,000-image test batch: Kendall tau {tau_t.statistic:.3f} (p {tau_t.pvalue:.3g})"
              + (f"; against seed 0 alone: Kendall tau {tau_0.statistic:.3f} (p {tau_0.pvalue:.3g})"
                 if len(seeds) > 1 else "") + f"; Kendall tau with MACs {size:.3f}")
        store.put(f"fidelity/{name}", {"kendall_tau": tau.statistic, "kendall_p": tau.pvalue,
                                       "spearman_rho": rho.statistic, "spearman_p": rho.pvalue, "top3": top[3],
                                       "top5": top[5], "standalone_epochs": a.epochs, "reference": ref,
                                       "kendall_tau_test_batch": tau_t.statistic,
                                       "kendall_tau_seed0": tau_0.statistic, "kendall_tau_with_macs": size})
    if panels:
        print(f"figure: {ranking_figure(panels, alone, ref, os.path.join(a.out, 'ranking.png'))}")
    print(f"wall {time.time() - t0:.0f} s")


def ranking_figure(panels: dict[str, tuple[np.ndarray, float]], alone: np.ndarray, ref: str, path: str) -> str:
    """One panel per supernet (name -> its scores in the order of ``alone``, and the Kendall τ the report printed):
    score of each arch against the standalone reference -- a τ says how many pairs are out of order, the scatter
    shows which (the close ones or the far ones)."""
    from hwnas.plots import pyplot, save_figure

    plt = pyplot()
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False)
    for ax, (name, (s, tau)) in zip(axes.flat, panels.items()):
        ax.scatter(100 * s, 100 * alone, s=14)
        ax.set_title(f"{name}\nKendall tau {tau:.2f}", fontsize=8)
        ax.set_xlabel("supernet score, held-out %", fontsize=8)
        ax.set_ylabel(f"standalone ({ref}), held-out %", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    return save_figure(fig, path)


def seeds_all_have(standalone: dict, xs: list[str], seeds) -> list[int]:
    """The seeds of ``seeds`` that every arch of ``xs`` has a standalone result for (keys ``arch|seed``)."""
    return [s for s in seeds if all(f"{x}|{s}" in standalone for x in xs)]


def seed_mean(standalone: dict, xs: list[str], seeds: list[int], part: str) -> np.ndarray:
    """Each arch's standalone accuracy on ``part`` (held-out or test), averaged over ``seeds``: a reference."""
    return np.array([statistics.mean(standalone[f"{x}|{s}"][part] for s in seeds) for x in xs])


def compare_references(other_out: str, archs: list[str], alone: np.ndarray, ref: str, store: "Store") -> None:
    """Kendall τ between this run's standalone reference and another run's (its seed 0, or the mean of the seeds
    every shared arch has) on the archs both have: does a longer or different recipe order them the same way?"""
    other = Store(other_out).get("standalone") or {}
    both = [i for i, x in enumerate(archs) if f"{x}|0" in other]
    seeds = seeds_all_have(other, [archs[i] for i in both], sorted({int(k.rsplit("|", 1)[1]) for k in other}))
    if len(both) < 3:
        print(f"--compare {other_out}: only {len(both)} of these archs have a standalone result there; nothing to "
              "compare")
        return
    theirs = seed_mean(other, [archs[i] for i in both], seeds, "heldout")
    tau = stats.kendalltau(alone[both], theirs)
    print(f"standalone reference ({ref}) against {other_out}'s (mean of {len(seeds)} seed(s)) on the {len(both)} "
          f"archs both have: Kendall tau {tau.statistic:.3f} (p {tau.pvalue:.3g}); accuracy there "
          f"{theirs.min():.4f}..{theirs.max():.4f}, here {alone[both].min():.4f}..{alone[both].max():.4f}")
    store.put(f"compare/{os.path.basename(os.path.normpath(other_out))}",
              {"archs": len(both), "kendall_tau": tau.statistic, "kendall_p": tau.pvalue, "reference": ref,
               "other_seeds": len(seeds)})


def plateau(sp, arch: str, data, a, store: "Store") -> None:
    """The standalone recipe's held-out curve: one arch (the middle of the latency range) trained for
    ``--plateau-epochs`` with the recipe of the standalone part, its held-out accuracy after every epoch, so the
    report can say whether ``--epochs`` reaches a plateau."""
    from hwnas.plots import pyplot, save_figure

    net = sp.build(sp.parse(arch))
    torch.manual_seed(0)
    steps = data.steps_per_epoch(64)
    curve: list[float] = []

    def cb(stage: str, done: int, total: int, metrics=None) -> None:
        if done % steps == 0:
            curve.append(accuracy(net, data.x_val, data.y_val))
            net.train()
            print(f"  plateau: epoch {len(curve)} held-out {curve[-1]:.4f}", flush=True)

    d = os.path.join(a.out, "plateau")
    train(net, lambda m, xb, g: m(xb), data, TrainConfig(epochs=a.plateau_epochs, lr=0.05, seed=0), d,
          {"kind": "subnet"}, progress=cb, device=a.device)
    store.put("plateau", {"arch": arch, "heldout_by_epoch": curve, "standalone_epochs": a.epochs})
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(range(1, len(curve) + 1), [100 * v for v in curve], marker=".")
    ax.axvline(a.epochs, color="tab:red", ls="--", lw=1, label=f"standalone recipe ({a.epochs} epochs)")
    ax.set(xlabel="epoch (cosine schedule over all of them)", ylabel="held-out accuracy (%)",
           title=f"standalone curve, {a.size} px, {len(data.y_train)} images")
    ax.legend(fontsize=8)
    save_figure(fig, os.path.join(a.out, "plateau.png"))


def perfect_ranker(alone: np.ndarray, sd: float, seeds: int, rng, draws: int = 1000):
    """The τ that a ranker knowing each arch's *expected* standalone accuracy would score against a reference
    that is a mean of ``seeds`` runs with per-run noise ``sd`` -- the most any supernet can show against it.
    The expected accuracies are drawn Gaussian with the spread the references show less their noise (an
    estimate, labelled so in the report).  Also returns the fewest seeds per arch (up to 30) for which that τ's
    median reaches 0.7, or None."""
    true_sd = max(float(np.var(alone, ddof=1)) - sd ** 2 / seeds, 0.0) ** 0.5
    if true_sd == 0.0:  # the references differ by no more than their noise: there is no order to find
        return np.zeros(draws), None

    @functools.cache  # the search below and the returned draws share the k = seeds one
    def taus(k: int) -> np.ndarray:
        t = rng.normal(0, true_sd, (draws, len(alone)))
        r = t + rng.normal(0, sd / k ** 0.5, t.shape)
        return np.array([stats.kendalltau(a, b).statistic for a, b in zip(t, r)])

    need = next((k for k in range(1, 31) if np.median(taus(k)) >= 0.7), None)
    return taus(seeds), need


def baselines(deploy, pred, space: str) -> dict:
    """Scores that need no training (larger = predicted better): the deployed model's MACs and parameters, and
    its latency (the LUT's, or the counter the archs were spread over)."""
    from hwnas.constraints import CostModel

    cost = CostModel(deploy)
    out = {m: (lambda arch, m=m: cost.metrics(arch, [m])[m]) for m in ("macs", "params")}
    out["latency" if space == "proxyless" else pred.metric] = pred.predict
    return out


class _CounterPredictor:
    """Spreads archs over an exact counter (in millions: MACs, BitOps) where the space has no published LUT."""

    def __init__(self, cost, metric: str) -> None:
        self.cost, self.metric = cost, metric

    def layer_costs(self):
        return self.cost.layer_costs(self.metric)

    def raw(self, arch) -> float:
        return self.cost.metrics(arch, [self.metric])[self.metric] / 1e6

    predict = raw


if __name__ == "__main__":
    main()
