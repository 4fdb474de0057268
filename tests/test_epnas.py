"""EPNAS (``--strategy epnas``): the soft penalty, masked actions, REINFORCE, the baseline, the parameter
dictionary, and searches end to end on digits."""

import csv
import random

import pytest
import torch
import yaml

from conftest import lut_cost_model, search_cli
from hwnas.constraints import Constraint, CostModel, ExponentialPenalty, HardFilter
from hwnas.search.strategies.epnas import (INSERT, KEEP, REMOVE, ActionSpace, Baseline, EPNASPolicy, ParamDict,
                                           fit_tensor, keep_prior, reinforce_loss)
from hwnas.space import get_space


def test_soft_penalty_below_inside_and_above_the_range():
    sp = get_space("proxyless")
    cost = CostModel(sp)
    a = sp.parse("proxyless_mobile")
    u = cost.metrics(a, ["params"])["params"]
    cl, cu = 1.5 * u, 3.0 * u
    below = ExponentialPenalty([Constraint.parse("params", f"{cl / 1e6}M..{cu / 1e6}M")], cost, p=0.9)
    assert below(a)[0] == pytest.approx(0.9 ** (cl / u - 1))  # U below Cl: p^(Cl/U - 1)
    inside = ExponentialPenalty([Constraint.parse("params", f"{u / 2e6}M..{2 * u / 1e6}M")], cost)
    assert inside(a)[0] == 1.0
    above = ExponentialPenalty([Constraint.parse("params", f"{u / 4e6}M..{u / 2e6}M")], cost, p=0.9)
    assert above(a)[0] == pytest.approx(0.9 ** (u / (u / 2) - 1))  # U above Cu: p^(U/Cu - 1)


def test_two_violated_constraints_multiply_their_penalties():
    """The paper's reward multiplier is the product Π_i V(U_i): params 2x over its bound (violation 1) and MACs 3x
    over its bound (violation 2) give 0.9^1 x 0.9^2, not 0.9^max(1, 2)."""
    sp = get_space("proxyless")
    cost = CostModel(sp)
    a = sp.parse("proxyless_mobile")
    m = cost.metrics(a, ["params", "macs"])
    pen = ExponentialPenalty([Constraint("params", None, m["params"] / 2), Constraint("macs", None, m["macs"] / 3)],
                             cost, p=0.9)
    assert pen(a)[0] == pytest.approx(0.9 ** 1 * 0.9 ** 2)


@pytest.mark.parametrize("space", ["resnet", "spos", "proxyless"])
def test_scaling_a_variable_moves_it_to_the_next_value_in_numeric_order(space):
    """'bits +1' goes w2a4 -> w3a4 (or the next width), never to float because 'w32a32' sorts as a string."""
    from hwnas.space.arch import natural_key

    acts = ActionSpace(get_space(space))
    for name, vals in acts.values.items():
        nums = [tuple(x[1] for x in natural_key(v) if x[0] == 0) for v in vals]
        assert nums == sorted(nums), (name, vals)
    if space == "resnet":
        bits = acts.values["bits"]
        assert bits.index("w32a32") == len(bits) - 1


@pytest.mark.parametrize("space", ["proxyless", "fbnet", "spos", "resnet", "fpnas"])
def test_every_unmasked_action_yields_a_valid_arch(space):
    sp = get_space(space)
    acts = ActionSpace(sp)
    for a in (sp.random_arch(random.Random(seed)) for seed in range(3)):
        for f in range(len(acts.groups)):
            for j, ok in enumerate(acts.scale_mask(a, f).tolist()):
                if ok:
                    b = acts.apply_scale(a, f, j)
                    sp.check(b)
                    assert b == a or acts.scale_table[j][0] != "keep"
        for kind, ok in enumerate(acts.type_mask(a).tolist()):
            if not ok:
                continue
            for place, okp in enumerate(acts.place_mask(a, kind).tolist()):
                if not okp:
                    continue
                ops = [j for j, o in enumerate(acts.op_mask(place).tolist()) if o] if kind == INSERT else [0]
                for op in ops:
                    b = sp.check(acts.apply_insert(a, kind, place, op))
                    if kind != KEEP:
                        assert b != a
    assert acts.places == len(sp.layers) + 5 and not acts.place_mask(a, KEEP)[len(sp.layers):].any()


