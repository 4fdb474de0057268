"""LUT fidelity on ONNX Runtime CPU, 1 thread, at 224 px (issue: profilers and LUTs).

For each space: profile every distinct op (wall time), calibrate on a few measured networks, then
measure >= 50 *other* random networks in interleaved rounds and compare with the predictions.  The
headline figures refit the calibration on the calibration networks re-measured in the same rounds as
the validation networks (side by side, as this noisy shared machine drifts by several % between
runs); the figures with the stored calibration and the measured drift are printed too.  Also
times vectorised prediction throughput.  Prints one block per space; no numbers are hard-coded.

    .venv/bin/python benchmarks/lut_fidelity.py [--samples 50] [--rounds 6] [--runs 20] [--spaces proxyless fbnet]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time

import numpy as np
import torch

from hwnas.lut import LatencyPredictor
from hwnas.lut.calibration import calibrate
from hwnas.lut.validation import validate
from hwnas.lut.profile import profile_space
from hwnas.profilers import TimingConfig, get_profiler
from hwnas.space import get_space


def run(space_name: str, samples: int, rounds: int, runs: int, calib: int, out_dir: str) -> dict:
    sp = get_space(space_name, input_size=224)
    cfg = TimingConfig(rounds=rounds, block=runs)
    path = os.path.join(out_dir, f"{space_name}_ort_cpu_224.yaml")
    with get_profiler("ort", device="cpu", threads=1, config=cfg) as prof:
        t0 = time.perf_counter()
        res = profile_space(sp, prof, path, overwrite=True)
        profile_s = time.perf_counter() - t0
        cal = calibrate(res.lut, sp, prof, samples=calib, rounds=rounds)
        res.lut.save(path)
        pred = LatencyPredictor(res.lut, sp)
        t0 = time.perf_counter()
        stored = validate(res.lut, sp, prof, samples=samples, rounds=rounds)
        same = validate(res.lut, sp, prof, samples=samples, rounds=rounds, refit=True)
        measure_s = time.perf_counter() - t0
    metrics = same.summary()
    metrics["stored_calibration"] = {
        k: round(v, 4) if isinstance(v, float) else v
        for k, v in stored.summary().items()
        if k in ("kendall_tau", "within_5_pct", "within_10_pct", "mean_error_pct", "drift_pct", "calibration")
    }
    archs = [sp.parse(a) for a in same.archs]
    stats_range = (min(same.measured_ms), max(same.measured_ms))
    # prediction throughput: 200k random archs, encoded once, predicted in one vectorised call
    rng = random.Random(0)
    idx = pred.encode([sp.random_arch(rng) for _ in range(2000)])
    big = np.tile(idx, (100, 1))
    t0 = time.perf_counter()
    pred.predict_indices(big)
    thr = len(big) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for a in archs:
        pred.predict(a)
    single = len(archs) / (time.perf_counter() - t0)
    return {"space": space_name, "ops": res.total, "profile_wall_s": round(profile_s, 2),
            "stored_calibration_fit": {k: cal[k] for k in ("coeffs", "fitted_on")}, "samples": len(archs),
            "rounds": rounds, "runs_per_round": runs, "measure_wall_s": round(measure_s, 1),
            "latency_range_ms": [round(stats_range[0], 3), round(stats_range[1], 3)],
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()},
            "predict_throughput_archs_per_s": round(thr), "predict_single_archs_per_s": round(single)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spaces", nargs="+", default=["proxyless", "fbnet"])
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--calib", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default=None, help="directory for the LUTs (default: a temp dir)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out_dir = a.out or tempfile.mkdtemp(prefix="hwnas-bench-")
    os.makedirs(out_dir, exist_ok=True)
    for s in a.spaces:
        r = run(s, a.samples, a.rounds, a.runs, a.calib, out_dir)
        print(f"== {s}: {r['ops']} ops profiled in {r['profile_wall_s']} s; {r['samples']} networks "
              f"({r['latency_range_ms'][0]}-{r['latency_range_ms'][1]} ms)")
        print(
            f"   Kendall tau {r['kendall_tau']:.3f}  Pearson {r['pearson_r']:.3f}  "
            f"within ±5% {r['within_5_pct']:.1f}%  "
            f"within ±10% {r['within_10_pct']:.1f}%  mean err {r['mean_error_pct']:+.2f}%  RMSE {r['rmse_ms']:.3f} ms"
        )
        print(f"   calibration: {r['calibration']}")
        print(
            f"   noise floor: halves agree within ±5% for {r['noise_within_5_pct']:.0f}% "
            f"(median gap {r['noise_median_pct']:.2f}%)"
        )
        sc = r["stored_calibration"]
        print(
            f"   (above: calibration refitted on the same session's re-measured calibration networks; with the stored "
            f"calibration: tau {sc['kendall_tau']:.3f}, ±5% {sc['within_5_pct']:.1f}%, "
            f"±10% {sc['within_10_pct']:.1f}%, "
            f"mean err {sc['mean_error_pct']:+.2f}%, device drift since calibration {sc['drift_pct']:+.1f}%; "
            f"{sc['calibration']})"
        )
        print(
            f"   prediction: {r['predict_throughput_archs_per_s']:,} archs/s batched, "
            f"{r['predict_single_archs_per_s']:,} archs/s one by one"
        )
        print("   json:", json.dumps(r))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
