"""CUDA timing shared by every GPU runner: CUDA-event timing of enqueued work, and CUDA-graph capture.

At batch 1 eager execution on a big GPU is bound by the CPU launching kernels one by one, which a per-op
table models poorly; a graph replays the whole kernel sequence with one launch, so op times add up.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

Runnable = Callable[[], Any]


def cuda_event_block(fn: Runnable, n: int, device: str) -> list[float]:
    """``n`` runs of ``fn``, each bracketed by CUDA events on the current stream (ms), after a synchronize."""
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
    torch.cuda.synchronize(device)
    for a, b in pairs:
        a.record()
        fn()
        b.record()
    torch.cuda.synchronize(device)
    return [a.elapsed_time(b) for a, b in pairs]


def capture_cuda_graph(m: nn.Module, x: torch.Tensor, device: str, warmup: int = 3) -> Runnable:
    """Warm ``m`` up on a side stream (lazy init and cuDNN choices stay out of the graph), capture one forward
    pass into a CUDA graph, and return its replay (which yields the graph's static output buffer)."""
    with torch.cuda.device(device), torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                m(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = m(x)

    def run() -> torch.Tensor:
        graph.replay()
        return out

    run.buffers = (m, x)  # type: ignore[attr-defined]  # the graph reads them: keep them alive with it
    return run