def test_the_policy_samples_only_unmasked_actions():
    sp = get_space("proxyless")
    pol = EPNASPolicy(ActionSpace(sp))
    g = torch.Generator().manual_seed(0)
    a = sp.random_arch(random.Random(0))
    for _ in range(20):
        b, taken, lp = pol.act(a, g)
        sp.check(b)
        assert torch.isfinite(lp)
        a = b
    assert all(float(p.detach().abs().max()) <= 0.1 + 1e-6 for n, p in EPNASPolicy(ActionSpace(sp)).named_parameters()
               if not n.startswith("embed"))  # the paper's U(-0.1, 0.1); the token embedding starts N(0, 1)


def test_reinforce_loss_by_hand_with_either_baseline():
    """Two steps, log-probs l0 and l1, rewards 0.5 then 0.8 from a start of 0.4.  Moving b = 0.3: advantages
    (1.3 - 2 * 0.3, 0.8 - 0.3) = (0.7, 0.5); state b(X_t) = r(X_t): (1.3 - 2 * 0.4, 0.8 - 0.5) = (0.5, 0.3)."""
    l0, l1 = torch.tensor(-1.0, requires_grad=True), torch.tensor(-2.0, requires_grad=True)
    moving = reinforce_loss([[l0, l1]], [[0.5, 0.8]], 0.3)
    assert float(moving) == pytest.approx(-(-1.0 * 0.7 + -2.0 * 0.5))
    state = reinforce_loss([[l0, l1]], [[0.5, 0.8]], 0.3, starts=[0.4])
    assert float(state) == pytest.approx(-(-1.0 * 0.5 + -2.0 * 0.3))
    state.backward()
    assert (float(l0.grad), float(l1.grad)) == pytest.approx((-0.5, -0.3))


