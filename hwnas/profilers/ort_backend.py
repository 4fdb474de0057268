"""``ort``: ONNX Runtime with its CPU, CUDA or TensorRT execution provider.  The one place in hwnas that
creates ONNX Runtime sessions (profiling, export parity and timing, benchmarks all come here)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import numpy as np
import torch
from torch import nn

from hwnas.errors import BackendUnavailableError
from hwnas.profilers.base import (CUDA_GRAPH, Model, Profiler, Runnable, RunnerOption, check_cuda, device_index,
                                  register_profiler, require)
from hwnas.profilers.onnx_file import to_onnx

ORT_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                 "tensorrt": "TensorrtExecutionProvider"}
ORT_HINT = "pip install onnxruntime (or onnxruntime-gpu for CUDA)"


def provider_name(execution_provider: str) -> str:
    """``CUDAExecutionProvider`` -> ``cuda`` (what a LUT's fingerprint records -> the ``provider`` option)."""
    return {v: k for k, v in ORT_PROVIDERS.items()}.get(execution_provider, "cpu")


@register_profiler
class ORTProfiler(Profiler):
    """ONNX Runtime.  ``provider``: cpu (default on CPU), cuda (default on GPU) or tensorrt; ``cuda_graph``
    (CUDA provider) captures each session's run into a CUDA graph."""

    name = "ort"
    description = "ONNX Runtime (--provider cpu|cuda|tensorrt)"
    devices = ("cpu", "cuda")
    artifact = "onnx"
    save_features = ("metadata", "dynamic_batch")
    options = Profiler.options + (
        RunnerOption("provider", str, None, "ONNX Runtime execution provider [default: cpu on cpu, cuda on cuda].",
                     choices=tuple(ORT_PROVIDERS)),
        CUDA_GRAPH,
    )
    fingerprint_keys = Profiler.fingerprint_keys + ("onnxruntime", "provider", "execution")

    @classmethod
    def options_from_fingerprint(cls, fp: dict[str, Any]) -> dict[str, Any]:
        kw = super().options_from_fingerprint(fp)
        if fp.get("provider"):
            kw["provider"] = provider_name(fp["provider"])
        if fp.get("execution") == "cuda-graph":
            kw["cuda_graph"] = True
        return kw

    def __init__(self, device: str = "cpu", threads: int = 1, provider: str | None = None, cuda_graph: bool = False,
                 **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        check_cuda(device)
        self.ort = require("onnxruntime", ORT_HINT)
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

    def session(self, model: str | bytes, optimization: str = "all", optimized_path: str | None = None) -> Any:
        """An inference session on this runner's provider and threads.  ``optimization``: ORT's graph level
        (``disable``, ``basic``, ``extended``, ``all``); ``optimized_path`` saves the optimised graph."""
        levels = self.ort.GraphOptimizationLevel
        so = self.ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = {"disable": levels.ORT_DISABLE_ALL, "basic": levels.ORT_ENABLE_BASIC,
                                       "extended": levels.ORT_ENABLE_EXTENDED,
                                       "all": levels.ORT_ENABLE_ALL}[optimization]
        so.log_severity_level = 3
        if optimized_path:
            so.optimized_model_filepath = optimized_path
        ep = ORT_PROVIDERS[self.provider]
        if self.provider == "cpu":
            return self.ort.InferenceSession(model, so, providers=[ep])
        if hasattr(self.ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* wheels (onnxruntime-gpu >= 1.21)
            with contextlib.redirect_stdout(sys.stderr):  # it prints warnings; keep --json output clean
                self.ort.preload_dlls()
        opts = {"device_id": device_index(self.device)}
        if self.cuda_graph:
            opts["enable_cuda_graph"] = "1"
        sess = self.ort.InferenceSession(model, so, providers=[(ep, opts), "CPUExecutionProvider"])
        if sess.get_providers()[0] != ep:  # ORT falls back to CPU silently when a provider fails to load
            raise BackendUnavailableError(
                f"ONNX Runtime could not start {ep} (session runs on {sess.get_providers()}); check that the CUDA "
                "and cuDNN versions onnxruntime-gpu was built for are installed "
                "(pip install 'onnxruntime-gpu[cuda,cudnn]')"
            )
        return sess

    def write(self, module: nn.Module, example: torch.Tensor, path: str, metadata: dict[str, str] | None,
              dynamic_batch: bool) -> str:
        return to_onnx(module, example, path, dynamic_batch=dynamic_batch, metadata=metadata)

    def load(self, path: str) -> "ORTModel":
        return ORTModel(self, self.session(path))

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp.update(onnxruntime=self.ort.__version__, provider=ORT_PROVIDERS[self.provider])
        if self.device.startswith("cuda"):
            fp.update(execution="cuda-graph" if self.cuda_graph else "eager")
        return fp

    def runtime_text(self) -> str:
        return f"onnxruntime {self.ort.__version__} {self.provider.upper()}, {self.threads} thread(s)"


class ORTModel(Model):
    def __init__(self, runner: ORTProfiler, sess: Any) -> None:
        self.runner, self.sess = runner, sess
        self.input = sess.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.sess.run(None, {self.input: x.cpu().numpy()})[0])

    def runnable(self, x: torch.Tensor) -> Runnable:
        r, sess = self.runner, self.sess
        if r.provider == "cpu":
            feed = {self.input: x.cpu().numpy()}
            return lambda: sess.run(None, feed)
        # GPU providers: the input lives on the GPU and the output is bound there once, so a timed run
        # is the graph's execution, without host<->device copies
        # (a CUDA graph also needs the output at a fixed address: allocate it once)
        io, dev, out = sess.io_binding(), device_index(r.device), sess.get_outputs()[0]
        io.bind_ortvalue_input(self.input, r.ort.OrtValue.ortvalue_from_numpy(x.cpu().numpy(), "cuda", dev))
        if r.cuda_graph:  # static shapes: the exported graph states the output's
            buf = r.ort.OrtValue.ortvalue_from_shape_and_type(out.shape, np.float32, "cuda", dev)
            io.bind_ortvalue_output(out.name, buf)
        else:
            io.bind_output(out.name, "cuda", dev)

        def run() -> None:
            sess.run_with_iobinding(io)
            io.synchronize_outputs()

        return run
