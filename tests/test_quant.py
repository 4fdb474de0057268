"""Mixed-precision quantization as SPOS does it (PACT activations, DoReFa weights, one α per (layer, bits)), and the
deployable int8 choice (QDQ ONNX run by ONNX Runtime)."""

import onnx
import pytest
import torch

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.cost import count_arch
from hwnas.space import get_space
from hwnas.space.quant import PACT_INIT, QConv2d, pact


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
    model = onnx.load(str(tmp_path / "q.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("DequantizeLinear") >= 2 * 14 and ops.count("QuantizeLinear") >= 14  # weights and activations
    assert r.parity_ok and r.tolerance == 5e-2 and r.max_abs_diff <= 5e-2
    # the file holds int8 weights (not float weights quantised at run time): every conv weight of a w8a8 layer
    kinds = {t.name: t.data_type for t in model.graph.initializer}
    deq = [n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in kinds]
    assert len(deq) >= 14 and all(kinds[i] == onnx.TensorProto.INT8 for i in deq)
    f32 = export("resnet", ",".join(["c1.0_w32a32"] * 8), "onnx", str(tmp_path / "f.onnx"), input_size=32,
                 num_classes=10, time_it=False)
    assert f32.parity_ok
    size8, size32 = (tmp_path / "q.onnx").stat().st_size, (tmp_path / "f.onnx").stat().st_size
    assert size8 < 0.4 * size32  # 7 of 8 blocks int8, one block at 2/4 bits stays float in fake-quant form
    assert any("1-4 bits stay in fake-quant form" in n for n in r.notes)


def test_ort_runs_every_w8a8_conv_as_qlinearconv(tmp_path):
    """ORT's optimised graph: every int8 conv -- including each block's last conv and the downsample convs, whose
    outputs go to a residual Add -- is fused into QLinearConv (none left as a float Conv between DQ and Q)."""
    from hwnas.export.final import export
    from hwnas.profilers import get_profiler
    from hwnas.space import get_space
    from hwnas.space.quant import int8_convs

    arch = ",".join(["c1.0_w8a8", "c0.5_w2a4"] + ["c1.0_w8a8"] * 6)
    r = export("resnet", arch, "onnx", str(tmp_path / "q.onnx"), input_size=32, num_classes=10, int8=True,
               time_it=False)
    assert r.parity_ok
    sp = get_space("resnet", input_size=32, num_classes=10)
    n8 = len(int8_convs(sp.build(sp.parse(arch))))
    with get_profiler("ort") as prof:
        prof.session(str(tmp_path / "q.onnx"), optimized_path=str(tmp_path / "opt.onnx"))
    ops = [n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node]
    assert n8 == 17 and ops.count("QLinearConv") == n8, sorted(set(ops))


def test_int8_choice_exists_and_costs_64_bitops_per_mac():
    sp = get_space("resnet")
    assert all("c1.0_w8a8" in layer.choices for layer in sp.layers)
    a = sp.parse(",".join(["c1.0_w8a8"] * 8))
    rep = count_arch(sp, a)
    assert rep.bitops == (rep.macs - rep.layers[0].macs - rep.layers[-1].macs) * 64


# ---- issue 23: clipping levels that learn, 1-bit weights that learn, SPOS's own setting ----------------------

def test_one_bit_weights_of_different_magnitudes_get_their_own_gradients():
    """DoReFa's 1-bit estimator passes the gradient straight through sign(): w_q = sign(w)·E|w|, so
    ∂L/∂w_i = g_i·E|w| + sign(w_i)·mean(g·sign(w)).  torch.sign alone gave every weight the same |gradient|."""
    from hwnas.space.quant import quantize_weight

    w = torch.tensor([-2.0, -0.3, 0.01, 0.5, 3.0], requires_grad=True)
    g = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0])
    (quantize_weight(w, 1) * g).sum().backward()
    s = torch.sign(w.detach())
    expected = g * w.detach().abs().mean() + s * (g * s).mean()
    assert torch.allclose(w.grad, expected, atol=1e-6)
    assert len({round(abs(v), 6) for v in w.grad.tolist()}) > 2


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_weights_pass_a_gradient_to_every_weight(bits):
    from hwnas.space.quant import quantize_weight

    torch.manual_seed(0)
    w = torch.randn(8, 4, 3, 3, requires_grad=True)
    q = quantize_weight(w, bits)
    assert len(torch.unique(q.detach())) <= 2 ** bits
    (q * torch.randn_like(q)).sum().backward()
    assert bool((w.grad != 0).all()) and len(torch.unique(w.grad.abs())) > 10


