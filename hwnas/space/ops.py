"""Candidate operations and their canonical signatures.

A network in hwnas is a chain of *units*; each unit is one op described by an :class:`OpSig`
(op type, its constructor parameters and its input shape).  The same signature is what the profiler
measures and what the latency lookup table is keyed by, so a LUT entry and the module inside a network
are built by the one function :func:`build_op` (idea borrowed from Once-for-All's LUT: one function
makes the canonical key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.registry import Registry
from hwnas.space.quant import QConv2d

Shape = tuple[int, int, int]  # (C, H, W), batch excluded


@dataclass(frozen=True)
class OpSig:
    """Canonical description of one unit: ``type``, sorted constructor ``params`` and ``in_shape``."""

    type: str
    params: tuple[tuple[str, Any], ...]
    in_shape: Shape

    @staticmethod
    def make(type: str, in_shape: Shape, **params: Any) -> "OpSig":
        return OpSig(type, tuple(sorted(params.items())), tuple(int(v) for v in in_shape))  # type: ignore[arg-type]

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def key(self) -> str:
        """Canonical, complete, human-readable key: ``mbconv(cin=16,cout=24,e=6,k=3,res=0,s=2)@16x112x112``."""
        inner = ",".join(f"{k}={_fmt(v)}" for k, v in self.params)
        c, h, w = self.in_shape
        return f"{self.type}({inner})@{c}x{h}x{w}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "params": dict(self.params), "in_shape": list(self.in_shape)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "OpSig":
        return OpSig.make(d["type"], tuple(d["in_shape"]), **d["params"])


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


OPS: Registry[Callable[..., nn.Module]] = Registry("op")


def build_op(sig: OpSig) -> nn.Module:
    """Build the module for a signature (the same module whether profiled alone or inside a network)."""
    return OPS.get(sig.type)(**sig.kwargs)


def out_hw(h: int, stride: int) -> int:
    """Spatial size after a 'same'-padded conv (odd kernel, padding k//2) with ``stride``."""
    return (h - 1) // stride + 1


# --------------------------------------------------------------------------------------------------
# building blocks

_ACTS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish}


def act_layer(name: str | None) -> nn.Module | None:
    return None if name in (None, "none") else _ACTS[name]()


