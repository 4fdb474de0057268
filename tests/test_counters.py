import pytest

from hwnas.cost import ArchCoster, count, count_arch
from hwnas.space import resolve_arch
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


@pytest.mark.parametrize("space", ["proxyless", "fbnet", "spos", "resnet", "fpnas"])
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
        assert (c["macs"], c["params"], c["bitops"], c["memory_bytes"]) == (rep.macs, rep.params, rep.bitops, rep.memory_bytes)
