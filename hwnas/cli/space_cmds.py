"""``hwnas spaces``, ``hwnas count``."""

from __future__ import annotations

import click
from rich.table import Table

from hwnas.cli.app import cli, emit_json, emitted, fmt_num, json_option, names_help, out
from hwnas.space import list_spaces


@cli.command("spaces")
@json_option
def spaces_cmd(as_json: bool) -> None:
    """List the registered search spaces."""
    from hwnas.space import describe_spaces

    rows = describe_spaces()
    if emitted(rows, as_json):
        return
    t = Table(title="search spaces")
    for col in ("space", "layers", "size", "choices", "named archs", "vital layers (HourNAS)"):
        t.add_column(col)
    for r in rows:
        ch = r["choices"]
        t.add_row(r["name"], str(r["layers"]), f"{r['size']:.3g}",
                  ", ".join(ch[:9]) + (f" ... ({len(ch)})" if len(ch) > 9 else ""), ", ".join(r["named_archs"]),
                  ", ".join(r["vital"]))
    out.print(t)


@cli.command("count")
@click.option("--space", required=True, help=names_help("Search space", list_spaces()))
@click.option("--arch", required=True, help="Arch string (comma-separated choices) or a named arch.")
@click.option("--input", "input_size", type=click.IntRange(min=1), default=224, show_default=True,
              help="Input resolution.")
@click.option("--classes", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Classes of the classifier head.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def count_cmd(space: str, arch: str, input_size: int, classes: int, as_json: bool) -> None:
    """Count MACs, params, BitOps, memory traffic and intensity of an arch."""
    from hwnas.cost.arch_cost import count_named

    sp, a, rep = count_named(space, arch, input_size, classes)
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
