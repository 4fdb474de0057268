"""Latency lookup tables: file format, predictor, profiling job, calibration/validation, importers."""

from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT, SCHEMA, LUTEntry, LUTFingerprintWarning, space_for

__all__ = ["LUT", "SCHEMA", "LUTEntry", "LUTFingerprintWarning", "LatencyPredictor", "space_for"]
