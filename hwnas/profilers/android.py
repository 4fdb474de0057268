"""Mobile runtimes (ExecuTorch, LiteRT) on this host (``--device cpu``) or on an Android phone over ``adb``
(``--device android``), where every timing comes from the phone: never from this host.

On a phone, each artefact (``.tflite``, ``.pte``) is pushed to ``/data/local/tmp/hwnas`` and run by the
runtime's own benchmark binary, which hwnas pushes there too (``--android-tool PATH``):

* LiteRT / TFLite: ``benchmark_model`` -- TensorFlow publishes prebuilt Android binaries
  (``android_aarch64_benchmark_model`` from the TFLite performance-measurement page), or build it with
  ``bazel build -c opt --config=android_arm64 //tensorflow/lite/tools/benchmark:benchmark_model``.  hwnas runs
  it with ``--graph --num_threads --num_runs --use_xnnpack=true`` and reads ``Inference (avg)`` (µs).
* ExecuTorch: ``executor_runner`` built for ``android-arm64-v8a`` with the XNNPACK backend (the executorch
  repo's ``examples/portable/executor_runner`` with ``-DEXECUTORCH_BUILD_XNNPACK=ON`` and the Android NDK
  toolchain).  hwnas runs it with ``--model_path --num_executions`` and reads ``executed successfully N time(s)
  in T ms``.

Each measurement round runs the tool once per artefact (interleaved over the candidates, as on the host);
artefacts are deleted from the phone after use and the working directory when the runner closes.  The phone's
model, SoC and Android version go into the LUT's fingerprint.  Without ``adb``, a phone, or the tool, a runner
says so in one line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from typing import Any, Callable, Sequence

from hwnas.errors import BackendUnavailableError
from hwnas.profilers.base import (Model, Profiler, Runnable, RunnerOption, TimingStats, dist_version, require,
                                  third_party_quiet)

REMOTE_DIR = "/data/local/tmp/hwnas"
MOBILE_HINT = "install the mobile extra: pip install -e '.[mobile]' (after pip install torch==2.13.0)"

#: per artefact kind: the benchmark binary's name, its command line, and how to read one inference's ms
TOOLS: dict[str, dict[str, Any]] = {
    "tflite": {"name": "benchmark_model",
               "cmd": "{tool} --graph={model} --num_threads={threads} --num_runs={runs} --use_xnnpack=true",
               "parse": lambda out: _first(r"Inference \(avg\):\s*([\d.]+)", out, 1e-3)
               or _first(r"\bavg=([\d.]+)", out, 1e-3, last=True)},
    "pte": {"name": "executor_runner", "cmd": "{tool} --model_path={model} --num_executions={runs}",
            "parse": lambda out: _per_run(out)},
}


def _first(pattern: str, text: str, scale: float, last: bool = False) -> float | None:
    found = re.findall(pattern, text)
    return float(found[-1 if last else 0]) * scale if found else None


def _per_run(text: str) -> float | None:
    m = re.findall(r"executed successfully (\d+) time\(s\) in ([\d.]+) ms", text)
    return float(m[-1][1]) / int(m[-1][0]) if m and int(m[-1][0]) > 0 else None


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
    want = os.environ.get("ANDROID_SERIAL")  # adb's own variable for choosing among several phones
    if want:
        if want not in devs:
            raise BackendUnavailableError(f"ANDROID_SERIAL={want} is not attached (adb devices lists "
                                          f"{', '.join(devs)}); set it to one of those")
        return want
    return devs[0]


class Phone:
    """One attached phone: push, shell, getprop, and running a benchmark binary on an artefact."""

    def __init__(self, kind: str, tool: str | None, threads: int = 1) -> None:
        self.serial = require_phone()
        spec = TOOLS[kind]
        if not tool:
            raise BackendUnavailableError(
                f"--device android needs --android-tool PATH: the host path of {spec['name']} for Android arm64, "
                "which hwnas pushes to the phone (where to get it: hwnas/profilers/android.py)")
        if not os.path.isfile(tool):
            raise BackendUnavailableError(f"--android-tool {tool} not found")
        self.kind, self.spec, self.threads = kind, spec, threads
        self.shell(f"mkdir -p {REMOTE_DIR}")
        self.tool = f"{REMOTE_DIR}/{os.path.basename(tool)}"
        self.push(tool, self.tool)
        self.shell(f"chmod 755 {self.tool}")

    def adb(self, *args: str) -> str:
        r = subprocess.run(["adb", "-s", self.serial, *args], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise BackendUnavailableError(f"adb {' '.join(args[:2])} failed on {self.serial}: "
                                          f"{(r.stderr or r.stdout).strip()[:200]}")
        return r.stdout

    def shell(self, cmd: str) -> str:
        return self.adb("shell", cmd)

    def push(self, src: str, dst: str) -> None:
        self.adb("push", src, dst)

    def getprop(self, key: str) -> str:
        return self.shell(f"getprop {key}").strip()

    def fingerprint(self) -> dict[str, Any]:
        soc = self.getprop("ro.soc.model") or self.getprop("ro.board.platform") or self.getprop("ro.hardware")
        return {"phone": self.getprop("ro.product.model"), "soc": soc,
                "android": self.getprop("ro.build.version.release"), "serial": self.serial,
                "tool": self.spec["name"]}

    def benchmark(self, remote_model: str, runs: int) -> float:
        """One run of the benchmark binary on the phone: ms per inference."""
        cmd = self.spec["cmd"].format(tool=self.tool, model=shlex.quote(remote_model), threads=self.threads, runs=runs)
        out = self.shell(cmd)
        ms = self.spec["parse"](out)
        if ms is None:
            raise BackendUnavailableError(f"the phone's {self.spec['name']} printed no timing hwnas can read; its "
                                          f"output began: {out.strip()[:160]!r}")
        return ms

    def remove(self, remote: str) -> None:
        self.shell(f"rm -f {shlex.quote(remote)}")

    def close(self) -> None:
        self.shell(f"rm -rf {REMOTE_DIR}")


class PhoneArtifact(Model):
    """An artefact pushed to the phone.  It runs there only: calling or timing it on the host is an error."""

    def __init__(self, phone: Phone, local: str) -> None:
        self.phone, self.local = phone, local
        self.remote = f"{REMOTE_DIR}/{os.path.basename(local)}"
        phone.push(local, self.remote)

    def __call__(self, x: Any) -> Any:
        raise BackendUnavailableError("an artefact on the phone returns no outputs to this host; check parity with "
                                      "--device cpu")

    def runnable(self, x: Any) -> Runnable:
        return self


class MobileProfiler(Profiler):
    """Mobile runtimes run on this host (``cpu``) or on an attached Android phone (``android``), where the
    runtime's benchmark binary (``android_tool``) times every artefact."""

    devices = ("cpu", "android")
    phone_kind = ""  # "tflite" or "pte"
    runtime_modules: tuple[str, ...] = ()  # imported on start (a missing one: how to install it)
    #: module, example input, path -> the artefact at path (the runtime's converter)
    convert: Callable[[Any, Any, str], str]
    #: fingerprint field -> the installed distribution whose version it records
    versions: dict[str, str] = {}
    #: further fingerprint fields of this runtime on the host
    host_notes: dict[str, str] = {}
    options = Profiler.options + (
        RunnerOption("android_tool", str, None, "--device android: the runtime's benchmark binary for the phone "
                     "(benchmark_model for litert, executor_runner for executorch); hwnas pushes it.",
                     metavar="PATH"),
    )
    fingerprint_keys = Profiler.fingerprint_keys + ("phone", "soc", "android")

    def __init__(self, device: str = "cpu", threads: int = 1, android_tool: str | None = None, **kw: Any) -> None:
        super().__init__(device, threads, **kw)
        self.load_runtime()
        self.phone: Phone | None = None
        if device == "android":
            self.phone = Phone(self.phone_kind, android_tool, threads)
        elif android_tool:
            raise BackendUnavailableError("--android-tool applies to --device android")

    def load_runtime(self) -> None:
        """Import the runtime's Python modules (quietly: their native loaders log to stderr)."""
        with third_party_quiet():
            for module in self.runtime_modules:
                require(module, MOBILE_HINT)

    def compile(self, module: Any, input_shape: tuple[int, ...]) -> Runnable:
        if self.phone is None:
            return super().compile(module, input_shape)
        x = self.input_tensor(input_shape)
        return PhoneArtifact(self.phone, self.save(module, x, self.next_path(self.artifact)))

    def _on_phone(self, fn: Any) -> PhoneArtifact:
        if not isinstance(fn, PhoneArtifact):
            raise BackendUnavailableError("with --device android every timing runs on the phone")
        return fn

    def time_runnable(self, fn: Runnable) -> TimingStats:
        if self.phone is None:
            return super().time_runnable(fn)
        return self.measure_many([fn], rounds=self.config.rounds)[0]

    def measure_many(self, runnables: Sequence[Runnable], rounds: int | None = None, runs: int | None = None,
                     on_round: Callable[[int], None] | None = None) -> list[TimingStats]:
        """On the phone: each round runs the benchmark binary once per artefact (``runs`` inferences each, after
        its own warm-up), in interleaved order; the result is the median of the round means."""
        if self.phone is None:
            return super().measure_many(runnables, rounds, runs, on_round)
        arts = [self._on_phone(fn) for fn in runnables]
        rounds = rounds or self.config.rounds
        runs = runs or max(self.config.block, 10)
        per: list[list[float]] = [[] for _ in arts]
        for r in range(rounds):
            for i, art in enumerate(arts):
                per[i].append(self.phone.benchmark(art.remote, runs))
            if on_round:
                on_round(r)
        for art in arts:
            self.phone.remove(art.remote)
        return [TimingStats.from_samples(v, v) for v in per]

    def time_artifact(self, path: str, x: Any) -> TimingStats:
        if self.phone is None:
            return super().time_artifact(path, x)
        return self.time_runnable(PhoneArtifact(self.phone, path))

    def overhead_ms(self, input_shape: tuple[int, ...]) -> float:
        if self.phone is None:
            return super().overhead_ms(input_shape)
        if self._overhead is None:
            self._overhead = self.measure_many([self.identity(input_shape)])[0].median
        return self._overhead

    def write(self, module: Any, example: Any, path: str, metadata: dict[str, str] | None,
              dynamic_batch: bool) -> str:
        return type(self).convert(module, example, path)

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp.update({k: dist_version(d) for k, d in self.versions.items()}, delegate="XNNPACK", **self.host_notes)
        if self.phone is not None:
            fp.update(self.phone.fingerprint())
            fp["timing"] = f"on the phone by {self.phone.spec['name']} (median of {self.config.rounds} runs)"
        return fp

    def runtime_text(self) -> str:
        if self.phone is not None:
            return f"{self.phone.spec['name']} on the Android phone {self.phone.getprop('ro.product.model')}"
        return self.host_runtime_text()

    def host_runtime_text(self) -> str:
        return super().runtime_text()

    def close(self) -> None:
        if self.phone is not None:
            self.phone.close()
        super().close()

