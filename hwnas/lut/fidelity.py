"""Whole-network measurement, calibration and validation of LUT predictions.

Ops timed in isolation run cache-hot and sum low (≈ -14% on these machines), so the LUT carries a
calibration (a polynomial of the LUT sum) fitted on a few measured whole networks (``calibrate``);
``validate`` then measures *other* random archs in interleaved rounds, reports the measurement's own
repeatability (noise floor: how well two halves of the rounds agree) next to the prediction error, and
can plot them.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from hwnas.errors import BackendUnavailableError, HwnasError
from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT, now_iso
from hwnas.plots import pyplot, save_figure
from hwnas.profilers.base import Profiler, TimingStats
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

Progress = Callable[[str, int, int], None]


def measure_archs(space: SearchSpace, profiler: Profiler, archs: Sequence[Arch], rounds: int = 3, runs: int = 10,
                  progress: Progress | None = None) -> list[TimingStats]:
    """Build, compile and time whole networks in interleaved rounds."""
    runnables = []
    for i, a in enumerate(archs):
        runnables.append(profiler.compile(space.build(a), space.input_shape))
        if progress:
            progress("compile", i + 1, len(archs))
    cb = (lambda r: progress("measure", r + 1, rounds)) if progress else None
    return profiler.measure_many(runnables, rounds=rounds, runs=runs, on_round=cb)


def sample_archs(space: SearchSpace, n: int, seed: int, exclude: Sequence[str] = ()) -> list[Arch]:
    rng = random.Random(seed)
    seen = set(exclude)
    out: list[Arch] = []
    for _ in range(n * 100):
        if len(out) == n:
            break
        a = space.random_arch(rng)
        if str(a) not in seen:
            seen.add(str(a))
            out.append(a)
    return out


def spread_archs(space: SearchSpace, pred: LatencyPredictor, n: int, seed: int) -> list[Arch]:
    """``n`` archs spread evenly over the space's latency range (by uncalibrated LUT sum), so that a
    calibration fit holds for the small networks a tight constraint selects as well as for big ones:
    each candidate takes every layer's cheapest choice with probability q (q uniform in [0, 1])."""
    rng = random.Random(seed)
    cheapest = pred.layer_costs().cheapest()
    pool: dict[str, Arch] = {}
    for _ in range(max(40 * n, 200)):
        q = rng.random()
        a = Arch(space.name, tuple(cheapest[i] if rng.random() < q else rng.choice(layer.choices)
                                   for i, layer in enumerate(space.layers)))
        pool.setdefault(str(a), a)
    ranked = sorted(pool.values(), key=pred.raw)
    if len(ranked) <= n:
        return ranked
    return [ranked[round(i * (len(ranked) - 1) / (n - 1))] for i in range(n)] if n > 1 else [ranked[len(ranked) // 2]]


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


def profiler_for(lut: LUT, **overrides: Any) -> Profiler:
    """A profiler configured as the one that measured ``lut`` (backend, device, threads, batch, provider)."""
    from hwnas.profilers.base import PROFILERS, get_profiler

    backend = lut.meta.get("backend")
    if backend not in PROFILERS:
        raise HwnasError(f"this LUT's backend {backend!r} ({lut.meta.get('fingerprint', {}).get('device', '?')}) "
                         "cannot be measured on this machine; only its predictions can be used")
    fp = lut.meta.get("fingerprint") or {}
    kw: dict[str, Any] = {"threads": int(fp.get("threads", 1)), "batch": int(fp.get("batch", 1))}
    if backend == "ort" and fp.get("provider"):
        from hwnas.profilers.ort_backend import provider_name

        kw["provider"] = provider_name(fp["provider"])
    if backend == "tensorrt":
        kw["fp16"] = fp.get("precision") == "fp16"
    if fp.get("execution") == "cuda-graph":
        kw["cuda_graph"] = True
    kw.update(overrides)
    device = str(lut.meta.get("device", "cpu"))
    try:
        return get_profiler(backend, device=device, **kw)
    except BackendUnavailableError as e:  # say which LUT needs what, not how to profile afresh
        reason = str(e).split("; ")[0]
        raise BackendUnavailableError(
            f"this LUT was measured by {backend} on {device} ({fp.get('gpu') or fp.get('cpu', '?')}) and this machine "
            f"cannot measure it ({reason}); calibrate/validate it where it was profiled — its predictions work anywhere"
        ) from None


def remeasure_latency(lut: LUT, space: SearchSpace, arch: Arch, predicted_ms: float, rounds: int = 5,
                      runs: int = 20) -> dict[str, Any]:
    """Measure ``arch`` on the LUT's runtime beside its prediction, interleaved with the LUT's calibration
    networks (a network timed alone runs with hotter caches than the calibrated whole-network figures).

    The calibration networks re-measured in the same rounds give the machine's drift since calibration
    and the prediction's error on today's machine.  Where nothing here can run the LUT's runtime (a
    published phone LUT), ``measured_ms`` is None and ``measured_note`` says why."""
    try:
        prof = profiler_for(lut)
    except HwnasError as e:
        return {"measured_ms": None, "measured_note": str(e)}
    cal = lut.calibration
    pairs = [(t, ms) for t, ms in zip(cal.get("archs", []), cal.get("measured_ms", [])) if t != str(arch)]
    with prof:
        st, *now = measure_archs(space, prof, [arch, *(space.parse(t) for t, _ in pairs)], rounds=rounds, runs=runs)
    out: dict[str, Any] = {"measured_ms": round(st.median, 4), "measured_p10_ms": round(st.p10, 4),
                           "measured_p90_ms": round(st.p90, 4),
                           "error_pct": round(100 * (predicted_ms - st.median) / st.median, 2)}
    if now:  # the machine's speed now vs at calibration time, from the same networks re-measured
        drift = calibration_drift([ms for _, ms in pairs], now)
        out.update(
            {"drift_pct": round(100 * drift, 2),
             "error_drift_corrected_pct": round(100 * (predicted_ms * (1 + drift) - st.median) / st.median, 2),
             "drift_networks": [t for t, _ in pairs], "drift_networks_now_ms": [round(s.median, 5) for s in now]}
        )
    return out


def latency_floor(space: SearchSpace, profiler: Profiler) -> tuple[Arch, float]:
    """A seconds-long check before any LUT exists: the space's smallest network by MACs (each layer's
    cheapest choice), built and timed once on ``profiler``.  Its latency is what the fastest archs of the
    space cost here, roughly: a latency bound far below it cannot be met."""
    from hwnas.cost.arch_cost import ArchCoster

    arch = Arch(space.name, tuple(ArchCoster(space).layer_costs("macs").cheapest()))
    return arch, profiler.measure(space.build(arch), space.input_shape).median


def _runner_for(lut: LUT) -> tuple[Profiler, list[str]]:
    """The LUT's runner and a warning per fingerprint field that differs from this machine's."""
    prof = profiler_for(lut)
    diffs = lut.fingerprint_mismatch(prof.fingerprint())
    return prof, (["LUT measured on another device/runtime: " + "; ".join(diffs)] if diffs else [])


def calibrate_lut(path: str, samples: int = 8, rounds: int = 3, seed: int = 1234,
                  progress: Progress | None = None) -> tuple[dict[str, Any], list[str]]:
    """``hwnas lut calibrate``: measure networks on the LUT's own runtime, store the fit in the file.
    Returns the calibration and warnings."""
    from hwnas.lut.table import space_for

    lut = LUT.load(path)
    sp = space_for(lut)
    prof, warns = _runner_for(lut)
    with prof:
        cal = calibrate(lut, sp, prof, samples=samples, seed=seed, rounds=rounds, progress=progress)
    lut.save(path)
    return cal, warns


def validate_lut(path: str, samples: int = 30, rounds: int = 4, seed: int = 4321, refit: bool = False,
                 plot_path: str | None = None,
                 progress: Progress | None = None) -> tuple[ValidationReport, str, list[str]]:
    """``hwnas lut validate``: the report, its scatter plot (default: beside the LUT) and warnings."""
    import os

    from hwnas.lut.table import space_for

    lut = LUT.load(path)
    sp = space_for(lut)
    prof, warns = _runner_for(lut)
    with prof:
        rep = validate(lut, sp, prof, samples=samples, seed=seed, rounds=rounds, refit=refit, progress=progress)
    plot_path = plot_path or os.path.splitext(path)[0] + "_validation.png"
    plot_validation(rep, plot_path)
    if not rep.calibrated:
        warns.append("LUT is not calibrated: run `hwnas lut calibrate` first for accurate absolute latencies")
    return rep, plot_path, warns
