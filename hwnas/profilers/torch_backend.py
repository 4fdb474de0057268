"""``torch``: eager PyTorch on the CPU or a CUDA GPU (CUDA-event timing; ``cuda_graph`` replays)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hwnas.errors import BackendUnavailableError
from hwnas.profilers.base import CUDA_GRAPH, Profiler, Runnable, check_cuda, register_profiler
from hwnas.profilers.cuda_timing import capture_cuda_graph


@register_profiler
class TorchProfiler(Profiler):
    """Eager PyTorch; on CUDA each timed run is bracketed by CUDA events after a synchronize.

    ``cuda_graph=True`` (CUDA only) captures each module once into a CUDA graph and times its replay --
    what ``torch.compile(mode="reduce-overhead")`` or a hand-captured graph deploys."""

    name = "torch"
    description = "eager PyTorch (cpu, cuda with CUDA events; --cuda-graph replays)"
    devices = ("cpu", "cuda")
    cuda_events = True
    options = Profiler.options + (CUDA_GRAPH,)
    fingerprint_keys = Profiler.fingerprint_keys + ("execution",)

    @classmethod
    def options_from_fingerprint(cls, fp: dict[str, Any]) -> dict[str, Any]:
        return {**super().options_from_fingerprint(fp), **({"cuda_graph": True} if fp.get("execution") == "cuda-graph"
                                                          else {})}

    def __init__(self, device: str = "cpu", threads: int = 1, cuda_graph: bool = False, **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        check_cuda(device)
        if cuda_graph and not device.startswith("cuda"):
            raise BackendUnavailableError("--cuda-graph needs --device cuda; drop it to profile eager PyTorch on CPU")
        self.cuda_graph = cuda_graph
        if not device.startswith("cuda"):
            torch.set_num_threads(threads)

    def compile(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runnable:
        m = module.eval().to(self.device)
        x = self.input_tensor(input_shape).to(self.device)
        if self.cuda_graph:
            return capture_cuda_graph(m, x, self.device)

        @torch.no_grad()
        def run() -> Any:
            return m(x)

        return run

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        if self.device.startswith("cuda"):
            fp.update(cudnn=torch.backends.cudnn.version(), execution="cuda-graph" if self.cuda_graph else "eager")
        return fp
