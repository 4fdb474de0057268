"""The architecture value type.

An :class:`Arch` is the space's name plus one choice token per searchable layer.  Its string form is the
tokens joined by commas (``k3_e6,skip,k5_e3,...``); YAML/JSON hold ``{space: ..., arch: "<string>"}``.
Checking the tokens against the space is the space's job (:meth:`SearchSpace.check`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from hwnas.errors import ArchError


ARCH_FILES = (".yaml", ".yml", ".json")


def read_arch_file(path: str) -> Any:
    """The one reader of arch files -- a search's ``result.yaml``, a ``{space, arch}`` record or a list of them,
    in YAML or JSON -- with one-line errors for a missing or malformed file."""
    import os

    if not os.path.isfile(path):
        raise ArchError(f"arch file {path} not found")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise ArchError(f"{path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}") from None


def read_result(path: str, space: str | None = None) -> dict[str, Any]:
    """A search's ``result.yaml`` (or any ``{space, arch, ...}`` record), checked to have both keys and, given
    ``space``, to be for it."""
    res = read_arch_file(path)
    if not isinstance(res, dict) or "arch" not in res or "space" not in res:
        raise ArchError(f"{path} has no 'arch'/'space'; pass a search's result.yaml or an arch string")
    if space and space != res["space"]:
        raise ArchError(f"{path} is for space '{res['space']}', not '{space}'")
    return res


def arch_from(space_name: str | None, text: str) -> tuple[str, str, dict[str, Any]]:
    """(space, arch string, search result) from an arch string / named arch or a ``result.yaml``."""
    if text.endswith(ARCH_FILES):
        res = read_result(text, space_name)
        return res["space"], res["arch"], res
    if not space_name:
        raise ArchError("--space is required with an arch string")
    return space_name, text, {}


@dataclass(frozen=True)
class Arch:
    space: str
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))

    def __str__(self) -> str:
        return ",".join(self.choices)

    def __len__(self) -> int:
        return len(self.choices)

    def replace(self, index: int, choice: str) -> "Arch":
        c = list(self.choices)
        c[index] = choice
        return Arch(self.space, tuple(c))

    @staticmethod
    def parse(space: str, text: str) -> "Arch":
        tokens = tuple(t.strip() for t in text.strip().split(","))
        if not text.strip() or any(not t for t in tokens):
            raise ArchError(
                f"arch string {text!r} has an empty choice; write tokens separated by commas, e.g. k3_e6,skip"
            )
        return Arch(space, tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "arch": str(self)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Arch":
        try:
            return Arch.parse(str(d["space"]), str(d["arch"]))
        except (KeyError, TypeError):
            raise ArchError("an arch record needs the keys 'space' and 'arch'") from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @staticmethod
    def from_yaml(text: str) -> "Arch":
        return Arch.from_dict(yaml.safe_load(text))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @staticmethod
    def from_json(text: str) -> "Arch":
        return Arch.from_dict(json.loads(text))


def natural_key(value: str) -> tuple:
    """Order search-variable values as a person would: numbers by value and the numbers inside tokens too
    (``w2a4 < w3a4 < w4a4 < w32a32``, ``k3 < k5``), not as strings (where ``w32a32`` sorts before ``w3a4``)."""
    parts = re.split(r"(\d+(?:\.\d+)?)", value)
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts) if p != "")
