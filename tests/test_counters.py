import pytest

from hwnas.cost import ArchCoster, count, count_arch
from hwnas.space import get_space, resolve_arch
from reference_models import TVMobileNetV2, TVResNet


@pytest.mark.parametrize("name,space,macs,params,ref", [
    ("mobilenetv2", "mobilenetv2", 300_774_272, 3_504_872, lambda: TVMobileNetV2()),
    ("resnet18", "resnet", 1_814_073_344, 11_689_512, lambda: TVResNet([2, 2, 2, 2])),
    ("resnet34", "resnet", 3_663_761_408, 21_797_672, lambda: TVResNet([3, 4, 6, 3])),
])
def test_reference_counts_exact(name, space, macs, params, ref):
    sp, arch = resolve_arch(space, name)
    rep = count_arch(sp, arch)
    assert (rep.macs, rep.params) == (macs, params)
    tv = count(ref(), (3, 224, 224))
    assert (tv.macs, tv.params) == (rep.macs, rep.params)
    # per-layer breakdown lines up layer by layer with the reference
    assert [lc.macs for lc in rep.layers] == [lc.macs for lc in tv.layers]


def test_bitops_spos_convention():
    sp, arch = resolve_arch("resnet", "resnet18")
    full = count_arch(sp, arch)
    first, last = full.layers[0], full.layers[-1]
    assert first.bitops == 0 and last.bitops == 0
    assert full.bitops == (full.macs - first.macs - last.macs) * 32 * 32
    q = sp.parse(",".join(["c1.0_w2a4"] * 8))
    rq = count_arch(sp, q)
    assert rq.macs == full.macs
    assert rq.bitops == (full.macs - first.macs - last.macs) * 2 * 4
    assert rq.bitops_g == pytest.approx(rq.bitops / 2 ** 30)


def test_memory_and_intensity_positive():
    sp, arch = resolve_arch("mobilenetv2", "mobilenetv2")
    rep = count_arch(sp, arch)
    assert rep.memory_bytes == sum(lc.memory_bytes for lc in rep.layers) > 0
    assert rep.intensity == pytest.approx(2 * rep.macs / rep.memory_bytes)


@pytest.mark.parametrize("space", ["proxyless", "fbnet", "spos", "resnet", "fpnas", "fbnetv2"])
def test_unit_sum_equals_network_count(space):
    import random
    from hwnas.space import get_space
    sp = get_space(space)
    coster = ArchCoster(sp)
    rng = random.Random(1)
    for _ in range(3):
        a = sp.random_arch(rng)
        rep = count_arch(sp, a)
        c = coster.cost(a)
        assert (c["macs"], c["params"], c["bitops"], c["memory_bytes"]) == (rep.macs, rep.params, rep.bitops,
                                                                            rep.memory_bytes)


@pytest.mark.parametrize("name,macs,params", [
    # the released ProxylessNAS models (paper: 320M / 465M / 439M multiply-adds; params as pytorchcv counts them)
    ("proxyless_mobile", 320e6, 4_080_512), ("proxyless_gpu", 465e6, 7_119_848), ("proxyless_cpu", 439e6, 4_361_648)])
def test_named_proxyless_archs_are_the_published_networks(name, macs, params):
    from hwnas.cost.arch_cost import count_named
    sp, _, rep = count_named("proxyless", name)
    assert abs(rep.macs - macs) <= 0.01 * macs and rep.params == params
    assert get_space("proxyless").options == {}  # the LUT layout stays the space's default
    assert str(get_space("proxyless").parse(name)) == str(sp.parse(name))  # placeable in the search space's widths


def test_named_spos_arch_is_the_released_search_result():
    """SPOS repo: blocks (2,1,0,1,2,0,2,0,2,0,2,3,0,0,0,0,3,2,3,3) over (shuffle 3x3, 5x5, 7x7, Xception); 323M FLOPs
    (multiply-adds) and 3.5M params in its README."""
    from hwnas.cost.arch_cost import count_named
    _, arch, rep = count_named("spos", "spos")
    blocks = ("sh3", "sh5", "sh7", "xcp")
    released = [2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3]
    assert [blocks.index(c.split("_")[0]) for c in arch.choices] == released
    assert abs(rep.macs - 323e6) <= 0.01 * 323e6 and abs(rep.params - 3.5e6) <= 0.03 * 3.5e6


def test_multi_variable_block_counts_by_hand():
    """fbnetv2's block (FP-NAS's layer): MACs and params of one MBV3 block with squeeze-excite, by hand."""
    from hwnas.space.ops import OpSig, build_op

    sig = OpSig.make("mbv3", (16, 32, 32), cin=16, cout=24, k=5, mid=48, s=2, res=0, act="hswish", se=1)
    rep = count(build_op(sig), sig.in_shape)
    expand, dw, project = 32 * 32 * 16 * 48, 16 * 16 * 48 * 25, 16 * 16 * 48 * 24
    se = 48 * 12 + 12 * 48  # 1x1 convs on the pooled 1x1 map: 48 -> max(8, 48 // 4) = 12 -> 48
    assert rep.macs == expand + dw + se + project
    bn = 2 * (48 + 48 + 24)  # BatchNorm weight and bias after each conv
    assert rep.params == 16 * 48 + 48 * 25 + (48 * 12 + 12) + (12 * 48 + 48) + 48 * 24 + bn
    sp = get_space("fbnetv2", input_size=64, num_classes=10)
    arch = sp.parse(",".join(["k5_e4_c75_hs_se"] * len(sp.layers)))
    mid = [round(layer.in_shape[0] * 4 * 0.75) for layer in sp.layers]
    assert [u.kwargs["mid"] for u in sp.units(arch)[1:-2]] == mid and count_arch(sp, arch).macs > 0
