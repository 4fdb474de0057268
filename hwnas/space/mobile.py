"""MobileNet-family spaces built from inverted-residual blocks: ``proxyless``, ``mobilenetv2``, ``fbnet``, ``fpnas``.

Choice tokens: ``k{kernel}_e{expansion}`` (``_g2``: grouped 1x1 convs, FBNet), ``skip``;
FPNAS adds the block topology in front: ``mb_`` (plain), ``add_`` (residual), ``split_`` (split/concat).
"""

from __future__ import annotations

import re

from hwnas.errors import ArchError, HwnasError
from hwnas.space.base import LayerSpec, SearchSpace, register_space
from hwnas.space.ops import OpSig, out_hw

_MB = re.compile(r"^k(\d+)_e(\d+)(?:_g(\d+))?$")


def parse_mb(token: str) -> tuple[int, int, int]:
    """``k5_e6`` -> (5, 6, 1); ``k3_e1_g2`` -> (3, 1, 2)."""
    m = _MB.match(token)
    if not m:
        raise ArchError(f"'{token}' is not an inverted-residual choice like k3_e6")
    return int(m[1]), int(m[2]), int(m[3] or 1)


MB6 = ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6")


def mb_variables(choice: str, groups: bool = False) -> dict[str, str]:
    """``[topology_]k{k}_e{e}[_g{g}]`` or ``skip`` -> search variables: block (topology, or ``mb``; ``skip``), k, e
    and, with ``groups``, g (FBNet's grouped 1x1 convs)."""
    if choice == "skip":
        return {"block": "skip"}
    block, rest = ("mb", choice) if choice.startswith("k") else choice.split("_", 1)
    k, e, g = parse_mb(rest)
    return {"block": block, "k": str(k), "e": str(e), **({"g": str(g)} if groups else {})}


def conv_head(c: int, hw: int, width: int, classes: int, act: str = "relu6", dropout: float = 0.0) -> list[OpSig]:
    """The mobile nets' head: a 1x1 conv to ``width``, then pool + classifier."""
    extra = {"dropout": dropout} if dropout else {}
    return [OpSig.make("conv", (c, hw, hw), cin=c, cout=width, k=1, s=1, act=act),
            OpSig.make("classifier", (width, hw, hw), cin=width, classes=classes, **extra)]


class MBSpace(SearchSpace):
    """A space whose choices are inverted-residual tokens (``[topology_]k{k}_e{e}`` or ``skip``): its search
    variables are block, k and e."""

    def variables(self, choice: str) -> dict[str, str]:
        return mb_variables(choice)


#: ProxylessNAS's stem conv, first (e1) block, six stage and final 1x1 conv widths: the search space's (and the
#: published Pixel-1 LUT's) layout, and the three released models' (mit-han-lab/proxylessnas net configs)
PROXYLESS_WIDTHS = {"space": (32, 16, 24, 40, 80, 96, 192, 320, 1280),
                    "mobile": (32, 16, 32, 40, 80, 96, 192, 320, 1280),
                    "gpu": (40, 24, 32, 56, 112, 128, 256, 432, 1728),
                    "cpu": (40, 24, 32, 48, 88, 104, 216, 360, 1432)}


