"""``hwnas export``: a (trained) arch in a registered format, parity-checked and timed on its runtime."""

from __future__ import annotations

import click

from hwnas.cli.app import cli, emit_json, names_help, out
from hwnas.cli.options import runner_kwargs, runner_option_group
from hwnas.export.formats import list_formats
from hwnas.space import list_spaces


@cli.command("export")
@click.option("--space", default=None, help=names_help("Search space (not needed with a result.yaml)", list_spaces()))
@click.option("--arch", "arch_text", required=True, help="Arch string, named arch, or a search's result.yaml.")
@click.option("--weights", default=None, help="weights.pt from `hwnas train` [default: random init].")
@click.option("--format", "fmt", type=click.Choice(list_formats()), required=True,
              help=names_help("Artefact format", list_formats()))
@click.option("--out", "out_path", required=True, help="File to write (the format's extension).")
@click.option("--input", "input_size", type=click.IntRange(min=8), default=224, show_default=True,
              help="Input resolution of the exported model.")
@click.option("--classes", type=click.IntRange(min=1), default=None, help="[default: from the weights, else 1000]")
@click.option("--dynamic-batch", is_flag=True, help="ONNX: dynamic batch dimension.")
@click.option("--int8", is_flag=True,
              help="ONNX: w8a8 layers as QuantizeLinear/DequantizeLinear (int8 kernels in ORT).")
@click.option("--device", default=None, help="Where to time it: the format's own (default), or android for "
              "executorch / litert on a phone over adb.")
@click.option("--lut", "lut_path", default=None, help="LUT whose prediction to print beside the measured latency.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")
@runner_option_group
def export_cmd(space, arch_text, weights, fmt, out_path, input_size, classes, dynamic_batch, int8, device, lut_path,
               overwrite, as_json, **kw):
    """Export a (trained) arch; check parity with PyTorch and time it on the format's runtime."""
    from hwnas.export.final import export_arch

    rep = export_arch(arch_text, fmt, out_path, space, weights, input_size, classes, dynamic_batch, lut_path,
                      device=device, int8=int8, overwrite=overwrite, runner=runner_kwargs(kw))
    if as_json:
        emit_json(rep.to_dict())
    else:
        for n in rep.notes:
            out.print(f"note: {n}")
        ok = "ok" if rep.parity_ok else "FAILED"
        out.print(f"exported {rep.path} ({fmt}); parity vs PyTorch: max |diff| {rep.max_abs_diff:.2e} "
                  f"(tolerance {rep.tolerance:g}) {ok}")
        if rep.latency_ms is not None:
            out.print(f"latency on {rep.runtime}: {rep.latency_ms:.3f} ms median (p10 {rep.latency_p10_ms:.3f}, "
                      f"p90 {rep.latency_p90_ms:.3f}) at {rep.input_size}px")
        if rep.predicted_ms is not None:
            where = f"{rep.predicted_backend}/{rep.predicted_device}"
            if rep.like_for_like:
                out.print(f"LUT ({where}) predicts {rep.predicted_ms:.3f} ms on this runtime")
            else:
                out.print(f"LUT predicts {rep.predicted_ms:.3f} ms on {where}, a different runtime from this export's "
                          f"({rep.backend}/{rep.device}): the two are not comparable")
    if not rep.parity_ok:
        raise SystemExit(1)
