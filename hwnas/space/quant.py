"""Quantization of convs: DoReFa weights and PACT activations below 8 bits (SPOS's mixed-precision scheme, fake-quant
only), deployable int8 (symmetric per-channel weights, PACT-clipped uint8 activations, exported as ONNX QDQ), the
clipping levels' start and gradient recipe, and the deployment form with BatchNorm folded
(:func:`fold_bn_for_int8`).  The ops in :mod:`hwnas.space.ops` build their convs from :class:`QConv2d`."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from hwnas.errors import HwnasError

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


def _per_tensor(x: torch.Tensor, scale: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Fake-quantize to integers in [lo, hi] with zero point 0: exports as QuantizeLinear / DequantizeLinear."""
    return torch.fake_quantize_per_tensor_affine(x, scale.reshape(1), torch.zeros(1, dtype=torch.int32), lo, hi)


def int8_act(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Deployable uint8 activations with scale α / 255 and zero point 0 (α: the PACT level): the same numbers as
    :func:`pact` at 8 bits."""
    return _per_tensor(x, scale, 0, 255)


def int8_out(y: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Signed int8 output (zero point 0) of a conv whose result goes to an Add, not to another int8 conv: the
    QuantizeLinear that lets ONNX Runtime fuse DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv."""
    return _per_tensor(y, scale, -128, 127)


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
    max|y| / 127 observed in one float pass over ``calib``.  The export passes its example input (images
    normalised to mean 0 / std 1, so N(0, 1) draws stand in for them; every int8 conv's input is clipped by its PACT
    level, which bounds these ranges whatever the image).  With ``calib=None`` no output quantizer is added, and ORT
    runs those convs as float, between Dequantize and Quantize."""
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
