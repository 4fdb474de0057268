"""TensorRT engine building and execution (imported only where TensorRT and a GPU exist)."""

from __future__ import annotations

from typing import Any

import torch

from hwnas.errors import BackendUnavailableError
from hwnas.profilers.base import require

_HINT = "TensorRT needs an NVIDIA GPU: pip install -e '.[gpu]' on a CUDA machine"


def _logger() -> Any:
    trt = require("tensorrt", _HINT)
    return trt.Logger(trt.Logger.ERROR)


def build_engine(onnx_path: str, fp16: bool = False, workspace_mb: int = 1024) -> bytes:
    """Parse an ONNX file and build a serialized engine (fp32, or fp16 kernels allowed with ``fp16``)."""
    trt = require("tensorrt", _HINT)
    logger = _logger()
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


class TRTEngine:
    """A deserialized engine with one execution context; tensors are torch CUDA tensors."""

    def __init__(self, serialized: bytes, device: str = "cuda") -> None:
        trt = require("tensorrt", _HINT)
        self.trt = trt
        self.device = torch.device(device)
        self.runtime = trt.Runtime(_logger())
        self.engine = self.runtime.deserialize_cuda_engine(serialized)
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.stream = torch.cuda.Stream(self.device)
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
        return out.clone()
