"""The one way hwnas makes and writes figures: matplotlib on its Agg backend (no display needed, imported only
when a figure is made), written atomically as PNG."""

from __future__ import annotations

from typing import Any

from hwnas.io import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str, dpi: int = 100) -> str:
    """Lay out ``fig``, write it to ``path`` (PNG, atomically) and close it."""
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=dpi)
    pyplot().close(fig)
    return path
