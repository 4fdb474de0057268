"""How close `hwnas search`'s re-measured latency comes to the LUT's prediction (what the result's
``error_pct`` reports), on this machine's cached, calibrated ORT-CPU LUT for ``proxyless`` at 224 px.

For each latency bound (a multiple of the space's smallest predicted latency, as a tight search would
give) it draws ``--archs`` constraint-satisfying archs, as the searchers do, and re-measures each one
with :func:`hwnas.lut.remeasure.remeasure_latency` -- the same call the search driver makes, interleaved
with the LUT's calibration networks.  Prints per arch the error, the machine's drift since calibration
and the drift-corrected error, then the median and worst |error| of each.  This figure used to be an
assertion in the test suite (|error| <= 10%) and failed there when CI ran on a busy machine.

    .venv/bin/python benchmarks/remeasure_error.py [--archs 5] [--factors 1.25,1.6,2.2]
"""

from __future__ import annotations

import argparse
import random
import statistics

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.lut import LatencyPredictor
from hwnas.lut.remeasure import remeasure_latency
from hwnas.search.setup import ensure_lut
from hwnas.space import get_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=5, help="archs per bound")
    ap.add_argument("--factors", default="1.25,1.6,2.2", help="bounds as multiples of the space's minimum latency")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    lut_path, lut = ensure_lut("proxyless", 224, 10)
    sp = get_space("proxyless", input_size=224, num_classes=10)
    cost = CostModel(sp, LatencyPredictor(lut, sp))
    lo = cost.minimum("latency")
    print(f"LUT {lut_path} (calibrated {lut.calibration.get('fitted')}); space minimum {lo:.3f} ms")
    print(f"{'bound':>9} {'predicted':>10} {'measured':>9} {'error':>8} {'drift':>7} {'corrected':>9}")
    errs, corr = [], []
    rng = random.Random(args.seed)
    for f in (float(x) for x in args.factors.split(",")):
        hard = HardFilter([Constraint.parse("latency", f"{lo * f}ms")], cost)
        for _ in range(args.archs):
            a = hard.sample(rng)
            pred = cost.metrics(a, ["latency"])["latency"]
            r = remeasure_latency(lut, sp, a, pred)
            errs.append(r["error_pct"])
            corr.append(r["error_drift_corrected_pct"])
            print(f"{lo * f:8.3f}ms {pred:9.3f}ms {r['measured_ms']:8.3f}ms {r['error_pct']:+7.2f}% "
                  f"{r['drift_pct']:+6.1f}% {r['error_drift_corrected_pct']:+8.2f}%", flush=True)
    for name, v in (("error", errs), ("drift-corrected error", corr)):
        a = [abs(x) for x in v]
        print(f"{name}: median |.| {statistics.median(a):.2f}%, max |.| {max(a):.2f}%, "
              f"within ±10% {100 * sum(x <= 10 for x in a) / len(a):.0f}% of {len(a)} archs")


if __name__ == "__main__":
    main()
