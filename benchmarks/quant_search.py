"""Mixed-precision search as SPOS does it, on the CIFAR-10 copy in ../shared (``digits`` where it is absent).

The copy is cut as every benchmark cuts it (``shared_data.cifar_splits``): training part and held-out part of its
training batch; the test batch is not looked at.

1. Trains a quantization supernet on the ``resnet`` space (ResNet-18 blocks: width x {0.5, 1, 1.5}, SPOS's bit pairs
   plus w8a8; one float weight per layer quantized on the fly, one PACT level per (layer, activation bits); SPOS's
   uniform (channel, bits) sampling; ``--sharing separate`` is SPOS's scheme).
2. Supernet-inherited accuracy (BN recalibrated, held-out split) of uniform 2W2A, 4W4A, 8W8A and float subnets at
   width 1.0 (expected order: 2W2A < 4W4A <= float).
3. Evolution vs random under a BitOps bound (``--bitops``, default: the 25% quantile of random archs), same budget,
   over ``--seeds``; every evaluated arch meets the bound.
4. int8 / fp32 latency on ONNX Runtime CPU (1 thread, 224 px): a few archs at float and at w8a8 with the same
   widths, exported (QDQ around BN-folded convs for int8) and timed in the same interleaved rounds.

    .venv/bin/python benchmarks/quant_search.py [--epochs 10] [--seeds 3] [--budget 60]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import numpy as np
import torch

from hwnas.constraints import Constraint, CostModel, HardFilter, fmt_value
from hwnas.data import load_dataset
from hwnas.profilers import TimingConfig, get_profiler
from hwnas.search import get_strategy
from hwnas.search.supernet_eval import SupernetTrainer
from hwnas.space import get_space
from hwnas.supernet.api import load_supernet, pact_levels, train_supernet
from hwnas.supernet.train import CKPT, TrainConfig, load_checkpoint
from shared_data import CIFAR, cifar_splits



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/quant")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--sharing", default="separate")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--bitops", default=None, help="BitOps bound, e.g. 6.3G [default: 25%% quantile of random archs]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-latency", action="store_true",
                    help="leave out the ORT int8/fp32 timing (for a run beside other CPU work, which would skew it)")
    ap.add_argument("--latency-only", action="store_true", help="only the ORT int8/fp32 timing")
    ap.add_argument("--train-images", type=int, default=8000,
                    help="training images of the CIFAR-10 copy (8000: data_batch_1 less the held-out 2000, the cut "
                         "of the earlier figures)")
    ap.add_argument("--pact-init", default="data", choices=["data", "pact"],
                    help="clipping levels: data (start at the activations' 99.9th percentile, learn below α too) or "
                         "pact (PACT as published)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.latency_only:
        return latency(get_space("resnet"), time.time())
    data = (cifar_splits(2000, train=a.train_images, first_batch_only=a.train_images <= 8000)[0]
            if os.path.isdir(CIFAR) else load_dataset("digits"))
    sp = get_space("resnet", input_size=data.image_size, num_classes=data.num_classes)
    d = os.path.join(a.out, f"supernet-{data.name}{len(data.y_train)}-{a.sharing}-e{a.epochs}-{a.pact_init}")
    ck = os.path.join(d, CKPT)
    t0 = time.time()
    if not (os.path.exists(ck) and int(load_checkpoint(ck).get("epoch", 0)) >= a.epochs):
        train_supernet(sp, data, TrainConfig(epochs=a.epochs, lr=0.05, batch_size=128), d, resume=True,
                       sharing=a.sharing, pact_init=a.pact_init)
    net, _ = load_supernet(ck)
    trainer = SupernetTrainer(net, data)
    print(f"quantization supernet on {data.name} ({len(data.y_train)} train / {len(data.y_val)} held-out), "
          f"{a.epochs} epochs, {a.sharing} sharing, clipping levels '{a.pact_init}': {time.time() - t0:.0f} s",
          flush=True)
    lv = list(pact_levels(net).values())
    print(f"  PACT levels after training: {len(lv)}, min {min(lv):.3f}, median {statistics.median(lv):.3f}, "
          f"max {max(lv):.3f}", flush=True)
    for label, bits in (("1W2A", "w1a2"), ("2W2A", "w2a2"), ("4W4A", "w4a4"), ("8W8A (int8)", "w8a8"),
                        ("float", "w32a32")):
        arch = sp.parse(",".join([f"c1.0_{bits}"] * len(sp.layers)))
        print(f"  uniform {label:<12} inherited accuracy {100 * trainer.accuracy(arch):.2f}%", flush=True)
    deploy = get_space("resnet")
    cost = CostModel(deploy)
    rng = random.Random(0)
    vals = [cost.metrics(deploy.random_arch(rng), ["bitops"])["bitops"] for _ in range(2000)]
    bound = Constraint.parse("bitops", a.bitops or fmt_value("bitops", float(np.quantile(vals, 0.25))))
    hard = HardFilter([bound], cost)
    print(f"search under {bound} (224 px; {100 * np.mean(np.array(vals) <= bound.hi):.0f}% of random archs meet it), "
          f"budget {a.budget}, {a.seeds} seeds", flush=True)
    best: dict[str, list[float]] = {"random": [], "evolution": []}
    for seed in range(a.seeds):
        for name, opts in (("random", {}), ("evolution", {"population": 10, "generations": a.budget // 10 - 1})):
            s = get_strategy(name)(deploy, trainer.accuracy, hard, budget=a.budget, seed=seed, **opts).run()
            assert all(r.metrics["bitops"] <= bound.hi * (1 + 1e-9) for r in s.history)
            best[name].append(s.best.accuracy)
        print(f"  seed {seed}: best random {100 * best['random'][-1]:.2f}%, "
              f"evolution {100 * best['evolution'][-1]:.2f}%", flush=True)
    for name, v in best.items() if a.seeds else ():  # --seeds 0: the supernet and its uniform subnets only
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"  {name:<10} best {100 * statistics.mean(v):.2f} ± {100 * sd:.2f}%")
    if a.skip_latency:
        print(f"int8 / fp32 timing skipped (--skip-latency); wall {time.time() - t0:.0f} s")
        return
    latency(deploy, t0)


def latency(deploy, t0: float) -> None:
    """int8 vs fp32 on ONNX Runtime CPU, same widths, interleaved rounds."""
    with get_profiler("ort", threads=1, config=TimingConfig(rounds=6, block=20)) as ort:
        x_shape = deploy.input_shape
        pairs = []
        for m in ("0.5", "1.0", "1.5"):
            for bits in ("w32a32", "w8a8"):
                a_ = deploy.parse(",".join([f"c{m}_{bits}"] * len(deploy.layers)))
                net32 = deploy.build(a_).eval()
                pairs.append((f"c{m}_{bits}", ort.compile(net32, x_shape)))
        stats_ = ort.measure_many([r for _, r in pairs])
        print("ONNX Runtime CPU, 1 thread, 224 px (QDQ int8 vs float, same widths, interleaved rounds):")
        for (name, _), st in zip(pairs, stats_):
            print(f"  {name:<12} {st.median:8.3f} ms (p10 {st.p10:.3f}, p90 {st.p90:.3f})")
        for i in range(0, len(pairs), 2):
            print(f"  ratio int8 / fp32 at width {pairs[i][0][1:4]}: {stats_[i + 1].median / stats_[i].median:.3f}")
    print(f"wall {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
