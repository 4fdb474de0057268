"""Does ONNX Runtime's NCHWc layout explain the LUT's class-dependent error on fbnet?  (Issue: LUTs.)

On x86, ORT (ORT_ENABLE_ALL) runs eligible convs in a blocked NCHWc layout.  An op timed alone starts
with a ReorderInput and ends with a ReorderOutput; inside a network, two NCHWc blocks in a row skip those
(grouped 1x1 convs with 12 channels per group stay in NCHW, so blocks with them keep their reorders).
This script times every op of a space twice -- as profiled (ORT's optimised graph of the op) and with the
boundary reorders cut out of that optimised graph -- and compares both LUT sums, each with the quadratic
calibration, against whole networks measured by ``lut_error_analysis.py --save``.

    .venv/bin/python benchmarks/lut_error_analysis.py --space fbnet --mults 1 --save fb.npz
    .venv/bin/python benchmarks/lut_nchwc_probe.py fb.npz [--repeats 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from scipy import stats

from hwnas.profilers import get_profiler
from hwnas.profilers.onnx_file import to_onnx
from hwnas.space import get_space
from hwnas.space.ops import build_op

RUNNER = get_profiler("ort", threads=1)  # the ORT runner profiling uses: 1 thread, sequential


def session(model: str | bytes, level: str, save: str | None = None):
    """An ORT session at graph optimisation ``level`` ("all" as profiled, "disable" for a pre-cut graph)."""
    return RUNNER.session(model, optimization=level, optimized_path=save)


def cut_boundary_reorders(model: onnx.ModelProto, block: int) -> int:
    """Remove a leading ReorderInput / trailing ReorderOutput; the graph then takes and gives NCHWc."""
    g, cut = model.graph, 0
    first = [n for n in g.node if g.input[0].name in n.input]
    if len(first) == 1 and first[0].op_type == "ReorderInput":
        shape = [d.dim_value for d in g.input[0].type.tensor_type.shape.dim]
        shape[1] = -(-shape[1] // block) * block  # NCHWc pads channels to the block size
        g.node.remove(first[0])
        g.input.pop()
        g.input.append(helper.make_tensor_value_info(first[0].output[0], TensorProto.FLOAT, shape))
        cut += 1
    last = [n for n in g.node if g.output[0].name in n.output]
    if len(last) == 1 and last[0].op_type == "ReorderOutput":
        g.node.remove(last[0])
        g.output.pop()
        g.output.append(helper.make_tensor_value_info(last[0].input[0], TensorProto.FLOAT, None))
        cut += 1
    return cut


def median_ms(sess, rounds: int = 5, runs: int = 20) -> float:
    i = sess.get_inputs()[0]
    feed = {i.name: np.random.default_rng(0).standard_normal(i.shape).astype(np.float32)}
    for _ in range(10):
        sess.run(None, feed)
    medians = []
    for _ in range(rounds):
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(None, feed)
            ts.append((time.perf_counter() - t0) * 1e3)
        medians.append(statistics.median(ts))
    return statistics.median(medians)


def nchwc_block(d: str) -> int:
    """The blocked layout's channel block on this CPU (8 with AVX2, 16 with AVX-512): from a probe conv."""
    conv = torch.nn.Conv2d(8, 8, 1)
    session(to_onnx(conv, torch.randn(1, 8, 8, 8), f"{d}/b.onnx"), "all", save=f"{d}/b.opt.onnx")
    w = [t for t in onnx.load(f"{d}/b.opt.onnx").graph.initializer if len(t.dims) == 4]
    return int(w[0].dims[0]) if w else 8


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("measurements", help="npz written by lut_error_analysis.py --save")
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--repeats", type=int, default=4)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    sp = get_space(a.space, input_size=224)
    m = np.load(a.measurements, allow_pickle=True)
    y, nc = m["y"], int(m["nc"])
    archs = [sp.parse(str(s)) for s in m["archs"]]
    d = tempfile.mkdtemp(prefix="hwnas-nchwc-")
    block = nchwc_block(d)
    print(f"{len(archs)} networks ({nc} calibration) from {a.measurements}; NCHWc block {block}")
    for rep in range(a.repeats):
        plain, cut, n_cut = {}, {}, 0
        for s in sp.distinct_ops():
            path = to_onnx(build_op(s).eval(), torch.randn(1, *s.in_shape), f"{d}/op.onnx")
            plain[s] = median_ms(session(path, "all", save=f"{d}/op.opt.onnx"))
            opt = onnx.load(f"{d}/op.opt.onnx")
            n_cut += cut_boundary_reorders(opt, block) == 2
            cut[s] = median_ms(session(opt.SerializeToString(), "disable"))
        for name, table in (("as profiled", plain), ("boundary reorders cut", cut)):
            raw = np.array([sum(table[u] for u in sp.units(x)) for x in archs])
            p = np.polyval(np.polyfit(raw[:nc], y[:nc], 2), raw)[nc:]
            e = (p - y[nc:]) / y[nc:] * 100
            print(f"  repeat {rep + 1}, {name:<22} ({n_cut} ops cut): tau {stats.kendalltau(p, y[nc:])[0]:.3f}  "
                  f"within ±5% {np.mean(abs(e) <= 5) * 100:3.0f}%  mean err {e.mean():+.2f}%  sd {e.std():.2f}%")


if __name__ == "__main__":
    main()
