"""FP-NAS (``--strategy probabilistic``): the distribution, adaptive K, importance weights, the finite cost
term, α's direction on a toy problem, and a search end to end on digits."""

import csv
import json
import math

import pytest
import torch
import yaml

from conftest import lut_cost_model, search_cli
from hwnas.search.distribution import ChoiceDistribution, most_probable_satisfying
from hwnas.search.strategies.probabilistic import adaptive_k, alpha_update, cost_aware_loss, importance_weights
from hwnas.space import get_space
from hwnas.space.base import LayerSpec, SearchSpace


def _randomise(dist, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in dist.logits:
            for p in layer:
                p.copy_(torch.randn(p.shape, generator=g) * 1.5)


@pytest.mark.parametrize("space", ["proxyless", "fbnet", "spos", "resnet", "fpnas", "fbnetv2"])
def test_factorised_to_joint_preserves_the_distribution(space):
    sp = get_space(space)
    fact = ChoiceDistribution(sp, factorised=True)
    _randomise(fact)
    joint = fact.to_joint()
    assert not joint.factorised
    for a, b in zip(fact.log_probs(), joint.log_probs()):
        assert torch.allclose(a.exp(), b.exp(), atol=1e-6) and abs(float(a.exp().sum()) - 1) < 1e-6
    archs = fact.sample(5, torch.Generator().manual_seed(1))
    assert torch.allclose(fact.log_prob(archs), joint.log_prob(archs), atol=1e-5)
    assert fact.entropy() == pytest.approx(joint.entropy(), abs=1e-4) and fact.mode() == joint.mode()
    assert fact.num_parameters() <= joint.num_parameters()
    if space in ("spos", "resnet"):  # several variables per layer: Σ|D| is far below Π|D|
        assert fact.num_parameters() < joint.num_parameters() / 2
    if space == "fbnetv2":  # FP-NAS's five variables and the block: 2+2+6+3+2+2 = 17 per layer against 145 choices
        with_skip = sum("skip" in c for c in fact.choices)
        assert fact.num_parameters() == 17 * with_skip + 16 * (len(fact.choices) - with_skip)  # 1 block value
        assert joint.num_parameters() == 145 * with_skip + 144 * (len(fact.choices) - with_skip)


def test_skip_marginalises_the_variables_it_lacks():
    sp = get_space("proxyless")
    d = ChoiceDistribution(sp, factorised=True)
    with torch.no_grad():  # zero logits: block 1/2, each (k, e) 1/6 (what the fitted uniform start replaced)
        for q in d.parameters():
            q.zero_()
    p = d.probs()[1]
    ch = sp.layers[1].choices
    assert float(p[ch.index("skip")]) == pytest.approx(0.5) and float(p[ch.index("k3_e3")]) == pytest.approx(1 / 12)


def test_k_follows_lambda_times_entropy_as_it_falls():
    d = ChoiceDistribution(get_space("proxyless"))
    assert d.entropy() == pytest.approx(d.max_entropy())
    ks, hs = [], []
    for sharp in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 30.0):
        with torch.no_grad():
            for layer in d.logits:
                layer[0].copy_(torch.linspace(0, sharp, len(layer[0])))
        hs.append(d.entropy())
        ks.append(adaptive_k(hs[-1], 0.25))
        assert ks[-1] == max(1, math.ceil(0.25 * hs[-1]))
    assert hs == sorted(hs, reverse=True) and ks == sorted(ks, reverse=True) and ks[0] > 5 and ks[-1] == 1


def test_importance_weights_match_the_formula():
    ll = torch.tensor([-10.0, -12.0, -11.0])
    c = torch.tensor([0.5, 0.0, 1.5])
    m = importance_weights(ll, c, 0.3)
    like = torch.exp(ll) / torch.exp(ll).sum()
    assert torch.allclose(m, like - 0.3 * c / c.sum())
    data, cost = cost_aware_loss(ll, c, 0.3, batch=4)
    assert data == pytest.approx(-(math.log(float(torch.exp(ll).mean()))) / 4)
    assert cost == pytest.approx(0.3 * math.log(float(c.mean())))


