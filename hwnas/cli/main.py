"""``hwnas`` entry point.  The CLI only parses and renders; all work happens in the library.

User mistakes (click usage errors, :class:`HwnasError`) become one line on stderr and exit code 2;
Ctrl-C exits 130 after the command has saved what it had.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hwnas.errors import HwnasError

out = Console()


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def fmt_num(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3f}{unit}"
    return f"{n:g}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hwnas")
def cli() -> None:
    """hwnas: hardware-aware NAS with measured latency lookup tables."""


# -- spaces / count ---------------------------------------------------------------------------------

@cli.command("spaces")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def spaces_cmd(as_json: bool) -> None:
    """List the registered search spaces."""
    from hwnas.space import get_space, list_spaces

    rows = [get_space(n).describe() for n in list_spaces()]
    if as_json:
        emit_json(rows)
        return
    t = Table(title="search spaces")
    for col in ("space", "layers", "size", "choices", "named archs"):
        t.add_column(col)
    for r in rows:
        ch = r["choices"]
        t.add_row(r["name"], str(r["layers"]), f"{r['size']:.3g}", ", ".join(ch[:9]) + (f" ... ({len(ch)})" if len(ch) > 9 else ""),
                  ", ".join(r["named_archs"]))
    out.print(t)


@cli.command("count")
@click.option("--space", required=True, help="Search space name (see `hwnas spaces`).")
@click.option("--arch", required=True, help="Arch string (comma-separated choices) or a named arch.")
@click.option("--input", "input_size", type=click.IntRange(min=1), default=224, show_default=True, help="Input resolution.")
@click.option("--classes", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def count_cmd(space: str, arch: str, input_size: int, classes: int, as_json: bool) -> None:
    """Count MACs, params, BitOps, memory traffic and intensity of an arch."""
    from hwnas.cost import count_arch
    from hwnas.space import resolve_arch

    sp, a = resolve_arch(space, arch, input_size=input_size, num_classes=classes)
    rep = count_arch(sp, a)
    if as_json:
        emit_json({"space": sp.name, "arch": str(a), "input": input_size, "classes": classes, **rep.to_dict()})
        return
    t = Table(title=f"{sp.name} @ {input_size}px")
    for col in ("layer", "type", "in", "out", "MACs", "params", "bits w/a", "BitOps", "bytes"):
        t.add_column(col, justify="right" if col not in ("layer", "type") else "left")
    for lc in rep.layers:
        t.add_row(lc.name, lc.type, "x".join(map(str, lc.in_shape)), "x".join(map(str, lc.out_shape)), fmt_num(lc.macs),
                  fmt_num(lc.params), f"{lc.w_bits}/{lc.a_bits}", fmt_num(lc.bitops), fmt_num(lc.memory_bytes))
    out.print(t)
    s = rep.summary()
    out.print(f"arch: {a}\nMACs {s['macs']:,} (FLOPs = 2xMACs = {s['flops']:,})   params {s['params']:,}   "
              f"BitOps {s['bitops']:,} ({s['bitops_g']:.2f} G=2^30)   memory {s['memory_bytes']:,} B   "
              f"intensity {s['intensity']:.2f} FLOPs/B")


_NoArgs = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> int:
    from hwnas.cli import export_cmds, lut_cmds, search_cmds, train_cmds  # noqa: F401  (registers commands)

    try:
        rv = cli.main(args=argv, prog_name="hwnas", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except _NoArgs as e:  # bare `hwnas` or a bare group: show its help
        click.echo(e.format_message())
        return 0
    except click.UsageError as e:
        cmd = f" {e.ctx.command_path.split(' ', 1)[1]}" if e.ctx and " " in e.ctx.command_path else ""
        click.echo(f"error: {e.format_message()} (see `hwnas{cmd} --help`)", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        return e.exit_code
    except HwnasError as e:
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; what was done is saved", err=True)
        return 130


def entry() -> None:
    sys.exit(main())
