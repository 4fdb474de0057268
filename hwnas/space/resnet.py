"""ResNet-18/34 with SPOS's channel + mixed-precision choices per basic block.

Choice token ``c{mult}_w{wbits}a{abits}``: bottleneck (first conv) width multiplier in {0.5, 1.0, 1.5}
and (weight, activation) bits in SPOS's {(1,2),(2,2),(1,4),(2,4),(3,4),(4,4),(32,32)} plus the deployable
``w8a8``; 32 means float.  1-4 bits are DoReFa weights with PACT activations in fake-quant form (nothing runs
them faster); ``w8a8`` is symmetric per-channel int8 weights with PACT-clipped uint8 activations, which exports
to ONNX QuantizeLinear / DequantizeLinear and runs on ONNX Runtime's int8 kernels (``hwnas export --int8``;
``hwnas profile`` times it that way).  A block's two convs share one bit choice.  The stem conv and the final FC
stay full precision (SPOS convention) and are excluded from BitOps.
Depth comes from the arch's length (8 blocks: ResNet-18, 16: ResNet-34) or the ``depth`` option.
"""

from __future__ import annotations

import re
from typing import Any

from hwnas.errors import ArchError, HwnasError
from hwnas.space.base import LayerSpec, SearchSpace, register_space
from hwnas.space.ops import OpSig, out_hw

MULTS = ("0.5", "1.0", "1.5")
BITS = ((1, 2), (2, 2), (1, 4), (2, 4), (3, 4), (4, 4), (8, 8), (32, 32))
RESNET_CHOICES = tuple(f"c{m}_w{w}a{a}" for m in MULTS for w, a in BITS)
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
_TOKEN = re.compile(r"^c([\d.]+)_w(\d+)a(\d+)$")


def parse_resnet(token: str) -> tuple[float, int, int]:
    m = _TOKEN.match(token)
    if not m or token not in RESNET_CHOICES:
        raise ArchError(f"'{token}' is not a ResNet choice like c1.0_w4a4")
    return float(m[1]), int(m[2]), int(m[3])


@register_space
class ResNetSpace(SearchSpace):
    __doc__ = __doc__
    name = "resnet"
    description = "ResNet-18/34 blocks: width x0.5/1/1.5 x (w,a) bits"
    named_archs = {"resnet18": (("c1.0_w32a32",) * 8, {"depth": 18}),
                   "resnet34": (("c1.0_w32a32",) * 16, {"depth": 34})}

    def _layout(self) -> None:
        depth = int(self.options.setdefault("depth", 18))
        if depth not in DEPTHS:
            raise HwnasError(f"resnet depth must be 18 or 34, got {depth}")
        self.stem = [OpSig.make("resnet_stem", self.input_shape, cin=self.in_channels, cout=64)]
        hw = out_hw(out_hw(self.input_size, 2), 2)
        plan = [(w, n, s) for w, n, s in zip((64, 128, 256, 512), DEPTHS[depth], (1, 2, 2, 2))]
        c, hw = self.add_stages(64, hw, plan, lambda *_: self.choices())
        self.head = [OpSig.make("classifier", (c, hw, hw), cin=c, classes=self.num_classes)]

    @classmethod
    def choices(cls) -> tuple[str, ...]:
        return RESNET_CHOICES

    @classmethod
    def options_for(cls, choices: tuple[str, ...]) -> dict[str, Any]:
        for depth, blocks in DEPTHS.items():
            if len(choices) == sum(blocks):
                return {"depth": depth}
        return {}

    def variables(self, choice: str) -> dict[str, str]:
        mult, wb, ab = parse_resnet(choice)
        return {"c": f"{mult:.1f}", "bits": f"w{wb}a{ab}"}

    def choice_op(self, layer: LayerSpec, choice: str) -> OpSig | None:
        mult, wb, ab = parse_resnet(choice)
        return OpSig.make("basic_block", layer.in_shape, cin=layer.in_shape[0], cout=layer.cout, s=layer.stride,
                          mid=int(layer.cout * mult), wb=wb, ab=ab)


SPOS_BITS = ((1, 2), (2, 2), (1, 4), (2, 4), (3, 4), (4, 4))
SPOS_CHOICES = tuple(f"c{m}_w{w}a{a}" for m in MULTS for w, a in SPOS_BITS)


@register_space
class SPOSResNetSpace(ResNetSpace):
    """SPOS's own mixed-precision space (Sec. 4, Table 6): ResNet-18/34 blocks with bottleneck width {0.5, 1.0,
    1.5}x and (weight, activation) bits {(1,2), (2,2), (1,4), (2,4), (3,4), (4,4)} -- exactly 18 choices per
    block, (3 x 6)^N archs.  ``resnet`` adds the deployable w8a8 and float (24 choices); this variant reproduces
    the paper's setting."""

    name = "resnet_spos"
    description = "SPOS's 18 choices per ResNet block: width x0.5/1/1.5 x 6 low-bit (w,a)"
    named_archs = {"resnet18_2w2a": (("c1.0_w2a2",) * 8, {"depth": 18}),
                   "resnet18_4w4a": (("c1.0_w4a4",) * 8, {"depth": 18}),
                   "resnet34_2w2a": (("c1.0_w2a2",) * 16, {"depth": 34}),
                   "resnet34_4w4a": (("c1.0_w4a4",) * 16, {"depth": 34})}

    @classmethod
    def choices(cls) -> tuple[str, ...]:
        return SPOS_CHOICES