@register_space
class ProxylessSpace(MBSpace):
    """ProxylessNAS mobile space: 3x3 s2 conv to 32, MBConv e1 k3 to 16, 21 searchable MBConv blocks
    (e {3,6} x k {3,5,7}, or skip where not first of stage), 1x1 conv to 1280, pool, classifier.

    Layout equals the published Pixel-1 LUT's keys (``Conv``, ``expanded_conv``, ``Conv_1``, ``Logits``).
    Option ``widths`` (stem, first block, six stages, final conv) changes the layout; the named archs set the
    released models' widths, so ``hwnas count --space proxyless --arch proxyless_gpu`` is the published network
    (MACs 320M / 465M / 439M for mobile / GPU / CPU).  Inside a space at other widths (the search space's,
    which LUTs are profiled in) a named arch's block choices are placed in that space's widths.
    """

    name = "proxyless"
    description = "ProxylessNAS mobile space (MBConv e3/e6 x k3/5/7, skip)"
    plan = [(4, 2), (4, 2), (4, 2), (4, 1), (4, 2), (1, 1)]  # (blocks, first stride) per stage
    layout_options = ("widths",)
    named_archs = {
        # block choices from ProxylessNAS's released models (mit-han-lab/proxylessnas; also pytorchcv)
        "proxyless_mobile": (("k5_e3", "k3_e3", "skip", "skip", "k7_e3", "k3_e3", "k5_e3", "k5_e3",
                              "k7_e6", "k5_e3", "k5_e3", "k5_e3", "k5_e6", "k5_e3", "k5_e3", "k5_e3",
                              "k7_e6", "k7_e6", "k7_e3", "k7_e3", "k7_e6"), {"widths": PROXYLESS_WIDTHS["mobile"]}),
        "proxyless_gpu": (("k5_e3", "skip", "skip", "skip", "k7_e3", "skip", "skip", "k3_e3",
                           "k7_e6", "skip", "skip", "k5_e3", "k5_e6", "skip", "k3_e3", "k5_e3",
                           "k7_e6", "k7_e6", "k7_e6", "k5_e6", "k7_e6"), {"widths": PROXYLESS_WIDTHS["gpu"]}),
        "proxyless_cpu": (("k3_e6", "k3_e3", "k3_e3", "k3_e3", "k3_e6", "k3_e3", "k3_e3", "k5_e3",
                           "k3_e6", "skip", "skip", "k3_e3", "k5_e6", "k3_e3", "k3_e3", "k3_e3",
                           "k5_e6", "k5_e3", "k5_e3", "k3_e3", "k5_e6"), {"widths": PROXYLESS_WIDTHS["cpu"]}),
    }

    def _layout(self) -> None:
        widths = self.options.get("widths") or PROXYLESS_WIDTHS["space"]
        if len(widths) != 9 or any(int(w) < 1 for w in widths):
            raise HwnasError(f"proxyless widths must be 9 positive channel counts (stem, first block, 6 stages, final "
                             f"conv), got {widths}")
        stem, first, *stages, last = (int(w) for w in widths)
        if tuple(widths) != PROXYLESS_WIDTHS["space"]:
            self.options["widths"] = (stem, first, *stages, last)
        else:
            self.options.pop("widths", None)  # the default layout: no option, so LUT and supernet keys stay as they are
        hw = self.input_size
        self.stem = [OpSig.make("conv", self.input_shape, cin=self.in_channels, cout=stem, k=3, s=2, act="relu6")]
        hw = out_hw(hw, 2)
        self.stem.append(OpSig.make("mbconv", (stem, hw, hw), cin=stem, cout=first, k=3, e=1, s=1, res=0, act="relu6"))
        plan = [(w, n, s) for w, (n, s) in zip(stages, self.plan)]
        c, hw = self.add_stages(first, hw, plan,
                                lambda cin, cout, s: MB6 + (("skip",) if cin == cout and s == 1 else ()))
        self.head = conv_head(c, hw, last, self.num_classes)

    def choice_op(self, layer: LayerSpec, choice: str) -> OpSig | None:
        if choice == "skip":
            return None
        k, e, _ = parse_mb(choice)
        cin = layer.in_shape[0]
        return OpSig.make("mbconv", layer.in_shape, cin=cin, cout=layer.cout, k=k, e=e, s=layer.stride,
                          res=int(layer.stride == 1 and cin == layer.cout), act="relu6")


@register_space
class MobileNetV2Space(SearchSpace):
    """Standard MobileNetV2 1.0 (torchvision layout) as a one-arch reference space: each of its 17 blocks
    has exactly one choice (its kernel and expansion)."""

    name = "mobilenetv2"
    description = "MobileNetV2 1.0 reference (one arch)"
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]
    named_archs = {"mobilenetv2": (("k3_e1",) + ("k3_e6",) * 16, {})}

    def _layout(self) -> None:
        hw = out_hw(self.input_size, 2)
        self.stem = [OpSig.make("conv", self.input_shape, cin=self.in_channels, cout=32, k=3, s=2, act="relu6")]
        cin = 32
        for t, c, n, s in self.settings:
            c, hw = self.add_stages(cin, hw, [(c, n, s)], lambda *_ , t=t: (f"k3_e{t}",))
            cin = c
        for i, layer in enumerate(self.layers):  # name blocks b1..b17 rather than per-stage
            self.layers[i] = LayerSpec(f"b{i + 1}", layer.choices, layer.in_shape, layer.cout, layer.stride)
        self.head = conv_head(cin, hw, 1280, self.num_classes, dropout=0.2)

    choice_op = ProxylessSpace.choice_op


FBNET_CHOICES = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")


