"""``litert``: LiteRT (TFLite) flatbuffers from litert-torch, run by the ai-edge-litert Interpreter with its
default XNNPACK delegate on this host."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from hwnas.io import atomic_path
from hwnas.profilers.android import MOBILE_HINT, MobileProfiler
from hwnas.profilers.base import Model, Runnable, register_profiler, require, third_party_quiet


def to_tflite(module: nn.Module, example: torch.Tensor, path: str) -> str:
    """litert-torch conversion to a ``.tflite`` flatbuffer (input stays NCHW)."""
    with third_party_quiet():
        litert_torch = require("litert_torch", MOBILE_HINT)
    with third_party_quiet(), torch.no_grad(), atomic_path(path, ".tflite") as tmp:
        litert_torch.convert(module.eval(), (example,)).export(tmp)
    return path


class TFLiteModel(Model):
    """A ``.tflite`` model in the ai-edge-litert Interpreter (XNNPACK delegate, fixed thread count)."""

    def __init__(self, path: str, threads: int = 1) -> None:
        with third_party_quiet():
            interp_mod = require("ai_edge_litert.interpreter", MOBILE_HINT)
            self.interp = interp_mod.Interpreter(model_path=path, num_threads=threads)
            self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]["index"]
        self.out = self.interp.get_output_details()[0]["index"]

    def set_input(self, x: Any) -> None:
        self.interp.set_tensor(self.inp, np.ascontiguousarray(x.numpy() if isinstance(x, torch.Tensor) else x))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.set_input(x)
        self.interp.invoke()
        return torch.from_numpy(self.interp.get_tensor(self.out).copy())

    def runnable(self, x: torch.Tensor) -> Runnable:
        self.set_input(x)
        return self.interp.invoke


@register_profiler
class LiteRTProfiler(MobileProfiler):
    """LiteRT (TFLite): litert-torch converts, the ai-edge-litert Interpreter runs with its default XNNPACK
    delegate and ``threads`` threads, on this host."""

    name = "litert"
    description = "LiteRT .tflite with the XNNPACK delegate"
    artifact = "tflite"
    phone_kind = "tflite"
    runtime_modules = ("litert_torch", "ai_edge_litert.interpreter")
    convert = staticmethod(to_tflite)
    versions = {"ai_edge_litert": "ai-edge-litert", "litert_torch": "litert-torch"}
    fingerprint_keys = MobileProfiler.fingerprint_keys + ("ai_edge_litert",)

    def load(self, path: str) -> TFLiteModel:
        return TFLiteModel(path, self.threads)

    def host_runtime_text(self) -> str:
        return f"LiteRT interpreter (XNNPACK, {self.threads} thread(s)) on this host"
