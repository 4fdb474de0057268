import random
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import shared_path
from hwnas.export.final import export, read_onnx_metadata
from hwnas.supernet.standalone import load_weights
from hwnas.space import get_space


@pytest.fixture(scope="module")
def digits_supernet(tmp_path_factory):
    """(net, checkpoint path) of one proxyless supernet trained 4 epochs on digits, shared by this module's tests."""
    from hwnas.data import load_dataset
    from hwnas.supernet.api import TrainConfig, train_supernet
    ds = load_dataset("digits")
    d = tmp_path_factory.mktemp("sn")
    sp = get_space("proxyless", input_size=ds.image_size, num_classes=10)
    net, _ = train_supernet(sp, ds, TrainConfig(epochs=4, lr=0.05), str(d), sharing="entangled")
    return net, str(d / "checkpoint.pt")


SPACES = ["proxyless", "mobilenetv2", "fbnet", "spos", "fpnas", "resnet", "fbnetv2"]


@pytest.mark.parametrize("name", SPACES)
def test_onnx_and_executorch_exports_random_arch(name, tmp_path):
    sp = get_space(name, input_size=32, num_classes=10)
    rng = random.Random(11)
    arch = str(sp.random_arch(rng))
    while "w8a8" in arch:  # int8 convs export only with --int8 (tests/test_quant.py covers that path)
        arch = str(sp.random_arch(rng))
    r1 = export(name, arch, "onnx", str(tmp_path / "m.onnx"), input_size=32, num_classes=10, dynamic_batch=True,
                extra_meta={"constraints": ["latency <= 6ms"]}, time_it=False)
    assert r1.parity_ok and r1.max_abs_diff <= 1e-4
    md = read_onnx_metadata(str(tmp_path / "m.onnx"))
    assert md["hwnas.space"] == name and md["hwnas.arch"] == arch and int(md["hwnas.macs"]) > 0
    assert yaml.safe_load(md["hwnas.constraints"]) == ["latency <= 6ms"]
    sp_back = get_space(md["hwnas.space"], input_size=32, num_classes=10)
    assert str(sp_back.parse(md["hwnas.arch"])) == arch  # metadata round-trips to the same arch
    import onnx
    m = onnx.load(str(tmp_path / "m.onnx"))
    assert m.opset_import[0].version >= 17
    onnx.checker.check_model(m)
    r2 = export(name, arch, "executorch", str(tmp_path / "m.pte"), input_size=32, num_classes=10, time_it=False)
    assert r2.parity_ok and r2.max_abs_diff <= 1e-4


def test_export_prints_measured_latency(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "hwnas", "export", "--space", "fbnet", "--arch", "fbnet_c", "--format", "onnx",
         "--input", "64", "--out", str(tmp_path / "c.onnx")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "latency on onnxruntime" in r.stdout and "max |diff|" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--format", "bogus"], "--format"),
    (["--format", "onnx", "--weights", "/nonexistent/weights.pt"], "not found"),
])
def test_export_bad_inputs(tmp_path, args, needle):
    r = subprocess.run([sys.executable, "-m", "hwnas", "export", "--space", "proxyless", "--arch", "proxyless_mobile",
                        "--out", str(tmp_path / "x.onnx"), *args], capture_output=True, text=True)
    assert r.returncode != 0 and needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_tensorrt_without_gpu_is_one_line_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU (see tests/test_gpu.py)")
    r = subprocess.run([sys.executable, "-m", "hwnas", "export", "--space", "proxyless", "--arch", "proxyless_mobile",
                        "--format", "tensorrt", "--out", str(tmp_path / "m.engine")], capture_output=True, text=True)
    assert r.returncode != 0 and "NVIDIA GPU" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_search_train_export_end_to_end(digits_supernet, tmp_path):
    """search result -> hwnas train -> hwnas export --format onnx: the exported model's accuracy equals PyTorch's."""
    from hwnas.constraints import Constraint
    from hwnas.data import load_dataset
    from hwnas.lut.importers import import_proxylessnas
    from hwnas.search.driver import run_search
    from hwnas.search.plan import SearchPlan
    ds = load_dataset("digits")
    net, sn_ck = digits_supernet
    lut = import_proxylessnas(shared_path("data", "luts", "proxylessnas_mobile_trim.yaml"))
    deploy = get_space("proxyless")
    run_search(SearchPlan.make(deploy, [Constraint.parse("latency", "80ms")], "random", None, 6, lut), net, ds,
               str(tmp_path / "s"), {}, remeasure=False)
    result = str(tmp_path / "s" / "result.yaml")
    r = subprocess.run([sys.executable, "-m", "hwnas", "train", "--arch", result, "--epochs", "2", "--out",
                        str(tmp_path / "t"), "--init", f"supernet:{sn_ck}", "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    weights = str(tmp_path / "t" / "weights.pt")
    onnx_path = str(tmp_path / "final.onnx")
    r = subprocess.run(
        [sys.executable, "-m", "hwnas", "export", "--arch", result, "--weights", weights, "--format", "onnx", "--input",
         str(ds.image_size), "--dynamic-batch", "--out", onnx_path],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    md = read_onnx_metadata(onnx_path)
    assert md["hwnas.arch"] == yaml.safe_load(open(result))["arch"] and "latency <= 80ms" in md["hwnas.constraints"]
    ck = load_weights(weights)
    net_pt = get_space("proxyless", input_size=ds.image_size, num_classes=10).build(
        get_space("proxyless").parse(ck["meta"]["arch"]))
    net_pt.load_state_dict(ck["model"])
    net_pt.eval()
    from hwnas.profilers import get_profiler
    x = ds.x_val.contiguous()
    with torch.no_grad():
        pt_pred = net_pt(x).argmax(1).numpy()
    with get_profiler("ort") as runner:
        ox_pred = runner.load(onnx_path)(x).argmax(1).numpy()
    acc_pt = float((pt_pred == ds.y_val.numpy()).mean())
    acc_ox = float((ox_pred == ds.y_val.numpy()).mean())
    assert acc_ox == acc_pt and acc_pt > 0.2  # trained (chance is 0.1) and identical
    metrics = yaml.safe_load(open(tmp_path / "t" / "metrics.yaml"))
    assert metrics["val_accuracy"] == pytest.approx(acc_pt)
    r = subprocess.run([sys.executable, "-m", "hwnas", "export", "--arch", result, "--weights", weights, "--format",
                        "onnx", "--classes", "5", "--out", str(tmp_path / "c5.onnx")], capture_output=True, text=True)
    assert r.returncode == 2 and "trained for 10 classes" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_finetuning_from_the_supernet_does_not_lose_accuracy(digits_supernet, tmp_path):
    """`hwnas train --init supernet:...` starts at the inherited accuracy (BN recalibrated) and does not drop below."""
    from hwnas.data import load_dataset
    ds = load_dataset("digits")
    sp = get_space("proxyless", input_size=ds.image_size, num_classes=10)
    arch = str(sp.random_arch(random.Random(5)))
    r = subprocess.run([sys.executable, "-m", "hwnas", "train", "--space", "proxyless", "--arch", arch, "--epochs", "3",
                        "--init", f"supernet:{digits_supernet[1]}", "--out", str(tmp_path / "ft"),
                        "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json
    m = json.loads(r.stdout)
    assert m["init_accuracy"] > 0.5 and m["config"]["lr"] == 0.005
    assert m["val_accuracy"] >= m["init_accuracy"], (m["init_accuracy"], m["val_accuracy"])
