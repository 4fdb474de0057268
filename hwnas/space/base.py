"""Search-space base class and registry.

A space describes a network as fixed *stem* units, one searchable *layer* per arch token, and fixed
*head* units.  ``units(arch)`` walks the arch and returns the op signatures without building anything
(the LUT predictor sums over these); ``build(arch)`` makes the real ``nn.Module`` from the very same
signatures, so what is profiled is what runs.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from hwnas.errors import ArchError, HwnasError
from hwnas.registry import Registry
from hwnas.space.arch import Arch
from hwnas.space.ops import OpSig, Shape, build_op, out_hw


@dataclass(frozen=True)
class LayerSpec:
    """One searchable position: its name, allowed choices, input shape, output channels and stride."""

    name: str
    choices: tuple[str, ...]
    in_shape: Shape
    cout: int
    stride: int


class Network(nn.Module):
    """A chain of units; ``units`` holds the signatures it was built from."""

    def __init__(self, sigs: list[OpSig]) -> None:
        super().__init__()
        self.sigs = list(sigs)
        self.units = nn.ModuleList(build_op(s) for s in sigs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for u in self.units:
            x = u(x)
        return x


class SearchSpace:
    """Base class.  Subclasses set ``name``/``description``/``named_archs`` and implement
    ``_layout`` (fills ``self.stem``, ``self.layers``, ``self.head``) and ``choice_op``.

    The contracts the rest of hwnas relies on, which a new space must keep:

    * **Op parameter names** (``OpSig`` params, the constructor kwargs of the op): weight sharing keys on them
      (:data:`hwnas.supernet.model.SHARING`): choices of a layer that differ only in ``mid`` (bottleneck or
      channel width), ``wb``/``ab`` (weight / activation bits; 32 = float) share one parent module, and under
      ``entangled`` sharing also in ``k`` (kernel, centre crop) and ``e`` (expansion, leading channels).  An op
      whose width parameter has another name gets separate weights per width.
    * **Layer names** ``s{stage}b{block}`` (what :meth:`add_stages` gives): EPNAS groups a stage's layers for
      its scale actions by the part before ``b``; other names fall back to groups of four layers.
    * :meth:`vital_layers` (HourNAS): the layers with no shortcut around them (resolution or channels change);
      the default reads each layer's stride, input shape and output channels.
    * :meth:`variables` (FP-NAS's factorised distribution, EPNAS's scale actions): a choice token split into
      search variables whose values order naturally (``natural_key``: numbers inside tokens by value).
    * A ``None`` from :meth:`choice_op` is the identity (a skip with equal input and output shapes); a skip that
      changes shape must be an op of its own.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: published / reference archs: name -> (choices, space options)
    named_archs: ClassVar[dict[str, tuple[tuple[str, ...], dict[str, Any]]]] = {}
    #: options that change only channel widths, not the choice tokens: a named arch that sets them can still be
    #: placed into a space at other widths (its block choices in this space's layout)
    layout_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, input_size: int = 224, num_classes: int = 1000, in_channels: int = 3, **options: Any) -> None:
        if input_size < 1:
            raise HwnasError(f"input size must be a positive number of pixels, got {input_size}")
        if num_classes < 1:
            raise HwnasError(f"number of classes must be positive, got {num_classes}")
        self.input_size = int(input_size)
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.options = dict(options)
        self.stem: list[OpSig] = []
        self.layers: list[LayerSpec] = []
        self.head: list[OpSig] = []
        self._layout()

    # --- to implement -----------------------------------------------------------------------------
    def _layout(self) -> None:
        raise NotImplementedError

    def choice_op(self, layer: LayerSpec, choice: str) -> OpSig | None:
        """The unit for ``choice`` at ``layer``; ``None`` means identity (no unit)."""
        raise NotImplementedError

    def variables(self, choice: str) -> dict[str, str]:
        """The search variables a choice token is made of (``k5_e3`` -> block mb, k 5, e 3), for searchers that
        learn one distribution per variable (FP-NAS's factorised stage).  Variables a choice does not have (a
        skip has no kernel) are absent.  Default: the token is one variable."""
        return {"op": choice}

    @classmethod
    def options_for(cls, choices: tuple[str, ...]) -> dict[str, Any]:
        """Space options implied by an arch (e.g. ResNet depth from its length); default none."""
        return {}

    # --- layout helpers (for ``_layout``) ----------------------------------------------------------
    def add_stages(self, cin: int, hw: int, plan: list[tuple[int, int, int]],
                   choices_for: Callable[[int, int, int], tuple[str, ...] | list[str]]) -> tuple[int, int]:
        """Append one searchable layer per block of ``plan`` -- (width, blocks, first stride) per stage, layers
        named ``s{stage}b{block}`` -- with ``choices_for(cin, cout, stride)``; return the final (channels, size)."""
        for si, (width, n, stride) in enumerate(plan):
            for bi in range(n):
                s = stride if bi == 0 else 1
                self.layers.append(LayerSpec(f"s{si + 1}b{bi + 1}", tuple(choices_for(cin, width, s)),
                                             (cin, hw, hw), width, s))
                cin, hw = width, out_hw(hw, s)
        return cin, hw

    # --- derived ----------------------------------------------------------------------------------
    @property
    def input_shape(self) -> Shape:
        return (self.in_channels, self.input_size, self.input_size)

    def size(self) -> int:
        return math.prod(len(layer.choices) for layer in self.layers)

    def all_choices(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            for c in layer.choices:
                seen.setdefault(c, None)
        return list(seen)

    def check(self, arch: Arch) -> Arch:
        """Raise :class:`ArchError` naming the problem and the valid choices; return ``arch`` if valid."""
        if arch.space != self.name:
            raise ArchError(f"arch belongs to space '{arch.space}', not '{self.name}'")
        if len(arch.choices) != len(self.layers):
            raise ArchError(
                f"space '{self.name}' needs {len(self.layers)} choices (one per layer), got {len(arch.choices)}"
            )
        for i, (c, layer) in enumerate(zip(arch.choices, self.layers)):
            if c not in layer.choices:
                where = "unknown choice" if c not in self.all_choices() else "choice not allowed at this layer"
                raise ArchError(f"layer {i} ({layer.name}): {where} '{c}'; valid here: {', '.join(layer.choices)}")
        return arch

    def parse(self, text: str) -> Arch:
        """An arch from its string or from a named arch of this space."""
        if text in self.named_archs:
            choices, opts = self.named_archs[text]
            if any(self.options.get(k) != v for k, v in opts.items() if k not in self.layout_options):
                raise ArchError(f"named arch '{text}' needs space options {opts}")
            return self.check(Arch(self.name, choices))
        home = [s for s in SPACES.names() if s != self.name and text in SPACES.get(s).named_archs]
        if home and "," not in text:
            raise ArchError(f"'{text}' is a named arch of space '{home[0]}', not of '{self.name}'; use a LUT or "
                            f"--space for '{home[0]}'")
        return self.check(Arch.parse(self.name, text))

    def units(self, arch: Arch) -> list[OpSig]:
        self.check(arch)
        ops = list(self.stem)
        for layer, c in zip(self.layers, arch.choices):
            sig = self.choice_op(layer, c)
            if sig is not None:
                ops.append(sig)
        return ops + list(self.head)

    def build(self, arch: Arch) -> Network:
        return Network(self.units(arch))

    def random_arch(self, rng: random.Random) -> Arch:
        return Arch(self.name, tuple(rng.choice(layer.choices) for layer in self.layers))

    def distinct_ops(self) -> list[OpSig]:
        """Every distinct unit any arch of the space can contain (what ``hwnas profile`` measures)."""
        seen: dict[OpSig, None] = {s: None for s in self.stem}
        for layer in self.layers:
            for c in layer.choices:
                sig = self.choice_op(layer, c)
                if sig is not None:
                    seen.setdefault(sig, None)
        for s in self.head:
            seen.setdefault(s, None)
        return list(seen)

    def vital_layers(self) -> list[int]:
        """HourNAS's vital layers among the searchable ones: those on every path from input to output, i.e. each
        block where the resolution or the channel count changes (downsampling, channel expansion), which has
        no shortcut around it.  The first conv and the last FC, also vital, are fixed (stem and head)."""
        return [i for i, layer in enumerate(self.layers) if layer.stride != 1 or layer.in_shape[0] != layer.cout]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "layers": len(self.layers),
                "size": self.size(), "choices": self.all_choices(), "named_archs": sorted(self.named_archs),
                "vital": ["stem conv", *(self.layers[i].name for i in self.vital_layers()), "classifier"]}


SPACES: Registry[type[SearchSpace]] = Registry("space")


register_space = SPACES.register_class
list_spaces = SPACES.names


def get_space(name: str, arch_text: str | None = None, **kwargs: Any) -> SearchSpace:
    """Instantiate space ``name``; options a named arch or an arch's length imply are filled in."""
    cls = SPACES.get(name)
    if arch_text is not None:
        if arch_text in cls.named_archs:
            kwargs = {**cls.named_archs[arch_text][1], **kwargs}
        else:
            kwargs = {**cls.options_for(Arch.parse(name, arch_text).choices), **kwargs}
    return cls(**kwargs)


def resolve_arch(space: str, text: str, **kwargs: Any) -> tuple[SearchSpace, Arch]:
    """Space instance and checked arch from a space name and an arch string or named arch."""
    sp = get_space(space, text, **kwargs)
    return sp, sp.parse(text)


def describe_spaces() -> list[dict[str, Any]]:
    """Every registered space at its defaults (``hwnas spaces``)."""
    return [get_space(n).describe() for n in list_spaces()]
