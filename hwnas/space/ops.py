"""Candidate operations and their canonical signatures.

A network in hwnas is a chain of *units*; each unit is one op described by an :class:`OpSig`
(op type, its constructor parameters and its input shape).  The same signature is what the profiler
measures and what the latency lookup table is keyed by, so a LUT entry and the module inside a network
are built by the one function :func:`build_op` (idea borrowed from Once-for-All's LUT: one function
makes the canonical key).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.registry import Registry

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

_ACTS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "relu6": nn.ReLU6}


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


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # noqa: D401
        return torch.round(x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g


class _SignSTE(torch.autograd.Function):
    """sign(w) forward; straight through backward (DoReFa's 1-bit estimator): each weight gets its own gradient.
    ``torch.sign`` has zero gradient, so without this only the mean-|w| scale learned."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor) -> torch.Tensor:  # noqa: D401
        return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g


PACT_INIT = 10.0  # PACT's initial clipping level α (Choi et al. 2018); α is weight-decayed with the weights
ALPHA = "alpha"   # the parameter name of a PACT clipping level
#: how clipping levels start and learn.  ``data`` (default): each α starts at the 99.9th percentile of the
#: activations it clips, seen before training (:func:`init_pact_levels`), and also learns from the activations below
#: it (LSQ-style gradient).  ``pact``: PACT as published -- α starts at 10 and gets a gradient only where x >= α;
#: no conv input in hwnas's nets goes past 4-6, so under it α never moves (kept for comparison).
CLIP_LEVELS = ("data", "pact")
PACT_START = "data"


class _PACT(torch.autograd.Function):
    """PACT: y = round(clip(x, 0, α) (2^k - 1) / α) α / (2^k - 1), with straight-through gradients:
    ∂y/∂x = 1 on [0, α), else 0; ∂y/∂α = 1 where x >= α, and below α either 0 (``lsq`` False: PACT as published)
    or the rounding residual (round(x n/α) − x n/α)/n (``lsq`` True, LSQ's estimator without its gradient scale, which
    at α ~ 3 made the steps 50x smaller than the weights': a gradient from every activation, so a level the data
    rarely reaches still learns)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: torch.Tensor, bits: int, lsq: bool) -> torch.Tensor:  # noqa: D401
        ctx.save_for_backward(x, alpha)
        ctx.bits, ctx.lsq = bits, lsq
        n = 2 ** bits - 1
        y = torch.minimum(x.clamp_min(0), alpha)
        return torch.round(y * n / alpha) * alpha / n

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        x, alpha = ctx.saved_tensors
        inside = (x >= 0) & (x < alpha)
        gx = g * inside.to(g.dtype)
        da = (x >= alpha).to(g.dtype)
        if ctx.lsq:
            n = 2 ** ctx.bits - 1
            v = x.clamp(0) * n / alpha
            da = da + torch.where(inside, (torch.round(v) - v) / n, torch.zeros_like(v))
        ga = (g * da).sum().reshape(alpha.shape)
        return gx, ga, None, None


def pact(x: torch.Tensor, alpha: torch.Tensor, bits: int, lsq: bool = False) -> torch.Tensor:
    """PACT activation quantizer at ``bits`` (32: float); ``lsq``: α also learns from activations below it."""
    return x if bits >= 32 else _PACT.apply(x, alpha, bits, lsq)


def quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """DoReFa weight quantizer (1 bit: sign scaled by mean |w|)."""
    if bits >= 32:
        return w
    if bits == 1:
        return _SignSTE.apply(w) * w.abs().mean()
    t = torch.tanh(w)
    t = t / (2 * t.abs().max().clamp_min(1e-8)) + 0.5
    n = 2 ** bits - 1
    return 2 * _RoundSTE.apply(t * n) / n - 1


def check_clip_levels(mode: str) -> str:
    from hwnas.errors import HwnasError

    if mode not in CLIP_LEVELS:
        raise HwnasError(f"unknown clipping-level recipe '{mode}'; choose one of: {', '.join(CLIP_LEVELS)}")
    return mode


@contextmanager
def clip_levels(mode: str) -> Iterator[None]:
    """Within the block, every quantized conv's α learns by ``mode``'s gradient (see :data:`CLIP_LEVELS`)."""
    old = QConv2d.lsq
    QConv2d.lsq = check_clip_levels(mode) == "data"
    try:
        yield
    finally:
        QConv2d.lsq = old


@torch.no_grad()
def init_pact_levels(run: Callable[[torch.Tensor], Any], batches: Any, mode: str = PACT_START,
                     until: Sequence[nn.Parameter] = (), percentile: float = 99.9,
                     max_values: int = 20_000) -> dict[int, float]:
    """Start every PACT clipping level that ``run`` reaches: under ``data``, at the ``percentile`` of the
    (non-negative part of the) activations each α clips, averaged over the calls (each ``run(x)`` may take
    another path through a supernet; an α shared by several convs or paths gets the mean); under ``pact``, at
    PACT's 10.  ``batches`` is consumed until every level in ``until`` has been reached.  Returns {id(α): level}."""
    fixed = PACT_INIT if check_clip_levels(mode) == "pact" else None
    seen: dict[int, tuple[nn.Parameter, list[float]]] = {}

    def hook(mod: nn.Module, args: tuple) -> None:
        if isinstance(mod, QConv2d) and mod.a_bits < 32:
            x = args[0].detach().clamp_min(0).flatten()
            if fixed is None and x.numel() > max_values:
                x = x[torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))[:max_values]]
            val = fixed if fixed is not None else float(torch.quantile(x.float(), percentile / 100))
            seen.setdefault(id(mod.alpha), (mod.alpha, []))[1].append(val)

    handle = nn.modules.module.register_module_forward_pre_hook(hook)
    wanted = {id(a) for a in until}
    try:
        for x in batches:
            run(x)
            if wanted and wanted <= set(seen):
                break
    finally:
        handle.remove()
    out = {}
    for key, (alpha, vals) in seen.items():
        level = max(sum(vals) / len(vals), 1e-3)
        alpha.fill_(level)
        out[key] = level
    return out


