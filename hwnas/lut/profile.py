"""``hwnas profile``: measure every distinct op of a space into a LUT, resumable and interrupt-safe.

Ops are measured in chunks; inside a chunk the ops are timed in interleaved rounds (see
:meth:`Profiler.measure_many`).  After each chunk the LUT is written atomically, so Ctrl-C or a kill
loses at most the chunk in flight, and ``resume=True`` skips every op already stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from hwnas.cost.arch_cost import ArchCoster
from hwnas.errors import LUTError
from hwnas.lut.table import LUT, LUTEntry, new_lut
from hwnas.profilers.base import Profiler, iter_chunks
from hwnas.space.base import SearchSpace
from hwnas.space.ops import OpSig, build_op

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ProfileResult:
    lut: LUT
    path: str
    measured: int
    skipped: int
    total: int


def _check_resumable(lut: LUT, space: SearchSpace, profiler: Profiler, path: str) -> None:
    want = {"space": space.name, "input_size": space.input_size, "num_classes": space.num_classes,
            "backend": profiler.name, "device": profiler.device}
    for k, v in want.items():
        if lut.meta.get(k) != v:
            raise LUTError(f"cannot resume {path}: it has {k}={lut.meta.get(k)!r}, this run {k}={v!r}; "
                           "use another --out file")


def profile_space(space: SearchSpace, profiler: Profiler, path: str, resume: bool = False, overwrite: bool = False,
                  chunk: int = 8, progress: Progress | None = None, ops: list[OpSig] | None = None) -> ProfileResult:
    ops = ops if ops is not None else space.distinct_ops()
    if os.path.exists(path) and resume:
        lut = LUT.load(path)
        _check_resumable(lut, space, profiler, path)
    elif os.path.exists(path) and not overwrite:
        raise LUTError(f"{path} already exists; pass --resume to continue it or --overwrite to start again")
    else:
        lut = new_lut(space.name, space.input_size, space.num_classes, profiler.name, profiler.device,
                      profiler.fingerprint(), profiler.overhead_ms(space.input_shape))
    todo = [s for s in ops if s not in lut]
    skipped = len(ops) - len(todo)
    coster = ArchCoster(space)
    done = 0
    if progress:
        progress("profile", 0, len(todo))
    lut.save(path)
    for part in iter_chunks(todo, chunk):
        runnables = [profiler.compile(build_op(s), s.in_shape) for s in part]
        stats = profiler.measure_many(runnables)
        for sig, st in zip(part, stats):
            u = coster.unit(sig)
            lut.add(LUTEntry(sig, st.to_dict(), u.macs, u.params, u.bitops))
        lut.save(path)
        done += len(part)
        if progress:
            progress("profile", done, len(todo))
    return ProfileResult(lut, path, done, skipped, len(ops))