@register_space
class FBNetSpace(MBSpace):
    """FBNet's 22 searchable TBS layers, 9 candidates each (k3/k5 x e1/e1-g2/e3/e6, skip).

    Macro-architecture from FBNet Table 1: 3x3 s2 conv to 16, stages 16/24/32/64/112/184/352 with
    1/4/4/4/4/4/1 layers, 1x1 conv to 1984, pool, FC.  ``skip`` where the shape changes is a 1x1
    conv + BN projection.  FBNet-A/B/C block choices from the authors' released model definitions
    (FBNet-A's published head has 1504 channels; this space keeps 1984).
    """

    name = "fbnet"
    description = "FBNet TBS space (k3/k5 x e1/e1-g2/e3/e6, skip)"
    plan = [(16, 1, 1), (24, 4, 2), (32, 4, 2), (64, 4, 2), (112, 4, 1), (184, 4, 2), (352, 1, 1)]
    named_archs = {
        "fbnet_a": (("skip", "k3_e3", "k3_e1", "skip", "skip", "k5_e6", "k3_e3", "k5_e1", "k3_e3",
                     "k5_e6", "k5_e3", "k5_e1_g2", "k5_e6", "k3_e6", "k5_e1_g2", "k5_e1", "k3_e1_g2",
                     "k5_e6", "k5_e6", "k5_e3", "k5_e6", "k5_e6"), {}),
        "fbnet_b": (("k3_e1", "k3_e6", "k5_e1", "k3_e1", "k3_e1", "k5_e6", "k5_e3", "k3_e6", "k5_e6",
                     "k5_e6", "k5_e1", "skip", "k5_e3", "k5_e6", "k3_e1", "k5_e1", "k5_e3",
                     "k5_e6", "k5_e1", "k5_e6", "k5_e6", "k3_e6"), {}),
        "fbnet_c": (("k3_e1", "k3_e6", "skip", "k3_e1", "k3_e1", "k5_e6", "k5_e3", "k5_e6", "k3_e6",
                     "k5_e6", "k5_e3", "k5_e6", "k5_e6", "k5_e6", "k5_e6", "k5_e6", "k5_e3",
                     "k5_e6", "k5_e6", "k5_e6", "k5_e6", "k3_e6"), {}),
    }

    def _layout(self) -> None:
        self.stem = [OpSig.make("conv", self.input_shape, cin=self.in_channels, cout=16, k=3, s=2, act="relu")]
        c, hw = self.add_stages(16, out_hw(self.input_size, 2), self.plan, lambda *_: FBNET_CHOICES)
        self.head = conv_head(c, hw, 1984, self.num_classes, act="relu")

    def variables(self, choice: str) -> dict[str, str]:
        return mb_variables(choice, groups=True)

    def choice_op(self, layer: LayerSpec, choice: str) -> OpSig | None:
        cin = layer.in_shape[0]
        if choice == "skip":
            if cin == layer.cout and layer.stride == 1:
                return None
            return OpSig.make("fbnet_skip_proj", layer.in_shape, cin=cin, cout=layer.cout, s=layer.stride)
        k, e, g = parse_mb(choice)
        return OpSig.make("fbnet_ir", layer.in_shape, cin=cin, cout=layer.cout, k=k, e=e, s=layer.stride, g=g)


FP_EDGES = tuple(f"k{k}_e{e}" for k in (3, 5) for e in (1, 3, 6))


@register_space
class FPNASSpace(MBSpace):
    """FPNAS block space: 16 stacked blocks, each a small DAG of at most 3 vertices and one MBConv edge.

    Vertex ops: identity, split (input), add / concat (output); edge ops: MBConv k {3,5} x e {1,3,6}
    or identity.  The legal DAGs give four topologies per block: ``mb_`` (identity -> MBConv ->
    identity), ``add_`` (MBConv edge + identity edge into an add vertex: residual), ``split_`` (split
    vertex -> MBConv edge on one half + identity edge on the other -> concat vertex; FPNAS only allows
    concat after a split) and ``skip`` (identity edge only).  ``add_``/``split_``/``skip`` need the
    block's input and output shapes equal.  Macro layout: 3x3 s2 conv to 32, blocks of widths
    16/24x2/32x3/64x4/96x3/160x2/320, 1x1 conv to 1280, pool, classifier.
    """

    name = "fpnas"
    description = "FPNAS DAG blocks (mb/add/split x k3/k5 x e1/e3/e6, skip)"
    plan = [(16, 1, 1), (24, 2, 2), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 2, 2), (320, 1, 1)]

    def _layout(self) -> None:
        self.stem = [OpSig.make("conv", self.input_shape, cin=self.in_channels, cout=32, k=3, s=2, act="relu6")]

        def choices(cin: int, cout: int, s: int) -> tuple[str, ...]:
            plain = tuple(f"mb_{x}" for x in FP_EDGES)
            if cin != cout or s != 1:
                return plain
            return plain + tuple(f"add_{x}" for x in FP_EDGES) + tuple(f"split_{x}" for x in FP_EDGES) + ("skip",)

        c, hw = self.add_stages(32, out_hw(self.input_size, 2), self.plan, choices)
        self.head = conv_head(c, hw, 1280, self.num_classes)

    def choice_op(self, layer: LayerSpec, choice: str) -> OpSig | None:
        if choice == "skip":
            return None
        topo, _, edge = choice.partition("_")
        k, e, _ = parse_mb(edge)
        cin = layer.in_shape[0]
        if topo == "split":
            return OpSig.make("split_mbconv", layer.in_shape, c=cin, k=k, e=e)
        return OpSig.make("mbconv", layer.in_shape, cin=cin, cout=layer.cout, k=k, e=e, s=layer.stride,
                          res=int(topo == "add"), act="relu6")


