"""Calibration of a LUT: ops timed in isolation run cache-hot and sum low (≈ -14% on these machines), so the LUT
carries a polynomial of its sum fitted on a few measured whole networks, and the drift of those networks since."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hwnas.errors import HwnasError
from hwnas.lut.measure import Progress, measure_archs, runner_for, sample_archs, spread_archs
from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT, now_iso, space_for
from hwnas.profilers.base import Profiler, TimingStats
from hwnas.space.base import SearchSpace


def fit_calibration(raw: Sequence[float], measured: Sequence[float]) -> tuple[float, float]:
    """Least-squares polynomial ``measured = poly(raw)``, coefficients highest power first.

    Quadratic with 8+ networks when it is increasing over the fitted range (bigger networks lose more to
    cache misses, so the ratio drifts with size), else linear (3+ networks), else a pure scale."""
    r, m = np.asarray(raw, float), np.asarray(measured, float)
    if len(r) >= 8 and np.ptp(r) > 0:
        c = np.polyfit(r, m, 2)
        xs = np.linspace(0.5 * r.min(), 1.5 * r.max(), 64)
        if np.all(np.polyval(np.polyder(c), xs) > 0):
            return [float(v) for v in c]
    if len(r) >= 3 and np.ptp(r) > 0:
        return [float(v) for v in np.polyfit(r, m, 1)]
    return [float(np.mean(m / r)), 0.0]

def calibration_text(cal: dict[str, Any]) -> str:
    """One line saying what a stored calibration computes."""
    c = [round(float(x), 5) for x in cal.get("coeffs", [1.0, 0.0])]
    return f"measured = polyval({c}, sum of ops), fitted on {cal.get('fitted_on', 0)} networks"

def calibration_drift(then_ms: Sequence[float], now: Sequence[TimingStats]) -> float:
    """How much faster (< 0) or slower (> 0) the calibration networks run now than when calibrated, as a
    fraction: the median of their ratios."""
    return float(np.median([s.median / t for s, t in zip(now, then_ms)])) - 1

def calibrate(lut: LUT, space: SearchSpace, profiler: Profiler, samples: int = 8, seed: int = 1234, rounds: int = 3,
              progress: Progress | None = None) -> dict[str, Any]:
    """Fit and store (in ``lut.meta``) the calibration from ``samples`` measured networks: half spread
    over the space's latency range (see :func:`spread_archs`), half uniformly random (where most
    archs are)."""
    if samples < 1:
        raise HwnasError("--samples must be at least 1")
    pred = LatencyPredictor(lut, space, calibrated=False)
    spread = spread_archs(space, pred, (samples + 1) // 2, seed)
    archs = spread + sample_archs(space, samples - len(spread), seed + 1, exclude=[str(a) for a in spread])
    stats = measure_archs(space, profiler, archs, rounds=rounds, progress=progress)
    raw = [pred.raw(a) for a in archs]
    meas = [s.median for s in stats]
    coeffs = fit_calibration(raw, meas)
    cal = {"coeffs": [round(c, 9) for c in coeffs], "fitted_on": len(archs), "seed": seed,
           "method": "least squares: measured_ms = polyval(coeffs, raw_sum_ms)", "fitted": now_iso(),
           "archs": [str(a) for a in archs], "raw_ms": [round(x, 5) for x in raw],
           "measured_ms": [round(x, 5) for x in meas]}
    lut.meta["calibration"] = cal
    return cal

def calibrate_lut(path: str, samples: int = 8, rounds: int = 3, seed: int = 1234,
                  progress: Progress | None = None) -> tuple[dict[str, Any], list[str]]:
    """``hwnas lut calibrate``: measure networks on the LUT's own runtime, store the fit in the file.
    Returns the calibration and warnings."""
    lut = LUT.load(path)
    sp = space_for(lut)
    prof, warns = runner_for(lut)
    with prof:
        cal = calibrate(lut, sp, prof, samples=samples, seed=seed, rounds=rounds, progress=progress)
    lut.save(path)
    return cal, warns
