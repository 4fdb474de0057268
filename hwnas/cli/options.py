"""Option groups shared by several commands (constraints, data)."""

from __future__ import annotations

import click

from hwnas.constraints import METRICS, EXAMPLES


def constraint_options(f):
    for m in reversed(METRICS):
        f = click.option(f"--{m}", default=None, metavar="VALUE", help=f"Constraint on {m}, e.g. {EXAMPLES[m]}.")(f)
    return f


def constraint_kwargs(kw: dict) -> dict[str, str | None]:
    return {m: kw.pop(m, None) for m in METRICS}
