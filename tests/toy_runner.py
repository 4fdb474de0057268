"""A runtime added in one file, as a user would (issue 26): TorchScript files run by ``torch.jit``.  It declares an
option (``--copies``: each timed call runs the network that many times) and how the option is restored from a LUT's
fingerprint, and registers an export format.  ``tests/test_plugins.py`` loads it through ``HWNAS_PLUGINS`` and
profiles, calibrates, predicts, searches and exports with it through the CLI -- no edit anywhere else."""

from typing import Any

import torch

from hwnas.export.formats import ExportFormat, register_format
from hwnas.profilers import Model, Profiler, register_profiler
from hwnas.profilers.base import Runnable, RunnerOption


class ToyModel(Model):
    def __init__(self, module: Any, copies: int) -> None:
        self.module, self.copies = module, copies

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(x)

    def runnable(self, x: torch.Tensor) -> Runnable:
        def run() -> None:
            with torch.no_grad():
                for _ in range(self.copies):
                    self.module(x)
        return run


@register_profiler
class ToyProfiler(Profiler):
    name = "toy"
    description = "TorchScript run by torch.jit (a test plugin)"
    devices = ("cpu",)
    artifact = "ts"
    options = Profiler.options + (RunnerOption("copies", int, 1, "toy: runs of the network per timed call."),)
    fingerprint_keys = Profiler.fingerprint_keys + ("toy_copies",)

    def __init__(self, device: str = "cpu", threads: int = 1, copies: int = 1, **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        self.copies = copies

    @classmethod
    def options_from_fingerprint(cls, fp: dict[str, Any]) -> dict[str, Any]:
        return {**super().options_from_fingerprint(fp), "copies": int(fp.get("toy_copies", 1))}

    def write(self, module: Any, example: torch.Tensor, path: str, metadata: Any, dynamic_batch: bool) -> str:
        torch.jit.trace(module.eval(), example).save(path)
        return path

    def load(self, path: str) -> ToyModel:
        return ToyModel(torch.jit.load(path), self.copies)

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "toy_copies": self.copies}


register_format(ExportFormat("toy", "toy", "cpu", "ts", "TorchScript (a test plugin)", 1e-4))
