"""SPOS's ShuffleNetV2-based space, with block and channel choices.

Choice token ``{block}_c{scale}``: block ``sh3``/``sh5``/``sh7`` (ShuffleNetV2 unit with a k x k
depthwise conv) or ``xcp`` (Xception-like: three 3x3 depthwise convs); scale is the channel-search
multiplier of the block's mid channels, 0.2 .. 1.6 in steps of 0.2 (SPOS Sec. 4).  Layout from SPOS:
3x3 s2 conv to 16, stages 64/160/320/640 with 4/4/8/4 blocks (first of each stride 2), 1x1 conv to
1024, pool, dropout 0.1, bias-free FC.
"""

from __future__ import annotations

from hwnas.errors import ArchError
from hwnas.space.base import LayerSpec, SearchSpace, register_space
from hwnas.space.ops import OpSig, out_hw

BLOCKS = ("sh3", "sh5", "sh7", "xcp")
SCALES = tuple(f"{0.2 * i:.1f}" for i in range(1, 9))
SPOS_CHOICES = tuple(f"{b}_c{s}" for b in BLOCKS for s in SCALES)


def parse_spos(token: str) -> tuple[str, float]:
    block, _, scale = token.partition("_c")
    if block not in BLOCKS or scale not in SCALES:
        raise ArchError(f"'{token}' is not a SPOS choice like sh3_c1.0")
    return block, float(scale)


@register_space
class SPOSSpace(SearchSpace):
    __doc__ = __doc__
    name = "spos"
    description = "SPOS ShuffleNetV2 blocks (sh3/sh5/sh7/xcp) x channel scale 0.2..1.6"
    plan = [(64, 4, 2), (160, 4, 2), (320, 8, 2), (640, 4, 2)]
    # The searched arch released with SPOS (megvii-model/SinglePathOneShot: blocks 0..3 = shuffle 3x3, 5x5, 7x7,
    # Xception), at channel scale 1.0; its README gives 323M FLOPs (multiply-adds) and 3.5M params.
    named_archs = {"spos": (tuple(f"{BLOCKS[i]}_c1.0" for i in
                                  (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)), {})}

    def _layout(self) -> None:
        self.stem = [OpSig.make("conv", self.input_shape, cin=self.in_channels, cout=16, k=3, s=2, act="relu")]
        c, hw = self.add_stages(16, out_hw(self.input_size, 2), self.plan, lambda *_: SPOS_CHOICES)
        self.head = [OpSig.make("conv", (c, hw, hw), cin=c, cout=1024, k=1, s=1, act="relu"),
                     OpSig.make("classifier", (1024, hw, hw), cin=1024, classes=self.num_classes, bias=0, dropout=0.1)]

    def variables(self, choice: str) -> dict[str, str]:
        block, scale = parse_spos(choice)
        return {"block": block, "c": f"{scale:.1f}"}

    def choice_op(self, layer: LayerSpec, choice: str) -> OpSig | None:
        block, scale = parse_spos(choice)
        mid = max(1, int(layer.cout // 2 * scale))
        common = dict(cin=layer.in_shape[0], cout=layer.cout, s=layer.stride, mid=mid)
        if block == "xcp":
            return OpSig.make("xception", layer.in_shape, **common)
        return OpSig.make("shuffle", layer.in_shape, k=int(block[2]), **common)
