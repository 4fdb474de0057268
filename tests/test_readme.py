"""The README's quick tour runs as written, in order (its small settings keep it to a few minutes)."""

import os
import sys

from conftest import SHARED, shared_path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from readme_tour import run_tour, tour_commands  # noqa: E402

READS = ("--lut", "--arch", "--weights", "--supernet", "--init")


def test_every_file_a_tour_step_reads_was_written_by_an_earlier_step():
    cmds = tour_commands()
    assert len(cmds) >= 8 and cmds[0][:2] == ["hwnas", "spaces"] and cmds[-1][:2] == ["hwnas", "export"]
    written: list[str] = []
    for c in cmds:
        for flag, value in zip(c, c[1:]):
            path = value.removeprefix("supernet:")
            if flag in READS and ("/" in path or path.endswith(".yaml")):
                assert any(path == w or path.startswith(w + "/") for w in written), (path, c)
        if "--out" in c:
            written.append(c[c.index("--out") + 1])


def test_the_quick_tour_runs_in_order(tmp_path):
    shared_path("data", "luts")  # the tour imports the Pixel-1 LUT from ../shared
    steps = run_tour(str(tmp_path), shared=SHARED)
    cmd, _, last = steps[-1]
    assert last.returncode == 0, f"{cmd}\n{last.stderr[-2000:]}"
    assert len(steps) == len(tour_commands())
    assert (tmp_path / "runs" / "final" / "model.onnx").exists()
