"""Declared strategy options: each strategy lists its options (type, default, bounds, one line of help),
and every way of setting them -- ``hwnas search --opt KEY=VALUE``, Python keywords, a resumed state --
goes through :func:`validate_options`, so an unknown key or a bad value is a one-line error listing the
valid keys with their types, never a silently ignored setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from hwnas.errors import HwnasError


class OptionError(HwnasError, ValueError):
    """A strategy option is unknown or has a bad value."""


_TYPES = {int: "int", float: "float", str: "str", bool: "bool"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Option:
    """One declared option: ``type`` is int, float, str or bool (command-line strings are parsed to it), ``help``
    is the one line ``hwnas strategies`` shows, ``min`` / ``max`` / ``choices`` bound the value.  ``aliases``: old
    spellings still accepted (hidden: help and errors name only ``name``), so that one thing has one name across
    strategies -- ``lr`` the weights' learning rate, ``arch_lr`` the architecture parameters', ``cost_weight`` the
    weight of a cost term -- without breaking scripts written against the paper's symbols."""

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``int >= 2``, ``float in [0, 1]``, ``str in {a, b}``: the type and its bounds, for help and errors."""
        t = _TYPES[self.type]
        if self.choices:
            return f"{t} in {{{', '.join(self.choices)}}}"
        if self.min is not None and self.max is not None:
            return f"{t} in [{self.min:g}, {self.max:g}]"
        if self.min is not None:
            return f"{t} >= {self.min:g}"
        if self.max is not None:
            return f"{t} <= {self.max:g}"
        return t

    def parse(self, value: Any) -> Any:
        """``value`` (a string from the command line, or a Python value) as this option's type, checked."""
        v: Any = value
        try:
            if self.type is bool:
                if isinstance(value, str):
                    if value.lower() not in _TRUE + _FALSE:
                        raise ValueError(value)
                    v = value.lower() in _TRUE
                elif not isinstance(value, bool):
                    raise ValueError(value)
            elif self.type is int:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError(value)
                v = int(value)
            elif self.type is float:
                if isinstance(value, bool):
                    raise ValueError(value)
                v = float(value)
            else:
                v = str(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be {self.kind}") from None
        if self.choices and v not in self.choices or self.min is not None and v < self.min \
                or self.max is not None and v > self.max:
            raise ValueError(f"must be {self.kind}")
        return v

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "default": self.default, "help": self.help}


def options_text(options: Sequence[Option]) -> str:
    return ", ".join(f"{o.name} ({o.kind})" for o in options) or "none"


def validate_options(strategy: str, declared: Sequence[Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared option's value: its default, or the given value (by name or hidden alias) parsed and
    checked."""
    by_name = {o.name: o for o in declared}
    canonical = {**{a: o.name for o in declared for a in o.aliases}, **{o.name: o.name for o in declared}}
    named: dict[str, Any] = {}
    for k, v in given.items():
        if k not in canonical:
            raise OptionError(f"unknown option '{k}' for strategy '{strategy}'; valid: {options_text(declared)}")
        if canonical[k] in named:
            raise OptionError(f"option {canonical[k]} for strategy '{strategy}' is given twice (as {k} too)")
        named[canonical[k]] = v
    given = named
    out = {o.name: o.default for o in declared}
    for k, v in given.items():
        try:
            out[k] = by_name[k].parse(v)
        except ValueError as e:
            raise OptionError(
                f"option {k}={v} for strategy '{strategy}' {e}; valid: {options_text(declared)}"
            ) from None
    return out


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["population=20", "topk=5"]`` -> ``{"population": "20", "topk": "5"}`` (``--opt KEY=VALUE``)."""
    out: dict[str, str] = {}
    for p in pairs:
        k, eq, v = p.partition("=")
        if not eq or not k.strip():
            raise OptionError(f"--opt {p!r} is not KEY=VALUE; write e.g. --opt population=20")
        if k.strip() in out:
            raise OptionError(f"--opt {k.strip()} is given twice")
        out[k.strip()] = v.strip()
    return out
