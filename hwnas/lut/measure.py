"""Whole networks measured on a LUT's runtime: draws of archs (random, or spread over the latency range), their
interleaved timing, the runner rebuilt from a LUT's fingerprint, and the seconds-long latency floor a search checks
before any LUT exists.  Calibration (:mod:`.calibration`), validation (:mod:`.validation`) and re-measurement
(:mod:`.remeasure`) are built on these."""

from __future__ import annotations

import random
from typing import Callable, Sequence

from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT
from hwnas.profilers.base import Profiler, TimingStats, profiler_from_fingerprint
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

Progress = Callable[[str, int, int], None]


def measure_archs(space: SearchSpace, profiler: Profiler, archs: Sequence[Arch], rounds: int = 3, runs: int = 10,
                  progress: Progress | None = None) -> list[TimingStats]:
    """Build, compile and time whole networks in interleaved rounds."""
    runnables = []
    for i, a in enumerate(archs):
        runnables.append(profiler.compile(space.build(a), space.input_shape))
        if progress:
            progress("compile", i + 1, len(archs))
    cb = (lambda r: progress("measure", r + 1, rounds)) if progress else None
    return profiler.measure_many(runnables, rounds=rounds, runs=runs, on_round=cb)

def sample_archs(space: SearchSpace, n: int, seed: int, exclude: Sequence[str] = ()) -> list[Arch]:
    rng = random.Random(seed)
    seen = set(exclude)
    out: list[Arch] = []
    for _ in range(n * 100):
        if len(out) == n:
            break
        a = space.random_arch(rng)
        if str(a) not in seen:
            seen.add(str(a))
            out.append(a)
    return out

def spread_archs(space: SearchSpace, pred: LatencyPredictor, n: int, seed: int,
                 draws: int | None = None) -> list[Arch]:
    """``n`` archs spread evenly over the space's latency range (by uncalibrated LUT sum), so that a
    calibration fit holds for the small networks a tight constraint selects as well as for big ones:
    each candidate takes every layer's cheapest choice with probability q (q uniform in [0, 1]).
    The pool is ``draws`` candidates (default 40 per arch, at least 200); with ``draws`` fixed, ``2n - 1``
    archs are the ``n`` archs plus one between each neighbouring pair, so a benchmark can be extended."""
    rng = random.Random(seed)
    cheapest = pred.layer_costs().cheapest()
    pool: dict[str, Arch] = {}
    for _ in range(draws or max(40 * n, 200)):
        q = rng.random()
        a = Arch(space.name, tuple(cheapest[i] if rng.random() < q else rng.choice(layer.choices)
                                   for i, layer in enumerate(space.layers)))
        pool.setdefault(str(a), a)
    ranked = sorted(pool.values(), key=pred.raw)
    if len(ranked) <= n:
        return ranked
    return [ranked[round(i * (len(ranked) - 1) / (n - 1))] for i in range(n)] if n > 1 else [ranked[len(ranked) // 2]]

def latency_floor(space: SearchSpace, profiler: Profiler) -> tuple[Arch, float]:
    """A seconds-long check before any LUT exists: the space's smallest network by MACs (each layer's
    cheapest choice), built and timed once on ``profiler``.  Its latency is what the fastest archs of the
    space cost here, roughly: a latency bound far below it cannot be met."""
    from hwnas.cost.arch_cost import ArchCoster

    arch = Arch(space.name, tuple(ArchCoster(space).layer_costs("macs").cheapest()))
    return arch, profiler.measure(space.build(arch), space.input_shape).median


def profiler_for(lut: LUT, **overrides: object) -> Profiler:
    """A runner configured as the one that measured ``lut`` (the runner declares how: its
    ``options_from_fingerprint``)."""
    return profiler_from_fingerprint(lut.meta.get("backend"), str(lut.meta.get("device", "cpu")),
                                     lut.meta.get("fingerprint") or {}, **overrides)


def runner_for(lut: LUT) -> tuple[Profiler, list[str]]:
    """The LUT's runner and a warning per fingerprint field that differs from this machine's."""
    prof = profiler_for(lut)
    diffs = lut.fingerprint_mismatch(prof.fingerprint())
    return prof, (["LUT measured on another device/runtime: " + "; ".join(diffs)] if diffs else [])