def int8_weight_scale(w: torch.Tensor) -> torch.Tensor:
    """Symmetric per-output-channel int8 scale: max|w| / 127."""
    return (w.detach().abs().amax(dim=tuple(range(1, w.dim()))) / 127).clamp_min(1e-12)


def int8_weight(w: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Deployable int8 weights: symmetric per output channel (exported as ONNX QDQ with ``axis=0``)."""
    scale = int8_weight_scale(w) if scale is None else scale
    return torch.fake_quantize_per_channel_affine(w, scale, torch.zeros_like(scale, dtype=torch.int32), 0, -128, 127)


def int8_act(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Deployable uint8 activations with scale α / 255 and zero point 0 (α: the PACT level): the same numbers as
    :func:`pact` at 8 bits, as a fake-quantize op that exports to ONNX QuantizeLinear / DequantizeLinear."""
    return torch.fake_quantize_per_tensor_affine(x, scale.reshape(1), torch.zeros(1, dtype=torch.int32), 0, 255)


def int8_out(y: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Signed int8 output (zero point 0) of a conv whose result goes to an Add, not to another int8 conv: the
    QuantizeLinear that lets ONNX Runtime fuse DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv."""
    return torch.fake_quantize_per_tensor_affine(y, scale.reshape(1), torch.zeros(1, dtype=torch.int32), -128, 127)


class QConv2d(nn.Conv2d):
    """Conv2d with fake-quantized weights (``w_bits``) and input activations (``a_bits``); 32 = float.

    1-4 bits: DoReFa weights and PACT activations with a learnable clipping level ``alpha`` (SPOS's scheme), in
    fake-quant form.  8 bits (``w8a8``, the deployable choice): symmetric per-channel int8 weights and PACT-clipped
    uint8 activations, which ONNX Runtime runs as int8 (QDQ) -- in evaluation it uses the fake-quantize ops that
    export as QuantizeLinear / DequantizeLinear.  The cost counter reads ``w_bits``/``a_bits`` for BitOps.
    """

    #: α's gradient below α (LSQ-style) or PACT's (only above α); set for a training run by :func:`clip_levels`
    lsq: bool = True

    def __init__(self, *args: Any, w_bits: int = 32, a_bits: int = 32, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.w_bits = int(w_bits)
        self.a_bits = int(a_bits)
        if self.a_bits < 32:
            self.alpha = nn.Parameter(torch.tensor(PACT_INIT))

    @property
    def int8(self) -> bool:
        return self.w_bits == 8 and self.a_bits == 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.w_bits >= 32 and self.a_bits >= 32:
            return super().forward(x)
        if self.int8:
            if self.training:
                return self._conv_forward(pact(x, self.alpha, 8, self.lsq), int8_weight(self.weight), self.bias)
            frozen = getattr(self, "frozen_scales", None)  # constants of the deployment form (fold_bn_for_int8)
            a_scale, w_scale = frozen if frozen is not None else (self.alpha.detach() / 255, None)
            y = self._conv_forward(int8_act(x, a_scale), int8_weight(self.weight, w_scale), self.bias)
            out_scale = getattr(self, "out_scale", None)  # deployment form, output not quantized by a next conv
            return y if out_scale is None else int8_out(y, out_scale)
        return self._conv_forward(pact(x, self.alpha, self.a_bits, self.lsq) if self.a_bits < 32 else x,
                                  quantize_weight(self.weight, self.w_bits), self.bias)


def int8_convs(module: nn.Module) -> list[QConv2d]:
    return [m for m in module.modules() if isinstance(m, QConv2d) and m.int8]


def low_bit_convs(module: nn.Module) -> list[QConv2d]:
    """Convs quantized below 8 bits: fake-quant only, which no runtime accelerates."""
    return [m for m in module.modules() if isinstance(m, QConv2d) and not m.int8 and min(m.w_bits, m.a_bits) < 32]


def fold_bn_for_int8(module: nn.Module, calib: torch.Tensor | None = None) -> nn.Module:
    """The deployment form of a network with int8 convs: a copy in which each int8 conv's BatchNorm is folded into
    its weights and bias (w·γ/σ, β − μγ/σ) before the weights are quantized, so that ONNX Runtime sees
    DequantizeLinear -> Conv (-> Relu) -> QuantizeLinear and runs the conv as QLinearConv.  Evaluation mode.

    A conv followed by an activation is quantized by the next int8 conv's input quantizer; one whose output goes to
    a residual Add (a block's last conv, a downsample conv) gets its own int8 output quantizer, with the scale
    max|y| / 127 observed on ``calib`` (the export's example input when none is given: images normalised to
    mean 0 / std 1, so N(0, 1) draws stand in for them; every int8 conv's input is clipped by its PACT level, which
    bounds these ranges whatever the image).  Without it ORT runs those convs as float, between Dequantize and
    Quantize."""
    import copy

    if not int8_convs(module):
        return module
    out = copy.deepcopy(module).eval()
    to_add: list[QConv2d] = []
    for seq in out.modules():
        if isinstance(seq, nn.Sequential) and len(seq) >= 2 and isinstance(seq[0], QConv2d) and seq[0].int8 \
                and isinstance(seq[1], nn.BatchNorm2d):
            conv, bn = seq[0], seq[1]
            with torch.no_grad():
                g = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.mul_(g.reshape(-1, 1, 1, 1))
                bias = bn.bias - bn.running_mean * g + (conv.bias * g if conv.bias is not None else 0)
                conv.bias = nn.Parameter(bias)
            seq[1] = nn.Identity()
            if len(seq) == 2:  # no activation: the output goes to a residual Add
                to_add.append(conv)
    for conv in int8_convs(out):  # scales as constants: the exported graph carries them as initializers
        conv.frozen_scales = ((conv.alpha.detach() / 255).clone(), int8_weight_scale(conv.weight))
    if to_add and calib is not None:
        amax: dict[int, torch.Tensor] = {}
        hooks = [c.register_forward_hook(lambda m, i, o: amax.__setitem__(id(m), o.detach().abs().max()))
                 for c in to_add]
        with torch.no_grad():
            out(calib)
        for h in hooks:
            h.remove()
        for c in to_add:  # ranges observed in one float pass, before any output quantizer is set
            c.out_scale = (amax[id(c)] / 127).clamp_min(1e-8).reshape(1)
    return out


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
