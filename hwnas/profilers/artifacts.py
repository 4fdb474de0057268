"""Turning modules into runtime artefacts (ONNX, ExecuTorch .pte, LiteRT .tflite).

Profilers time these artefacts and ``hwnas export`` writes them; both use these functions so that what
is measured is what is shipped.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from typing import Any, Iterator

import torch
from torch import nn

from hwnas.profilers.base import require

MOBILE_HINT = "install the mobile extra: pip install -e '.[mobile]' (after pip install torch==2.13.0)"


def to_onnx(module: nn.Module, example: torch.Tensor, path: str, opset: int = 17, dynamic_batch: bool = False) -> str:
    """Export with the TorchScript-based exporter (fast, stable for these conv nets)."""
    module = module.eval()
    kw: dict[str, Any] = {}
    if dynamic_batch:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), path, input_names=["input"], output_names=["output"],
                          opset_version=opset, do_constant_folding=True, dynamo=False, **kw)
    return path


def to_executorch(module: nn.Module, example: torch.Tensor, path: str) -> str:
    """torch.export -> XNNPACK-delegated edge program -> ``.pte``."""
    require("executorch", MOBILE_HINT)
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(module.eval(), (example,))
        prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    _atomic_bytes(path, prog.buffer)
    return path


@contextlib.contextmanager
def quiet_fds() -> Iterator[None]:
    """Silence a converter that logs straight to file descriptors 1 and 2 (LiteRT, XLA)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def to_tflite(module: nn.Module, example: torch.Tensor, path: str) -> str:
    """litert-torch conversion to a ``.tflite`` flatbuffer (input stays NCHW)."""
    with quiet_fds():
        litert_torch = require("litert_torch", MOBILE_HINT)
    with quiet_fds(), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edge = litert_torch.convert(module.eval(), (example,))
        tmp = path + ".tmp.tflite"
        edge.export(tmp)
    os.replace(tmp, path)
    return path


def _atomic_bytes(path: str, data: bytes) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class ExecuTorchModel:
    """A loaded ``.pte`` program's forward method."""

    def __init__(self, path: str) -> None:
        require("executorch", MOBILE_HINT)
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(path).load_method("forward")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.method.execute([x])[0]


class TFLiteModel:
    """A ``.tflite`` model in the ai-edge-litert Interpreter (XNNPACK delegate, fixed thread count)."""

    def __init__(self, path: str, threads: int = 1) -> None:
        with quiet_fds():
            interp_mod = require("ai_edge_litert.interpreter", MOBILE_HINT)
            self.interp = interp_mod.Interpreter(model_path=path, num_threads=threads)
            self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]["index"]
        self.out = self.interp.get_output_details()[0]["index"]

    def set_input(self, x: Any) -> None:
        self.interp.set_tensor(self.inp, x.numpy() if isinstance(x, torch.Tensor) else x)

    def invoke(self) -> None:
        self.interp.invoke()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.set_input(x)
        self.interp.invoke()
        return torch.from_numpy(self.interp.get_tensor(self.out).copy())
