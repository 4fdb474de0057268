"""Everything ``hwnas search`` needs on demand, cached: a calibrated LUT for this machine, a trained supernet.

Cache directory: ``$HWNAS_CACHE`` or ``~/.cache/hwnas``.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any, Callable

from hwnas.data import Dataset
from hwnas.errors import CheckpointError
from hwnas.io import check_output_dir
from hwnas.lut.calibration import calibrate
from hwnas.lut.profile import profile_space
from hwnas.lut.table import LUT
from hwnas.profilers import TimingConfig, get_profiler
from hwnas.space.base import get_space
from hwnas.supernet.api import load_supernet, supernet_from_checkpoint, train_supernet
from hwnas.supernet.levers import DEFAULT_RECIPE, Recipe
from hwnas.supernet.model import Supernet
from hwnas.supernet.train import CKPT, TrainConfig, load_checkpoint


def cache_dir() -> str:
    d = os.environ.get("HWNAS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hwnas")
    check_output_dir(d, "the cache (HWNAS_CACHE)")
    os.makedirs(d, exist_ok=True)
    return d


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)[-60:]


def lut_cache_path(space: str, input_size: int, num_classes: int, device: str = "cpu", backend: str = "ort",
                   runner: dict[str, Any] | None = None) -> str:
    """One cache file per space, size, runtime and runner options (threads, provider, CUDA graphs, ...)."""
    opts = {"threads": 1, **(runner or {})}
    tag = "_".join(f"{k}-{_slug(str(v))}" if not isinstance(v, bool) else k for k, v in sorted(opts.items()) if v)
    return os.path.join(cache_dir(), "luts", f"{space}_{backend}_{device.replace(':', '')}_{input_size}_c{num_classes}"
                                             f"_{tag}.yaml")


def cached_lut(space: str, input_size: int, num_classes: int, device: str = "cpu", backend: str = "ort",
               runner: dict[str, Any] | None = None) -> LUT | None:
    """The cached LUT for this machine if it is complete, calibrated and was measured here, else None (cheap)."""
    path = lut_cache_path(space, input_size, num_classes, device, backend, runner)
    if not os.path.exists(path):
        return None
    lut = LUT.load(path)
    with get_profiler(backend, device=device, **(runner or {})) as prof:
        if lut.fingerprint_mismatch(prof.fingerprint()):
            return None
    sp = get_space(space, input_size=input_size, num_classes=num_classes)
    return lut if len(lut) >= len(sp.distinct_ops()) and lut.calibration.get("fitted_on") else None


def ensure_lut(space: str, input_size: int, num_classes: int, device: str = "cpu", backend: str = "ort",
               runner: dict[str, Any] | None = None, progress: Callable[..., None] | None = None,
               calib_samples: int = 12) -> tuple[str, LUT]:
    """A calibrated LUT measured on this machine by ``backend`` with the ``runner`` options, from the cache or
    profiled now."""
    path = lut_cache_path(space, input_size, num_classes, device, backend, runner)
    sp = get_space(space, input_size=input_size, num_classes=num_classes)
    with get_profiler(backend, device=device, config=TimingConfig(rounds=5, block=20), **(runner or {})) as prof:
        lut = LUT.load(path) if os.path.exists(path) else None
        if lut is not None and lut.fingerprint_mismatch(prof.fingerprint()):
            lut = None  # measured on other hardware / software: measure again
        if lut is None or len(lut) < len(sp.distinct_ops()):
            lut = profile_space(sp, prof, path, resume=lut is not None, overwrite=lut is None, progress=progress).lut
        if not lut.calibration.get("fitted_on"):
            calibrate(lut, sp, prof, samples=calib_samples, rounds=5, progress=progress)
            lut.save(path)
    return path, lut


def supernet_cache_dir(space: str, data: Dataset, epochs: int, seed: int, sharing: str = "entangled",
                       recipe: Recipe = DEFAULT_RECIPE) -> str:
    levers = "" if recipe.uniform else f"-sw{recipe.sandwich}{'-kd' if recipe.distill else ''}" \
        f"{'-fair' if recipe.fair else ''}"
    return os.path.join(cache_dir(), "supernets", f"{space}-{_slug(data.name)}-e{epochs}-s{seed}-{sharing}{levers}")


def ensure_supernet(space: str, data: Dataset, epochs: int, seed: int, sharing: str = "entangled",
                    progress: Callable[..., None] | None = None,
                    recipe: Recipe = DEFAULT_RECIPE) -> tuple[str, Supernet, dict[str, Any]]:
    """A supernet trained on ``data`` with ``recipe``'s levers, from the cache (resumed if incomplete) or trained
    now."""
    d = supernet_cache_dir(space, data, epochs, seed, sharing, recipe)
    ck = os.path.join(d, CKPT)
    if os.path.exists(ck):
        saved = load_checkpoint(ck)  # read once: its layout decides whether to keep it, its epoch whether it is done
        try:
            net, meta = supernet_from_checkpoint(saved, ck)
        except CheckpointError:  # cached by an older supernet layout: a cache entry, so train it afresh
            shutil.rmtree(d)
        else:
            if int(saved.get("epoch", 0)) >= epochs:
                return ck, net, meta
    sp = get_space(space, input_size=data.image_size, num_classes=data.num_classes)
    train_supernet(sp, data, TrainConfig(epochs=epochs, seed=seed, lr=0.05), d, resume=True, progress=progress,
                   sharing=sharing, recipe=recipe)
    net, meta = load_supernet(ck)
    return ck, net, meta
