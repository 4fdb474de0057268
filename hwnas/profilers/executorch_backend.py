"""``executorch``: XNNPACK-delegated ``.pte`` programs run by ``executorch.runtime`` on this host."""

from __future__ import annotations


import torch
from torch import nn

from hwnas.io import atomic_write_bytes
from hwnas.profilers.android import MOBILE_HINT, MobileProfiler
from hwnas.profilers.base import Model, Runnable, register_profiler, require, third_party_quiet

def to_executorch(module: nn.Module, example: torch.Tensor, path: str) -> str:
    """torch.export -> XNNPACK-delegated edge program -> ``.pte``."""
    with third_party_quiet():
        require("executorch", MOBILE_HINT)
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    with torch.no_grad(), third_party_quiet():
        ep = torch.export.export(module.eval(), (example,))
        prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    atomic_write_bytes(path, prog.buffer)
    return path


class ExecuTorchModel(Model):
    """A loaded ``.pte`` program's forward method."""

    def __init__(self, path: str) -> None:
        with third_party_quiet():  # the runtime's native cpuinfo probe logs to stderr
            require("executorch", MOBILE_HINT)
            from executorch.runtime import Runtime

            self.method = Runtime.get().load_program(path).load_method("forward")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.method.execute([x])[0]

    def runnable(self, x: torch.Tensor) -> Runnable:
        return lambda: self.method.execute([x])


@register_profiler
class ExecuTorchProfiler(MobileProfiler):
    """ExecuTorch: XNNPACK-delegated ``.pte`` run by ``executorch.runtime`` on this host (threads: XNNPACK's
    own pool, which ExecuTorch's Python runtime does not expose; recorded as such)."""

    name = "executorch"
    description = "ExecuTorch .pte with the XNNPACK delegate"
    artifact = "pte"
    phone_kind = "pte"
    runtime_modules = ("executorch",)
    convert = staticmethod(to_executorch)
    versions = {"executorch": "executorch"}
    host_notes = {"threads_note": "XNNPACK threadpool default"}
    fingerprint_keys = MobileProfiler.fingerprint_keys + ("executorch",)

    def load(self, path: str) -> ExecuTorchModel:
        return ExecuTorchModel(path)

    def host_runtime_text(self) -> str:
        return "executorch.runtime (XNNPACK) on this host"
