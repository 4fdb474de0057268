"""The latency lookup table: a versioned, human-readable YAML file.

Header: schema version, space, input size, classes, backend, device, the device fingerprint (CPU / GPU,
runtime and library versions, threads, dtype, batch), the backend's per-call overhead and the
calibration.  Entries are keyed by the canonical op signature (:attr:`OpSig.key`, never truncated)
and hold latency stats (ms) plus the op's MACs / params / BitOps.  Writes are atomic (temp + rename).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from hwnas.errors import LUTError
from hwnas.io import atomic_write_text
from hwnas.space.ops import OpSig

if TYPE_CHECKING:
    from hwnas.space.base import SearchSpace

SCHEMA = "hwnas-lut/1"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class LUTFingerprintWarning(UserWarning):
    """The LUT was measured on another device / runtime than the one in use."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class LUTEntry:
    op: OpSig
    latency: dict[str, float]  # median, p10, p90, cv, n (ms)
    macs: int = 0
    params: int = 0
    bitops: int = 0

    @property
    def median(self) -> float:
        return float(self.latency["median"])

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op.to_dict(), "latency_ms": dict(self.latency), "macs": self.macs, "params": self.params,
                "bitops": self.bitops}


@dataclass
class LUT:
    meta: dict[str, Any]
    entries: dict[str, LUTEntry] = field(default_factory=dict)

    # -- access ------------------------------------------------------------------------------------
    def __contains__(self, sig: OpSig) -> bool:
        return sig.key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: LUTEntry) -> None:
        self.entries[entry.op.key] = entry

    def median(self, sig: OpSig) -> float:
        try:
            return self.entries[sig.key].median
        except KeyError:
            raise LUTError(f"op {sig.key} is not in the LUT; measure it with `hwnas profile --space "
                           f"{self.meta.get('space', '<space>')} --resume --out <this lut>`") from None

    @property
    def overhead_ms(self) -> float:
        return float(self.meta.get("overhead_ms") or 0.0)

    @property
    def calibration(self) -> dict[str, Any]:
        return self.meta.get("calibration") or {"coeffs": [1.0, 0.0], "fitted_on": 0}

    def describe(self) -> dict[str, Any]:
        lat = sorted(e.median for e in self.entries.values())
        types: dict[str, int] = {}
        for e in self.entries.values():
            types[e.op.type] = types.get(e.op.type, 0) + 1
        return {**{k: v for k, v in self.meta.items() if k != "calibration"}, "calibration": self.calibration,
                "entries": len(self.entries), "op_types": types,
                "latency_ms": {"min": lat[0], "median": lat[len(lat) // 2], "max": lat[-1]} if lat else {}}

    # -- io ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {**self.meta, "schema": SCHEMA, "entries": {k: e.to_dict() for k, e in sorted(self.entries.items())}}

    def save(self, path: str) -> None:
        """Atomic write: a crash or Ctrl-C mid-write leaves the previous file intact."""
        self.meta["updated"] = now_iso()
        atomic_write_text(path, yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, width=200))

    @staticmethod
    def load(path: str) -> "LUT":
        if not os.path.exists(path):
            raise LUTError(f"LUT file {path} not found; create one with `hwnas profile --out {path}`")
        try:
            with open(path) as f:
                raw = yaml.load(f, Loader=_Loader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise LUTError(
                f"LUT {path} is not valid YAML{where} (corrupt or truncated?); re-create it with `hwnas profile`"
            ) from None
        except UnicodeDecodeError:
            raise LUTError(f"LUT {path} is not a text file; re-create it with `hwnas profile`") from None
        if not isinstance(raw, dict) or "schema" not in raw:
            raise LUTError(
                f"{path} is not an hwnas LUT (no 'schema' key); import published tables with `hwnas lut import`"
            )
        if raw["schema"] != SCHEMA:
            raise LUTError(f"LUT {path} has schema {raw['schema']!r}, this hwnas reads {SCHEMA!r}; re-profile it")
        entries_raw = raw.pop("entries", None) or {}
        if not isinstance(entries_raw, dict):
            raise LUTError(f"LUT {path}: 'entries' must be a mapping of op key -> entry")
        lut = LUT(meta=raw)
        for key, e in entries_raw.items():
            try:
                entry = LUTEntry(OpSig.from_dict(e["op"]), dict(e["latency_ms"]), int(e.get("macs", 0)),
                                 int(e.get("params", 0)), int(e.get("bitops", 0)))
                float(entry.latency["median"])
            except (KeyError, TypeError, ValueError):
                raise LUTError(f"LUT {path}: entry {key!r} is malformed (needs op and latency_ms.median)") from None
            if entry.op.key != key:
                raise LUTError(
                    f"LUT {path}: entry {key!r} does not match its op ({entry.op.key}); "
                    "the file was edited or corrupted"
                )
            lut.entries[key] = entry
        return lut

    def fingerprint_mismatch(self, current: dict[str, Any]) -> list[str]:
        """The fields (those the LUT's runner declares, :attr:`Profiler.fingerprint_keys`) that differ from
        ``current``."""
        from hwnas.profilers.base import fingerprint_keys

        mine = self.meta.get("fingerprint") or {}
        keys = fingerprint_keys(self.meta.get("backend"))
        return [f"{k}: LUT {mine.get(k)!r} vs here {current.get(k)!r}" for k in keys
                if k in mine and k in current and mine.get(k) != current.get(k)]

    def warn_if_foreign(self, current: dict[str, Any]) -> list[str]:
        diffs = self.fingerprint_mismatch(current)
        if diffs:
            warnings.warn(LUTFingerprintWarning("LUT measured on another device/runtime (" + "; ".join(diffs) + ")"),
                          stacklevel=2)
        return diffs


def new_lut(space: str, input_size: int, num_classes: int, backend: str, device: str, fingerprint: dict[str, Any],
            overhead_ms: float, **extra: Any) -> LUT:
    fingerprint = json.loads(json.dumps(fingerprint, default=str))  # plain types only (e.g. TorchVersion -> str)
    meta = {"schema": SCHEMA, "space": space, "input_size": input_size, "num_classes": num_classes, "backend": backend,
            "device": device, "fingerprint": fingerprint, "overhead_ms": round(overhead_ms, 6),
            "calibration": {"coeffs": [1.0, 0.0], "fitted_on": 0}, "created": now_iso(), **extra}
    return LUT(meta)


def check_lut_space(lut: LUT, space: str, source: str = "the LUT") -> None:
    """The one check that a LUT is for ``space`` (``source`` names it in the message, e.g. ``--lut PATH``)."""
    have = lut.meta.get("space")
    if have is not None and have != space:
        raise LUTError(f"{source} is for space '{have}', not '{space}'; profile one for '{space}' with "
                       f"`hwnas profile --space {space}`")


def space_for(lut: LUT, expect: str | None = None, source: str = "the LUT", **options: Any) -> "SearchSpace":
    """The search space a LUT was measured for, at its resolution and class count (``options``: space options
    such as ResNet's depth); with ``expect``, a LUT for another space is an error naming ``source``."""
    from hwnas.space.base import get_space

    if expect is not None:
        check_lut_space(lut, expect, source)

    try:
        name, size, classes = lut.meta["space"], int(lut.meta["input_size"]), int(lut.meta["num_classes"])
    except (KeyError, TypeError, ValueError):
        raise LUTError(
            "the LUT's header lacks space / input_size / num_classes; re-create it with `hwnas profile`"
        ) from None
    return get_space(name, input_size=size, num_classes=classes, **options)
