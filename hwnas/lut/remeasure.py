"""Re-measurement of a search's result on the LUT's own runtime, beside its prediction and the machine's drift."""

from __future__ import annotations

from typing import Any

from hwnas.errors import HwnasError
from hwnas.lut.calibration import calibration_drift
from hwnas.lut.measure import measure_archs, profiler_for
from hwnas.lut.table import LUT
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


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
