"""Supernet training levers: the sandwich rule, in-place distillation, strict fairness -- what each step trains
and what it learns from (no accuracy or timing thresholds)."""

import random

import pytest
import torch

from hwnas.constraints import CostModel
from hwnas.cost import count_arch
from hwnas.data import load_digits
from hwnas.errors import HwnasError
from hwnas.space import get_space
from hwnas.supernet.levers import Recipe, distill_loss, extremes, fair_paths, recipe_step, step_paths


@pytest.mark.parametrize("space", ["proxyless", "fbnet", "spos"])
def test_sandwich_samples_the_largest_and_the_smallest_path(space):
    sp = get_space(space, input_size=32, num_classes=10)
    big, small = extremes(sp)
    rng = random.Random(0)
    cost = CostModel(sp)
    macs = [cost.metrics(sp.random_arch(rng), ["macs"])["macs"] for _ in range(30)]
    assert cost.metrics(big, ["macs"])["macs"] >= max(macs) and cost.metrics(small, ["macs"])["macs"] <= min(macs)
    assert count_arch(sp, small).macs == cost.metrics(small, ["macs"])["macs"]
    paths = step_paths(sp, Recipe(sandwich=2), random.Random(1))
    assert [p for p, _ in paths[:2]] == [big, small] and len(paths) == 4


@pytest.mark.parametrize("space", ["proxyless", "spos", "resnet"])
def test_strict_fairness_trains_every_choice_exactly_once_per_group(space):
    sp = get_space(space)
    m = max(len(layer.choices) for layer in sp.layers)
    for seed in range(3):
        paths = fair_paths(sp, random.Random(seed))
        assert len(paths) == m
        for i, layer in enumerate(sp.layers):
            used = [p.choices[i] for p in paths]
            if len(layer.choices) == m:
                assert sorted(used) == sorted(layer.choices)  # each exactly once
            else:
                assert set(layer.choices) <= set(used)  # every choice at least once, none more than twice
                assert max(used.count(c) for c in layer.choices) <= 2
    a, b = fair_paths(sp, random.Random(0)), fair_paths(sp, random.Random(1))
    assert a != b  # a fresh permutation each group


def test_distillation_teaches_with_the_largest_paths_outputs():
    """The largest path comes first and learns from the labels; the others' loss is the cross-entropy against its
    softmax: a student that outputs the teacher's logits has the teacher's entropy as its loss, and its gradient
    vanishes only at the teacher's distribution."""
    sp = get_space("proxyless", input_size=16, num_classes=10)
    big, _ = extremes(sp)
    paths = step_paths(sp, Recipe(sandwich=1, distill=True), random.Random(0))
    assert paths[0] == (big, True) and all(not t for _, t in paths[1:])
    t = torch.tensor([[2.0, 0.0, -1.0]])
    p = torch.softmax(t, 1)
    assert float(distill_loss(t.clone(), t)) == pytest.approx(float(-(p * p.log()).sum()), rel=1e-6)
    s = torch.zeros(1, 3, requires_grad=True)
    distill_loss(s, t).backward()
    assert torch.allclose(s.grad, (torch.softmax(s.detach(), 1) - p), atol=1e-6)


def test_a_distilled_step_feeds_the_teachers_logits_to_the_students():
    """Records what the step computes: every student's loss target is the teacher's (first path's) output."""
    sp = get_space("proxyless", input_size=16, num_classes=10)
    calls = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, x, arch):
            calls.append(arch)
            return self.w * torch.full((x.shape[0], 10), float(len(calls)))

    seen = []

    def loss_fn(logits, y):
        seen.append("labels")
        return torch.nn.functional.cross_entropy(logits, y)

    step = recipe_step(sp, Recipe(sandwich=1, distill=True), seed=0)
    x, y = torch.zeros(4, 3, 16, 16), torch.zeros(4, dtype=torch.long)
    loss, first = step(Spy(), x, y, 0, loss_fn)
    big, _ = extremes(sp)
    assert calls[0] == big and len(calls) == 3 and seen == ["labels"]  # only the teacher saw the labels
    assert torch.equal(first, torch.full((4, 10), 1.0))


def test_levers_train_end_to_end_and_resume_refuses_other_levers(tmp_path):
    from hwnas.data import Dataset
    from hwnas.supernet.api import train_supernet
    from hwnas.supernet.train import TrainConfig

    full = load_digits(size=16)
    data = Dataset("digits-128", full.x_train[:128], full.y_train[:128], full.x_val, full.y_val, 10)
    sp = get_space("proxyless", input_size=16, num_classes=10)
    cfg = TrainConfig(epochs=1, batch_size=64, seed=0)
    for sharing in ("entangled", "separate"):
        recipe = Recipe(sandwich=0, distill=True, fair=True)
        net, res = train_supernet(sp, data, cfg, str(tmp_path / sharing), sharing=sharing, recipe=recipe)
        assert res.epochs_done == 1 and torch.isfinite(torch.tensor(res.history[-1]["loss"]))
    with pytest.raises(HwnasError, match="trained with"):
        train_supernet(sp, data, TrainConfig(epochs=2, batch_size=64, seed=0), str(tmp_path / "separate"),
                       resume=True, sharing="separate", recipe=Recipe())
