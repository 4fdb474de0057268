"""The runtimes: ``torch`` (CPU/CUDA), ``ort`` (ONNX Runtime CPU/CUDA/TensorRT EPs), ``tensorrt``
(native engines), ``executorch`` (XNNPACK .pte on this host) and ``litert`` (TFLite + XNNPACK on this
host).  Each compiles a module into a zero-argument runnable; timing lives in :mod:`.base`."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from typing import Any

import numpy as np
import torch
from torch import nn

from hwnas.errors import BackendUnavailableError
from hwnas.profilers.artifacts import MOBILE_HINT, ExecuTorchModel, TFLiteModel, to_executorch, to_onnx, to_tflite
from hwnas.profilers.base import Profiler, Runnable, check_cuda, device_index, register_profiler, require


class _TempDirMixin:
    """Artefacts are written to a private temp dir removed on close."""

    _tmp: str | None = None
    _n = 0

    def next_path(self, ext: str) -> str:
        """A fresh artefact path in the private temp dir."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="hwnas-")
        self._n += 1
        return os.path.join(self._tmp, f"m{self._n}.{ext}")

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


@register_profiler
class TorchProfiler(Profiler):
    """Eager PyTorch; on CUDA each timed run is bracketed by CUDA events after a synchronize.

    ``cuda_graph=True`` (CUDA only) captures each module once into a CUDA graph and times its replay --
    what ``torch.compile(mode="reduce-overhead")`` or a hand-captured graph deploys.  At batch 1 eager
    execution on a big GPU is bound by the CPU launching kernels one by one, which a per-op table models
    poorly; a graph replays the whole kernel sequence with one launch, so op times add up."""

    name = "torch"
    devices = ("cpu", "cuda")

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
            return self._capture(m, x)

        @torch.no_grad()
        def run() -> Any:
            return m(x)

        return run

    def _capture(self, m: nn.Module, x: torch.Tensor) -> Runnable:
        """Warm up on a side stream (lazy init and cuDNN choices stay out of the graph), then capture."""
        with torch.cuda.device(self.device), torch.no_grad():
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    m(x)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = m(x)

        def run() -> torch.Tensor:
            graph.replay()
            return out  # the graph's static output buffer

        run.buffers = (m, x)  # type: ignore[attr-defined]  # the graph reads them: keep them alive with it

        return run

    def _run_block(self, fn: Runnable, n: int) -> list[float]:
        if not self.device.startswith("cuda"):
            return super()._run_block(fn, n)
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        torch.cuda.synchronize(self.device)
        for a, b in pairs:
            a.record()
            fn()
            b.record()
        torch.cuda.synchronize(self.device)
        return [a.elapsed_time(b) for a, b in pairs]

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        if self.device.startswith("cuda"):
            fp.update(cudnn=torch.backends.cudnn.version(), execution="cuda-graph" if self.cuda_graph else "eager")
        return fp


ORT_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


