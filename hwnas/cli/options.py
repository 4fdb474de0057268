"""Option groups shared by several commands (constraints)."""

from __future__ import annotations

from typing import Callable

import click

from hwnas.constraints import EXAMPLES, METRICS


def constraint_options(f: Callable) -> Callable:
    for m in reversed(METRICS):
        f = click.option(f"--{m}", default=None, metavar="VALUE", help=f"Constraint on {m}, e.g. {EXAMPLES[m]}.")(f)
    return f


def constraint_kwargs(kw: dict) -> dict[str, str]:
    """The constraint flags given, as ``{metric: text}`` (removed from ``kw``)."""
    given = {m: kw.pop(m, None) for m in METRICS}
    return {m: v for m, v in given.items() if v is not None}
