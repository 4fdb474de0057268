"""Exact cost counters over real modules (forward hooks on every Conv2d and Linear).

Conventions (documented because papers differ):

* ``macs``: multiply-accumulates of conv and linear layers (BN, activations, pooling and adds are not
  counted, as torchvision / thop / most NAS papers do).  ``flops`` = 2 x MACs, labelled so.
* ``params``: every parameter of the model (BN affine included), as ``sum(p.numel())``.
* ``bitops``: sum of MACs x w_bits x a_bits over conv/linear layers, excluding the first conv and the last
  FC (SPOS convention: they stay full precision).  Layers without bit widths count as 32 x 32.
  ``bitops_g`` is the same in units of 2**30.
* ``memory_bytes``: bytes moved by conv/linear layers: input activations + output activations (float32)
  + weights (at their bit width).  ``intensity`` = FLOPs / memory_bytes (EPNAS's compute intensity).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

ACT_BYTES = 4  # float32 activations


@dataclass
class LayerCost:
    name: str
    type: str
    in_shape: list[int]
    out_shape: list[int]
    macs: int
    params: int
    w_bits: int
    a_bits: int
    bitops: int
    memory_bytes: int


@dataclass
class CostReport:
    macs: int
    params: int
    bitops: int
    memory_bytes: int
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def bitops_g(self) -> float:
        return self.bitops / 2 ** 30

    @property
    def intensity(self) -> float:
        return self.flops / self.memory_bytes if self.memory_bytes else 0.0

    def summary(self) -> dict[str, Any]:
        return {"macs": self.macs, "flops": self.flops, "params": self.params, "bitops": self.bitops,
                "bitops_g": self.bitops_g, "memory_bytes": self.memory_bytes, "intensity": self.intensity}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "layers": [asdict(lc) for lc in self.layers]}


def full_precision_layers(records: list[LayerCost], first: bool = True, last: bool = True) -> list[LayerCost]:
    """The layers a network keeps at full precision and BitOps leave out (SPOS): its first conv and its
    last FC.  The one place this convention lives; ``first``/``last`` select which end applies."""
    out = []
    if first:
        out += [r for r in records if r.type.endswith("Conv2d")][:1]
    if last:
        out += [r for r in records if r.type == "Linear"][-1:]
    return out


def _layer_macs(m: nn.Module, out: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return out.numel() * (m.in_channels // m.groups) * kh * kw
    # Linear: one MAC per weight per output row
    return (out.numel() // m.out_features) * m.in_features * m.out_features


@torch.no_grad()
def count(model: nn.Module, input_shape: tuple[int, ...], exclude_first_last: bool = True) -> CostReport:
    """Run one forward pass of a zero batch of ``input_shape`` (C, H, W; batch 1) through ``model`` and
    count every Conv2d / Linear it executes, in execution order."""
    records: list[LayerCost] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        x = inputs[0]
        macs = _layer_macs(m, out)
        wb, ab = int(getattr(m, "w_bits", 32)), int(getattr(m, "a_bits", 32))
        n_w = sum(p.numel() for p in m.parameters(recurse=False))
        mem = (x.numel() + out.numel()) * ACT_BYTES + (m.weight.numel() * wb + 7) // 8
        if m.bias is not None:
            mem += m.bias.numel() * ACT_BYTES
        records.append(LayerCost(names.get(m, type(m).__name__), type(m).__name__, list(x.shape[1:]),
                                 list(out.shape[1:]), macs, n_w, wb, ab, macs * wb * ab, mem))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        model(torch.zeros((1, *input_shape)))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    if exclude_first_last:
        for r in full_precision_layers(records):
            r.bitops = 0
    return CostReport(macs=sum(r.macs for r in records), params=sum(p.numel() for p in model.parameters()),
                      bitops=sum(r.bitops for r in records), memory_bytes=sum(r.memory_bytes for r in records),
                      layers=records)
