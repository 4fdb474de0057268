"""Option groups shared by several commands: constraints, supernet levers, and the runners' options."""

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


def supernet_lever_options(f: Callable) -> Callable:
    """``--sandwich N``, ``--distill/--no-distill``, ``--fair/--no-fair``: the supernet training levers
    (:mod:`hwnas.supernet.levers`), with :data:`DEFAULT_RECIPE`'s values as defaults."""
    from hwnas.supernet.levers import DEFAULT_RECIPE as d

    f = click.option("--fair/--no-fair", default=d.fair, show_default=True,
                     help="Strict fairness (FairNAS): each step trains every choice of every layer once.")(f)
    f = click.option("--distill/--no-distill", default=d.distill, show_default=True,
                     help="In-place distillation: the largest path's soft labels teach the other paths.")(f)
    f = click.option("--sandwich", type=click.IntRange(min=-1), default=d.sandwich, show_default=True,
                     help="Sandwich rule: train the largest, the smallest and N random paths each step "
                          "(-1: off, one uniform path per step as SPOS).")(f)
    return f


def runner_option_group(f: Callable) -> Callable:
    """Every option a registered runner declares (:attr:`hwnas.profilers.Profiler.options`), spelled once for
    ``profile``, ``search`` and ``export``; the help names the runners that take it."""
    from hwnas.profilers.base import Profiler, runner_options, runners_taking

    common = {o.name for o in Profiler.options}
    for o in reversed(list(runner_options().values())):
        who = "" if o.name in common else f" [{', '.join(runners_taking(o.name))}]"
        if o.type is bool:
            f = click.option(*o.cli_flags, o.name, is_flag=True, help=o.help + who)(f)
        elif o.choices:
            f = click.option(*o.cli_flags, o.name, type=click.Choice(o.choices), default=o.default,
                             help=o.help + who)(f)
        elif o.type is int:
            f = click.option(*o.cli_flags, o.name, type=click.IntRange(min=1), default=o.default, show_default=True,
                             help=o.help + who)(f)
        else:
            f = click.option(*o.cli_flags, o.name, default=o.default, metavar=o.metavar, help=o.help + who)(f)
    return f


def runner_kwargs(kw: dict) -> dict:
    """The runner options given (removed from ``kw``), only those not left at their default."""
    from hwnas.profilers.base import given_runner_options, runner_options

    return given_runner_options({k: kw.pop(k) for k in list(runner_options()) if k in kw})
