"""``hwnas predict``: a LUT's calibrated latency for archs, with a per-op breakdown and the exact counts,
without building or running anything but the counters."""

from __future__ import annotations

import os
from typing import Any


from hwnas.cost.arch_cost import ArchCoster
from hwnas.errors import ArchError
from hwnas.lut.calibration import calibration_text
from hwnas.profilers.base import PROFILERS
from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT, space_for
from hwnas.space.arch import ARCH_FILES, read_arch_file


def read_archs(spec: str, space: str) -> list[str]:
    """Arch strings from ``spec``: a search's ``result.yaml``, a YAML/JSON list (of strings or ``{space, arch}``),
    a text file with one arch per line (``#`` comments), a named arch or an arch string."""
    def pick(item: Any) -> str:
        if isinstance(item, dict):
            if item.get("space", space) != space:
                raise ArchError(f"{spec}: an arch for space '{item.get('space')}', but the LUT is for '{space}'")
            if "arch" not in item:
                raise ArchError(f"{spec}: an entry without 'arch'")
            return str(item["arch"])
        return str(item)

    if spec.endswith(ARCH_FILES):
        data = read_arch_file(spec)
        return [pick(x) for x in (data if isinstance(data, list) else [data])]
    if os.path.isfile(spec):
        with open(spec) as f:
            text = f.read()
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if spec.endswith(".txt"):
        raise ArchError(f"arch file {spec} not found")
    return [spec]


def predict_archs(lut_path: str, specs: list[str]) -> dict[str, Any]:
    """The prediction for every arch in ``specs`` (see :func:`read_archs`), each with its per-op breakdown:
    an op's ``ms`` is the calibrated total split in proportion to the op's share of the LUT sum."""
    lut = LUT.load(lut_path)
    sp = space_for(lut)
    pred = LatencyPredictor(lut, sp)
    coster = ArchCoster(sp)
    out = []
    for spec in specs:
        for text in read_archs(spec, sp.name):
            arch = sp.parse(text)
            total, raw = pred.predict(arch), pred.raw(arch)
            counts = coster.cost(arch)
            rows = [{"layer": where, "op": op, "ms": total * ms / raw, "share_pct": 100 * ms / raw}
                    for where, op, ms in pred.breakdown(arch)]
            out.append({"arch": str(arch), "name": text if text in sp.named_archs else None, "latency_ms": total,
                        "lut_sum_ms": raw, "macs": int(counts["macs"]), "flops": int(counts["flops"]),
                        "params": int(counts["params"]), "bitops": int(counts["bitops"]), "layers": rows})
    return {"lut": lut_path, "space": sp.name, "input_size": sp.input_size, "backend": lut.meta.get("backend"),
            "device": lut.meta.get("device"), "calibrated": lut.calibration.get("fitted_on", 0) > 0,
            "calibratable": lut.meta.get("backend") in PROFILERS,
            "calibration": calibration_text(lut.calibration), "archs": out}
