"""Profiler interface and the timing method shared by every runtime.

A profiler (one per runtime, Polygraphy-style "runner") turns a module into a *runnable*: a
zero-argument callable doing one inference on a fixed input (``compile``).  Timing is common code:

* fixed thread count (default 1 on CPU; recorded in the fingerprint),
* warm-up, then blocks of runs until the median is stable (or a cap): ``measure``,
* many candidates timed in **interleaved rounds** (round-robin, median of round medians), because on a
  noisy machine a single block of runs mostly measures the noise of that moment: ``measure_many``
  (see ``shared/notes/latency-measurement.md``).

Results are :class:`TimingStats` (median, p10, p90, coefficient of variation, n), in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from hwnas.errors import BackendUnavailableError
from hwnas.registry import Registry

Runnable = Callable[[], Any]


@dataclass(frozen=True)
class RunnerOption:
    """An option a runner declares (as strategies declare theirs): its keyword, type, default and help.  The CLI
    builds one option group from every runner's declarations (``profile``, ``search``, ``export``), so an option is
    spelled once; :func:`get_profiler` refuses one the runner does not declare."""

    name: str
    type: type = str  # bool: a flag
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # command-line spellings (default: --name with dashes)
    metavar: str | None = None

    @property
    def cli_flags(self) -> tuple[str, ...]:
        return self.flags or ("--" + self.name.replace("_", "-"),)


#: the runners that can replay CUDA graphs (torch, ort) declare this one option
CUDA_GRAPH = RunnerOption("cuda_graph", bool, False, "On CUDA: time CUDA-graph replays, not eager launches.")


@dataclass
class TimingStats:
    median: float  # ms; for interleaved measurements, the median of round medians
    p10: float
    p90: float
    cv: float  # std / mean of all samples
    n: int
    round_medians: list[float] | None = None  # per interleaved round (not stored in LUTs)

    def to_dict(self) -> dict[str, float]:
        d = asdict(self)
        d.pop("round_medians")
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}

    @staticmethod
    def from_samples(samples_ms: Sequence[float], round_medians: Sequence[float] | None = None) -> "TimingStats":
        a = np.asarray(samples_ms, dtype=float)
        med = float(np.median(round_medians)) if round_medians else float(np.median(a))
        mean = float(a.mean())
        return TimingStats(med, float(np.percentile(a, 10)), float(np.percentile(a, 90)),
                           float(a.std() / mean) if mean > 0 else 0.0, int(a.size),
                           list(round_medians) if round_medians else None)


@dataclass
class TimingConfig:
    warmup: int = 10
    block: int = 10          # runs per block (and per round when interleaving)
    min_runs: int = 30
    max_runs: int = 300
    rel_tol: float = 0.01    # stop when the median moves less than this between blocks
    max_seconds: float = 5.0  # per candidate, whichever cap comes first
    rounds: int = 3          # interleaved rounds in measure_many


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Profiler:
    """Base runner.  Subclasses set ``name``, implement ``compile`` and extend ``fingerprint``.

    Use as a context manager so sessions / engines are released; optional runtimes are imported in
    ``__init__`` (lazily) and a missing one raises :class:`BackendUnavailableError` saying how to get it.
    """

    name = "base"
    description = ""
    devices: tuple[str, ...] = ("cpu",)
    #: the options this runner takes besides ``device`` and ``config`` (subclasses extend the tuple)
    options: tuple[RunnerOption, ...] = (
        RunnerOption("threads", int, 1, "Intra-op threads (recorded in the LUT)."),
        RunnerOption("batch", int, 1, "Images per timed call.", flags=("--batch-size", "--batch")),
    )
    #: fingerprint fields whose difference means another machine or runtime measured the LUT (subclasses extend)
    fingerprint_keys: tuple[str, ...] = ("backend", "device", "cpu", "gpu", "threads", "batch", "dtype", "torch")
    #: file extension of the artefact this runtime runs (``save``/``load``); "" for eager PyTorch
    artifact = ""
    #: what ``save`` can write besides the network: ``metadata`` (hwnas.* properties in the file),
    #: ``dynamic_batch`` (a free batch dimension)
    save_features: tuple[str, ...] = ()
    #: on CUDA, time each run with CUDA events on the current stream (the runnable only enqueues work)
    cuda_events = False

    def __init__(self, device: str = "cpu", threads: int = 1, batch: int = 1,
                 config: TimingConfig | None = None) -> None:
        base = device.split(":")[0]
        if base not in self.devices:
            raise BackendUnavailableError(
                f"backend '{self.name}' cannot run on device '{device}'; it supports: {', '.join(self.devices)}")
        if threads < 1:
            raise BackendUnavailableError(f"--threads must be >= 1, got {threads}")
        self.device = device
        self.threads = threads
        self.batch = batch
        self.config = config or TimingConfig()
        self._overhead: float | None = None
        self._tmp: str | None = None
        self._n = 0

    # -- runtime specific --------------------------------------------------------------------------
    def save(self, module: nn.Module, example: torch.Tensor, path: str, *, metadata: dict[str, str] | None = None,
             dynamic_batch: bool = False) -> str:
        """Write the runtime's artefact for ``module`` (what ``hwnas export`` ships and profiling times): the one
        signature of every runner.  A feature the runner does not declare in :attr:`save_features` is refused."""
        if not self.artifact:
            raise BackendUnavailableError(f"backend '{self.name}' runs modules directly and writes no artefact")
        for feature, given in (("metadata", metadata is not None), ("dynamic_batch", dynamic_batch)):
            if given and feature not in self.save_features:
                raise BackendUnavailableError(f"backend '{self.name}' cannot write {feature.replace('_', ' ')} into "
                                              f"its .{self.artifact}")
        return self.write(module, example, path, metadata, dynamic_batch)

    def write(self, module: nn.Module, example: torch.Tensor, path: str, metadata: dict[str, str] | None,
              dynamic_batch: bool) -> str:
        """The runtime's own writer (``save`` has checked the features first)."""
        raise NotImplementedError

    def load(self, path: str) -> "Model":
        """A loaded artefact, ready to run."""
        raise BackendUnavailableError(f"backend '{self.name}' runs modules directly and loads no artefact")

    def compile(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runnable:
        """One inference on a fixed input as a zero-argument callable: the artefact, saved and loaded."""
        x = self.input_tensor(input_shape)
        return self.load(self.save(module, x, self.next_path(self.artifact))).runnable(x)

    def next_path(self, ext: str) -> str:
        """A fresh artefact path in this runner's private temp dir (removed on close)."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix=f"hwnas-{self.name}-")
        self._n += 1
        return os.path.join(self._tmp, f"m{self._n}.{ext}")

    def identity(self, input_shape: tuple[int, ...]) -> Runnable:
        """The cheapest runnable on this runtime (per-call overhead)."""
        return self.compile(_Identity(), input_shape)

    def fingerprint(self) -> dict[str, Any]:
        fp = {"backend": self.name, "device": self.device, "cpu": cpu_model(), "cores": os.cpu_count(),
              "threads": self.threads, "batch": self.batch, "dtype": "float32",
              "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()}
        if self.device.startswith("cuda"):
            fp.update(gpu=torch.cuda.get_device_name(self.device), cuda=torch.version.cuda)
        return fp

    @classmethod
    def options_from_fingerprint(cls, fp: dict[str, Any]) -> dict[str, Any]:
        """The options that rebuild the runner which measured a LUT with this fingerprint (subclasses extend)."""
        return {"threads": int(fp.get("threads", 1)), "batch": int(fp.get("batch", 1))}

    def runtime_text(self) -> str:
        """What runs the timed work, in words (export reports it beside the latency)."""
        return f"{self.name} on {self.device}, {self.threads} thread(s)"

    def now(self) -> float:
        """Timestamp in seconds; GPU backends synchronise inside their runnable."""
        return time.perf_counter()

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "Profiler":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- timing (common) ---------------------------------------------------------------------------
    def _run_block(self, fn: Runnable, n: int) -> list[float]:
        if self.cuda_events and self.device.startswith("cuda"):
            from hwnas.profilers.cuda_timing import cuda_event_block

            return cuda_event_block(fn, n, self.device)
        out = []
        for _ in range(n):
            t0 = self.now()
            fn()
            out.append((self.now() - t0) * 1e3)
        return out

    def time_runnable(self, fn: Runnable) -> TimingStats:
        c = self.config
        self._run_block(fn, c.warmup)
        samples: list[float] = []
        prev = None
        start = time.perf_counter()
        while len(samples) < c.max_runs:
            samples += self._run_block(fn, c.block)
            med = statistics.median(samples)
            if len(samples) >= c.min_runs and prev is not None and abs(med - prev) <= c.rel_tol * prev:
                break
            if time.perf_counter() - start > c.max_seconds and len(samples) >= c.block:
                break
            prev = med
        return TimingStats.from_samples(samples)

    def time_artifact(self, path: str, x: torch.Tensor) -> TimingStats:
        """Time an artefact this runner saved, on this runner's device (``hwnas export``)."""
        return self.time_runnable(self.load(path).runnable(x))

    def measure(self, module: nn.Module, input_shape: tuple[int, ...]) -> TimingStats:
        """Time one module (C, H, W input; batch from the profiler) until its median is stable."""
        return self.time_runnable(self.compile(module, input_shape))

    def measure_many(self, runnables: Sequence[Runnable], rounds: int | None = None,
                     runs: int | None = None, on_round: Callable[[int], None] | None = None) -> list[TimingStats]:
        """Interleaved rounds over ``runnables``: each round runs every candidate ``runs`` times
        (after a warm-up at first touch); the result is the median of per-round medians.

        Each round visits the candidates in a fresh (seeded) random order: with a fixed order, the machine's
        drift within a round and whatever the previous candidate left in the caches land on the same
        candidates every round and bias them against the others."""
        rounds = rounds or self.config.rounds
        runs = runs or self.config.block
        samples: list[list[float]] = [[] for _ in runnables]
        medians: list[list[float]] = [[] for _ in runnables]
        for fn in runnables:
            self._run_block(fn, self.config.warmup)
        order = list(range(len(runnables)))
        rng = random.Random(len(runnables))
        for r in range(rounds):
            rng.shuffle(order)
            for i in order:
                fn = runnables[i]
                self._run_block(fn, 2)  # re-warm caches after the other candidates ran
                s = self._run_block(fn, runs)
                samples[i] += s
                medians[i].append(statistics.median(s))
            if on_round:
                on_round(r)
        return [TimingStats.from_samples(s, m) for s, m in zip(samples, medians)]

    def overhead_ms(self, input_shape: tuple[int, ...]) -> float:
        """Median time of an identity graph: the runtime's per-call overhead, stored in the LUT."""
        if self._overhead is None:
            self._overhead = self.time_runnable(self.identity(input_shape)).median
        return self._overhead

    def input_tensor(self, input_shape: tuple[int, ...]) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return torch.randn((self.batch, *input_shape), generator=g)


class Model:
    """A loaded artefact (Polygraphy-style runner output): ``model(x)`` returns the output on the CPU (parity
    checks); ``runnable(x)`` binds ``x`` once and returns the zero-argument callable that timing runs."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def runnable(self, x: torch.Tensor) -> Runnable:
        raise NotImplementedError


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0  # a real node, so exporters keep a graph


PROFILERS: Registry[type[Profiler]] = Registry("profiler backend")


register_profiler = PROFILERS.register_class
list_profilers = PROFILERS.names


def runner_options() -> dict[str, RunnerOption]:
    """Every option some registered runner declares, by keyword (the CLI's shared runner group)."""
    out: dict[str, RunnerOption] = {}
    for name in PROFILERS.names():
        for o in PROFILERS.get(name).options:
            out.setdefault(o.name, o)
    return out


def runners_taking(option: str) -> list[str]:
    return [n for n in PROFILERS.names() if any(o.name == option for o in PROFILERS.get(n).options)]


def given_runner_options(values: dict[str, Any]) -> dict[str, Any]:
    """The runner options set to something other than their default (what a command passes on: a runner that
    lacks an option the user gave refuses it; one left at its default is not passed)."""
    decl = runner_options()
    return {k: v for k, v in values.items() if k in decl and v not in (None, decl[k].default)}


def get_profiler(name: str, device: str = "cpu", **kwargs: Any) -> Profiler:
    """A runner by name; an option this runtime does not declare is an error, never ignored."""
    cls = PROFILERS.get(name)
    extra = sorted(set(kwargs) - {o.name for o in cls.options} - {"config"})
    if extra:
        flags = ", ".join(runner_options()[k].cli_flags[0] if k in runner_options() else "--" + k.replace("_", "-")
                          for k in extra)
        takes = ", ".join(o.cli_flags[0] for o in cls.options)
        raise BackendUnavailableError(f"backend '{name}' has no option {flags}; it takes {takes}")
    return cls(device=device, **kwargs)


def fingerprint_keys(backend: str | None) -> tuple[str, ...]:
    """The fields that tell two measurements of ``backend`` apart (every runner's, for one not registered here)."""
    if backend in PROFILERS:
        return PROFILERS.get(backend).fingerprint_keys
    return tuple(dict.fromkeys(k for n in PROFILERS.names() for k in PROFILERS.get(n).fingerprint_keys))


def profiler_from_fingerprint(backend: str | None, device: str, fp: dict[str, Any], **overrides: Any) -> Profiler:
    """A runner configured as the one that recorded ``fp`` (a LUT's fingerprint): the runner itself says how
    (:meth:`Profiler.options_from_fingerprint`)."""
    if backend not in PROFILERS:
        raise BackendUnavailableError(f"this LUT's backend {backend!r} ({fp.get('device', '?')}) cannot be measured "
                                      "on this machine; only its predictions can be used")
    cls = PROFILERS.get(backend)
    try:
        return get_profiler(backend, device=device, **{**cls.options_from_fingerprint(fp), **overrides})
    except BackendUnavailableError as e:  # say which LUT needs what, not how to profile afresh
        reason = str(e).split("; ")[0]
        raise BackendUnavailableError(
            f"this LUT was measured by {backend} on {device} ({fp.get('gpu') or fp.get('cpu', '?')}) and this machine "
            f"cannot measure it ({reason}); calibrate/validate it where it was profiled — its predictions work anywhere"
        ) from None


@contextlib.contextmanager
def third_party_quiet() -> Iterator[None]:
    """Silence what third-party runtimes print while they load and compile (ExecuTorch's native cpuinfo logs,
    torchao's optional-kernel notes, torch's deprecation logs): stdout and stderr at the file-descriptor level,
    Python warnings and logging.  hwnas's own messages come after, and errors still raise."""
    import logging
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    previous = logging.root.manager.disable
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        logging.disable(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
        logging.disable(previous)


def require(module: str, hint: str) -> Any:
    """Import an optional runtime or raise a one-line error saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as e:  # ImportError, or a broken install raising at import
        raise BackendUnavailableError(f"{module} is not usable here ({type(e).__name__}); {hint}") from None


def dist_version(name: str) -> str:
    """An installed distribution's version, for fingerprints."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def default_backend(device: str) -> str:
    """``hwnas profile``'s backend when none is given: ONNX Runtime on CPUs, eager PyTorch on GPUs."""
    return "torch" if device.startswith("cuda") else "ort"


def device_index(device: str) -> int:
    """``cuda:N`` -> N; ``cuda`` -> 0."""
    return int(device.split(":")[1]) if ":" in device else 0


def check_cuda(device: str) -> None:
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device '{device}' requested but this machine has no CUDA GPU (torch {torch.__version__}); "
                "use --device cpu"
            )
        idx = device_index(device)
        if idx >= torch.cuda.device_count():
            raise BackendUnavailableError(
                f"device '{device}' does not exist; this machine has {torch.cuda.device_count()} GPU(s)"
            )


def iter_chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
