"""``tensorrt``: native TensorRT engines (fp32, or fp16 kernels allowed), built from ONNX, CUDA-event timed.
TensorRT is imported only where a runner is made (and a GPU exists)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from hwnas.errors import BackendUnavailableError
from hwnas.io import atomic_write_bytes
from hwnas.profilers.base import Model, Profiler, Runnable, RunnerOption, check_cuda, register_profiler, require
from hwnas.profilers.onnx_file import to_onnx

TRT_HINT = "TensorRT needs an NVIDIA GPU: pip install -e '.[gpu]' on a CUDA machine"


def _trt() -> Any:
    return require("tensorrt", TRT_HINT)


def build_engine(onnx_path: str, fp16: bool = False, workspace_mb: int = 1024) -> bytes:
    """Parse an ONNX file and build a serialized engine (fp32, or fp16 kernels allowed with ``fp16``)."""
    trt = _trt()
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt, "NetworkDefinitionCreationFlag") and hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, "rb") as f:
        if not parser.parse(f.read()):
            errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendUnavailableError(f"TensorRT could not parse {onnx_path}: {errs}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if fp16:
        if not hasattr(trt.BuilderFlag, "FP16"):
            raise BackendUnavailableError(f"TensorRT {trt.__version__} has no FP16 builder flag; build fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise BackendUnavailableError(f"TensorRT failed to build an engine from {onnx_path}")
    return bytes(blob)


class TRTEngine(Model):
    """A deserialized engine with one execution context; tensors are torch CUDA tensors."""

    def __init__(self, serialized: bytes, device: str = "cuda") -> None:
        trt = _trt()
        self.trt = trt
        self.device = torch.device(device)
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
        self.engine = self.runtime.deserialize_cuda_engine(serialized)
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._out: torch.Tensor | None = None

    def bind(self, x: torch.Tensor) -> torch.Tensor:
        name = self.inputs[0]
        self._x = x.contiguous().to(self.device)
        self.context.set_input_shape(name, tuple(self._x.shape))
        self.context.set_tensor_address(name, self._x.data_ptr())
        oname = self.outputs[0]
        shape = tuple(self.context.get_tensor_shape(oname))
        self._out = torch.empty(shape, dtype=torch.float32, device=self.device)
        self.context.set_tensor_address(oname, self._out.data_ptr())
        return self._out

    def execute(self) -> None:
        """Enqueue on the current stream (callers time it with CUDA events)."""
        self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bind(x)
        self.execute()
        torch.cuda.synchronize(self.device)
        return out.clone().cpu()

    def runnable(self, x: torch.Tensor) -> Runnable:
        self.bind(x)
        return self.execute


@register_profiler
class TensorRTProfiler(Profiler):
    """Native TensorRT: ONNX -> serialized engine (fp32, or fp16 with ``fp16=True``) -> execution context."""

    name = "tensorrt"
    description = "native TensorRT engines (cuda; --fp16)"
    devices = ("cuda",)
    artifact = "engine"
    save_features = ("metadata",)
    cuda_events = True
    options = Profiler.options + (RunnerOption("fp16", bool, False, "TensorRT: allow fp16 kernels."),)
    fingerprint_keys = Profiler.fingerprint_keys + ("tensorrt", "precision")

    @classmethod
    def options_from_fingerprint(cls, fp: dict[str, Any]) -> dict[str, Any]:
        return {**super().options_from_fingerprint(fp), "fp16": fp.get("precision") == "fp16"}

    def __init__(self, device: str = "cuda", threads: int = 1, fp16: bool = False, **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        check_cuda(device)
        self.trt = _trt()
        self.fp16 = fp16

    def write(self, module: nn.Module, example: torch.Tensor, path: str, metadata: dict[str, str] | None,
              dynamic_batch: bool) -> str:
        """The engine at ``path``, built from an ONNX export kept beside it (same name, ``.onnx``)."""
        onnx_path = os.path.splitext(path)[0] + ".onnx"
        atomic_write_bytes(path, build_engine(to_onnx(module, example, onnx_path, metadata=metadata), fp16=self.fp16))
        return path

    def load(self, path: str) -> TRTEngine:
        if not os.path.exists(path):
            raise BackendUnavailableError(f"TensorRT engine {path} not found")
        with open(path, "rb") as f:
            return TRTEngine(f.read(), self.device)

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp.update(tensorrt=self.trt.__version__, precision="fp16" if self.fp16 else "fp32")
        return fp

    def runtime_text(self) -> str:
        return f"TensorRT {self.trt.__version__} {'fp16' if self.fp16 else 'fp32'} on {self.device}"
