"""``hwnas search`` as a library call: strategy + supernet evaluation + constraints + outputs.

Outputs in ``out_dir``: ``result.yaml`` (best arch, accuracy, predicted and re-measured latency, counts,
constraints, settings, wall time), ``history.csv`` (every evaluated candidate), ``pareto.png``
(accuracy vs predicted latency with the constraint and the chosen point) and ``state.json`` (for
``--resume``).  All are rewritten atomically after every generation / block and on Ctrl-C.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.data import Dataset
from hwnas.errors import HwnasError
from hwnas.lut.fidelity import calibration_drift, measure_archs, profiler_for
from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT
from hwnas.search.base import Record, Strategy, get_strategy
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.supernet.model import Supernet, extract
from hwnas.supernet.train import TrainConfig, arch_forward, subnet_accuracy, train


class SupernetContext:
    """Scores archs with the supernet (inherited weights + BN recalibration) and runs FPNAS's training
    stages on it."""

    def __init__(self, supernet: Supernet, data: Dataset, bn_batches: int = 5, lr: float = 0.02, batch_size: int = 64) -> None:
        self.supernet, self.data, self.bn_batches, self.lr, self.batch_size = supernet, data, bn_batches, lr, batch_size

    def accuracy(self, arch: Arch) -> float:
        return subnet_accuracy(extract(self.supernet, arch), self.data, True, self.bn_batches)

    def train_block(self, cur: Arch, index: int, choices: list[str], epochs: int, seed: int) -> None:
        """Weight-sharing stage: train the supernet with only block ``index`` varying."""
        def sampler(rng):
            return cur.replace(index, rng.choice(choices))

        with tempfile.TemporaryDirectory() as d:
            train(self.supernet, arch_forward(sampler, seed), self.data,
                  TrainConfig(epochs=epochs, lr=self.lr, batch_size=self.batch_size, seed=seed, warmup_epochs=0),
                  d, {"kind": "supernet-block"})

    def train_independent(self, arch: Arch, epochs: int, seed: int) -> float:
        """Independent stage: fine-tune the extracted subnet alone, then measure it."""
        net = extract(self.supernet, arch)
        with tempfile.TemporaryDirectory() as d:
            train(net, lambda m, x, g: m(x), self.data,
                  TrainConfig(epochs=epochs, lr=self.lr, batch_size=self.batch_size, seed=seed, warmup_epochs=0),
                  d, {"kind": "subnet"})
        return subnet_accuracy(net, self.data, True, self.bn_batches)


@dataclass
class SearchOutcome:
    result: dict[str, Any]
    history: list[Record] = field(default_factory=list)
    out_dir: str = ""
    interrupted: bool = False


def _atomic_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_history(path: str, history: list[Record]) -> None:
    rows = [r.row() for r in history]
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    _atomic_text(path, buf.getvalue())


def plot_pareto(path: str, history: list[Record], best: Record | None, constraints: list[Constraint]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r.metrics.get("latency") for r in history]
    if any(x is None for x in xs) or not history:
        return
    ys = [100 * r.accuracy for r in history]
    ok = [r.satisfied for r in history]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter([x for x, o in zip(xs, ok) if o], [y for y, o in zip(ys, ok) if o], s=12, alpha=0.6, label="satisfies")
    ax.scatter([x for x, o in zip(xs, ok) if not o], [y for y, o in zip(ys, ok) if not o], s=12, alpha=0.6,
               color="tab:gray", label="violates")
    pts = sorted(zip(xs, ys))
    front, top = [], -1.0
    for x, y in pts:
        if y > top:
            front.append((x, y))
            top = y
    ax.plot([p[0] for p in front], [p[1] for p in front], color="tab:orange", lw=1.2, label="Pareto front")
    for c in constraints:
        if c.metric == "latency":
            for v in (c.lo, c.hi):
                if v is not None:
                    ax.axvline(v, color="tab:red", ls="--", lw=1)
            ax.plot([], [], color="tab:red", ls="--", label=str(c))
    if best is not None:
        ax.scatter([best.metrics["latency"]], [100 * best.accuracy], s=120, marker="*", color="tab:red", zorder=5,
                   label="chosen")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("supernet accuracy (%)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def run_search(deploy_space: SearchSpace, supernet: Supernet, data: Dataset, lut: LUT,
               constraints: list[Constraint], strategy: str, budget: int, seed: int, out_dir: str,
               settings: dict[str, Any], resume: bool = False, remeasure: bool = True,
               strategy_params: dict[str, Any] | None = None,
               progress: Callable[..., None] | None = None) -> SearchOutcome:
    """Run one search.  The supernet is at the data's resolution; ``deploy_space`` (same tokens) is at
    the deployment resolution, where latency and counts are predicted and measured."""
    os.makedirs(out_dir, exist_ok=True)
    pred = LatencyPredictor(lut, deploy_space)
    cost = CostModel(deploy_space, pred)
    hard = HardFilter(constraints, cost, record=["latency", "macs", "params", "bitops"])
    ctx = SupernetContext(supernet, data)
    t0 = time.time()
    state_path = os.path.join(out_dir, "state.json")
    outcome = SearchOutcome({}, out_dir=out_dir)

    def on_record(r: Record) -> None:
        if progress:
            progress("search", len(strat.history), budget, {"best": (strat.best.accuracy if strat.best else 0.0)})

    def write(interrupted: bool = False) -> None:
        best = strat.best
        res: dict[str, Any] = {"space": deploy_space.name, "strategy": strategy, "stopped_by": strat.stopped_by or
                               ("interrupted" if interrupted else "running"),
                               "constraints": [c.to_dict() for c in constraints], "evaluated": len(strat.history),
                               "wall_s": round(time.time() - t0, 2), "settings": settings}
        if best is not None:
            res.update({"arch": best.arch, "accuracy": best.accuracy,
                        "accuracy_note": f"supernet weights + BN recalibration on {data.name} (held-out split)",
                        "latency": {"predicted_ms": round(best.metrics["latency"], 4), "input_size": deploy_space.input_size,
                                    "backend": lut.meta.get("backend"), "device": lut.meta.get("device"),
                                    "lut_calibrated": lut.calibration.get("fitted_on", 0) > 0},
                        "macs": int(best.metrics["macs"]), "flops": int(best.metrics["flops"]),
                        "params": int(best.metrics["params"]), "bitops": int(best.metrics["bitops"]),
                        "training_input_size": data.image_size})
        outcome.result = res
        _atomic_text(os.path.join(out_dir, "result.yaml"), yaml.safe_dump(res, sort_keys=False))
        write_history(os.path.join(out_dir, "history.csv"), strat.history)
        _atomic_text(state_path, json.dumps(strat.state_dict()))
        plot_pareto(os.path.join(out_dir, "pareto.png"), strat.history, best, constraints)

    cls = get_strategy(strategy)
    kw: dict[str, Any] = dict(strategy_params or {})
    if strategy == "coordinate":
        kw["trainer"] = ctx
    strat: Strategy = cls(deploy_space, ctx.accuracy, hard, budget, seed, on_record=on_record,
                          on_checkpoint=lambda s: write(), **kw)
    if resume and os.path.exists(state_path):
        with open(state_path) as f:
            strat.load_state_dict(json.load(f))
    try:
        strat.run()
    except KeyboardInterrupt:
        strat.stopped_by = "interrupted"
        write(interrupted=True)
        outcome.history, outcome.interrupted = strat.history, True
        return outcome
    write()
    best = strat.best
    if best is not None and remeasure:
        arch = deploy_space.parse(best.arch)
        lat = outcome.result["latency"]
        try:
            prof = profiler_for(lut)
        except HwnasError as e:  # e.g. a published phone LUT: nothing here can run it
            lat["measured_ms"] = None
            lat["measured_note"] = str(e)
            prof = None
        if prof is not None:
            # measured in the same context as the calibration: interleaved with the calibration networks
            # (a network timed alone runs with hotter caches than the calibrated whole-network figures)
            cal = lut.calibration
            pairs = [(t, ms) for t, ms in zip(cal.get("archs", []), cal.get("measured_ms", [])) if t != best.arch]
            with prof:
                st, *now = measure_archs(deploy_space, prof, [arch, *(deploy_space.parse(t) for t, _ in pairs)],
                                         rounds=5, runs=20)
            lat.update({"measured_ms": round(st.median, 4), "measured_p10_ms": round(st.p10, 4), "measured_p90_ms": round(st.p90, 4),
                        "error_pct": round(100 * (lat["predicted_ms"] - st.median) / st.median, 2)})
            if now:  # the machine's speed now vs at calibration time, from the same networks re-measured
                drift = calibration_drift([ms for _, ms in pairs], now)
                lat.update({"drift_pct": round(100 * drift, 2), "error_drift_corrected_pct":
                            round(100 * (lat["predicted_ms"] * (1 + drift) - st.median) / st.median, 2)})
        _atomic_text(os.path.join(out_dir, "result.yaml"), yaml.safe_dump(outcome.result, sort_keys=False))
    outcome.history = strat.history
    return outcome
