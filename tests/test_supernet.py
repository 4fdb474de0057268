import os
import random
import subprocess
import sys

import pytest
import torch
import yaml

from hwnas.data import load_dataset
from hwnas.space import get_space
from hwnas.supernet import Supernet, extract
from hwnas.supernet.api import TrainConfig, evaluate, load_supernet, train_supernet
from hwnas.supernet.train import CKPT

SPACES = ["proxyless", "mobilenetv2", "fbnet", "spos", "fpnas", "resnet", "fbnetv2"]


@pytest.mark.parametrize("sharing", ["separate", "entangled"])
@pytest.mark.parametrize("name", SPACES)
def test_extract_parity(name, sharing):
    sp = get_space(name, input_size=32, num_classes=10)
    torch.manual_seed(0)
    sn = Supernet(sp, sharing)
    rng = random.Random(0)
    x = torch.randn(4, 3, 32, 32)
    sn.train()
    with torch.no_grad():
        for _ in range(3):  # move BN statistics away from their initial values
            sn(x, sp.random_arch(rng))
    sn.eval()
    for _ in range(10):
        a = sp.random_arch(rng)
        with torch.no_grad():
            y_super = sn(x, a)
            y_net = extract(sn, a).eval()(x)
        assert (y_super - y_net).abs().max().item() <= 1e-5


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_learning_is_real_with_bn_recalibration(digits, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sn"))
    sp = get_space("proxyless", input_size=digits.image_size, num_classes=10)
    net, res = train_supernet(sp, digits, TrainConfig(epochs=8, lr=0.05), out, sharing="entangled")
    rng = random.Random(7)
    archs = [sp.random_arch(rng) for _ in range(5)]
    with_recal = [evaluate(net, a, digits) for a in archs]
    without = [evaluate(net, a, digits, bn_recalibrate=False) for a in archs]
    assert min(with_recal) >= 0.85, with_recal
    assert sum(with_recal) / 5 > sum(without) / 5 + 0.01, (with_recal, without)
    # the checkpoint loads with weights_only=True and gives the same supernet
    ck = torch.load(os.path.join(out, CKPT), weights_only=True)
    assert ck["epoch"] == 8
    back, meta = load_supernet(out)
    assert meta["space"] == "proxyless" and meta["sharing"] == "entangled"
    assert evaluate(back, archs[0], digits) == pytest.approx(with_recal[0])


class Kill(Exception):
    pass


def _train(digits, out, epochs, resume=False, stop_at=None, exc=Kill):
    sp = get_space("resnet", input_size=digits.image_size, num_classes=10)

    def cb(stage, done, total, metrics):
        if stop_at is not None and done == stop_at:
            raise exc()

    return train_supernet(
        sp, digits, TrainConfig(epochs=epochs, lr=0.05, batch_size=128), out, resume=resume, progress=cb
    )


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_after_kill_is_bit_exact(digits, tmp_path):
    full, _ = _train(digits, str(tmp_path / "full"), 2)
    steps = digits.steps_per_epoch(128)
    with pytest.raises(Kill):  # killed during epoch 2, after epoch 1's checkpoint was written
        _train(digits, str(tmp_path / "cut"), 2, stop_at=steps + 3)
    ck = torch.load(str(tmp_path / "cut" / CKPT), weights_only=True)
    assert ck["epoch"] == 1 and ck["step_in_epoch"] == 0
    resumed, res = _train(digits, str(tmp_path / "cut"), 2, resume=True)
    assert res.epochs_done == 2 and _same(full, resumed)


def test_ctrl_c_saves_and_resumes_mid_epoch(digits, tmp_path):
    full, _ = _train(digits, str(tmp_path / "full"), 1)
    _, res = _train(digits, str(tmp_path / "cut"), 1, stop_at=4, exc=KeyboardInterrupt)
    assert res.interrupted
    ck = torch.load(str(tmp_path / "cut" / CKPT), weights_only=True)
    assert ck["epoch"] == 0 and ck["step_in_epoch"] == 4  # 4 steps were done
    resumed, _ = _train(digits, str(tmp_path / "cut"), 1, resume=True)
    assert _same(full, resumed)


def test_constrained_sampler_respects_flops(digits, tmp_path):
    from hwnas.constraints import Constraint, CostModel, HardFilter
    from hwnas.errors import ConstraintError
    deploy = get_space("proxyless", input_size=224)
    hard = HardFilter([Constraint.parse("flops", "420M")], CostModel(deploy))
    rng = random.Random(0)
    for _ in range(20):
        a = hard.sample(rng)
        assert hard.metrics(a)["flops"] <= 420e6
    with pytest.raises(ConstraintError, match="smallest achievable flops"):
        HardFilter([Constraint.parse("flops", "50M")], CostModel(deploy))


def test_torchrun_two_processes_gloo(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "hwnas", "train-supernet", "--space", "resnet", "--epochs", "1", "--batch-size", "64",
           "--out", str(out), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    m = yaml.safe_load(open(out / "metrics.yaml"))
    assert m["world_size"] == 2 and m["ranks_identical"] is True and m["epochs_done"] == 1
    assert os.path.exists(out / CKPT)


def test_bad_data_and_checkpoint_errors(tmp_path):
    for args, needle in [(["--data", "nope"], "unknown data source"),
                         (["--data", f"cifar10:{tmp_path}/missing"], "not found")]:
        r = subprocess.run([sys.executable, "-m", "hwnas", "train-supernet", "--out", str(tmp_path / "o"), *args],
                           capture_output=True, text=True)
        assert r.returncode != 0 and needle in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    from hwnas.errors import HwnasError
    with pytest.raises(HwnasError, match="not a readable"):
        load_supernet(str(bad))


def test_checkpoint_of_an_older_layout_is_a_one_line_error_and_a_stale_cache_entry_is_retrained(tmp_path,
                                                                                             monkeypatch):
    from hwnas.errors import CheckpointError
    from hwnas.search import setup
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path / "cache"))
    data = load_dataset("digits")
    ck, _, _ = setup.ensure_supernet("resnet", data, 1, 0, "separate")
    saved = torch.load(ck, weights_only=False)
    saved["model"]["choices.0.parents.1.conv1.0.weight"] = torch.zeros(1)  # a second parent, as an older layout had
    torch.save(saved, ck)
    with pytest.raises(CheckpointError, match="does not fit .* supernet layout.*train the supernet again") as e:
        load_supernet(ck)
    assert "\n" not in str(e.value)
    _, net, _ = setup.ensure_supernet("resnet", data, 1, 0, "separate")  # the stale cache entry is trained again
    assert all(len(layer.parents) == 1 for layer in net.choices)
    assert "choices.0.parents.1.conv1.0.weight" not in torch.load(ck, weights_only=False)["model"]


