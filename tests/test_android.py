"""``--device android``: every timing comes from the phone's benchmark binary over adb (a fake adb stands in for the
phone: it prints each tool's real output format with a latency derived from the artefact's size)."""

import json
import os
import statistics
import subprocess
import sys

import pytest
import yaml

FAKE = os.path.join(os.path.dirname(__file__), "fake_adb")


@pytest.fixture
def phone(tmp_path):
    root = tmp_path / "phone"
    tool = tmp_path / "host-tools"
    tool.mkdir()
    for name in ("benchmark_model", "executor_runner"):
        (tool / name).write_text("#!/system/bin/sh\n")
    env = dict(os.environ, PATH=f"{FAKE}{os.pathsep}{os.environ['PATH']}", FAKE_PHONE_ROOT=str(root))
    return {"root": root, "env": env, "tools": tool, "log": root / "adb.log"}


def _cli(phone, *args, **env):
    return subprocess.run([sys.executable, "-m", "hwnas", *args], capture_output=True, text=True,
                          env={**phone["env"], **env})


def _fake_ms(size_bytes: float) -> float:
    return (100.0 + size_bytes / 100.0) / 1000.0


def test_litert_profile_times_every_op_on_the_phone(phone, tmp_path):
    out = tmp_path / "lut.yaml"
    r = _cli(phone, "profile", "--space", "mobilenetv2", "--input", "32", "--classes", "10", "--backend", "litert",
             "--device", "android", "--android-tool", str(phone["tools"] / "benchmark_model"), "--rounds", "2",
             "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    lut = yaml.safe_load(open(out))
    fp = lut["fingerprint"]
    assert (fp["phone"], fp["soc"], fp["android"], fp["tool"]) == ("Pixel 8", "Tensor G3", "15", "benchmark_model")
    log = phone["log"].read_text()
    runs = [ln for ln in log.splitlines() if "benchmark_model --graph=" in ln]
    pushed = [ln.split()[-1] for ln in log.splitlines() if " push " in ln and ln.endswith(".tflite")]
    assert len(runs) == 2 * (len(lut["entries"]) + 1)  # two rounds per op, and the overhead graph
    # every stored latency is the median of what the phone reported for one artefact, never a host timing
    per: dict[str, list[float]] = {}
    for ln in log.splitlines():
        if ln.startswith("REPORT "):
            _, path, ms = ln.split()
            per.setdefault(path, []).append(float(ms))
    medians = {round(statistics.median(v), 5) for v in per.values()}
    assert len(pushed) == len(per) == len(lut["entries"]) + 1
    assert {round(e["latency_ms"]["median"], 5) for e in lut["entries"].values()} <= medians
    assert round(lut["overhead_ms"], 5) in medians
    assert "rm -rf /data/local/tmp/hwnas" in log and not (phone["root"] / "data" / "local" / "tmp" / "hwnas").exists()
    assert sum(f" rm -f /data/local/tmp/hwnas/m{i}.tflite" in log for i in range(1, 200)) == len(pushed)


def test_executorch_export_is_timed_on_the_phone(phone, tmp_path):
    out = tmp_path / "m.pte"
    r = _cli(phone, "export", "--space", "proxyless", "--arch", "proxyless_mobile", "--format", "executorch",
             "--input", "32", "--classes", "10", "--device", "android", "--android-tool",
             str(phone["tools"] / "executor_runner"), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["parity_ok"] and d["device"] == "android"
    assert "executor_runner on the Android phone Pixel 8" in d["runtime"]
    assert d["latency_ms"] == pytest.approx(_fake_ms(os.path.getsize(out)), rel=1e-4)
    assert any("latency measured on the phone" in n for n in d["notes"])


def test_android_without_the_tool_is_a_one_line_error(phone, tmp_path):
    r = _cli(phone, "profile", "--space", "mobilenetv2", "--input", "32", "--backend", "litert", "--device", "android",
             "--out", str(tmp_path / "x.yaml"))
    assert r.returncode == 2 and "--device android needs --android-tool PATH" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("env,needles", [
    ({"FAKE_ADB_GARBAGE": "1"}, ["printed no timing hwnas can read", "Segmentation fault"]),  # the tool crashed
    ({"ANDROID_SERIAL": "NOPE42"}, ["ANDROID_SERIAL=NOPE42 is not attached", "FAKE0123"]),  # no such phone
])
def test_phone_failures_are_one_line_errors(phone, tmp_path, env, needles):
    r = _cli(phone, "profile", "--space", "mobilenetv2", "--input", "32", "--backend", "litert", "--device", "android",
             "--android-tool", str(phone["tools"] / "benchmark_model"), "--out", str(tmp_path / "x.yaml"), **env)
    assert r.returncode == 2 and all(n in r.stderr for n in needles), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
