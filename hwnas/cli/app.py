"""The click group and the output helpers every command module imports (commands register on ``cli``;
:mod:`hwnas.cli.main` imports them all and runs the group)."""

from __future__ import annotations

import json
from typing import Any, Callable

import click
from rich.console import Console

out = Console(soft_wrap=True)  # plain lines are never broken: archs and paths stay copyable


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hwnas")
def cli() -> None:
    """hwnas: hardware-aware NAS with measured latency lookup tables."""


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def emitted(obj: Any, as_json: bool) -> bool:
    """With ``--json``, print ``obj`` as JSON and say so (the command is then done)."""
    if as_json:
        emit_json(obj)
    return as_json


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")


def warn(msg: str) -> None:
    click.echo(f"warning: {msg}", err=True)


def fmt_num(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3f}{unit}"
    return f"{n:g}"


def names_help(what: str, names: list[str], default: str | None = None) -> str:
    """Help text naming every registered choice (registries are the only source of names)."""
    tail = f" [default: {default}]" if default else ""
    return f"{what}: {', '.join(names)}.{tail}"


def output_options(f: Callable) -> Callable:
    """``--quiet`` and ``--json``, for every command that does long work."""
    return click.option("--quiet", is_flag=True, help="No progress bars or summary.")(json_option(f))
