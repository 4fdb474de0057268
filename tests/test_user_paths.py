"""What a user reaches for after a search: `hwnas predict`, exports in every CPU format, honest latency lines."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import shared_path
from hwnas.lut.importers import import_lut


@pytest.fixture(scope="module")
def pixel(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("lut") / "pixel1.yaml")
    import_lut("proxylessnas", shared_path("data", "luts", "proxylessnas_mobile_trim.yaml"), out)
    return out


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hwnas", *args], capture_output=True, text=True)


def test_predict_matches_the_search_prediction_and_breaks_it_down(pixel, tmp_path):
    from hwnas.constraints import Constraint
    from hwnas.data import load_dataset
    from hwnas.lut import LUT
    from hwnas.search.driver import run_search
    from hwnas.search.plan import SearchPlan
    from hwnas.space import get_space
    from hwnas.supernet import Supernet
    ds = load_dataset("digits")
    net = Supernet(get_space("proxyless", input_size=ds.image_size, num_classes=10), "entangled")
    plan = SearchPlan.make(get_space("proxyless"), [Constraint.parse("latency", "80ms")], "random", None, 4,
                           LUT.load(pixel))
    run_search(plan, net, ds, str(tmp_path / "s"), {}, remeasure=False)
    result = str(tmp_path / "s" / "result.yaml")
    res = yaml.safe_load(open(result))
    r = _cli("predict", "--lut", pixel, "--arch", result, "--arch", "proxyless_mobile", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    found, mobile = d["archs"]
    assert found["arch"] == res["arch"]
    assert found["latency_ms"] == pytest.approx(res["latency"]["predicted_ms"], abs=1e-4)
    assert (found["macs"], found["params"], found["bitops"]) == (res["macs"], res["params"], res["bitops"])
    assert mobile["name"] == "proxyless_mobile" and 60 < mobile["latency_ms"] < 100  # published: 78 ms on a Pixel 1
    for a in d["archs"]:
        assert sum(x["ms"] for x in a["layers"]) == pytest.approx(a["latency_ms"])
        assert sum(x["share_pct"] for x in a["layers"]) == pytest.approx(100)
        assert a["layers"][-1]["op"].startswith("classifier(")
    lst = tmp_path / "archs.txt"
    lst.write_text(f"# two archs\nproxyless_gpu\n\n{res['arch']}\n")
    r = _cli("predict", "--lut", pixel, "--arch", str(lst), "--json")
    assert [a["arch"] for a in json.loads(r.stdout)["archs"]][1] == res["arch"]
    r = _cli("predict", "--lut", pixel, "--arch", "proxyless_cpu")
    assert r.returncode == 0 and "predicted" in r.stdout and "MACs" in r.stdout


@pytest.mark.parametrize("args,needle", [(["--arch", "k3_e3"], "needs 21 choices"),
                                         (["--arch", "missing.txt"], "arch file missing.txt not found")])
def test_predict_bad_arch_one_line(pixel, args, needle):
    r = _cli("predict", "--lut", pixel, *args)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_litert_export_parity_and_timing(tmp_path):
    r = _cli("export", "--space", "fbnet", "--arch", "fbnet_a", "--format", "litert", "--input", "64",
             "--out", str(tmp_path / "a.tflite"), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["parity_ok"] and d["max_abs_diff"] <= 1e-4 and d["latency_ms"] > 0
    assert d["backend"] == "litert" and "LiteRT" in d["runtime"] and (tmp_path / "a.tflite").stat().st_size > 1000


def test_export_latency_line_names_the_lut_runtime(pixel, tmp_path):
    arch = ",".join(["k3_e3"] * 21)
    r = _cli("export", "--space", "proxyless", "--arch", arch, "--format", "onnx", "--input", "224",
             "--lut", pixel, "--out", str(tmp_path / "m.onnx"))
    assert r.returncode == 0, r.stderr
    assert "on proxylessnas-published/pixel1, a different runtime from this export's (ort/cpu)" in r.stdout
    assert "not comparable" in r.stdout
    # a named arch built at its published widths is not the network the LUT (search-space layout) predicts
    r = _cli("export", "--space", "proxyless", "--arch", "proxyless_mobile", "--format", "onnx", "--input", "224",
             "--lut", pixel, "--out", str(tmp_path / "p.onnx"), "--json")
    d = json.loads(r.stdout)
    assert d["predicted_ms"] is None and any("no LUT prediction" in n for n in d["notes"])


def test_export_flag_for_another_format_is_an_error(tmp_path):
    r = _cli("export", "--space", "proxyless", "--arch", "proxyless_mobile", "--format", "executorch", "--fp16",
             "--out", str(tmp_path / "m.pte"))
    assert r.returncode == 2 and "--fp16 applies to --format tensorrt, not executorch" in r.stderr


# ---- issue 25: outputs checked before any work, --resume needs state, --quiet's one line, the user's umask ----

@pytest.mark.parametrize("cmd", [["search", "--strategy", "random", "--budget", "2", "--flops", "400M"],
                                 ["train", "--space", "proxyless", "--arch", "proxyless_mobile", "--epochs", "1"],
                                 ["train-supernet", "--epochs", "1"]])
def test_an_unusable_out_fails_in_seconds_before_any_work(tmp_path, cmd):
    import os
    import time

    f = tmp_path / "a-file"
    f.write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cases = [(str(f), "is a file")]
    if os.geteuid() != 0:  # root writes anywhere: a read-only directory only stops other users
        cases.append((str(ro / "out"), "cannot be written"))
    for out, msg in cases:
        t0 = time.time()
        r = _cli(*cmd, "--out", out)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert time.time() - t0 < 60  # no profiling, no training


def test_a_read_only_cache_is_one_line(tmp_path):
    import os

    cache = tmp_path / "cache"
    cache.write_text("not a directory")
    r = subprocess.run([sys.executable, "-m", "hwnas", "search", "--strategy", "random", "--budget", "2", "--flops",
                        "400M", "--out", str(tmp_path / "s")], capture_output=True, text=True,
                       env=dict(os.environ, HWNAS_CACHE=str(cache)))
    assert r.returncode == 2 and "HWNAS_CACHE" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("cmd,state", [
    (["search", "--strategy", "random", "--budget", "2", "--flops", "400M"], "state.json"),
    (["train", "--space", "proxyless", "--arch", "proxyless_mobile", "--epochs", "1"], "checkpoint.pt"),
    (["train-supernet", "--epochs", "1"], "checkpoint.pt")])
def test_one_rule_for_existing_outputs(tmp_path, cmd, state):
    """Every command that writes a run: --resume without state, an --out that holds a run without --resume or
    --overwrite, and both flags at once are one-line errors, in seconds (before any data, LUT or training)."""
    import time

    empty, held = tmp_path / "none", tmp_path / "held"
    held.mkdir()
    (held / state).write_bytes(b"a previous run")
    t0 = time.time()
    for out, extra, needle in [(empty, ["--resume"], "to continue"), (held, [], "already holds"),
                               (held, ["--resume", "--overwrite"], "exclude each other")]:
        r = _cli(*cmd, "--out", str(out), *extra)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, (extra, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (held / state).read_bytes() == b"a previous run" and not empty.exists()
    assert time.time() - t0 < 90


def test_overwrite_starts_again_where_a_run_was(tmp_path):
    out = tmp_path / "t"
    args = ["train", "--space", "proxyless", "--arch", "proxyless_mobile", "--epochs", "1", "--out", str(out)]
    assert _cli(*args).returncode == 0
    first = (out / "metrics.yaml").read_text()
    assert _cli(*args).returncode == 2  # the rule
    r = _cli(*args, "--overwrite", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert (out / "metrics.yaml").read_text() != first


def test_files_are_written_with_the_users_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        import importlib

        import hwnas.io

        importlib.reload(hwnas.io)
        hwnas.io.atomic_write_text(str(tmp_path / "f.txt"), "x")
        assert (os.stat(tmp_path / "f.txt").st_mode & 0o777) == 0o644
    finally:
        os.umask(old)
        importlib.reload(hwnas.io)


def test_resume_with_other_options_or_bounds_refuses(pixel, tmp_path):
    from hwnas.constraints import Constraint
    from hwnas.data import load_dataset
    from hwnas.errors import HwnasError
    from hwnas.lut import LUT
    from hwnas.search.driver import run_search
    from hwnas.search.plan import SearchPlan
    from hwnas.space import get_space
    from hwnas.supernet import Supernet

    ds = load_dataset("digits")
    net = Supernet(get_space("proxyless", input_size=ds.image_size, num_classes=10), "entangled")
    lut, out = LUT.load(pixel), str(tmp_path / "s")
    bound = [Constraint.parse("latency", "80ms")]
    opts = {"population": 4, "generations": 1}
    sp = get_space("proxyless")
    run_search(SearchPlan.make(sp, bound, "evolution", opts, 8, lut), net, ds, out, {}, remeasure=False)
    with pytest.raises(HwnasError, match="other options.*population=4"):
        run_search(SearchPlan.make(sp, bound, "evolution", {"population": 5, "generations": 1}, 8, lut), net, ds, out,
                   {}, resume=True, remeasure=False)
    with pytest.raises(HwnasError, match="bounded by latency <= 80ms"):
        run_search(SearchPlan.make(sp, [Constraint.parse("latency", "70ms")], "evolution", opts, 8, lut), net, ds,
                   out, {}, resume=True, remeasure=False)


def test_random_search_checkpoints_while_it_runs(pixel):
    from hwnas.constraints import Constraint, CostModel, HardFilter
    from hwnas.lut import LUT, LatencyPredictor
    from hwnas.search import get_strategy
    from hwnas.space import get_space

    sp = get_space("proxyless")
    hard = HardFilter([Constraint.parse("latency", "80ms")], CostModel(sp, LatencyPredictor(LUT.load(pixel), sp)))
    seen = []
    get_strategy("random")(sp, lambda a: 0.5, hard, budget=120, seed=0,
                           on_checkpoint=lambda s: seen.append(len(s.history))).run()
    assert seen[:2] == [50, 100] and seen[-1] == 120


def test_input_that_differs_from_the_luts_is_an_error(pixel, tmp_path):
    r = _cli("search", "--lut", pixel, "--input", "64", "--latency", "80ms", "--strategy", "random", "--budget", "2",
             "--out", str(tmp_path / "s"))
    assert r.returncode == 2 and "--input 64" in r.stderr and "224 px" in r.stderr and "Traceback" not in r.stderr


def test_lut_show_takes_lut_like_every_command_and_a_foreign_named_arch_names_its_space(pixel):
    r = _cli("lut", "show", "--lut", pixel, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["space"] == "proxyless"
    r = _cli("count", "--space", "mobilenetv2", "--arch", "proxyless_mobile")
    assert r.returncode == 2 and "named arch of space 'proxyless'" in r.stderr and "Traceback" not in r.stderr


def test_an_executorch_export_prints_only_hwnas_lines(tmp_path):
    pytest.importorskip("executorch")
    r = _cli("export", "--space", "proxyless", "--arch", "proxyless_mobile", "--input", "32", "--classes", "10",
             "--format", "executorch", "--out", str(tmp_path / "m.pte"))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert all(ln.startswith(("note:", "exported", "latency", "warning:")) for ln in lines), lines


def test_a_search_without_a_latency_bound_profiles_nothing(tmp_path):
    """A FLOPs-bounded search needs no LUT: none is measured (the cache holds no LUT afterwards), and result.yaml
    says why its latency is not predicted."""
    import os

    import yaml

    cache, out = tmp_path / "cache", tmp_path / "s"
    r = subprocess.run([sys.executable, "-m", "hwnas", "search", "--strategy", "random", "--budget", "3", "--flops",
                        "400M", "--supernet-epochs", "1", "--out", str(out), "--quiet"], capture_output=True, text=True,
                       env=dict(os.environ, HWNAS_CACHE=str(cache)))
    assert r.returncode == 0, r.stderr
    luts = [f for d, _, fs in os.walk(cache) for f in fs if "luts" in d]  # where the search caches its LUTs
    assert luts == [], luts
    res = yaml.safe_load((out / "result.yaml").read_text())
    assert res["latency"]["predicted_ms"] is None and "nothing was profiled" in res["latency"]["note"]
    assert res["settings"]["lut"] is None and res["constrained"]["flops"]["value"] <= 400e6
    assert "MACs" in r.stdout and "accuracy" in r.stdout


def test_export_and_lut_import_replace_a_file_only_with_overwrite(tmp_path):
    """The output rule for commands that write one file: an existing --out is refused in seconds (no export or
    profiling work), replaced with --overwrite."""
    out = tmp_path / "m.onnx"
    out.write_text("an earlier export")
    args = ["export", "--space", "proxyless", "--arch", "proxyless_mobile", "--format", "onnx", "--input", "32",
            "--classes", "10", "--out", str(out)]
    r = _cli(*args)
    assert r.returncode == 2 and "already exists" in r.stderr and "--overwrite" in r.stderr, r.stderr
    assert out.read_text() == "an earlier export"
    r = _cli(*args, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4] != b"an e"
    lut = tmp_path / "pixel1.yaml"
    lut.write_text("x")
    r = _cli("lut", "import", "proxylessnas", shared_path("data", "luts", "proxylessnas_mobile_trim.yaml"), "--out",
             str(lut))
    assert r.returncode == 2 and "already exists" in r.stderr and lut.read_text() == "x"
    r = _cli("profile", "--space", "proxyless", "--input", "32", "--out", str(lut))  # refused before any runner starts
    assert r.returncode == 2 and "--resume to continue it, --overwrite" in r.stderr and lut.read_text() == "x", r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
