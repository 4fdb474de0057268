import math

import pytest
import torch

from hwnas.errors import BackendUnavailableError
from hwnas.profilers import get_profiler, list_profilers
from hwnas.profilers.base import TimingConfig, TimingStats
from hwnas.space import get_space
from hwnas.space.ops import OpSig, build_op

SMALL = OpSig.make("mbconv", (16, 16, 16), cin=16, cout=24, k=3, e=3, s=2, res=0, act="relu6")
FAST = TimingConfig(warmup=3, block=5, min_runs=10, max_runs=40, rounds=2)


def test_registry_lists_all_backends():
    assert {"torch", "ort", "tensorrt", "executorch", "litert"} <= set(list_profilers())


@pytest.mark.parametrize("backend", ["torch", "ort", "executorch", "litert"])
def test_cpu_backend_measures_small_op(backend):
    with get_profiler(backend, device="cpu", threads=1, config=FAST) as p:
        st = p.measure(build_op(SMALL), SMALL.in_shape)
        assert isinstance(st, TimingStats)
        assert 0 < st.p10 <= st.median <= st.p90 and math.isfinite(st.p90)  # no bound on speed: CI may be busy
        assert st.n >= FAST.min_runs and 0 <= st.cv and math.isfinite(st.cv)
        many = p.measure_many([p.compile(build_op(SMALL), SMALL.in_shape)] * 2, rounds=2, runs=5)
        assert len(many) == 2 and all(len(s.round_medians) == 2 for s in many)
        ovh = p.overhead_ms(SMALL.in_shape)
        assert 0 < ovh and math.isfinite(ovh)
        fp = p.fingerprint()
        assert fp["threads"] == 1 and fp["backend"] == backend and fp["cpu"]


def test_unavailable_device_and_runtime_errors():
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
            get_profiler("torch", device="cuda")
        with pytest.raises(BackendUnavailableError):
            get_profiler("tensorrt", device="cuda")
    with pytest.raises(BackendUnavailableError, match="cannot run on device 'cpu'"):
        get_profiler("tensorrt", device="cpu")
    with pytest.raises(BackendUnavailableError, match="unknown ORT provider"):
        get_profiler("ort", provider="nope")


def test_android_without_phone_says_so(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackendUnavailableError, match="adb"):
        get_profiler("litert", device="android")


def _net(space="proxyless", size=64, seed=3):
    import random
    sp = get_space(space, input_size=size, num_classes=10)
    torch.manual_seed(0)
    m = sp.build(sp.random_arch(random.Random(seed))).eval()
    # non-trivial BN statistics so the comparison is not dominated by identity-like layers
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m, torch.randn(1, 3, size, size)


def test_executorch_pte_matches_pytorch(tmp_path):
    from hwnas.profilers.executorch_backend import ExecuTorchModel, to_executorch
    m, x = _net()
    path = to_executorch(m, x, str(tmp_path / "m.pte"))
    got = ExecuTorchModel(path)(x)
    with torch.no_grad():
        ref = m(x)
    assert (got - ref).abs().max().item() <= 1e-4


def test_litert_tflite_matches_pytorch(tmp_path):
    from hwnas.profilers.litert_backend import TFLiteModel, to_tflite
    m, x = _net("fbnet", seed=5)
    path = to_tflite(m, x, str(tmp_path / "m.tflite"))
    got = TFLiteModel(path, threads=1)(x)
    with torch.no_grad():
        ref = m(x)
    assert (got - ref).abs().max().item() <= 1e-4
