"""Where does the LUT predictor's error come from?  (Issue: profilers and LUTs, fbnet at the target's edge.)

Measures calibration networks (half spread, half uniform) and validation networks *in the same interleaved
rounds* (so machine drift between calibration and validation cannot enter), then compares, on the
validation networks only:

* the stored model form — quadratic calibration of the LUT sum — with LUTs profiled with 1x, 3x, 6x rounds;
* richer calibrations fitted on the same calibration networks: per-op-class scale factors (non-negative
  least squares; classes by group count / kernel / expansion / resolution) and a memory-traffic term.

Also prints the measurement's own repeatability (two halves of the rounds).  Nothing is hard-coded.

    .venv/bin/python benchmarks/lut_error_analysis.py [--space fbnet] [--calib 16] [--samples 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from scipy import optimize, stats

from hwnas.cost.arch_cost import ArchCoster
from hwnas.lut import LatencyPredictor
from hwnas.lut.measure import measure_archs, sample_archs, spread_archs
from hwnas.lut.profile import profile_space
from hwnas.profilers import TimingConfig, get_profiler
from hwnas.space import get_space


def report(label: str, pred: np.ndarray, y: np.ndarray) -> None:
    e = (pred - y) / y * 100
    print(f"  {label:<44} tau {stats.kendalltau(pred, y)[0]:.3f}  within ±5% {np.mean(abs(e) <= 5) * 100:5.1f}%  "
          f"±10% {np.mean(abs(e) <= 10) * 100:5.1f}%  mean err {e.mean():+.2f}%  sd {e.std():.2f}%")


def op_class(sig, mode: str) -> str:
    p = dict(sig.params)
    if "e" not in p:  # stem / head / skip projections
        return "other"
    return {"group": f"g{p.get('g', 1)}", "kernel": f"k{p.get('k')}", "expansion": f"e{p.get('e')}",
            "resolution": f"hw{sig.in_shape[1]}"}[mode]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--mults", default="1,3,6", help="profile the LUT with these multiples of 5 rounds per op")
    ap.add_argument("--save", default=None, help="write the measurements (npz) for offline model comparisons")
    a = ap.parse_args()
    torch.set_num_threads(1)
    sp = get_space(a.space, input_size=224)
    d = tempfile.mkdtemp(prefix="hwnas-lut-err-")
    with get_profiler("ort", device="cpu", threads=1, config=TimingConfig(rounds=a.rounds, block=20)) as prof:
        luts = {}
        for mult in sorted({1, *map(int, a.mults.split(","))}):
            prof.config = TimingConfig(rounds=5 * mult, block=20)
            t0 = time.time()
            luts[mult] = profile_space(sp, prof, f"{d}/lut{mult}.yaml", overwrite=True).lut
            print(f"profiled {len(luts[mult])} ops with {5 * mult} rounds x 20 runs in {time.time() - t0:.1f} s")
        prof.config = TimingConfig(rounds=a.rounds, block=20)
        pred = LatencyPredictor(luts[1], sp, calibrated=False)
        cal = spread_archs(sp, pred, a.calib // 2, 1234)
        cal += sample_archs(sp, a.calib - len(cal), 1235, exclude=[str(x) for x in cal])
        val = sample_archs(sp, a.samples, 4321, exclude=[str(x) for x in cal])
        t0 = time.time()
        st = measure_archs(sp, prof, cal + val, rounds=a.rounds, runs=20)
    nc = len(cal)
    y = np.array([s.median for s in st])
    print(f"measured {len(st)} networks ({nc} calibration + {len(val)} validation) in the same {a.rounds} rounds "
          f"in {time.time() - t0:.0f} s; {y.min():.2f}-{y.max():.2f} ms")
    rm = np.array([s.round_medians for s in st])
    h1, h2 = np.median(rm[:, ::2], 1), np.median(rm[:, 1::2], 1)
    print(f"noise floor: halves agree within ±5% for {np.mean(abs(h1 - h2) / y <= 0.05) * 100:.0f}% of networks, "
          f"tau(half 1, half 2) on validation {stats.kendalltau(h1[nc:], h2[nc:])[0]:.3f}")
    yv = y[nc:]
    archs = cal + val
    for mult, lut in luts.items():
        raw = np.array([LatencyPredictor(lut, sp, calibrated=False).raw(x) for x in archs])
        c = np.polyfit(raw[:nc], y[:nc], 2)
        report(f"LUT {5 * mult} rounds, quadratic calibration", np.polyval(c, raw)[nc:], yv)
    raw = np.array([LatencyPredictor(luts[1], sp, calibrated=False).raw(x) for x in archs])
    for deg in (1, 2):  # the same forms fitted on relative error (weights 1/y), which the metrics measure
        c = np.polyfit(raw[:nc], y[:nc], deg, w=1 / y[:nc])
        report(f"{('linear', 'quadratic')[deg - 1]} calibration, relative least squares", np.polyval(c, raw)[nc:], yv)
    half = nc // 2  # calibration = spread [:half] + uniform [half:nc]
    for name, idx in (("spread", slice(0, half)), ("uniform", slice(half, nc))):
        c = np.polyfit(raw[idx], y[idx], 1)
        report(f"linear calibration on the {name} half only", np.polyval(c, raw)[nc:], yv)
    lut, ovh, coster = luts[1], luts[1].overhead_ms, ArchCoster(sp)
    for mode in ("group", "kernel", "expansion", "resolution"):
        feats = []
        for x in archs:
            f: dict[str, float] = {}
            for s in sp.units(x):
                k = op_class(s, mode)
                f[k] = f.get(k, 0.0) + lut.median(s) - ovh
            feats.append(f)
        keys = sorted(set().union(*feats))
        A = np.array([[f.get(k, 0.0) for k in keys] + [1.0] for f in feats])
        w = optimize.nnls(A[:nc], y[:nc])[0]
        report(f"per-{mode} scale factors ({len(keys)} classes, NNLS)", (A @ w)[nc:], yv)
        if mode == "group":
            groups = (A, keys)
    raw = np.array([pred.raw(x) for x in archs])
    mem = np.array([coster.cost(x)["memory_bytes"] / 1e6 for x in archs])
    A = np.stack([raw, mem, np.ones_like(raw)], 1)
    w = np.linalg.lstsq(A[:nc], y[:nc], rcond=None)[0]
    report("LUT sum + memory-traffic term (least squares)", (A @ w)[nc:], yv)
    if a.save:
        np.savez(a.save, y=y, nc=nc, raw=raw, mem=mem, group_features=groups[0], group_keys=groups[1],
                 round_medians=rm, archs=[str(x) for x in archs])
        print(f"saved {a.save}")


if __name__ == "__main__":
    main()