def test_reinforce_raises_the_probability_of_a_rewarded_action():
    sp = get_space("proxyless")
    acts = ActionSpace(sp)
    pol = EPNASPolicy(acts)
    opt = torch.optim.Adam(pol.parameters(), lr=6e-3)
    g = torch.Generator().manual_seed(0)
    a = sp.parse(",".join(["k5_e3"] * 21))  # every skippable layer is a block: remove is allowed

    def p_remove():
        with torch.no_grad():
            emb = pol.network_embedding(a)
            state = pol.insert_lstm(emb)
            lp = torch.log_softmax(pol.type_head(state[0])[0].masked_fill(~acts.type_mask(a), float("-inf")), -1)
            return float(lp[REMOVE].exp())

    before = p_remove()
    base = Baseline()
    for _ in range(40):
        logps, rewards = [], []
        for _ in range(4):
            _, taken, lp = pol.act(a, g)
            logps.append([lp])
            rewards.append([1.0 if taken[len(acts.groups)] == REMOVE else 0.0])
        loss = reinforce_loss(logps, rewards, base.value or 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        base.update([r for rs in rewards for r in rs])
    assert p_remove() > before + 0.3


def test_baseline_tracks_the_moving_average_of_the_reward():
    b = Baseline(decay=0.9)
    assert b.update([1.0, 3.0]) == 2.0
    assert b.update([4.0]) == pytest.approx(0.9 * 2.0 + 0.1 * 4.0)
    for _ in range(200):
        b.update([0.5])
    assert b.value == pytest.approx(0.5, abs=1e-6)


def test_parameter_dictionary_slices_pads_and_keeps_the_better_model():
    w = torch.arange(8 * 4 * 5 * 5, dtype=torch.float32).reshape(8, 4, 5, 5)
    small = fit_tensor(w, torch.Size([4, 4, 3, 3]))
    assert torch.equal(small, w[:4, :, 1:4, 1:4])  # leading channels, centre of the kernel
    big = fit_tensor(w, torch.Size([12, 4, 7, 7]))
    assert torch.equal(big[:8, :, 1:6, 1:6], w)
    assert float(big[8:].abs().sum()) == 0 and float(big[:, :, 0].abs().sum()) == 0
    d = ParamDict()
    bn = {"weight": torch.full((8,), 2.0), "running_var": torch.full((8,), 3.0), "bias": torch.ones(8)}
    full = {"conv.weight": w.shape, **{f"bn.{k}": torch.Size([8]) for k in bn}}
    d.store(3, "mbconv", {"conv.weight": w, **{f"bn.{k}": v for k, v in bn.items()}}, acc=0.5)
    got = d.fetch(3, "mbconv", {"conv.weight": torch.Size([12, 4, 7, 7]), **{f"bn.{k}": torch.Size([12]) for k in bn}})
    assert torch.equal(got["bn.weight"][8:], torch.ones(4)) and torch.equal(got["bn.running_var"][8:], torch.ones(4))
    assert torch.equal(got["bn.bias"][8:], torch.zeros(4)) and torch.equal(got["conv.weight"][:8, :, 1:6, 1:6], w)
    assert d.fetch(4, "mbconv", {"conv.weight": w.shape}) is None  # another layer: nothing stored
    d.store(3, "mbconv", {"conv.weight": w * 0, **{f"bn.{k}": v for k, v in bn.items()}}, acc=0.4)  # worse: ignored
    assert torch.equal(d.fetch(3, "mbconv", full)["conv.weight"], w)
    d.store(3, "mbconv", {"conv.weight": w + 1, **{f"bn.{k}": v for k, v in bn.items()}}, acc=0.9)  # better: kept
    assert float(d.fetch(3, "mbconv", full)["conv.weight"][0, 0, 0, 0]) == 1.0
    d.store(3, "mbconv", {"conv.weight": torch.zeros(6, 4, 3, 3)}, acc=0.1)  # another shape set: a second entry
    near = d.fetch(3, "mbconv", {"conv.weight": torch.Size([6, 4, 3, 3])})
    assert near is not None and float(near["conv.weight"].abs().sum()) == 0  # the closest entry is the exact one


# ---- end to end on digits --------------------------------------------------------------------------

OPTS = ["--supernet-epochs", "1", "--opt", "episodes=2", "--opt", "branches=2", "--opt", "steps=2",
        "--opt", "pp_steps=1"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One HWNAS_CACHE for the end-to-end runs, so that they train their supernet once."""
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("bounds", ["latency", "intensity"])
def test_epnas_end_to_end(small_calibrated_lut, tmp_path, bounds, cache):
    sp, cm = lut_cost_model(small_calibrated_lut)
    if bounds == "latency":
        args = ["--latency", f"{cm.minimum('latency') * 1.8}ms"]
    else:  # a lower bound on compute intensity (FLOPs per byte), the median of random archs
        vals = sorted(cm.metrics(sp.random_arch(random.Random(i)), ["intensity"])["intensity"] for i in range(40))
        args = ["--intensity", f"{vals[20]:.3f}.."]
    out = tmp_path / "e"
    r = search_cli("epnas", small_calibrated_lut, out, *args, *OPTS, cache=cache)
    assert r.returncode == 0, r.stderr
    res = yaml.safe_load(open(out / "result.yaml"))
    cons = [Constraint.parse(args[0][2:], args[1])]
    assert res["stopped_by"] == "finished" and HardFilter(cons, cm).ok(sp.parse(res["arch"]))
    ep = res["epnas"]
    assert ep["episodes_done"] == 2 and "sampled networks" in res["report"] and "search wall" in res["report"]
    assert "│ epnas" in r.stdout  # the CLI prints the report in its summary
    for step in ep["actions_to_result"]:
        assert set(step) == {"from", "action", "to"}
    if ep["actions_to_result"]:
        assert ep["actions_to_result"][-1]["to"] == res["arch"]
    rows = list(csv.DictReader(open(out / "episodes.csv")))
    assert len(rows) == 2 and all(float(x["baseline"]) > 0 for x in rows)
    for f in ("history.csv", "pareto.png", "state.json", "rewards.png", "epnas.pt"):
        assert (out / f).exists(), f
    r2 = search_cli("epnas", small_calibrated_lut, out, *args, *OPTS, resume=True, cache=cache)
    assert r2.returncode == 0, r2.stderr
    assert yaml.safe_load(open(out / "result.yaml"))["arch"] == res["arch"]


def test_the_policy_distribution_depends_on_its_input_network():
    sp = get_space("proxyless")
    torch.manual_seed(0)
    pol = EPNASPolicy(ActionSpace(sp))
    a = sp.parse(",".join(["k3_e3"] + ["skip" if "skip" in layer.choices else "k3_e3" for layer in sp.layers[1:]]))
    b = sp.parse(",".join(["k7_e6"] * len(sp.layers)))
    pa, pb = pol.first_scale_probs(a), pol.first_scale_probs(b)
    assert float((pa - pb).abs().max()) > 0.01


def test_a_candidate_takes_its_stem_and_head_from_the_dictionary_too():
    """The dictionary holds the fixed stem and head beside the blocks, so a candidate's fine-tuned blocks meet the
    stem and head they were tuned with (before: always the supernet's untuned ones)."""
    from hwnas.data import load_digits
    from hwnas.search.base import SearchContext
    from hwnas.search.strategies.epnas import EPNASSearch, dictionary_keys
    from hwnas.supernet import Supernet
    from hwnas.supernet.model import extract

    sp = get_space("proxyless", input_size=32, num_classes=10)
    ctx = SearchContext(supernet=Supernet(sp, "entangled"), data=load_digits(), cost=CostModel(sp))
    s = EPNASSearch(sp, lambda a: 0.0, None, 4, 0, context=ctx, **EPNASSearch.validate({"pp_steps": 2}))
    a = sp.random_arch(random.Random(0))
    s.predict_performance(a)
    keys = [k for k, _ in dictionary_keys(sp, a, list(extract(ctx.supernet, a).units))]
    assert {"stem", "head"} <= {op for _, op in keys}
    assert all(s.params_dict.entries.get(k) for k in keys)  # every unit, stem and head included, was stored
    stored_stem = s.params_dict.entries[keys[0]][0][1]
    fresh = list(extract(ctx.supernet, sp.random_arch(random.Random(1))).units)[0].state_dict()  # untuned stem
    changed = [k for k in stored_stem if stored_stem[k].dtype.is_floating_point
               and not torch.equal(stored_stem[k], fresh[k])]
    assert changed  # fine-tuning moved the stem, and that tuned stem is what the next candidate will load


def test_the_keep_prior_gives_keep_the_asked_probability():
    """5 actions, a part to change with probability 0.25: keep's logit is log(0.75 * 4 / 0.25) = log 12, so
    softmax gives keep 12 / 16 = 0.75 and each other action 1/16."""
    prior = keep_prior(5, 4, 0.25)
    assert torch.allclose(torch.softmax(prior, 0), torch.tensor([1 / 16] * 4 + [0.75]))
    assert torch.equal(keep_prior(5, 4, 0.8), torch.zeros(5))  # already at least uniform's change: no offset


def test_moves_sets_how_many_parts_a_step_changes_at_the_start():
    """With ``moves`` m, each of the F scaled parts and the insert/remove decision changes with probability
    m / (F + 1) under the untrained policy, so a step changes about m parts (the layer-wise parts of proxyless:
    F = 22; without the prior a step would change most of them)."""
    sp = get_space("proxyless")
    acts = ActionSpace(sp, "layer")
    g = torch.Generator().manual_seed(0)
    a = sp.parse(",".join(["k5_e3"] * len(sp.layers)))  # every scale action is open in every layer
    counts = {}
    for moves in (0.0, 2.0):
        pol = EPNASPolicy(acts, moves=moves)
        pol.uniform = True  # the prior alone (the policy's own logits start near zero anyway)
        changed = [sum(x != y for x, y in zip(a.choices, pol.act(a, g)[0].choices)) for _ in range(200)]
        counts[moves] = sum(changed) / len(changed)
    assert 1.2 < counts[2.0] < 3.0 and counts[0.0] > 12, counts
