"""The planted-optimum task: its exact optimum, and the searchers run on it through their own ``search()``.

Everything here is deterministic (planted tables, seeded searches): no timing, no sampled accuracy."""

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import shared_path
from hwnas.cost.layer_costs import LayerCosts
from hwnas.lut import LatencyPredictor
from hwnas.lut.importers import import_proxylessnas
from hwnas.search.planted import PlantedTask, planted_strategy, run_planted
from hwnas.space import get_space
from hwnas.space.arch import Arch


def toy_task(seed: int, low: float = 0.0) -> PlantedTask:
    """5 layers x 4 choices (1024 archs): small enough to enumerate.  ``low`` < 0 gives some choices a negative
    cost, as a LUT's skip gets (median minus the per-network overhead)."""
    rng = np.random.default_rng(seed)
    layers = [SimpleNamespace(choices=("a", "b", "c", "d")) for _ in range(5)]
    space = SimpleNamespace(name="toy", layers=layers)
    cost = LayerCosts("latency", 20.0, tuple({c: float(v) for c, v in zip("abcd", rng.uniform(low, 10, 4))}
                                            for _ in layers))
    return PlantedTask.make(space, cost, tightness=0.4, seed=seed)


@pytest.mark.parametrize("seed,low", [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, -3.0), (5, -3.0)])
def test_dynamic_program_finds_the_enumerated_optimum_and_greedy_does_not_always(seed, low):
    task = toy_task(seed, low)
    assert low == 0 or min(v for d in task.cost.layers for v in d.values()) < 0
    archs = [Arch("toy", ch) for ch in itertools.product("abcd", repeat=5)]
    ok = [a for a in archs if task.cost_of(a) <= task.bound + 1e-9]
    best = max(ok, key=task.accuracy)
    assert task.accuracy(task.optimum) == pytest.approx(task.accuracy(best), abs=1e-12)
    assert task.optimum_accuracy == pytest.approx(task.accuracy(best), abs=1e-12)
    assert task.cost_of(task.optimum) <= task.bound + 1e-9


def test_neighbour_interactions_make_a_layer_wise_choice_suboptimal():
    """Without a bound, the layer-wise best (each layer's best unary value) is not the optimum in some task."""
    gaps = []
    for seed in range(6):
        task = toy_task(seed)
        task.bound = task.cost.maximum()
        opt, acc = task.solve()
        greedy = Arch("toy", tuple(layer.choices[int(np.argmax(u))] for layer, u in zip(task.space.layers,
                                                                                        task.unary)))
        gaps.append(acc - task.accuracy(greedy))
    assert min(gaps) >= -1e-12 and max(gaps) > 1e-4


@pytest.fixture(scope="module")
def pixel_task():
    lut = import_proxylessnas(shared_path("data", "luts", "proxylessnas_mobile_trim.yaml"))
    sp = get_space("proxyless")
    return PlantedTask.make(sp, LatencyPredictor(lut, sp).layer_costs(), seed=0)


def test_the_planted_supernet_likelihood_is_the_planted_accuracy(pixel_task):
    task = pixel_task
    net, data = task.supernet(), task.data(n_train=64, n_val=16)
    for a in (task.optimum, task.space.random_arch(__import__("random").Random(1))):
        lp = torch.log_softmax(net(data.x_val, a), 1).gather(1, data.y_val[:, None])
        assert torch.allclose(lp.exp(), torch.full_like(lp, task.accuracy(a)), atol=1e-5)


def test_searchers_on_the_planted_task(pixel_task):
    """Short runs through each strategy's own search(): evolution beats random at the same budget, every result
    meets the bound, and the optimum is known (regret >= 0)."""
    task = pixel_task
    rnd = run_planted(task, "random", seed=0, budget=200)
    evo = run_planted(task, "evolution", seed=0, budget=200, options={"population": 20, "generations": 9})
    assert evo.regret < rnd.regret
    for run in (rnd, evo):
        assert run.regret >= -1e-12 and task.cost_of(task.space.parse(run.arch)) <= task.bound * (1 + 1e-9)
        regrets = [r for _, r in run.anytime]
        assert all(b <= a + 1e-12 for a, b in zip(regrets, regrets[1:]))  # best so far never worsens