_V3 = re.compile(r"^k(\d+)_e(\d+)_c(\d+)_(re|hs)(_se)?$")
#: FP-NAS's per-layer variables (its Table 2 micro-architecture on an FBNetV2-F-like macro-architecture)
V3_KERNELS, V3_EXPANSIONS, V3_CHANNELS, V3_ACTS = (3, 5), (1, 2, 3, 4, 5, 6), (50, 75, 100), ("re", "hs")
V3_CHOICES = tuple(f"k{k}_e{e}_c{c}_{a}{se}" for k in V3_KERNELS for e in V3_EXPANSIONS for c in V3_CHANNELS
                   for a in V3_ACTS for se in ("", "_se"))


def parse_v3(token: str) -> tuple[int, int, int, str, int]:
    """``k5_e4_c75_hs_se`` -> (5, 4, 75, 'hswish', 1)."""
    m = _V3.match(token)
    if not m:
        raise ArchError(f"'{token}' is not a multi-variable choice like k5_e4_c75_hs_se (kernel, expansion, channel "
                        "percent, re|hs nonlinearity, optional _se)")
    return int(m[1]), int(m[2]), int(m[3]), {"re": "relu", "hs": "hswish"}[m[4]], int(bool(m[5]))


@register_space
class FBNetV2Space(SearchSpace):
    """A multi-variable space for FP-NAS's coarse-to-fine search: every layer chooses kernel (3, 5) x expansion
    (1-6) x channels (50/75/100%) x nonlinearity (relu, hswish) x Squeeze-Excite (off, on) -- FP-NAS's five
    variables, 144 combinations, 145 with ``skip`` where the shape allows -- so a factorised distribution has
    2 + 2 + 6 + 3 + 2 + 2 = 17 parameters per layer where the joint one has 145.

    Tokens ``k{k}_e{e}_c{c}_{re|hs}[_se]`` or ``skip``.  The block is MobileNetV3's inverted residual
    (:class:`hwnas.space.ops.MBV3Block`).  One departure from FP-NAS, said plainly: its channel variable is the
    block's *output* width; here every layer keeps its stage's output width (a per-layer LUT needs each layer's
    input shape fixed, or a layer's latency would depend on the previous choice), and the channel variable scales
    the block's inner width instead: mid = cin x e x c / 100 -- the product that makes expansion and channels
    correlated, which is FP-NAS's reason for the joint stage.  Macro-architecture (FBNetV2-F-like, smaller):
    3x3 s2 conv to 16, stages 16 / 24x2 / 32x3 / 64x3 / 96x2 / 160x2 (13 layers), 1x1 conv to 1280 (hswish),
    pool, classifier.
    """

    name = "fbnetv2"
    description = "multi-variable FP-NAS layer: k3/5 x e1-6 x c50/75/100% x relu/hswish x SE, skip"
    plan = [(16, 1, 1), (24, 2, 2), (32, 3, 2), (64, 3, 2), (96, 2, 1), (160, 2, 2)]

    def _layout(self) -> None:
        self.stem = [OpSig.make("conv", self.input_shape, cin=self.in_channels, cout=16, k=3, s=2, act="hswish")]
        c, hw = self.add_stages(16, out_hw(self.input_size, 2), self.plan,
                                lambda cin, cout, s: V3_CHOICES + (("skip",) if cin == cout and s == 1 else ()))
        self.head = conv_head(c, hw, 1280, self.num_classes, act="hswish")

    def variables(self, choice: str) -> dict[str, str]:
        if choice == "skip":
            return {"block": "skip"}
        k, e, c, act, se = parse_v3(choice)
        return {"block": "mb", "k": str(k), "e": str(e), "c": str(c), "act": act, "se": str(se)}

    def choice_op(self, layer: LayerSpec, choice: str) -> OpSig | None:
        if choice == "skip":
            return None
        k, e, c, act, se = parse_v3(choice)
        cin = layer.in_shape[0]
        return OpSig.make("mbv3", layer.in_shape, cin=cin, cout=layer.cout, k=k, mid=max(1, round(cin * e * c / 100)),
                          s=layer.stride, res=int(cin == layer.cout and layer.stride == 1), act=act, se=se)
