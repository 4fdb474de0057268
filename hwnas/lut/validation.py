"""Validation of a LUT's predictions: *other* random archs measured in interleaved rounds, the prediction error
beside the measurement's own repeatability (noise floor: how well two halves of the rounds agree), and its plot."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from hwnas.errors import HwnasError
from hwnas.lut.calibration import calibration_drift, calibration_text, fit_calibration
from hwnas.lut.measure import Progress, measure_archs, runner_for, sample_archs
from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT, space_for
from hwnas.plots import pyplot, save_figure
from hwnas.profilers.base import Profiler, TimingStats
from hwnas.space.base import SearchSpace


@dataclass
class ValidationReport:
    space: str
    backend: str
    samples: int
    rounds: int
    kendall_tau: float
    pearson_r: float
    rmse_ms: float
    mean_error_pct: float
    mean_abs_error_pct: float
    within_5_pct: float
    within_10_pct: float
    noise_within_5_pct: float  # % of networks whose two half-measurements agree within ±5%
    noise_median_pct: float    # median |half A - half B| / mean, in %
    calibrated: bool
    drift_pct: float | None = None  # calibration networks now vs when calibrated (median, %)
    refit: bool = False             # calibration refitted on same-session measurements
    calibration: str = ""           # what the calibration used computes (calibration_text)
    archs: list[str] = field(default_factory=list)
    predicted_ms: list[float] = field(default_factory=list)
    measured_ms: list[float] = field(default_factory=list)
    measured_p10_ms: list[float] = field(default_factory=list)  # each network's spread over its timed runs
    measured_p90_ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        d = self.to_dict()
        for k in ("archs", "predicted_ms", "measured_ms", "measured_p10_ms", "measured_p90_ms"):
            d.pop(k)
        return d

def compare(pred: Sequence[float], stats: Sequence[TimingStats]) -> dict[str, float]:
    from scipy import stats as st

    p = np.asarray(pred, float)
    m = np.asarray([s.median for s in stats], float)
    rel = (p - m) / m
    halves = []
    for s in stats:
        rm = s.round_medians or [s.median]
        a = np.median(rm[0::2])
        b = np.median(rm[1::2]) if len(rm) > 1 else a
        halves.append(abs(a - b) / ((a + b) / 2))
    h = np.asarray(halves)
    tau = st.kendalltau(p, m).statistic if len(p) > 1 else float("nan")
    r = st.pearsonr(p, m).statistic if len(p) > 1 else float("nan")
    return {"kendall_tau": float(tau), "pearson_r": float(r), "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))),
            "mean_error_pct": float(100 * rel.mean()), "mean_abs_error_pct": float(100 * np.abs(rel).mean()),
            "within_5_pct": float(100 * np.mean(np.abs(rel) <= 0.05)),
            "within_10_pct": float(100 * np.mean(np.abs(rel) <= 0.10)),
            "noise_within_5_pct": float(100 * np.mean(h <= 0.05)), "noise_median_pct": float(100 * np.median(h))}

def validate(lut: LUT, space: SearchSpace, profiler: Profiler, samples: int = 50, seed: int = 4321, rounds: int = 4,
             refit: bool = False, progress: Progress | None = None) -> ValidationReport:
    """Measure ``samples`` random archs (none used for calibration) and compare with the predictions.

    The calibration networks are measured again in the same interleaved rounds: their change since
    calibration is reported as ``drift_pct`` (the device got slower / faster).  With ``refit`` the
    calibration is refitted on those same-session measurements before comparing (it separates the
    predictor's error from drift of a shared machine between calibration and validation)."""
    if samples < 2:
        raise HwnasError("--samples must be at least 2 to compare rankings")
    cal = lut.calibration
    cal_archs = [space.parse(a) for a in cal.get("archs", [])]
    archs = sample_archs(space, samples, seed, exclude=[str(a) for a in cal_archs])
    stats = measure_archs(space, profiler, archs + cal_archs, rounds=rounds, progress=progress)
    stats, cal_stats = stats[:len(archs)], stats[len(archs):]
    drift = None
    if cal_archs:
        drift = 100 * calibration_drift(cal["measured_ms"], cal_stats)
    pred = LatencyPredictor(lut, space)
    used = cal
    if refit and cal_archs:
        raw = LatencyPredictor(lut, space, calibrated=False)
        pred.coeffs = np.asarray(fit_calibration([raw.raw(a) for a in cal_archs], [s.median for s in cal_stats]))
        used = {"coeffs": list(pred.coeffs), "fitted_on": len(cal_archs)}
    p = pred.predict_many(archs)
    return ValidationReport(space.name, profiler.name, len(archs), rounds, calibrated=cal.get("fitted_on", 0) > 0,
                            drift_pct=drift, refit=bool(refit and cal_archs), calibration=calibration_text(used),
                            archs=[str(a) for a in archs], predicted_ms=[float(x) for x in p],
                            measured_ms=[s.median for s in stats], measured_p10_ms=[s.p10 for s in stats],
                            measured_p90_ms=[s.p90 for s in stats], **compare(p, stats))

#: below this noise floor (share of networks whose two half-measurements agree within ±5%) a plot says
#: plainly that the measurement, not only the predictor, limits what it shows
NOISY_FLOOR_PCT = 80.0

def plot_validation(rep: ValidationReport, path: str) -> str:
    """Predicted vs measured, each network with its measured p10-p90 spread as an error bar; the title gives
    τ and the ±5% / ±10% shares beside the measurement's own noise floor, and a noisy run is labelled so."""
    plt = pyplot()

    m, p = np.asarray(rep.measured_ms), np.asarray(rep.predicted_ms)
    lo_err = m - np.asarray(rep.measured_p10_ms or rep.measured_ms)
    hi_err = np.asarray(rep.measured_p90_ms or rep.measured_ms) - m
    lo = 0.9 * min((m - lo_err).min(), p.min())
    hi = 1.1 * max((m + hi_err).max(), p.max())
    xs = np.linspace(lo, hi, 50)
    noisy = rep.noise_within_5_pct < NOISY_FLOOR_PCT
    fig, ax = plt.subplots(figsize=(5.5, 5.2))
    ax.fill_between(xs, 0.9 * xs, 1.1 * xs, color="tab:green", alpha=0.15, label="±10%")
    ax.plot(xs, xs, "k--", lw=1, label="y = x")
    ax.errorbar(m, p, xerr=[lo_err, hi_err], fmt="o", ms=3.5, color="tab:red" if noisy else "tab:blue",
                ecolor="0.6", elinewidth=0.8, capsize=0, label="network (measured p10–p90)")
    ax.set_xlabel("measured latency (ms), median of round medians")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(f"{rep.space} on {rep.backend}: τ={rep.kendall_tau:.3f}, ±5% {rep.within_5_pct:.0f}%, "
                 f"±10% {rep.within_10_pct:.0f}%\nnoise floor: {rep.noise_within_5_pct:.0f}% of networks repeat "
                 f"within ±5% (median gap {rep.noise_median_pct:.1f}%)", fontsize=9)
    if noisy:
        ax.text(0.97, 0.03, f"NOISY MEASUREMENT\nonly {rep.noise_within_5_pct:.0f}% repeat within ±5%:\n"
                "the machine, not only the LUT,\nlimits these figures", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=8, color="tab:red", bbox={"facecolor": "white", "edgecolor": "tab:red"})
    ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    save_figure(fig, path, dpi=120)
    return path

def validate_lut(path: str, samples: int = 30, rounds: int = 4, seed: int = 4321, refit: bool = False,
                 plot_path: str | None = None,
                 progress: Progress | None = None) -> tuple[ValidationReport, str, list[str]]:
    """``hwnas lut validate``: the report, its scatter plot (default: beside the LUT) and warnings."""
    lut = LUT.load(path)
    sp = space_for(lut)
    prof, warns = runner_for(lut)
    with prof:
        rep = validate(lut, sp, prof, samples=samples, seed=seed, rounds=rounds, refit=refit, progress=progress)
    plot_path = plot_path or os.path.splitext(path)[0] + "_validation.png"
    plot_validation(rep, plot_path)
    if not rep.calibrated:
        warns.append("LUT is not calibrated: run `hwnas lut calibrate` first for accurate absolute latencies")
    return rep, plot_path, warns
