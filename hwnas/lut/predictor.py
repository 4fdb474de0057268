"""Latency prediction from a LUT: a calibrated sum over the arch's units, without building the network.

``raw(arch) = overhead + sum(median_i - overhead)`` (one runtime call for the whole network instead of
one per op), then ``predict = polyval(coeffs, raw)`` with the calibration stored in the LUT (increasing).  Per layer,
the choices' latencies are precomputed into arrays, so many archs are predicted with one gather + sum.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hwnas.cost.layer_costs import LayerCosts
from hwnas.errors import LUTError
from hwnas.lut.table import LUT, check_lut_space
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


class LatencyPredictor:
    def __init__(self, lut: LUT, space: SearchSpace, calibrated: bool = True) -> None:
        check_lut_space(lut, space.name)
        lut_in = lut.meta.get("input_size")
        if lut_in is not None and int(lut_in) != space.input_size:
            raise LUTError(f"LUT was measured at input {lut_in}px but the space is at {space.input_size}px; "
                           f"use --input {lut_in} or profile a LUT at {space.input_size}")
        self.lut, self.space = lut, space
        ovh = lut.overhead_ms
        self._missing: dict[tuple[int, int], str] = {}
        fixed = [*space.stem, *space.head]
        self._fixed = sum(lut.median(s) - ovh for s in fixed) + ovh
        self.choice_index = [{c: j for j, c in enumerate(layer.choices)} for layer in space.layers]
        width = max(len(layer.choices) for layer in space.layers)
        self._table = np.zeros((len(space.layers), width))
        for i, layer in enumerate(space.layers):
            for j, c in enumerate(layer.choices):
                sig = space.choice_op(layer, c)
                if sig is None:
                    continue
                if sig in lut:
                    self._table[i, j] = lut.median(sig) - ovh
                else:
                    self._table[i, j] = np.nan
                    self._missing[(i, j)] = sig.key
        cal = lut.calibration if calibrated else {}
        self.coeffs = np.asarray(cal.get("coeffs", [1.0, 0.0]), dtype=float)
        self._rows = np.arange(len(space.layers))

    def layer_costs(self) -> LayerCosts:
        """The uncalibrated per-layer latency (ms, per-call overhead counted once in ``fixed``); an op
        missing from the LUT costs ``inf``.  The calibration is increasing, so bounds map through
        :meth:`raw_for`."""
        t = np.where(np.isnan(self._table), np.inf, self._table)
        return LayerCosts("latency", float(self._fixed),
                          tuple({c: float(t[i, j]) for j, c in enumerate(layer.choices)}
                                for i, layer in enumerate(self.space.layers)))

    @property
    def complete(self) -> bool:
        return not self._missing

    def missing_ops(self) -> list[str]:
        return sorted(set(self._missing.values()))

    def encode(self, archs: Sequence[Arch]) -> np.ndarray:
        """Archs as an (N, layers) matrix of choice indices."""
        try:
            return np.array([[idx[c] for idx, c in zip(self.choice_index, a.choices)] for a in archs], dtype=np.int64)
        except KeyError as e:
            raise LUTError(f"choice {e} is not in space '{self.space.name}'") from None

    def raw_indices(self, idx: np.ndarray) -> np.ndarray:
        vals = self._table[self._rows, idx]  # (N, layers)
        sums = vals.sum(axis=1)
        bad = np.isnan(sums)
        if bad.any():
            row = int(np.argmax(bad))
            col = int(np.argmax(np.isnan(vals[row])))
            op = self._missing[(col, int(idx[row, col]))]
            raise LUTError(f"op {op} (layer {col}) is not in the LUT; measure it with "
                           f"`hwnas profile --space {self.space.name} --resume --out <this lut>`")
        return self._fixed + sums

    def predict_indices(self, idx: np.ndarray) -> np.ndarray:
        return self.calibrate(self.raw_indices(idx))

    def calibrate(self, raw: np.ndarray | float) -> np.ndarray | float:
        return np.polyval(self.coeffs, raw)

    def raw_for(self, latency_ms: float) -> float:
        """The largest raw LUT sum ``r`` such that every raw sum between the space's smallest and ``r`` predicts at
        most ``latency_ms``: a bound in raw units that guided samplers can keep to, whatever the calibration's
        shape.  A quadratic fitted on a noisy machine may be steep, concave, or turn over outside the fitted
        range, so the calibration is not assumed increasing: its running maximum from the space's smallest raw
        sum (monotone by construction) is inverted on a fine grid, refined by bisection within one grid cell.
        Below the space's minimum there is nothing to keep to: then the smallest raw sum less one unit."""
        lo, hi = self._raw_range()
        if self.calibrate(lo) > latency_ms:
            return lo - 1.0
        grid = np.linspace(lo, hi, 4097)
        envelope = np.maximum.accumulate(np.asarray(self.calibrate(grid), dtype=float))
        k = int(np.searchsorted(envelope, latency_ms, side="right")) - 1  # last grid point within the bound
        if k >= len(grid) - 1:
            return float(hi) if envelope[-1] <= latency_ms else float(grid[-2])
        a, b = float(grid[k]), float(grid[k + 1])
        for _ in range(60):  # inside one cell: keep the point whose calibrated value stays within the bound
            mid = (a + b) / 2
            a, b = (mid, b) if self.calibrate(mid) <= latency_ms else (a, mid)
        return a

    def _raw_range(self) -> tuple[float, float]:
        """Smallest and largest raw sum any arch of the space reaches (missing ops ignored)."""
        t = np.where(np.isnan(self._table), np.inf, self._table)
        valid = [[t[i, j] for j in range(len(layer.choices))] for i, layer in enumerate(self.space.layers)]
        lo = self._fixed + sum(min(v) for v in valid)
        hi = self._fixed + sum(max(x for x in v if np.isfinite(x)) for v in valid)
        return float(lo), float(max(hi, lo))

    def raw(self, arch: Arch) -> float:
        return float(self.raw_indices(self.encode([self.space.check(arch)]))[0])

    def predict(self, arch: Arch) -> float:
        return float(self.predict_indices(self.encode([self.space.check(arch)]))[0])

    def predict_many(self, archs: Sequence[Arch]) -> np.ndarray:
        return self.predict_indices(self.encode(archs))

    def breakdown(self, arch: Arch) -> list[tuple[str, str, float]]:
        """Per unit of ``arch``: (where, op key, its LUT median less the per-call overhead, ms); the overhead
        itself, paid once per network, is the first row.  Their sum is :meth:`raw`."""
        sp = self.space
        sp.check(arch)
        ovh = self.lut.overhead_ms
        rows = [("runtime call", "per-call overhead (once per network)", ovh)]
        rows += [(f"stem{i}", s.key, self.lut.median(s) - ovh) for i, s in enumerate(sp.stem)]
        for layer, c in zip(sp.layers, arch.choices):
            sig = sp.choice_op(layer, c)
            if sig is not None:
                rows.append((layer.name, sig.key, self.lut.median(sig) - ovh))
        rows += [(f"head{i}", s.key, self.lut.median(s) - ovh) for i, s in enumerate(sp.head)]
        return rows
