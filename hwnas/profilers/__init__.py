"""Latency profilers: one runner per runtime, a shared timing method, a registry."""

from hwnas.profilers.base import (PROFILERS, Profiler, TimingConfig, TimingStats, get_profiler, list_profilers,
                                  register_profiler)
from hwnas.profilers import backends  # noqa: F401  (registration)

__all__ = ["PROFILERS", "Profiler", "TimingConfig", "TimingStats", "get_profiler", "list_profilers", "register_profiler"]
