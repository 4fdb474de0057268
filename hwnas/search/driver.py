"""One search as a library call: strategy + supernet evaluation + constraints + output files.

Outputs in ``out_dir``: ``result.yaml`` (best arch, accuracy, predicted and re-measured latency, counts,
constraints, settings, wall time), ``history.csv`` (every evaluated candidate), ``pareto.png``
(accuracy vs predicted latency with the constraint and the chosen point), ``state.json`` (for
``--resume``) and whatever the strategy adds (:meth:`Strategy.write_outputs`).  All are rewritten
atomically after every generation / block / epoch and on Ctrl-C.  :class:`hwnas.search.job.SearchJob`
prepares the inputs (LUT, supernet, checks) and calls :func:`run_search`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from hwnas.data import Dataset
from hwnas.errors import HwnasError
from hwnas.io import atomic_write_text
from hwnas.lut.remeasure import remeasure_latency
from hwnas.lut.table import LUT
from hwnas.search.base import Record, SearchContext, Strategy
from hwnas.search.plan import SearchPlan
from hwnas.search.outputs import plot_pareto, write_history
from hwnas.search.supernet_eval import SupernetTrainer
from hwnas.supernet.model import Supernet


@dataclass
class SearchOutcome:
    result: dict[str, Any]
    history: list[Record] = field(default_factory=list)
    out_dir: str = ""
    interrupted: bool = False


def accuracy_note(data: Dataset) -> str:
    """What the accuracy column is, plainly: a supernet's estimate on a held-out split (on ``digits``, a small and
    easy set where most archs score alike -- search quality is measured on CIFAR-10 in docs/benchmarks.md)."""
    note = f"supernet weights + BN recalibration, {len(data.y_val)} held-out {data.name} images"
    if data.name == "digits":
        note += (" (a small, easy set: archs score within a few images of each other; this is not a measure of "
                 "search quality -- see docs/benchmarks.md for CIFAR-10)")
    return note


def latency_entry(lut: LUT | None, metrics: dict[str, float], input_size: int) -> dict[str, Any]:
    """result.yaml's latency: the LUT's prediction, or why there is none."""
    if lut is None:
        return {"predicted_ms": None, "input_size": input_size,
                "note": "not predicted: no latency bound and no LUT given or cached (nothing was profiled); pass "
                        "--lut, or predict it later with `hwnas predict --lut LUT --arch result.yaml`"}
    return {"predicted_ms": round(metrics["latency"], 4), "input_size": input_size,
            "backend": lut.meta.get("backend"), "device": lut.meta.get("device"),
            "lut_calibrated": lut.calibration.get("fitted_on", 0) > 0}


def run_search(plan: SearchPlan, supernet: Supernet, data: Dataset, out_dir: str, settings: dict[str, Any],
               resume: bool = False, remeasure: bool = True,
               progress: Callable[..., None] | None = None) -> SearchOutcome:
    """Run one search as ``plan`` says (validated already: :meth:`SearchPlan.make`).  The supernet is at the data's
    resolution; ``plan.space`` (same tokens) is at the deployment resolution, where latency and counts are
    predicted and measured.  Without a LUT (no latency bound, none given or cached) latency is not predicted, and
    result.yaml says so."""
    deploy_space, lut, constraints, strategy = plan.space, plan.lut, list(plan.constraints), plan.name
    budget, cost, hard = plan.budget, plan.cost, plan.hard
    os.makedirs(out_dir, exist_ok=True)
    trainer = SupernetTrainer(supernet, data)
    context = SearchContext(supernet=supernet, trainer=trainer, data=data, cost=cost, constraints=constraints,
                            out_dir=out_dir)
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
            res.update(
                {
                    "arch": best.arch,
                    "accuracy": best.accuracy,
                    "accuracy_note": accuracy_note(data),
                    "latency": latency_entry(lut, best.metrics, deploy_space.input_size),
                    "macs": int(best.metrics["macs"]),
                    "flops": int(best.metrics["flops"]),
                    "params": int(best.metrics["params"]),
                    "bitops": int(best.metrics["bitops"]),
                    "constrained": {c.metric: {"value": float(best.metrics[c.metric]), "bound": str(c)}
                                    for c in constraints},
                    "memory_bytes": int(best.metrics["memory_bytes"]),
                    "layers": cost.per_layer(deploy_space.parse(best.arch)),
                    "training_input_size": data.image_size,
                }
            )
        res.update(strat.extra_result())
        warnings = list(strat.warnings) + ([settings["supernet_warning"]] if settings.get("supernet_warning") else [])
        if warnings:
            res["warnings"] = warnings
        if strat.report():
            res["report"] = strat.report()
        outcome.result = res
        strat.write_outputs(out_dir)
        atomic_write_text(os.path.join(out_dir, "result.yaml"), yaml.safe_dump(res, sort_keys=False))
        write_history(os.path.join(out_dir, "history.csv"), strat.history)
        atomic_write_text(state_path, json.dumps({**strat.state_dict(), "constraints": [str(c) for c in constraints]}))
        plot_pareto(os.path.join(out_dir, "pareto.png"), strat.history, best, constraints)

    strat: Strategy = plan.strategy(deploy_space, trainer.accuracy, hard, budget, plan.seed, on_record=on_record,
                                    on_checkpoint=lambda s: write(), context=context, params=plan.params)
    if resume and os.path.exists(state_path):
        with open(state_path) as f:
            saved = json.load(f)
        now = [str(c) for c in constraints]
        if saved.get("constraints", now) != now:
            then = ", ".join(saved["constraints"]) or "none"
            raise HwnasError(f"cannot resume: the saved search was bounded by {then}, not {', '.join(now) or 'none'}; "
                             "pass the same bounds, or start a new search in another --out")
        strat.load_state_dict(saved)
    try:
        strat.run()
    except KeyboardInterrupt:
        strat.stopped_by = "interrupted"
        write(interrupted=True)
        outcome.history, outcome.interrupted = strat.history, True
        return outcome
    write()
    best = strat.best
    if best is not None and remeasure and lut is not None:
        outcome.result["latency"].update(remeasure_latency(lut, deploy_space, deploy_space.parse(best.arch),
                                                           outcome.result["latency"]["predicted_ms"]))
        atomic_write_text(os.path.join(out_dir, "result.yaml"), yaml.safe_dump(outcome.result, sort_keys=False))
    outcome.history = strat.history
    return outcome
