import os
import random
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import yaml

from conftest import shared_path
from hwnas.errors import LUTError
from hwnas.lut import LUT, LatencyPredictor, LUTFingerprintWarning
from hwnas.lut.calibration import fit_calibration
from hwnas.lut.validation import compare
from hwnas.lut.importers import import_proxylessnas, proxyless_key_to_sig
from hwnas.lut.profile import profile_space
from hwnas.profilers import get_profiler
from hwnas.profilers.base import TimingConfig
from hwnas.space import get_space

FAST = TimingConfig(warmup=2, block=3, min_runs=6, max_runs=12, rounds=2)


class CountingProfiler:
    """Wraps a profiler and counts compiled ops (what a resume must not redo)."""

    def __init__(self, inner):
        self.inner, self.compiled = inner, []

    def __getattr__(self, k):
        return getattr(self.inner, k)

    def compile(self, module, shape):
        self.compiled.append(shape)
        return self.inner.compile(module, shape)


@pytest.fixture(scope="module")
def small_lut(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("lut") / "fbnet.yaml")
    sp = get_space("fbnet", input_size=32, num_classes=10)
    with get_profiler("ort", config=FAST) as p:
        res = profile_space(sp, p, path)
    return path, sp, res


def test_profile_writes_complete_lut(small_lut):
    path, sp, res = small_lut
    lut = LUT.load(path)
    assert len(lut) == len(sp.distinct_ops()) == res.measured
    assert lut.meta["schema"] == "hwnas-lut/1" and lut.meta["fingerprint"]["threads"] == 1
    assert lut.overhead_ms > 0
    e = next(iter(lut.entries.values()))
    assert e.median > 0 and e.latency["n"] > 0 and e.macs >= 0
    # keys are the full canonical signature
    assert all(k == e2.op.key and "@" in k for k, e2 in lut.entries.items())


def test_multi_variable_space_profiles_and_predicts(tmp_path):
    """fbnetv2 (FP-NAS's five variables): its ops profile on ORT (hswish and squeeze-excite included) into LUT
    entries carrying the counters' MACs, and a network of profiled ops is predicted as their sum."""
    from hwnas.cost import ArchCoster

    sp = get_space("fbnetv2", input_size=32, num_classes=10)
    arch = sp.parse(",".join(["k5_e2_c75_hs_se", *["k3_e1_c50_re"] * (len(sp.layers) - 1)]))
    ops = list(dict.fromkeys([*sp.stem, *sp.units(arch)[len(sp.stem):]]))
    with get_profiler("ort", config=FAST) as p:
        lut = profile_space(sp, p, str(tmp_path / "v2.yaml"), ops=ops).lut
    coster = ArchCoster(sp)
    assert len(lut) == len(ops) and all(lut.entries[o.key].macs == coster.unit(o).macs for o in ops)
    assert all(e.median > 0 for e in lut.entries.values())
    raw = LatencyPredictor(lut, sp, calibrated=False).raw(arch)
    assert raw == pytest.approx(sum(lut.median(o) - lut.overhead_ms for o in sp.units(arch)) + lut.overhead_ms)


def test_lut_roundtrip(small_lut, tmp_path):
    path, _, _ = small_lut
    lut = LUT.load(path)
    out = tmp_path / "copy.yaml"
    lut.save(str(out))
    back = LUT.load(str(out))
    assert {k: e.to_dict() for k, e in back.entries.items()} == {k: e.to_dict() for k, e in lut.entries.items()}
    assert back.meta["fingerprint"] == lut.meta["fingerprint"]


def test_predictor_sums_entries(small_lut):
    path, sp, _ = small_lut
    lut = LUT.load(path)
    pred = LatencyPredictor(lut, sp)
    assert pred.complete
    rng = random.Random(0)
    archs = [sp.random_arch(rng) for _ in range(50)]
    ovh = lut.overhead_ms
    for a in archs[:5]:
        manual = sum(lut.median(s) - ovh for s in sp.units(a)) + ovh
        assert pred.raw(a) == pytest.approx(manual)
    batch = pred.predict_many(archs)
    assert np.allclose(batch, [pred.predict(a) for a in archs])