class ConvBNAct(nn.Sequential):
    """Conv (no bias) + BatchNorm + optional activation — torchvision's Conv2dNormActivation layout."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1, groups: int = 1, act: str | None = "relu",
                 conv: type[nn.Conv2d] = nn.Conv2d, **conv_kw: Any) -> None:
        layers: list[nn.Module] = [conv(cin, cout, k, s, k // 2, groups=groups, bias=False, **conv_kw),
                                   nn.BatchNorm2d(cout)]
        a = act_layer(act)
        if a is not None:
            layers.append(a)
        super().__init__(*layers)


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.reshape(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class InvertedResidual(nn.Module):
    """MobileNetV2 / ProxylessNAS / FBNet inverted-residual block.

    ``expand_always`` keeps the 1x1 expansion conv at e=1 (FBNet's TBS block); MobileNetV2 and
    ProxylessNAS drop it.  ``groups`` > 1 makes the two 1x1 convs grouped with a channel shuffle
    (FBNet's ``g2`` candidates).  ``res`` adds the identity shortcut (needs s=1 and cin == cout).
    """

    def __init__(self, cin: int, cout: int, k: int, e: int, s: int, res: int = 0, act: str = "relu6",
                 groups: int = 1, expand_always: bool = False) -> None:
        super().__init__()
        if res and (s != 1 or cin != cout):
            raise ValueError("residual inverted block needs stride 1 and cin == cout")
        mid = cin * e
        layers: list[nn.Module] = []
        if e != 1 or expand_always:
            layers.append(ConvBNAct(cin, mid, 1, groups=groups, act=act))
            if groups > 1:
                layers.append(ChannelShuffle(groups))
        layers.append(ConvBNAct(mid, mid, k, s, groups=mid, act=act))
        layers.append(ConvBNAct(mid, cout, 1, groups=groups, act=None))
        self.body = nn.Sequential(*layers)
        self.res = bool(res)
        if self.res:  # residual branch starts at zero (identity block): stable deep / single-path training
            nn.init.zeros_(layers[-1][1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.res else y


class SqueezeExcite(nn.Module):
    """MobileNetV3's squeeze-excite: global average pool, 1x1 conv to a quarter of the channels (at least 8), ReLU,
    1x1 conv back, hard-sigmoid gate on the input.  A narrower one is the leading channels of a wider one (the
    supernet slices it)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        r = max(8, c // 4)
        self.reduce = nn.Conv2d(c, r, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(r, c, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(F.adaptive_avg_pool2d(x, 1)))))


class MBV3Block(nn.Module):
    """FBNetV2 / MobileNetV3 inverted residual with each of FP-NAS's layer variables as a parameter: kernel ``k``,
    inner width ``mid`` (expansion times channel multiplier), nonlinearity ``act`` (relu or hswish) and
    squeeze-excite ``se``.  The 1x1 expansion conv is always present (also where mid == cin), so a layer's
    candidates have one structure per (act, se) and a narrower or smaller-kernel one slices a parent's weights."""

    def __init__(self, cin: int, cout: int, k: int, mid: int, s: int, res: int, act: str, se: int) -> None:
        super().__init__()
        if res and (s != 1 or cin != cout):
            raise ValueError("residual block needs stride 1 and cin == cout")
        layers: list[nn.Module] = [ConvBNAct(cin, mid, 1, act=act), ConvBNAct(mid, mid, k, s, groups=mid, act=act)]
        if se:
            layers.append(SqueezeExcite(mid))
        layers.append(ConvBNAct(mid, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.res = bool(res)
        if self.res:
            nn.init.zeros_(layers[-1][1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.res else y


class SplitInvertedResidual(nn.Module):
    """FPNAS 'split' block: split channels in two, an MBConv on one half, identity on the other,
    concat, then a 2-group channel shuffle so the halves mix (ShuffleNetV2's unit, with an MBConv edge)."""

    def __init__(self, c: int, k: int, e: int, act: str = "relu6") -> None:
        super().__init__()
        if c % 2:
            raise ValueError("split block needs an even channel count")
        self.branch = InvertedResidual(c // 2, c // 2, k, e, 1, act=act)
        self.shuffle = ChannelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return self.shuffle(torch.cat([a, self.branch(b)], dim=1))


class ShuffleUnit(nn.Module):
    """SPOS ShuffleNetV2 choice block: ``kind`` is 'shuffle' (pw, dw k, pw) or 'xception' (3x dw3+pw).

    Stride 1: the input's even/odd channels are split; odd ones pass through.  Stride 2: a projection
    branch (dw k s2 + pw) runs beside the main one.  ``mid`` is the main branch's mid channels (channel
    search scales it).
    """

    def __init__(self, cin: int, cout: int, s: int, kind: str, k: int, mid: int) -> None:
        super().__init__()
        self.stride = s
        inp = cin // 2 if s == 1 else cin
        out = cout - inp
        if kind == "shuffle":
            main: list[nn.Module] = [ConvBNAct(inp, mid, 1), ConvBNAct(mid, mid, k, s, groups=mid, act=None),
                                     ConvBNAct(mid, out, 1)]
        elif kind == "xception":
            main = [ConvBNAct(inp, inp, 3, s, groups=inp, act=None), ConvBNAct(inp, mid, 1),
                    ConvBNAct(mid, mid, 3, 1, groups=mid, act=None), ConvBNAct(mid, mid, 1),
                    ConvBNAct(mid, mid, 3, 1, groups=mid, act=None), ConvBNAct(mid, out, 1)]
        else:
            raise ValueError(f"unknown shuffle unit kind {kind!r}")
        self.main = nn.Sequential(*main)
        self.proj = (nn.Sequential(ConvBNAct(cin, cin, k, s, groups=cin, act=None), ConvBNAct(cin, cin, 1))
                     if s == 2 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is None:
            keep, x = x[:, 0::2], x[:, 1::2]
            return torch.cat([keep, self.main(x)], dim=1)
        return torch.cat([self.proj(x), self.main(x)], dim=1)


class BasicBlock(nn.Module):
    """ResNet basic block with searchable bottleneck width ``mid`` and bit widths (same for both convs)."""

    def __init__(self, cin: int, cout: int, s: int, mid: int, wb: int = 32, ab: int = 32) -> None:
        super().__init__()
        q = dict(conv=QConv2d, w_bits=wb, a_bits=ab)
        self.conv1 = ConvBNAct(cin, mid, 3, s, act="relu", **q)
        self.conv2 = ConvBNAct(mid, cout, 3, 1, act=None, **q)
        self.down = ConvBNAct(cin, cout, 1, s, act=None, **q) if (s != 1 or cin != cout) else None
        self.relu = nn.ReLU()
        nn.init.zeros_(self.conv2[1].weight)  # zero-init residual branch (Goyal et al.)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.down is None else self.down(x)
        return self.relu(self.conv2(self.conv1(x)) + idt)


class Classifier(nn.Module):
    """Global average pool + (dropout) + linear: the 'Logits' unit."""

    def __init__(self, cin: int, classes: int, bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(cin, classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


# --------------------------------------------------------------------------------------------------
# registered op types (signature params == constructor kwargs)

@OPS.register("conv")
def _conv(cin: int, cout: int, k: int, s: int, act: str = "relu6") -> nn.Module:
    return ConvBNAct(cin, cout, k, s, act=act)


@OPS.register("resnet_stem")
def _resnet_stem(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(ConvBNAct(cin, cout, 7, 2, act="relu"), nn.MaxPool2d(3, 2, 1))


@OPS.register("mbconv")
def _mbconv(cin: int, cout: int, k: int, e: int, s: int, res: int, act: str = "relu6") -> nn.Module:
    return InvertedResidual(cin, cout, k, e, s, res=res, act=act)


@OPS.register("mbv3")
def _mbv3(cin: int, cout: int, k: int, mid: int, s: int, res: int, act: str = "relu", se: int = 0) -> nn.Module:
    return MBV3Block(cin, cout, k, mid, s, res, act, se)


@OPS.register("fbnet_ir")
def _fbnet_ir(cin: int, cout: int, k: int, e: int, s: int, g: int) -> nn.Module:
    res = int(s == 1 and cin == cout)
    return InvertedResidual(cin, cout, k, e, s, res=res, act="relu", groups=g, expand_always=True)


@OPS.register("fbnet_skip_proj")
def _fbnet_skip_proj(cin: int, cout: int, s: int) -> nn.Module:
    """FBNet 'skip' where the shape changes: a 1x1 conv + BN projection (identity is impossible there)."""
    return ConvBNAct(cin, cout, 1, s, act=None)


@OPS.register("split_mbconv")
def _split_mbconv(c: int, k: int, e: int) -> nn.Module:
    return SplitInvertedResidual(c, k, e)


@OPS.register("shuffle")
def _shuffle(cin: int, cout: int, s: int, k: int, mid: int) -> nn.Module:
    return ShuffleUnit(cin, cout, s, "shuffle", k, mid)


@OPS.register("xception")
def _xception(cin: int, cout: int, s: int, mid: int) -> nn.Module:
    return ShuffleUnit(cin, cout, s, "xception", 3, mid)


@OPS.register("basic_block")
def _basic_block(cin: int, cout: int, s: int, mid: int, wb: int, ab: int) -> nn.Module:
    return BasicBlock(cin, cout, s, mid, wb, ab)


@OPS.register("classifier")
def _classifier(cin: int, classes: int, bias: int = 1, dropout: float = 0.0) -> nn.Module:
    return Classifier(cin, classes, bool(bias), dropout)
