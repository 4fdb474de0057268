"""Adding a runtime is one file (issue 26): a toy runner registered in ``tests/toy_runner.py`` profiles,
calibrates, predicts, searches and exports through the CLI, its declared option reaches the runner and is
restored from the LUT's fingerprint; and ``hwnas search`` passes runner options (``--provider``, ``--cuda-graph``)
through to the LUT it builds."""

import json
import os
import subprocess
import sys

import yaml

from conftest import requires_gpu

TOY = os.path.join(os.path.dirname(__file__), "toy_runner.py")


def _cli(*args, plugins=TOY, cache=None):
    env = dict(os.environ, HWNAS_PLUGINS=plugins)
    if cache:
        env["HWNAS_CACHE"] = str(cache)
    return subprocess.run([sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, env=env)


def test_a_runner_in_one_file_profiles_predicts_and_exports_through_the_cli(tmp_path):
    lut = tmp_path / "toy.yaml"
    r = _cli("profile", "--space", "mobilenetv2", "--input", "32", "--classes", "10", "--backend", "toy",
             "--copies", "2", "--rounds", "1", "--out", str(lut), "--json")
    assert r.returncode == 0, r.stderr
    meta = yaml.safe_load(lut.read_text())
    assert meta["backend"] == "toy" and meta["fingerprint"]["toy_copies"] == 2  # the declared option reached it
    # calibration rebuilds the runner from the fingerprint: the option comes back, so no "other runtime" warning
    r = _cli("lut", "calibrate", "--lut", str(lut), "--samples", "3", "--rounds", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert "another device/runtime" not in r.stdout + r.stderr
    r = _cli("predict", "--lut", str(lut), "--arch", "mobilenetv2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["archs"][0]["latency_ms"] > 0
    out = tmp_path / "m.ts"
    r = _cli("export", "--space", "mobilenetv2", "--arch", "mobilenetv2", "--format", "toy", "--input", "32",
             "--classes", "10", "--copies", "3", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["parity_ok"] and rep["latency_ms"] > 0 and out.stat().st_size > 1000
    # the option is the toy runner's alone: another format's runner refuses it in one line
    r = _cli("export", "--space", "mobilenetv2", "--arch", "mobilenetv2", "--format", "onnx", "--copies", "3",
             "--out", str(tmp_path / "m.onnx"))
    assert r.returncode == 2 and "--copies applies to --format toy, not onnx" in r.stderr, r.stderr


def test_a_plugin_that_fails_to_load_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    r = _cli("spaces", plugins=str(bad))
    assert r.returncode == 2 and "HWNAS_PLUGINS: cannot load" in r.stderr and "boom" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_search_passes_runner_options_to_the_lut_it_builds(tmp_path):
    """CPU half: a declared option of the toy runner, given to ``hwnas search``, is in the fingerprint of the LUT
    the search profiles; the ORT options reach the ORT runner (which, without a GPU, refuses the CUDA provider)."""
    cache = tmp_path / "cache"
    r = _cli("search", "--space", "mobilenetv2", "--input", "32", "--backend", "toy", "--copies", "2",
             "--latency", "1000ms", "--strategy", "random", "--budget", "1", "--supernet-epochs", "1",
             "--no-remeasure", "--out", str(tmp_path / "s"), "--quiet", cache=cache)
    assert r.returncode == 0, r.stderr
    luts = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs if f.endswith(".yaml") and "luts" in d]
    assert len(luts) == 1 and "copies-2" in os.path.basename(luts[0])
    assert yaml.safe_load(open(luts[0]))["fingerprint"]["toy_copies"] == 2
    import torch

    if not torch.cuda.is_available():
        r = _cli("search", "--space", "mobilenetv2", "--input", "32", "--backend", "ort", "--provider", "cuda",
                 "--cuda-graph", "--latency", "1000ms", "--out", str(tmp_path / "o"), cache=cache)
        assert r.returncode != 0 and "CUDA" in r.stderr and "Traceback" not in r.stderr, r.stderr


@requires_gpu
def test_search_builds_a_cuda_graph_ort_lut_on_the_gpu(tmp_path):
    cache = tmp_path / "cache"
    r = _cli("search", "--space", "mobilenetv2", "--input", "32", "--device", "cuda", "--backend", "ort",
             "--provider", "cuda", "--cuda-graph", "--latency", "1000ms", "--strategy", "random", "--budget", "1",
             "--supernet-epochs", "1", "--no-remeasure", "--out", str(tmp_path / "s"), "--quiet", cache=cache)
    assert r.returncode == 0, r.stderr
    luts = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs if f.endswith(".yaml") and "luts" in d]
    fp = yaml.safe_load(open(luts[0]))["fingerprint"]
    assert fp["provider"] == "CUDAExecutionProvider" and fp["execution"] == "cuda-graph"
