"""Latency profilers: one runner per runtime (one module each), a shared timing method, a registry.

Runners: ``torch`` (:mod:`.torch_backend`), ``ort`` (:mod:`.ort_backend`), ``tensorrt``
(:mod:`.tensorrt_backend`), ``executorch`` (:mod:`.executorch_backend`), ``litert`` (:mod:`.litert_backend`);
:mod:`.cuda_timing` holds the CUDA-event and CUDA-graph code they share, :mod:`.android` the phone path.
Profiling and export both use them: ``compile`` for timing, ``save``/``load`` for the artefact.
"""

from hwnas.profilers.base import (PROFILERS, Model, Profiler, TimingConfig, TimingStats, default_backend, get_profiler,
                                  list_profilers, register_profiler)
from hwnas.profilers import (executorch_backend, litert_backend, ort_backend, tensorrt_backend,  # noqa: F401
                             torch_backend)

__all__ = ["PROFILERS", "Model", "Profiler", "TimingConfig", "TimingStats", "default_backend", "get_profiler",
           "list_profilers", "register_profiler"]