@register_profiler
class ORTProfiler(_TempDirMixin, Profiler):
    """ONNX Runtime.  ``provider``: cpu (default on CPU), cuda (default on GPU) or tensorrt."""

    name = "ort"
    devices = ("cpu", "cuda")

    def __init__(self, device: str = "cpu", threads: int = 1, provider: str | None = None, cuda_graph: bool = False,
                 **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        check_cuda(device)
        self.ort = require("onnxruntime", "pip install onnxruntime (or onnxruntime-gpu for CUDA)")
        self.provider = provider or ("cuda" if device.startswith("cuda") else "cpu")
        if cuda_graph and self.provider != "cuda":
            raise BackendUnavailableError("--cuda-graph needs the CUDA execution provider (--device cuda)")
        self.cuda_graph = cuda_graph
        if self.provider not in ORT_PROVIDERS:
            raise BackendUnavailableError(f"unknown ORT provider '{self.provider}'; choose cpu, cuda or tensorrt")
        ep = ORT_PROVIDERS[self.provider]
        if ep not in self.ort.get_available_providers():
            raise BackendUnavailableError(
                f"ONNX Runtime here has no {ep} (available: {', '.join(self.ort.get_available_providers())}); "
                "install onnxruntime-gpu on a CUDA machine or use --provider cpu")

    def session(self, path: str) -> Any:
        so = self.ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        ep = ORT_PROVIDERS[self.provider]
        if self.provider == "cpu":
            return self.ort.InferenceSession(path, so, providers=[ep])
        if hasattr(self.ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* wheels (onnxruntime-gpu >= 1.21)
            with contextlib.redirect_stdout(sys.stderr):  # it prints warnings; keep --json output clean
                self.ort.preload_dlls()
        opts = {"device_id": device_index(self.device)}
        if self.cuda_graph:
            opts["enable_cuda_graph"] = "1"
        sess = self.ort.InferenceSession(path, so, providers=[(ep, opts), "CPUExecutionProvider"])
        if sess.get_providers()[0] != ep:  # ORT falls back to CPU silently when a provider fails to load
            raise BackendUnavailableError(
                f"ONNX Runtime could not start {ep} (session runs on {sess.get_providers()}); check that the CUDA "
                "and cuDNN versions onnxruntime-gpu was built for are installed (pip install 'onnxruntime-gpu[cuda,cudnn]')")
        return sess

    def compile(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runnable:
        x = self.input_tensor(input_shape)
        sess = self.session(to_onnx(module, x, self.next_path("onnx")))
        name = sess.get_inputs()[0].name
        if self.provider == "cpu":
            feed = {name: x.numpy()}
            return lambda: sess.run(None, feed)
        # GPU providers: the input lives on the GPU and the output is bound there once, so a timed run
        # is the graph's execution, without host<->device copies
        # (a CUDA graph also needs the output at a fixed address: allocate it once)
        io, dev, out = sess.io_binding(), device_index(self.device), sess.get_outputs()[0]
        io.bind_ortvalue_input(name, self.ort.OrtValue.ortvalue_from_numpy(x.numpy(), "cuda", dev))
        if self.cuda_graph:  # static shapes: the exported graph states the output's
            io.bind_ortvalue_output(out.name, self.ort.OrtValue.ortvalue_from_shape_and_type(out.shape, np.float32, "cuda", dev))
        else:
            io.bind_output(out.name, "cuda", dev)

        def run() -> None:
            sess.run_with_iobinding(io)
            io.synchronize_outputs()

        return run

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp.update(onnxruntime=self.ort.__version__, provider=ORT_PROVIDERS[self.provider])
        if self.device.startswith("cuda"):
            fp.update(execution="cuda-graph" if self.cuda_graph else "eager")
        return fp


@register_profiler
class TensorRTProfiler(_TempDirMixin, Profiler):
    """Native TensorRT: ONNX -> serialized engine (fp32, or fp16 with ``fp16=True``) -> execution context."""

    name = "tensorrt"
    devices = ("cuda",)

    def __init__(self, device: str = "cuda", threads: int = 1, fp16: bool = False, **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        check_cuda(device)
        self.trt = require("tensorrt", "TensorRT needs an NVIDIA GPU: pip install -e '.[gpu]' on a CUDA machine")
        self.fp16 = fp16

    def compile(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runnable:
        from hwnas.profilers.trt import TRTEngine, build_engine

        x = self.input_tensor(input_shape)
        engine = TRTEngine(build_engine(to_onnx(module, x, self.next_path("onnx")), fp16=self.fp16), self.device)
        xd = x.to(self.device)
        engine.bind(xd)
        return engine.execute

    def _run_block(self, fn: Runnable, n: int) -> list[float]:
        return TorchProfiler._run_block(self, fn, n)  # CUDA events

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp.update(tensorrt=self.trt.__version__, precision="fp16" if self.fp16 else "fp32")
        return fp


class _MobileProfiler(_TempDirMixin, Profiler):
    """Mobile runtimes run on this host (``cpu``) or, with ``android``, need a phone attached over adb."""

    devices = ("cpu", "android")

    def __init__(self, device: str = "cpu", threads: int = 1, **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        self.load_runtime()
        if device == "android":
            from hwnas.profilers.android import require_phone

            require_phone()

    def load_runtime(self) -> None:
        raise NotImplementedError


@register_profiler
class ExecuTorchProfiler(_MobileProfiler):
    """ExecuTorch: XNNPACK-delegated ``.pte`` run by ``executorch.runtime`` on this host (threads: XNNPACK's
    own pool, which ExecuTorch's Python runtime does not expose; recorded as such)."""

    name = "executorch"

    def load_runtime(self) -> None:
        self.et = require("executorch", MOBILE_HINT)

    def compile(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runnable:
        x = self.input_tensor(input_shape)
        model = ExecuTorchModel(to_executorch(module, x, self.next_path("pte")))
        return lambda: model.method.execute([x])

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp.update(executorch=getattr(self.et, "__version__", _dist_version("executorch")), delegate="XNNPACK",
                  threads_note="XNNPACK threadpool default")
        return fp


@register_profiler
class LiteRTProfiler(_MobileProfiler):
    """LiteRT (TFLite): litert-torch converts, the ai-edge-litert Interpreter runs with its default XNNPACK
    delegate and ``threads`` threads, on this host."""

    name = "litert"

    def load_runtime(self) -> None:
        from hwnas.profilers.artifacts import quiet_fds

        with quiet_fds():
            require("litert_torch", MOBILE_HINT)
            require("ai_edge_litert.interpreter", MOBILE_HINT)

    def compile(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runnable:
        x = self.input_tensor(input_shape)
        model = TFLiteModel(to_tflite(module, x, self.next_path("tflite")), self.threads)
        model.set_input(np.ascontiguousarray(x.numpy()))
        return model.invoke

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp.update(ai_edge_litert=_dist_version("ai-edge-litert"), litert_torch=_dist_version("litert-torch"),
                  delegate="XNNPACK")
        return fp


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