def test_pact_levels_start_from_the_data_and_move_during_training(tmp_path):
    """PACT's start (10) is above every activation here, so ∂L/∂α = 0 and α only decays; under ``data`` each level
    starts at the 99.9th percentile of what it clips and also learns from the activations below it, so it moves.
    A short supernet training on digits (640 images, 10 steps) with the zero-initialised residual γ set to 1, so
    that the low-bit convs get a gradient from the first step."""
    import itertools
    import random

    from hwnas.data import Dataset, load_digits
    from hwnas.space.quant import clip_levels, init_pact_levels
    from hwnas.supernet.api import pact_levels, uniform_sampler
    from hwnas.supernet.model import Supernet
    from hwnas.supernet.train import TrainConfig, arch_forward, to_cl, train

    full = load_digits(size=16)
    data = Dataset("digits-640", full.x_train[:640], full.y_train[:640], full.x_val, full.y_val, 10)
    sp = get_space("resnet", input_size=16, num_classes=10)
    moved = {}
    for mode in ("data", "pact"):
        torch.manual_seed(0)
        net = Supernet(sp, "entangled")
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.weight.fill_(1.0)
        rng = random.Random(0)
        _, x, _ = next(data.batches(64, epoch=0, seed=0, augment=False))
        init_pact_levels(lambda x, net=net, rng=rng: net.train()(to_cl(x), sp.random_arch(rng)),
                         itertools.repeat(x, 300), mode,
                         until=[a for layer in net.choices for a in layer.alphas.values()])
        start = pact_levels(net)
        with clip_levels(mode):
            train(net, arch_forward(uniform_sampler(sp), 0), data, TrainConfig(epochs=1, batch_size=64, lr=0.05,
                  warmup_epochs=0), str(tmp_path / mode), {"kind": "supernet"})
        end = pact_levels(net)
        moved[mode] = max(abs(end[k] - start[k]) for k in start)
        if mode == "data":
            assert all(v < 9 for v in start.values())  # every level starts where the activations are
        else:
            assert all(v == 10.0 for v in start.values())
    assert moved["data"] > 0.005 and moved["pact"] < 0.001, moved  # 0.009 against 0.0003 when written


def test_pact_level_gradient_below_alpha_is_the_rounding_residual():
    """Hand-computed: x = 0.3 under α = 1 at 2 bits (n = 3) quantizes to round(0.9)/3 · α = α/3, so with the
    rounding straight through, ∂y/∂α = round(0.9)/3 − 0.3/1 = 1/30; PACT's own gradient there is 0."""
    x = torch.tensor([0.3])
    for lsq, expected in ((True, 1 / 30), (False, 0.0)):
        alpha = torch.tensor(1.0, requires_grad=True)
        pact(x, alpha, 2, lsq).sum().backward()
        assert float(alpha.grad) == pytest.approx(expected, abs=1e-7)


def test_spos_resnet_space_has_exactly_the_papers_18_choices():
    sp = get_space("resnet_spos")
    assert all(len(layer.choices) == 18 for layer in sp.layers)
    assert {sp.variables(c)["bits"] for c in sp.layers[0].choices} == {"w1a2", "w2a2", "w1a4", "w2a4", "w3a4",
                                                                       "w4a4"}
    assert sp.size() == 18 ** 8 and get_space("resnet_spos", depth=34).size() == 18 ** 16


@pytest.mark.parametrize("name,bitops_g", [("resnet18_2w2a", 6.32), ("resnet18_4w4a", 25.27),
                                           ("resnet34_2w2a", 13.21), ("resnet34_4w4a", 52.83)])
def test_bitops_match_spos_table_6(name, bitops_g):
    """SPOS Table 6's uniform baselines, in units of 2^30, first conv and last FC excluded."""
    from hwnas.cost.arch_cost import count_named

    _, _, rep = count_named("resnet_spos", name)
    assert round(rep.bitops_g, 2) == bitops_g
