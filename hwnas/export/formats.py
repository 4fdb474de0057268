"""Export formats, one registry entry each: which runner writes, loads, runs and times the artefact.

An export format is a runtime's artefact (see :mod:`hwnas.profilers`): the runner's ``save`` writes it (with
hwnas.* metadata and a dynamic batch where the runner declares them in ``save_features``), its ``load`` runs it for
the parity check, and its timing measures it -- the same code that profiles the LUT, so what is exported is what
was measured.  The runner's options (``--threads``, ``--fp16``, ...) are the same flags as ``hwnas profile``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.registry import Registry


@dataclass(frozen=True)
class ExportFormat:
    name: str
    backend: str                 # the runner (``hwnas.profilers``) for this artefact
    device: str                  # where hwnas runs it for parity and timing
    ext: str
    description: str
    tolerance: float             # max |output - PyTorch| (times max(1, |PyTorch| max))
    fp16_tolerance: float | None = None
    int8_tolerance: float | None = None  # with int8 layers: the runtime's integer requantisation rounds at each layer
    int8: bool = False           # w8a8 layers export as int8 (QDQ) with ``--int8``

    def tolerance_for(self, fp16: bool) -> float:
        return self.fp16_tolerance if fp16 and self.fp16_tolerance is not None else self.tolerance


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format")


def register_format(fmt: ExportFormat) -> ExportFormat:
    return EXPORT_FORMATS.register(fmt.name)(fmt)


list_formats = EXPORT_FORMATS.names
get_format = EXPORT_FORMATS.get

register_format(ExportFormat("onnx", "ort", "cpu", "onnx", "ONNX (opset 17), checked in ONNX Runtime", 1e-4,
                             int8_tolerance=5e-2, int8=True))
register_format(ExportFormat("executorch", "executorch", "cpu", "pte", "ExecuTorch .pte (XNNPACK)", 1e-4))
register_format(ExportFormat("litert", "litert", "cpu", "tflite", "LiteRT .tflite (what Android apps deploy)", 1e-4))
register_format(ExportFormat("tensorrt", "tensorrt", "cuda", "engine", "TensorRT engine (NVIDIA GPU)", 1e-3,
                             fp16_tolerance=1e-2))