def test_posterior_weights_discount_each_sample_by_its_own_violation():
    ll = torch.tensor([-10.0, -12.0, -11.0])
    c = torch.tensor([0.5, 0.0, 1.5])
    m = importance_weights(ll, c, 0.3, "posterior", batch=4)
    # hand-computed: exp(-10 - 0.6), exp(-12), exp(-11 - 1.8), normalised
    raw = [math.exp(-10.6), math.exp(-12.0), math.exp(-12.8)]
    assert m.tolist() == pytest.approx([r / sum(raw) for r in raw])
    # the paper's form gives the same violating sample the same share whatever the size of its violation when
    # every sample violates equally; the posterior form does not depend on the other samples' violations
    both = importance_weights(ll[:2], torch.tensor([0.5, 0.5]), 0.3, "posterior", batch=4)
    assert both.tolist() == pytest.approx(torch.softmax(ll[:2], 0).tolist())
    with pytest.raises(ValueError, match="importance form"):
        importance_weights(ll, c, 0.3, "other")


def test_all_costs_zero_keeps_the_loss_finite():
    ll = torch.tensor([-3.0, -2.0])
    zero = torch.zeros(2)
    m = importance_weights(ll, zero, 0.3)
    assert torch.allclose(m, torch.softmax(ll, 0)) and torch.isfinite(m).all()
    data, cost = cost_aware_loss(ll, zero, 0.3, batch=2)
    assert math.isfinite(data) and math.isfinite(cost) and cost == pytest.approx(0.3 * math.log(1e-6))


class Toy(SearchSpace):
    """Three layers, each with an accurate, a cheap and a middle choice (no ops: only the distribution is used)."""

    name = "toy"

    def _layout(self):
        self.layers = [LayerSpec(f"l{i}", ("accurate", "cheap", "middle"), (8, 8, 8), 8, 1) for i in range(3)]

    def choice_op(self, layer, choice):
        return None


LIKELIHOOD = {"accurate": 0.2, "cheap": 0.0, "middle": 0.1}  # per layer, added to an arch's log-likelihood
COST = {"accurate": 4.0, "cheap": 1.0, "middle": 2.0}


def _learn(target, steps=800, k=8, form="paper"):
    d = ChoiceDistribution(Toy())
    opt = torch.optim.Adam(d.parameters(), lr=0.016)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        archs = d.sample(k, g)
        ll = torch.tensor([sum(LIKELIHOOD[c] for c in a.choices) for a in archs])
        cost = torch.tensor([sum(COST[c] for c in a.choices) for a in archs])
        hinge = torch.clamp(cost / target - 1, min=0) if target else torch.zeros(k)
        alpha_update(d, opt, archs, ll, hinge, 0.3, form, batch=1 if form == "paper" else 10)
    return [dict(zip(Toy().layers[0].choices, map(float, p))) for p in d.probs()]


@pytest.mark.parametrize("form", ["paper", "posterior"])
def test_alpha_moves_to_the_accurate_choice_without_a_target_and_to_the_cheap_one_under_a_tight_target(form):
    free, tight = _learn(None, form=form), _learn(3.0, form=form)  # 3.0: only all-cheap archs meet it
    for layer in free:
        assert max(layer, key=layer.get) == "accurate" and layer["accurate"] > 0.6
    for layer in tight:
        assert max(layer, key=layer.get) == "cheap" and layer["cheap"] > 0.8


def test_most_probable_satisfying_arch_respects_a_bound():
    from hwnas.constraints import Constraint, CostModel, HardFilter
    sp = get_space("proxyless")
    d = ChoiceDistribution(sp)
    with torch.no_grad():  # the mode is the biggest arch
        for layer, ch in zip(d.logits, d.choices):
            layer[0].copy_(torch.tensor([3.0 if c == "k7_e6" else 0.0 for c in ch]))
    cost = CostModel(sp)
    bound = cost.minimum("flops") * 1.4
    hard = HardFilter([Constraint.parse("flops", f"{bound / 1e6}M")], cost)
    assert not hard.ok(d.mode())
    a, how = most_probable_satisfying(d, hard)
    assert a is not None and hard.ok(a) and how == "beam"
    assert float(d.log_prob([a])[0]) > float(d.log_prob([hard.sample(__import__("random").Random(0))])[0])


