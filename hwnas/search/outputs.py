"""The files every search writes: ``history.csv`` (every evaluated candidate) and ``pareto.png`` (accuracy vs
predicted latency with the constraint and the chosen point); both atomic."""

from __future__ import annotations

import csv
import io

from hwnas.constraints import Constraint
from hwnas.io import atomic_write_text
from hwnas.plots import pyplot, save_figure
from hwnas.search.base import Record


def write_rows(path: str, rows: list[dict]) -> None:
    """Rows of dicts as CSV (columns in first-seen order, values quoted where needed), atomically."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_history(path: str, history: list[Record]) -> None:
    write_rows(path, [r.row() for r in history])


def plot_pareto(path: str, history: list[Record], best: Record | None, constraints: list[Constraint]) -> None:
    plt = pyplot()

    if not history:
        return
    metric = "latency" if "latency" in history[0].metrics else "macs"  # no LUT: against MACs
    xs = [r.metrics.get(metric) for r in history]
    if any(x is None for x in xs):
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
        if c.metric == metric:
            for v in (c.lo, c.hi):
                if v is not None:
                    ax.axvline(v, color="tab:red", ls="--", lw=1)
            ax.plot([], [], color="tab:red", ls="--", label=str(c))
    if best is not None:
        ax.scatter([best.metrics[metric]], [100 * best.accuracy], s=120, marker="*", color="tab:red", zorder=5,
                   label="chosen")
    ax.set_xlabel("predicted latency (ms)" if metric == "latency" else "MACs")
    ax.set_ylabel("supernet accuracy (%)")
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path, dpi=110)
