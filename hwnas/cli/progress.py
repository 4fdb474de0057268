"""Rich progress bars behind the library's plain ``progress(stage, done, total[, metrics])`` callbacks."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Callback = Callable[..., None]


@contextlib.contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Callback]:
    if quiet:
        yield lambda *a, **k: None
        return
    bar = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False)
    tasks: dict[str, Any] = {}

    def cb(stage: str, done: int, total: int, metrics: dict[str, float] | None = None) -> None:
        info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in (metrics or {}).items())
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total, info=info)
        bar.update(tasks[stage], completed=done, total=total, info=info)

    with bar:
        yield cb
