import json
import random

import pytest
import torch
from hypothesis import given, settings, strategies as st

from hwnas.cost import count_arch
from hwnas.errors import ArchError, UnknownNameError
from hwnas.space import Arch, get_space, list_spaces, resolve_arch

SPACES = ["proxyless", "mobilenetv2", "fbnet", "spos", "fpnas", "resnet", "fbnetv2"]


def test_all_spaces_registered():
    assert set(SPACES) <= set(list_spaces())


@pytest.mark.parametrize("name", SPACES)
def test_twenty_random_archs_build_run_count(name):
    # small resolution keeps 20 forward passes per space fast; counting at 224 is checked elsewhere
    sp = get_space(name, input_size=64, num_classes=10)
    rng = random.Random(0)
    seen = set()
    for _ in range(20):
        a = sp.random_arch(rng)
        seen.add(a)
        m = sp.build(a).eval()
        with torch.no_grad():
            y = m(torch.randn(2, 3, 64, 64))
        assert y.shape == (2, 10)
        rep = count_arch(sp, a)
        back = sp.parse(str(a))
        assert back == a
        rep2 = count_arch(sp, back)
        assert (rep.macs, rep.params, rep.bitops, rep.memory_bytes) == (rep2.macs, rep2.params, rep2.bitops,
                                                                        rep2.memory_bytes)
        assert rep.macs > 0 and rep.params > 0
    assert len(seen) > 1 or sp.size() == 1


@pytest.mark.parametrize("name", SPACES)
def test_named_archs_valid(name):
    cls = get_space(name)
    for arch_name in cls.named_archs:
        sp, a = resolve_arch(name, arch_name)
        assert len(a) == len(sp.layers)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(SPACES), st.integers(0, 2 ** 32 - 1))
def test_arch_roundtrip_yaml_json(name, seed):
    sp = get_space(name)
    a = sp.random_arch(random.Random(seed))
    assert Arch.from_yaml(a.to_yaml()) == a
    assert Arch.from_json(a.to_json()) == a
    assert Arch.parse(name, str(a)) == a
    assert json.loads(a.to_json())["arch"] == str(a)


def test_invalid_archs_list_valid_choices():
    sp = get_space("proxyless")
    good = sp.parse("proxyless_mobile")
    with pytest.raises(ArchError, match="needs 21 choices"):
        sp.check(Arch("proxyless", good.choices[:-1]))
    with pytest.raises(ArchError, match="unknown choice 'k9_e6'.*valid here: k3_e3"):
        sp.check(good.replace(3, "k9_e6"))
    with pytest.raises(ArchError, match="not allowed at this layer 'skip'"):
        sp.check(good.replace(0, "skip"))
    with pytest.raises(ArchError, match="empty choice"):
        Arch.parse("proxyless", "k3_e3,,k3_e6")
    with pytest.raises(UnknownNameError, match="unknown space 'nope'"):
        get_space("nope")


def test_resnet_depth_from_length():
    sp, a = resolve_arch("resnet", ",".join(["c0.5_w1a2"] * 16))
    assert sp.options["depth"] == 34 and len(a) == 16


def test_proxyless_layout_matches_published_lut_shapes():
    sp = get_space("proxyless")
    shapes = [(layer.in_shape, layer.cout, layer.stride) for layer in sp.layers]
    assert shapes[0] == ((16, 112, 112), 24, 2)
    assert shapes[12] == ((80, 14, 14), 96, 1)
    assert shapes[-1] == ((192, 7, 7), 320, 1)
    assert sp.head[0].in_shape == (320, 7, 7)