def test_chance_warning_only_near_chance():
    from hwnas.supernet.api import chance_warning

    assert "near chance (0.100)" in chance_warning([{"train_acc": 0.5}, {"train_acc": 0.11}], 10)
    assert chance_warning([{"train_acc": 0.11}, {"train_acc": 0.67}], 10) is None  # proxyless on digits, 4 epochs
    assert chance_warning([{"train_acc": 0.004}], 1000) is None  # 4x chance of 1,000 classes
    assert chance_warning([], 10) is None


def test_a_supernet_at_chance_warns_in_train_supernet_and_in_the_search_that_uses_it(tmp_path):
    """fbnet on digits after one epoch (22 steps) trains at chance (0.11 measured, docs/benchmarks.md): the
    training command and a search scoring with that supernet both say so."""
    sn = tmp_path / "sn"
    r = subprocess.run([sys.executable, "-m", "hwnas", "train-supernet", "--space", "fbnet", "--epochs", "1",
                        "--out", str(sn), "--quiet"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "warning: the supernet's training accuracy" in r.stderr, r.stderr
    assert "near chance" in yaml.safe_load(open(sn / "metrics.yaml"))["warnings"][0]
    r = subprocess.run([sys.executable, "-m", "hwnas", "search", "--space", "fbnet", "--supernet", str(sn),
                        "--strategy", "random", "--budget", "2", "--flops", "400M", "--out", str(tmp_path / "s"),
                        "--quiet"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "warning: the supernet's training accuracy" in r.stderr, r.stderr
    assert any("near chance" in w for w in yaml.safe_load(open(tmp_path / "s" / "result.yaml"))["warnings"])
