"""``hwnas profile``: measure every distinct op of a space into a LUT, resumable and interrupt-safe.

Ops are measured in chunks; inside a chunk the ops are timed in interleaved rounds (see
:meth:`Profiler.measure_many`).  After each chunk the LUT is written atomically, so Ctrl-C or a kill
loses at most the chunk in flight, and ``resume=True`` skips every op already stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from hwnas.cost.arch_cost import ArchCoster
from hwnas.errors import Interrupted, LUTError
from hwnas.io import check_output_file
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

    def summary(self) -> dict[str, Any]:
        m = self.lut.meta
        return {"lut": self.path, "space": m["space"], "backend": m["backend"], "device": m["device"],
                "ops": self.total, "measured": self.measured, "skipped": self.skipped,
                "overhead_ms": self.lut.overhead_ms, "execution": (m.get("fingerprint") or {}).get("execution")}


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
    check_output_file(path, overwrite, resume=resume)
    if os.path.exists(path) and resume:
        lut = LUT.load(path)
        _check_resumable(lut, space, profiler, path)
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


def default_lut_path(space: str, backend: str, device: str, input_size: int) -> str:
    return f"{space}_{backend}_{device.replace(':', '')}_{input_size}.yaml"


def profile(space: str = "proxyless", device: str = "cpu", backend: str | None = None, *, input_size: int = 224,
            num_classes: int = 1000, rounds: int = 3, out: str | None = None, resume: bool = False,
            overwrite: bool = False, runner: dict[str, Any] | None = None,
            progress: Progress | None = None) -> ProfileResult:
    """``hwnas profile``: the runner for ``backend`` (default: :func:`hwnas.profilers.default_backend`) with
    only the options given in ``runner`` (one it lacks is an error), every distinct op of ``space`` into the LUT
    ``out``."""
    from hwnas.profilers import TimingConfig, default_backend, get_profiler
    from hwnas.space.base import get_space

    sp = get_space(space, input_size=input_size, num_classes=num_classes)
    backend = backend or default_backend(device)
    out = out or default_lut_path(space, backend, device, input_size)
    check_output_file(out, overwrite, resume=resume)  # before the runner starts (a phone, a GPU)
    with get_profiler(backend, device=device, config=TimingConfig(rounds=rounds), **(runner or {})) as prof:
        try:
            return profile_space(sp, prof, out, resume=resume, overwrite=overwrite, progress=progress)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: ops measured so far are saved in {out}; continue with --resume") from None
