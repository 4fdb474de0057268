"""GPU paths (CUDA / TensorRT).  They run where an NVIDIA GPU is present and skip, saying why, elsewhere."""

import math
import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from conftest import requires_gpu
from hwnas.profilers import get_profiler
from hwnas.profilers.base import TimingConfig
from hwnas.space.ops import OpSig, build_op

SMALL = OpSig.make("mbconv", (16, 56, 56), cin=16, cout=24, k=3, e=6, s=2, res=0, act="relu6")
FAST = TimingConfig(warmup=5, block=10, min_runs=20, max_runs=60, rounds=2)


def _ort_cuda() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


requires_trt = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None,
                                  reason="TensorRT is not installed (pip install -e '.[gpu]' on a CUDA machine)")
requires_ort_cuda = pytest.mark.skipif(
    not _ort_cuda(), reason="onnxruntime here has no CUDAExecutionProvider (needs onnxruntime-gpu)"
)


@requires_gpu
def test_torch_cuda_measures_with_events():
    with get_profiler("torch", device="cuda", config=FAST) as p:
        st = p.measure(build_op(SMALL), SMALL.in_shape)
        fp = p.fingerprint()
    assert 0 < st.p10 <= st.median <= st.p90 and math.isfinite(st.p90)  # no speed bound: timing is a benchmark's job
    assert fp["gpu"] and fp["cuda"]


@requires_gpu
def test_profile_cli_cuda_small_space(tmp_path):
    out = tmp_path / "fb.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "hwnas", "profile", "--space", "fbnet", "--device", "cuda", "--input", "64", "--out",
         str(out), "--json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["measured"] == d["ops"] > 0 and d["backend"] == "torch"


@requires_gpu
def test_torch_cuda_graph_replays_the_module():
    torch.manual_seed(0)
    m = build_op(SMALL)
    with get_profiler("torch", device="cuda", cuda_graph=True, config=FAST) as p:
        run = p.compile(m, SMALL.in_shape)
        got = run().cpu()
        st = p.time_runnable(run)
        again = p.measure(build_op(SMALL), SMALL.in_shape)  # measure() captures afresh
        assert p.fingerprint()["execution"] == "cuda-graph"
    with torch.no_grad():
        ref = m.cpu()(p.input_tensor(SMALL.in_shape))
    assert (got - ref).abs().max().item() <= 1e-3 * max(1.0, ref.abs().max().item())
    assert 0 < st.p10 <= st.median <= st.p90 and math.isfinite(st.p90) and again.median > 0


@requires_gpu
@requires_ort_cuda
def test_ort_cuda_ep_runs_on_the_gpu():
    with get_profiler("ort", device="cuda", config=FAST) as p:
        st = p.measure(build_op(SMALL), SMALL.in_shape)
        assert p.fingerprint()["provider"] == "CUDAExecutionProvider"
    assert 0 < st.p10 <= st.median <= st.p90 and math.isfinite(st.p90)  # no speed bound: timing is a benchmark's job


@requires_gpu
@requires_ort_cuda
def test_ort_cuda_graph_runs():
    with get_profiler("ort", device="cuda", cuda_graph=True, config=FAST) as p:
        st = p.measure(build_op(SMALL), SMALL.in_shape)
        assert p.fingerprint()["execution"] == "cuda-graph"
    assert 0 < st.p10 <= st.median <= st.p90 and math.isfinite(st.p90)  # no speed bound: timing is a benchmark's job


@requires_gpu
@requires_trt
@pytest.mark.parametrize("fp16,tol", [(False, 1e-3), (True, 1e-2)])
def test_tensorrt_engine_parity_and_timing(tmp_path, fp16, tol):
    from hwnas.profilers.onnx_file import to_onnx
    from hwnas.profilers.tensorrt_backend import TRTEngine, build_engine
    torch.manual_seed(0)
    m = build_op(SMALL).eval()
    x = torch.randn(1, *SMALL.in_shape)
    path = to_onnx(m, x, str(tmp_path / "m.onnx"))
    eng = TRTEngine(build_engine(path, fp16=fp16), "cuda")
    got = eng(x.cuda()).cpu()
    with torch.no_grad():
        ref = m(x)
    assert (got - ref).abs().max().item() <= tol * max(1.0, ref.abs().max().item())
    with get_profiler("tensorrt", device="cuda", fp16=fp16, config=FAST) as p:
        assert p.measure(m, SMALL.in_shape).median > 0


def test_cuda_request_without_gpu_is_one_line_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = subprocess.run([sys.executable, "-m", "hwnas", "profile", "--device", "cuda", "--out",
                        str(tmp_path / "c.yaml")], capture_output=True, text=True)
    assert r.returncode != 0 and "no CUDA GPU" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cuda_graph_needs_cuda_and_torch(tmp_path):
    for extra in (["--device", "cpu", "--backend", "torch"], ["--device", "cpu", "--backend", "ort"]):
        r = subprocess.run([sys.executable, "-m", "hwnas", "profile", "--cuda-graph", *extra, "--out",
                            str(tmp_path / "g.yaml")],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "--cuda-graph" in r.stderr and "Traceback" not in r.stderr
