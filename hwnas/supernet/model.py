"""Single-path one-shot supernet (SPOS) for any space.

Each searchable layer holds every candidate's weights; ``forward(x, arch)`` runs only the arch's path.
Candidates that differ only in channel width (``mid``: SPOS channel search, ResNet width) or bit width
(``wb``/``ab``) share one *parent* module built at the largest width: a narrower candidate runs the
parent's weights sliced to its shape (leading channels), through a weightless copy of its own module
(its parameter slots hold the slices), so gradients and BN statistics land in the parent's slices.
``extract`` copies those same slices into a standalone network, so the two compute the same function.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
from torch import nn

from hwnas.errors import HwnasError
from hwnas.space.arch import Arch
from hwnas.space.base import Network, SearchSpace
from hwnas.space.ops import OpSig, build_op
from hwnas.space.quant import ALPHA, PACT_INIT

#: params along which candidates share (slice) weights.  'separate' is SPOS: only channel width
#: (``mid``) and bit widths share; 'entangled' (OFA / BigNAS style) also shares across kernel size
#: (``k``: centre crop of the largest kernel) and expansion (``e``: leading channels of the widest).
SHARING = {"separate": ("mid", "wb", "ab"), "entangled": ("mid", "wb", "ab", "k", "e")}


def _meta_module(sig: OpSig) -> nn.Module:
    with torch.device("meta"):
        return build_op(sig)


def _group_key(sig: OpSig, shared: tuple[str, ...]) -> tuple[OpSig, tuple[str, ...]]:
    """Candidates share a parent when they differ only in ``shared`` params *and* have the same module
    structure (e.g. an e=1 inverted residual has no expansion conv, so it cannot slice an e=6 one).  PACT levels
    do not count as structure: they live per (layer, activation bits) beside the parents, never in them, so a
    float choice and its quantized ones share one float weight (SPOS's mixed-precision supernet)."""
    m = _meta_module(sig)
    names = tuple(n for n, _ in [*m.named_parameters(), *m.named_buffers()] if not n.endswith(ALPHA))
    return OpSig(sig.type, tuple((k, v) for k, v in sig.params if k not in shared), sig.in_shape), names


def _parent_sig(sigs: list[OpSig]) -> OpSig:
    kw = sigs[0].kwargs
    for key in ("mid", "k", "e"):
        if key in kw:
            kw[key] = max(s.kwargs[key] for s in sigs)
    kw.update({k: 32 for k in ("wb", "ab") if k in kw})
    return OpSig.make(sigs[0].type, sigs[0].in_shape, **kw)


def _cut(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Leading indices of channel dims; centred window of spatial (kernel) dims 2 and 3."""
    idx = []
    for dim, (have, want) in enumerate(zip(t.shape, shape)):
        start = (have - want) // 2 if dim >= 2 and t.dim() == 4 else 0
        idx.append(slice(start, start + want))
    return t[tuple(idx)]


def sliced_state(parent: nn.Module, child_shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """The parent's tensors cut to the child's shapes, as views (gradients flow into the parent)."""
    src = dict(parent.named_parameters())
    src.update(dict(parent.named_buffers()))
    return {
        name: (src[name] if src[name].shape == shape else _cut(src[name], shape))
        for name, shape in child_shapes.items()
    }


class ChoiceLayer(nn.Module):
    def __init__(self, space: SearchSpace, index: int, sharing: str = "separate") -> None:
        super().__init__()
        shared = SHARING[sharing]
        layer = space.layers[index]
        self.route: dict[str, tuple[int, OpSig] | None] = {}
        sigs = {c: space.choice_op(layer, c) for c in layer.choices}
        keys = {c: _group_key(sig, shared) for c, sig in sigs.items() if sig is not None}  # one meta build each
        groups: dict[tuple[OpSig, tuple[str, ...]], list[OpSig]] = {}
        for c, key in keys.items():
            groups.setdefault(key, []).append(sigs[c])
        self.parent_sigs = [_parent_sig(v) for v in groups.values()]
        self.parents = nn.ModuleList(build_op(s) for s in self.parent_sigs)
        gindex = {g: i for i, g in enumerate(groups)}
        # PACT clipping levels: one per (quantized conv, activation bit width) and group, never sliced from a parent
        self.alphas = nn.ParameterDict()
        for c, sig in sigs.items():
            self.route[c] = None if sig is None else (gindex[keys[c]], sig)
            if sig is not None and "ab" in sig.kwargs:  # only quantized ops have clipping levels
                for name, p in _meta_module(sig).named_parameters():
                    if name.endswith(ALPHA):
                        self.alphas.setdefault(self._alpha_key(gindex[keys[c]], name, sig),
                                               nn.Parameter(torch.full(p.shape, PACT_INIT)))
        self._views: dict[OpSig, tuple[nn.Module, dict[str, torch.Size], list[tuple[dict, str, str]]]] = {}
        self._view_bns: dict[OpSig, list[tuple[nn.Module, str]]] = {}

    def __deepcopy__(self, memo: dict) -> "ChoiceLayer":
        """A copy without the cached views (their slots hold slices of this layer's tensors, which cannot be
        deep-copied while they are part of a graph); the copy builds its own views when it runs."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = {} if k in ("_views", "_view_bns") else copy.deepcopy(v, memo)
        return new

    @staticmethod
    def _alpha_key(group: int, name: str, sig: OpSig) -> str:
        return f"g{group}__{name.replace('.', '__')}__a{sig.kwargs.get('ab', 32)}"

    def tensors(self, group: int, sig: OpSig, shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
        """The child's tensors: the parent's slices, and its own PACT levels for its activation bit width."""
        alphas = {n: self.alphas[self._alpha_key(group, n, sig)] for n in shapes if n.endswith(ALPHA)}
        rest = {n: s for n, s in shapes.items() if n not in alphas}
        return {**sliced_state(self.parents[group], rest), **alphas}

    def view(self, sig: OpSig) -> tuple[nn.Module, dict[str, torch.Size], list[tuple[dict, str, str]]]:
        """A weightless (meta-device) module of ``sig``, its tensor shapes, and the slots its tensors
        live in (so binding the parent's slices is a few dict writes, not a ``functional_call``)."""
        if sig not in self._views:
            m = _meta_module(sig)
            shapes = {n: t.shape for n, t in [*m.named_parameters(), *m.named_buffers()]}
            slots = []
            for mod_name, mod in m.named_modules():
                prefix = f"{mod_name}." if mod_name else ""
                for store in (mod._parameters, mod._buffers):
                    slots += [(store, k, prefix + k) for k, v in store.items() if v is not None]
            self._views[sig] = (m, shapes, slots)
            self._view_bns[sig] = [(mod, name) for name, mod in m.named_modules()
                                   if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
        return self._views[sig]

    def resolve(self, choice: str) -> tuple[nn.Module, OpSig | None] | None:
        """(parent module, the sig to slice it to — None when the parent itself runs), or None for identity."""
        r = self.route[choice]
        if r is None:
            return None
        gi, sig = r
        return self.parents[gi], (None if sig == self.parent_sigs[gi] else sig)

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        r = self.resolve(choice)
        if r is None:
            return x
        parent, sig = r
        if sig is None:
            return parent(x)
        m, shapes, slots = self.view(sig)
        m.train(self.training)
        tensors = self.tensors(self.route[choice][0], sig, shapes)
        for store, key, full in slots:  # the view module is private: its slots simply hold the slices
            store[key] = tensors[full]
        # the view's BatchNorms follow their parent's momentum: BN recalibration sets it to None (a cumulative
        # average) on the registered parents only, and a view left at 0.1 would keep 10% of one batch's statistics
        parent_mods = dict(parent.named_modules())
        for bn, name in self._view_bns[sig]:
            bn.momentum = parent_mods[name].momentum
        return m(x)

    def state_for(self, choice: str) -> dict[str, torch.Tensor] | None:
        r = self.resolve(choice)
        if r is None:
            return None
        parent, sig = r
        src = parent.state_dict() if sig is None else self.tensors(self.route[choice][0], sig, self.view(sig)[1])
        return {k: v.detach().clone() for k, v in src.items()}


class Supernet(nn.Module):
    def __init__(self, space: SearchSpace, sharing: str = "separate") -> None:
        super().__init__()
        if sharing not in SHARING:
            raise HwnasError(f"unknown weight sharing '{sharing}'; choose one of: {', '.join(SHARING)}")
        self.space = space
        self.sharing = sharing
        self.stem = nn.ModuleList(build_op(s) for s in space.stem)
        self.choices = nn.ModuleList(ChoiceLayer(space, i, sharing) for i in range(len(space.layers)))
        self.head = nn.ModuleList(build_op(s) for s in space.head)

    def forward(self, x: torch.Tensor, arch: Arch | Sequence[str | None],
                scales: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """The path of ``arch``.  A ``None`` choice passes its input through (HourNAS's minimal supernet reduces
        non-vital blocks, whose input and output shapes agree, to their shortcut).  ``scales[i]``, when given,
        multiplies layer i's output: a straight-through one-hot weight (1 in the forward pass) through which
        architecture parameters receive gradients from the single sampled path (GDAS / Gumbel-Max)."""
        choices = arch.choices if isinstance(arch, Arch) else tuple(arch)
        for m in self.stem:
            x = m(x)
        for i, (layer, c) in enumerate(zip(self.choices, choices)):
            if c is not None:
                x = layer(x, c)
            if scales is not None and scales[i] is not None:
                x = x * scales[i]
        for m in self.head:
            x = m(x)
        return x

    def config(self) -> dict[str, Any]:
        sp = self.space
        return {"space": sp.name, "input_size": sp.input_size, "num_classes": sp.num_classes,
                "options": dict(sp.options), "sharing": self.sharing}


def extract(supernet: Supernet, arch: Arch) -> Network:
    """A standalone network for ``arch`` carrying the supernet's (inherited) weights."""
    sp = supernet.space
    net = sp.build(sp.check(arch))
    states: list[dict[str, torch.Tensor]] = [copy.deepcopy(m.state_dict()) for m in supernet.stem]
    for layer, c in zip(supernet.choices, arch.choices):
        st = layer.state_for(c)
        if st is not None:
            states.append(st)
    states += [copy.deepcopy(m.state_dict()) for m in supernet.head]
    assert len(states) == len(net.units)
    for unit, st in zip(net.units, states):
        unit.load_state_dict(st)
    return net