def test_resume_after_kill_measures_nothing_twice(tmp_path):
    path = str(tmp_path / "spos.yaml")
    cmd = [sys.executable, "-m", "hwnas", "profile", "--space", "spos", "--input", "32", "--classes", "10",
           "--rounds", "1", "--out", path, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(path):
            try:
                stored = len(LUT.load(path))
            except LUTError:
                stored = 0
            if stored >= 16:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = LUT.load(path)  # the atomic writes leave a valid file
    assert 16 <= len(before)
    sp = get_space("spos", input_size=32, num_classes=10)
    total = len(sp.distinct_ops())
    assert len(before) < total, "profile finished before it was killed; nothing to resume"
    with get_profiler("ort", config=FAST) as p:
        cp = CountingProfiler(p)
        res = profile_space(sp, cp, path, resume=True)
    assert res.skipped == len(before) and res.measured == total - len(before) == len(cp.compiled)
    after = LUT.load(path)
    assert len(after) == total
    for k, e in before.entries.items():
        assert after.entries[k].latency == e.latency


def test_existing_lut_not_clobbered(small_lut):
    path, sp, _ = small_lut
    from hwnas.errors import HwnasError

    with get_profiler("ort", config=FAST) as p, pytest.raises(HwnasError, match="--resume to continue it, --overwrite"):
        profile_space(sp, p, path)


@pytest.mark.parametrize("content,needle", [
    ("schema: hwnas-lut/1\nentries: {a: [", "not valid YAML"),
    ("schema: hwnas-lut/0\nentries: {}\n", "schema"),
    ("- 1\n- 2\n", "not an hwnas LUT"),
    ("schema: hwnas-lut/1\nentries:\n  x: {op: {type: conv}}\n", "malformed"),
])
def test_corrupt_lut_clear_error(tmp_path, content, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(content)
    with pytest.raises(LUTError, match=needle):
        LUT.load(str(p))
    r = subprocess.run([sys.executable, "-m", "hwnas", "lut", "show", str(p)], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr


def test_missing_lut_file_and_missing_op(small_lut, tmp_path):
    with pytest.raises(LUTError, match="not found"):
        LUT.load(str(tmp_path / "nope.yaml"))
    path, sp, _ = small_lut
    lut = LUT.load(path)
    victim = sp.choice_op(sp.layers[3], "k5_e6")
    del lut.entries[victim.key]
    pred = LatencyPredictor(lut, sp)
    assert not pred.complete
    a = sp.random_arch(random.Random(0)).replace(3, "k5_e6")
    with pytest.raises(LUTError, match=r"not in the LUT.*hwnas profile .*--resume"):
        pred.predict(a)


def test_fingerprint_mismatch_warns(small_lut):
    lut = LUT.load(small_lut[0])
    other = dict(lut.meta["fingerprint"], cpu="Some Other CPU", threads=4)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        diffs = lut.warn_if_foreign(other)
    assert len(diffs) == 2 and any(issubclass(x.category, LUTFingerprintWarning) for x in w)
    assert lut.warn_if_foreign(lut.meta["fingerprint"]) == []


def test_calibration_fit_and_metrics():
    raw = [1.0, 2.0, 3.0, 4.0]
    meas = [1.3, 2.5, 3.7, 4.9]
    s, o = fit_calibration(raw, meas)
    assert s == pytest.approx(1.2) and o == pytest.approx(0.1)
    raw8 = [1, 2, 3, 4, 5, 6, 7, 8]
    c = fit_calibration(raw8, [0.05 * r * r + r + 0.2 for r in raw8])
    assert c == pytest.approx([0.05, 1.0, 0.2], abs=1e-6)
    from hwnas.profilers.base import TimingStats
    stats = [TimingStats(m, m, m, 0, 4, [m, m, m, m]) for m in meas]
    c = compare([s * r + o for r in raw], stats)
    assert c["within_5_pct"] == 100 and c["kendall_tau"] == pytest.approx(1.0) and c["noise_within_5_pct"] == 100


def test_validate_cli_end_to_end(small_lut, tmp_path):
    import json
    import shutil
    path = str(tmp_path / "v.yaml")
    shutil.copy(small_lut[0], path)
    r = subprocess.run([sys.executable, "-m", "hwnas", "lut", "calibrate", "--lut", path, "--samples", "4",
                        "--rounds", "2", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fitted_on"] == 4
    png = str(tmp_path / "v.png")
    r = subprocess.run([sys.executable, "-m", "hwnas", "lut", "validate", "--lut", path, "--samples", "6",
                        "--rounds", "2", "--plot", png, "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["samples"] == 6 and d["calibrated"] and os.path.getsize(png) > 1000
    assert d["calibration"].startswith("measured = polyval(") and "fitted on 4 networks" in d["calibration"]
    assert not set(d["archs"]) & set(LUT.load(path).calibration["archs"])
    assert -1 <= d["kendall_tau"] <= 1 and 0 <= d["within_10_pct"] <= 100
    # each network's spread is reported (the plot draws it as error bars beside the noise floor)
    assert len(d["measured_p10_ms"]) == len(d["measured_p90_ms"]) == 6
    assert all(a <= m <= b for a, m, b in zip(d["measured_p10_ms"], d["measured_ms"], d["measured_p90_ms"]))


def test_validation_plot_says_when_the_measurement_is_noisy(tmp_path):
    """The same predictions drawn at a 52% and a 98% noise floor give different figures, the noisy one labelled."""
    from hwnas.lut.validation import ValidationReport, plot_validation
    m = np.linspace(4, 9, 20)
    base = dict(space="proxyless", backend="ort", samples=20, rounds=4, kendall_tau=0.9, pearson_r=0.95, rmse_ms=0.1,
                mean_error_pct=1.0, mean_abs_error_pct=2.0, within_5_pct=90.0, within_10_pct=100.0,
                noise_median_pct=3.0, calibrated=True, archs=["a"] * 20, predicted_ms=list(m * 1.02),
                measured_ms=list(m), measured_p10_ms=list(m * 0.97), measured_p90_ms=list(m * 1.04))
    import matplotlib.image as mpimg
    imgs = {}
    for nf in (52.0, 98.0):
        path = str(tmp_path / f"v{int(nf)}.png")
        plot_validation(ValidationReport(noise_within_5_pct=nf, **base), path)
        imgs[nf] = mpimg.imread(path)
    assert imgs[52.0].shape == imgs[98.0].shape and np.abs(imgs[52.0] - imgs[98.0]).max() > 0.5


def test_import_proxylessnas_pixel1(tmp_path):
    src = shared_path("data", "luts", "proxylessnas_mobile_trim.yaml")
    lut = import_proxylessnas(src)
    sp = get_space("proxyless")
    pred = LatencyPredictor(lut, sp)
    assert pred.complete and len(lut) == 72
    # every op any arch of the space can use is present
    assert all(s in lut for s in sp.distinct_ops())
    rng = random.Random(0)
    vals = pred.predict_many([sp.random_arch(rng) for _ in range(2000)])
    assert 20 < vals.min() and vals.max() < 300  # tens of ms on the phone
    mob = pred.predict(sp.parse("proxyless_mobile"))
    assert 60 < mob < 100  # published: 78 ms for ProxylessNAS-Mobile on Pixel 1
    # the publishers' estimator: Conv + expanded_conv (+idskip) + Conv_1 + Logits
    raw = yaml.safe_load(open(src))
    a = sp.parse("proxyless_mobile")
    keys = {proxyless_key_to_sig(k).key: v["mean"] for k, v in raw.items()}
    assert mob == pytest.approx(sum(keys[s.key] for s in sp.units(a)))
    out = tmp_path / "pixel1.yaml"
    r = subprocess.run([sys.executable, "-m", "hwnas", "lut", "import", "proxylessnas", src, "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "covers every arch" in r.stdout


def test_measuring_a_gpu_lut_without_a_gpu_says_where_to_run_it(small_lut, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    lut = LUT.load(small_lut[0])
    lut.meta.update(device="cuda", backend="torch")
    lut.meta["fingerprint"].update(device="cuda", backend="torch", gpu="NVIDIA H100 80GB HBM3")
    path = str(tmp_path / "gpu.yaml")
    lut.save(path)
    for cmd in (["validate", "--samples", "3"], ["calibrate", "--samples", "3"]):
        r = subprocess.run([sys.executable, "-m", "hwnas", "lut", *cmd, "--lut", path], capture_output=True, text=True)
        err = r.stderr.strip()
        assert r.returncode != 0 and len(err.splitlines()) == 1, err
        assert "measured by torch on cuda (NVIDIA H100 80GB HBM3)" in err and "no CUDA GPU" in err


def test_spread_archs_with_a_fixed_pool_extends_a_set():
    """``2n - 1`` archs from the same pool are the ``n`` archs plus one between each neighbouring pair, so a
    ranking run can add archs without retraining the ones it has (known answer: every other arch)."""
    from hwnas.lut.measure import spread_archs

    sp = get_space("proxyless")
    pred = LatencyPredictor(import_proxylessnas(shared_path("data", "luts", "proxylessnas_mobile_trim.yaml")), sp)
    five = spread_archs(sp, pred, 5, seed=3, draws=300)
    nine = spread_archs(sp, pred, 9, seed=3, draws=300)
    assert nine[::2] == five and len(set(map(str, nine))) == 9
    lat = [pred.raw(a) for a in nine]
    assert lat == sorted(lat) and lat[0] < lat[-1]  # spread over the range, cheapest first
