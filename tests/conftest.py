import os
import sys

# One thread per process: pytest-xdist runs two workers on two cores, and the CLI subprocesses a test starts inherit
# this environment. With torch's default (one OpenMP thread per core) a worker's subprocess and the other worker
# oversubscribe the cores, and OpenMP's spin-waiting made a 28 s test take 229 s under load.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
torch.set_num_threads(1)

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


def shared_path(*parts: str) -> str:
    """A file under ../shared (the read-only data beside the checkout); skip the test if it is absent."""
    p = os.path.join(SHARED, *parts)
    if not os.path.exists(p):
        pytest.skip(f"{p} not present (shared/ data sits beside the checkout)")
    return p


def has_cuda() -> bool:
    return torch.cuda.is_available()


requires_gpu = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA; none on this machine"
)


@pytest.fixture(scope="module")
def small_calibrated_lut(tmp_path_factory):
    """A quickly profiled and calibrated ORT-CPU LUT of ``proxyless`` at 32 px, 10 classes (for searches on digits)."""
    from hwnas.lut.calibration import calibrate
    from hwnas.lut.profile import profile_space
    from hwnas.profilers import TimingConfig, get_profiler
    from hwnas.space import get_space
    path = str(tmp_path_factory.mktemp("lut") / "prox32.yaml")
    sp = get_space("proxyless", input_size=32, num_classes=10)
    with get_profiler("ort", config=TimingConfig(warmup=2, block=3, min_runs=6, max_runs=12, rounds=1)) as prof:
        lut = profile_space(sp, prof, path).lut
        calibrate(lut, sp, prof, samples=4, rounds=1)
        lut.save(path)
    return path


def search_cli(strategy: str, lut: str, out, *args: str, resume: bool = False, cache=None):
    """``hwnas search --strategy S --lut L ARGS --out OUT --no-remeasure`` in a subprocess, with its own cache
    (or ``cache``, to share a trained supernet between tests)."""
    import subprocess

    cmd = [sys.executable, "-m", "hwnas", "search", "--strategy", strategy, "--lut", lut, *args, "--out", str(out),
           "--no-remeasure", *(["--resume"] if resume else [])]
    env = dict(os.environ, HWNAS_CACHE=str(cache or f"{out}-cache"))
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def lut_cost_model(lut_path: str):
    """(space, CostModel) of a LUT file: the bounds of a test's search are set from them."""
    from hwnas.constraints import CostModel
    from hwnas.lut import LUT, LatencyPredictor, space_for

    lut = LUT.load(lut_path)
    sp = space_for(lut)
    return sp, CostModel(sp, LatencyPredictor(lut, sp))