# ---- end to end on digits --------------------------------------------------------------------------

def test_probabilistic_search_end_to_end(small_calibrated_lut, tmp_path):
    _, cm = lut_cost_model(small_calibrated_lut)
    lat, flops = cm.minimum("latency") * 1.6, cm.minimum("flops") * 1.8
    out = tmp_path / "p"
    args = ["--latency", f"{lat}ms", "--flops", f"{flops / 1e6}M", "--opt", "epochs=3", "--opt", "warmup=1",
            "--opt", "theta=2", "--opt", "k=2", "--opt", "batch_size=128"]
    r = search_cli("probabilistic", small_calibrated_lut, out, *args)
    assert r.returncode == 0, r.stderr
    res = yaml.safe_load(open(out / "result.yaml"))
    assert "sampled archs" in res["report"] and "search wall" in res["report"] and "│ probabilistic" in r.stdout
    assert res["stopped_by"] == "finished" and res["latency"]["predicted_ms"] <= lat and res["flops"] <= flops
    pr = res["probabilistic"]
    from hwnas.data import load_dataset
    steps = len(load_dataset("digits").split_train(0.5, 0)[0].y_train) // 128
    assert pr["epochs_done"] == 3 and pr["sampled_archs"] == 3 * steps * 2 and pr["distribution"] == "joint"
    rows = list(csv.DictReader(open(out / "epochs.csv")))
    assert [r["phase"] for r in rows] == ["warm-up", "factorised", "joint"]
    assert all(float(r["entropy"]) > 0 and r["mode"] for r in rows) and "expected_latency" in rows[0]
    for f in ("history.csv", "pareto.png", "distribution.png", "state.json"):
        assert (out / f).exists()
    # resume: a finished search continues from its checkpoint and ends where it was
    r2 = search_cli("probabilistic", small_calibrated_lut, out, *args, "--json", resume=True)
    assert r2.returncode == 0, r2.stderr
    again = json.loads(r2.stdout)
    assert again["arch"] == res["arch"] and again["probabilistic"]["sampled_archs"] == pr["sampled_archs"]


def test_fallback_result_is_labelled():
    """When the beam search finds nothing (it prunes on additive upper bounds only; an intensity bound that the
    mode and its near neighbours break is checked at the end), the result is a fallback and says so."""
    from hwnas.constraints import Constraint, CostModel, HardFilter
    sp = get_space("proxyless")
    d = ChoiceDistribution(sp)
    with torch.no_grad():
        for layer, ch in zip(d.logits, d.choices):
            layer[0].copy_(torch.tensor([3.0 if c == "k7_e6" else 0.0 for c in ch]))
    cost = CostModel(sp)
    hard = HardFilter([Constraint("intensity", None, 10.5)], cost)  # the all-k7_e6 mode has 12.2 FLOPs/byte
    a, how = most_probable_satisfying(d, hard, beam=1)
    assert how == "fallback" and hard.ok(a)


@pytest.mark.parametrize("space", ["proxyless", "fbnet", "spos", "resnet", "fpnas", "fbnetv2"])
def test_factorised_and_joint_start_from_the_same_distribution(space):
    """FP-NAS's coarse-to-fine must not bias the start: every choice of a layer starts equally likely in both forms
    (before the fix a lone skip started at P = 1/2 in proxyless and 0.6 in fbnet)."""
    sp = get_space(space)
    f, j = ChoiceDistribution(sp, factorised=True), ChoiceDistribution(sp, factorised=False)
    for pf, pj, ch in zip(f.probs(), j.probs(), f.choices):
        assert torch.allclose(pf, torch.full((len(ch),), 1 / len(ch)), atol=1e-3)
        assert torch.allclose(pf, pj, atol=1e-3)
    assert f.entropy() == pytest.approx(j.entropy(), rel=1e-4)