def test_fpnas_entropy_and_k_fall_on_the_planted_task(pixel_task):
    """Adaptive K = ceil(λH) changes during a run because the α parameters learn from the planted likelihood."""
    logs = []
    run_planted(pixel_task, "probabilistic", seed=0, options={"epochs": 5, "warmup": 1, "theta": 2},
                on_strategy=lambda s: logs.extend(s.epochs_log))
    ent = [r["entropy"] for r in logs]
    ks = [r["k_last"] for r in logs]
    assert ent[-1] < ent[0] - 3 and ks[-1] < ks[0]


def test_hournas_parameters_move_on_the_planted_task(pixel_task):
    """θ_vital, Θ and Π leave their start (before the fixes they stayed within 0.06 of it)."""
    start = {}

    def grab(s):
        start["theta_vital"] = [p.detach().clone() for p in s.theta_vital.parameters()]

    task = pixel_task
    s = planted_strategy(task, "hournas", options={"vital_epochs": 1, "epochs": 2, "proposal_iters": 200})
    grab(s)
    pi0 = s.pi.detach().clone()
    theta_at_proposals = {}
    make = s.make_proposals

    def make_and_keep():
        make()
        theta_at_proposals["theta"] = s.proposals.theta.detach().clone()

    s.make_proposals = make_and_keep
    s.run()
    moved_vital = max(float((a - b.detach()).abs().max()) for a, b in zip(start["theta_vital"],
                                                                         s.theta_vital.parameters()))
    moved_theta = float((s.proposals.theta.detach() - theta_at_proposals["theta"]).abs().max())
    moved_pi = float((s.pi.detach() - pi0).abs().max())
    assert moved_vital > 0.1 and moved_theta > 0.1 and moved_pi > 0.05, (moved_vital, moved_theta, moved_pi)
    assert math.isfinite(task.regret(task.space.parse(s.best.arch)))


def test_hournas_stage_2_improves_the_best_proposal_on_the_planted_task(pixel_task):
    """At the defaults, the best proposal's most probable arch gains planted accuracy epoch by epoch of stage 2
    (before the proposals kept their spread, no proposal's mode ever changed)."""
    logs = []
    run = run_planted(pixel_task, "hournas", seed=0, on_strategy=lambda s: logs.extend(s.epochs_log))
    acc = [r["mode_accuracy"] for r in logs if r["stage"] == "non-vital"]
    assert len(acc) == 4 and acc[-1] > acc[0] + 0.05, acc
    assert run.regret < 0.2


def test_epnas_runs_its_loop_with_uniform_actions_as_the_ablation(pixel_task):
    """--opt actions=uniform runs the same seeding and morphing loop with every unmasked action equally likely
    and no policy update: the baseline the learned policy must beat.  Both log the policy's entropy per episode."""
    logs = {}
    for actions in ("policy", "uniform"):
        run_planted(pixel_task, "epnas", seed=0, options={"episodes": 2, "branches": 3, "steps": 3,
                                                          "actions": actions},
                    on_strategy=lambda s, a=actions: logs.update({a: (s.episodes_log, s.policy)}))
    pol_log, pol = logs["policy"]
    uni_log, uni = logs["uniform"]
    assert not pol.uniform and uni.uniform
    assert all(r["policy_entropy"] > 0 for r in pol_log + uni_log)
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in uni.parameters())  # never updated


def test_an_epnas_search_is_reproducible_from_its_seed(pixel_task):
    """The policy's initial weights come from the search's seed: torch's global RNG state does not matter."""
    policies = []
    for noise in (1, 2):
        torch.manual_seed(noise)
        policies.append(planted_strategy(pixel_task, "epnas", seed=3, budget=40).policy.state_dict())
    assert all(torch.equal(policies[0][k], policies[1][k]) for k in policies[0])


def test_epnas_stops_when_an_episode_meets_no_new_network(pixel_task):
    """Episodes run until the budget is spent, or until the policy has concentrated so much that a whole episode
    revisits known networks; the run then says so instead of looping."""
    got = {}
    run = run_planted(pixel_task, "epnas", seed=0, options={"policy_lr": 0.05},
                      on_strategy=lambda s: got.update(s=s))
    s = got["s"]
    assert s.converged and run.evaluations < s.budget == 1000
    assert s.episodes_log[-1]["new_networks"] == 0 and "converged" in s.report()
    assert s.extra_result()["epnas"]["converged"] is True
