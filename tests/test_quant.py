"""Mixed-precision quantization as SPOS does it (PACT activations, DoReFa weights, one α per (layer, bits)), and the
deployable int8 choice (QDQ ONNX run by ONNX Runtime)."""

import onnx
import pytest
import torch

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.cost import count_arch
from hwnas.space import get_space
from hwnas.space.ops import PACT_INIT, QConv2d, pact


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_pact_forward_is_exact(bits):
    alpha = torch.tensor(2.0)
    x = torch.tensor([-1.0, 0.0, 0.3, 0.99, 1.5, 2.0, 7.0])
    n = 2 ** bits - 1
    expected = [round(min(max(v, 0.0), 2.0) * n / 2.0) * 2.0 / n for v in x.tolist()]
    assert pact(x, alpha, bits).tolist() == pytest.approx(expected, abs=1e-6)
    assert pact(x, alpha, 32) is x  # 32 bits: float


def test_pact_gradients_are_ste_for_x_and_pact_for_alpha():
    alpha = torch.tensor(2.0, requires_grad=True)
    x = torch.tensor([-1.0, 0.5, 1.9, 2.0, 3.0], requires_grad=True)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    (pact(x, alpha, 2) * g).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 0.0, 0.0]  # straight through on [0, α), zero outside
    assert float(alpha.grad) == 4.0 + 5.0  # ∂y/∂α = 1 where x >= α


def test_qconv_has_a_pact_level_per_quantized_conv():
    q = QConv2d(4, 4, 3, w_bits=2, a_bits=4)
    assert float(q.alpha) == PACT_INIT and not hasattr(QConv2d(4, 4, 3), "alpha")


def test_quant_supernet_has_one_alpha_per_layer_and_activation_bits():
    from hwnas.supernet.model import Supernet, extract
    sp = get_space("resnet", input_size=32, num_classes=10)
    sn = Supernet(sp, "separate")
    layer = sn.choices[0]
    bits = sorted({k.rsplit("__a", 1)[1] for k in layer.alphas})
    assert bits == ["2", "4", "8"] and len(layer.alphas) == 2 * 3  # two convs x activation bits {2, 4, 8}
    # a child's PACT level is the supernet's (layer, bits) α: training one moves it, extraction copies it
    a = sp.parse(",".join(["c0.5_w2a4"] * 8))
    sn.train()
    with torch.no_grad():  # low clipping levels, so that some activations exceed α and α gets a gradient
        for p in layer.alphas.values():
            p.fill_(0.5)
        for m in sn.modules():  # undo the zero-initialised residual branch, which would pass no gradient
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0)
    sn(torch.rand(4, 3, 32, 32), a).sum().backward()
    grads = {k: v.grad for k, v in layer.alphas.items()}
    assert any(g is not None and g != 0 for k, g in grads.items() if k.endswith("__a4"))
    assert all(g is None for k, g in grads.items() if k.endswith("__a2"))
    with torch.no_grad():
        layer.alphas[next(k for k in layer.alphas if k.startswith("g0__conv1") and k.endswith("__a4"))].fill_(3.5)
    net = extract(sn, a)
    assert float(net.units[1].conv1[0].alpha) == 3.5


def test_float_and_quantized_choices_share_one_float_weight():
    """One parent per layer serves every bit width (a float path with weights of its own would be trained by 1/8
    of the steps and score far below the quantized ones)."""
    from hwnas.supernet.model import Supernet
    sp = get_space("resnet", input_size=32, num_classes=10)
    sn = Supernet(sp, "separate")
    assert all(len(layer.parents) == 1 for layer in sn.choices)
    layer = sn.choices[0]
    assert layer.resolve("c1.5_w32a32")[0] is layer.resolve("c1.0_w2a2")[0] is layer.resolve("c0.5_w8a8")[0]


@pytest.mark.parametrize("depth,blocks", [(18, 8), (34, 16)])
@pytest.mark.parametrize("wb,ab", [(2, 2), (4, 4)])
def test_bitops_of_uniform_quantized_resnets(depth, blocks, wb, ab):
    sp = get_space("resnet", depth=depth)
    arch = sp.parse(",".join([f"c1.0_w{wb}a{ab}"] * blocks))
    rep = count_arch(sp, arch)
    stem, fc = rep.layers[0], rep.layers[-1]
    block_macs = rep.macs - stem.macs - fc.macs  # every conv of the residual blocks, downsampling ones included
    assert rep.bitops == block_macs * wb * ab
    assert CostModel(sp).metrics(arch, ["bitops"])["bitops"] == rep.bitops


def test_every_searched_arch_satisfies_the_bitops_bound():
    sp = get_space("resnet")
    cost = CostModel(sp)
    lo = cost.minimum("bitops")
    hard = HardFilter([Constraint.parse("bitops", f"{3 * lo / 2 ** 30}G")], cost)
    from hwnas.search import get_strategy
    for name, opts in (("random", {}), ("evolution", {"population": 8, "generations": 2})):
        s = get_strategy(name)(sp, lambda a: (hash(str(a)) % 97) / 97, hard, budget=24, seed=1, **opts).run()
        assert s.history and all(r.metrics["bitops"] <= 3 * lo * (1 + 1e-9) for r in s.history)


def test_int8_export_writes_qdq_and_matches_pytorch(tmp_path):
    from hwnas.export.final import export
    arch = ",".join(["c1.0_w8a8", "c0.5_w2a4"] + ["c1.0_w8a8"] * 6)
    r = export("resnet", arch, "onnx", str(tmp_path / "q.onnx"), input_size=32, num_classes=10, int8=True,
               time_it=False)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node]
    assert ops.count("QuantizeLinear") >= 14 and ops.count("DequantizeLinear") >= 14
    assert r.parity_ok and r.tolerance == 5e-2 and r.max_abs_diff <= 5e-2
    assert any("1-4 bits stay in fake-quant form" in n for n in r.notes)


def test_int8_choice_exists_and_costs_64_bitops_per_mac():
    sp = get_space("resnet")
    assert all("c1.0_w8a8" in layer.choices for layer in sp.layers)
    a = sp.parse(",".join(["c1.0_w8a8"] * 8))
    rep = count_arch(sp, a)
    assert rep.bitops == (rep.macs - rep.layers[0].macs - rep.layers[-1].macs) * 64
