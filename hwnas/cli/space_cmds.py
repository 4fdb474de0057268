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
        t.add_column(col, overflow="fold")
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
    narrow = out.width < 110  # an 80-column terminal gets the columns that fit; --json has all of them
    cols = ("layer", "out", "MACs", "params", "w/a", "BitOps") if narrow else \
        ("layer", "type", "in", "out", "MACs", "params", "bits w/a", "BitOps", "bytes")
    t = Table(title=f"{sp.name} @ {input_size}px" + (" (narrow terminal: type, input and bytes in --json)"
                                                     if narrow else ""))
    for col in cols:
        t.add_column(col, justify="left" if col in ("layer", "type") else "right",
                     overflow="fold", no_wrap=col not in ("layer", "type"))
    for lc in rep.layers:
        row = {"layer": lc.name, "type": lc.type, "in": "x".join(map(str, lc.in_shape)),
               "out": "x".join(map(str, lc.out_shape)), "MACs": fmt_num(lc.macs), "params": fmt_num(lc.params),
               "w/a": f"{lc.w_bits}/{lc.a_bits}", "bits w/a": f"{lc.w_bits}/{lc.a_bits}", "BitOps": fmt_num(lc.bitops),
               "bytes": fmt_num(lc.memory_bytes)}
        t.add_row(*(row[c] for c in cols))
    out.print(t)
    s = rep.summary()
    out.print(f"arch: {a}\nMACs {s['macs']:,} (FLOPs = 2xMACs = {s['flops']:,})   params {s['params']:,}   "
              f"BitOps {s['bitops']:,} ({s['bitops_g']:.2f} G=2^30)   memory {s['memory_bytes']:,} B   "
              f"intensity {s['intensity']:.2f} FLOPs/B")
