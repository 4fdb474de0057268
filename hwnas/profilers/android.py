"""Mobile runtimes (ExecuTorch, LiteRT): on this host, or on an Android phone over ``adb`` (ExecuTorch's
``executor_runner``, TFLite's ``benchmark_model``).  Without ``adb`` or an attached phone, the runners say
so in one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from typing import Any

from hwnas.errors import BackendUnavailableError
from hwnas.profilers.base import Profiler

REMOTE_DIR = "/data/local/tmp/hwnas"
MOBILE_HINT = "install the mobile extra: pip install -e '.[mobile]' (after pip install torch==2.13.0)"


def attached_devices() -> list[str]:
    adb = shutil.which("adb")
    if adb is None:
        return []
    try:
        out = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip().endswith("device")]


def require_phone() -> str:
    if shutil.which("adb") is None:
        raise BackendUnavailableError("no 'adb' on PATH, so no Android phone can be reached; "
                                      "install Android platform-tools or measure on this host with --device cpu")
    devs = attached_devices()
    if not devs:
        raise BackendUnavailableError("no Android phone attached (adb devices lists none); "
                                      "connect one with USB debugging or measure on this host with --device cpu")
    return devs[0]


def benchmark_on_phone(artifact: str, kind: str, threads: int = 1, runs: int = 50) -> float:
    """Median-ish latency (ms) reported by the phone's own benchmark tool for ``artifact``.

    ``kind`` is 'tflite' (needs ``benchmark_model`` pushed to /data/local/tmp) or 'pte' (needs
    ``executor_runner`` there).  The tools are the runtimes' official binaries, not shipped by hwnas.
    """
    serial = require_phone()
    adb = ["adb", "-s", serial]
    remote = f"{REMOTE_DIR}/{os.path.basename(artifact)}"
    subprocess.run(adb + ["shell", "mkdir", "-p", REMOTE_DIR], check=True, capture_output=True)
    subprocess.run(adb + ["push", artifact, remote], check=True, capture_output=True)
    if kind == "tflite":
        cmd = (f"/data/local/tmp/benchmark_model --graph={remote} --num_threads={threads} --num_runs={runs} "
               "--use_xnnpack=true")
        pat = re.compile(r"avg=([\d.]+)")  # microseconds
        scale = 1e-3
    else:
        cmd = f"/data/local/tmp/executor_runner --model_path={remote} --num_executions={runs}"
        pat = re.compile(r"([\d.]+) ms")  # average per execution
        scale = 1.0
    out = subprocess.run(adb + ["shell", cmd], capture_output=True, text=True).stdout
    found = pat.findall(out)
    if not found:
        raise BackendUnavailableError(f"the phone's benchmark tool gave no timing; its output began: {out[:200]!r}")
    return float(found[-1]) * scale


class MobileProfiler(Profiler):
    """Mobile runtimes run on this host (``cpu``) or, with ``android``, need a phone attached over adb."""

    devices = ("cpu", "android")

    def __init__(self, device: str = "cpu", threads: int = 1, **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        self.load_runtime()
        if device == "android":
            require_phone()

    def load_runtime(self) -> None:
        raise NotImplementedError
