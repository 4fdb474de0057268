"""``hwnas train`` (standalone training of a found arch) and ``hwnas export``."""

from __future__ import annotations

import click

from hwnas.cli.main import cli, emit_json, out
from hwnas.cli.progress import progress_bar


@cli.command("train")
@click.option("--space", default=None, help="Search space (not needed with a result.yaml).")
@click.option("--arch", "arch_text", required=True, help="Arch string, named arch, or a search's result.yaml.")
@click.option("--data", default="digits", show_default=True, help="digits | cifar10:PATH | imagefolder:PATH")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--out", "out_dir", required=True, help="Output directory (weights.pt, metrics.yaml, checkpoint.pt).")
@click.option("--init", default=None, help="supernet:CHECKPOINT to start from inherited weights [default: scratch].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True)
@click.option("--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def train_cmd(space, arch_text, data, epochs, out_dir, init, batch_size, lr, seed, resume, quiet, as_json):
    """Train a found architecture as a standalone network."""
    from hwnas.data import load_dataset
    from hwnas.export.final import arch_from, train_arch
    from hwnas.space import get_space
    from hwnas.supernet.train import TrainConfig

    space, text, _ = arch_from(space, arch_text)
    ds = load_dataset(data, seed=seed)
    sp = get_space(space, text if not text.endswith(".yaml") else None, input_size=ds.image_size, num_classes=ds.num_classes)
    arch = sp.parse(text)
    with progress_bar(quiet or as_json) as cb:
        _, res, metrics = train_arch(sp, arch, ds, TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
                                     out_dir, init, resume, cb)
    if res.interrupted:
        click.echo(f"interrupted: checkpoint saved in {out_dir}; continue with --resume", err=True)
        raise SystemExit(130)
    if as_json:
        emit_json(metrics)
    elif not quiet:
        out.print(f"trained {space} arch for {res.epochs_done} epochs: held-out accuracy {100 * metrics['val_accuracy']:.2f}% "
                  f"-> {out_dir}/weights.pt")


@cli.command("export")
@click.option("--space", default=None, help="Search space (not needed with a result.yaml).")
@click.option("--arch", "arch_text", required=True, help="Arch string, named arch, or a search's result.yaml.")
@click.option("--weights", default=None, help="weights.pt from `hwnas train` [default: random init].")
@click.option("--format", "fmt", type=click.Choice(["onnx", "tensorrt", "executorch"]), required=True)
@click.option("--out", "out_path", required=True)
@click.option("--input", "input_size", type=click.IntRange(min=8), default=224, show_default=True)
@click.option("--classes", type=click.IntRange(min=1), default=None, help="[default: from the weights, else 1000]")
@click.option("--dynamic-batch", is_flag=True, help="ONNX: dynamic batch dimension.")
@click.option("--fp16", is_flag=True, help="TensorRT: fp16 engine.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--lut", "lut_path", default=None, help="LUT whose prediction to print beside the measured latency.")
@click.option("--json", "as_json", is_flag=True)
def export_cmd(space, arch_text, weights, fmt, out_path, input_size, classes, dynamic_batch, fp16, threads, lut_path, as_json):
    """Export a (trained) arch to ONNX, a TensorRT engine or an ExecuTorch .pte; check parity and time it."""
    from hwnas.errors import HwnasError
    from hwnas.export.final import arch_from, export

    space, text, res = arch_from(space, arch_text)
    extra = {}
    predicted = None
    if res:
        extra = {"constraints": [c.get("text") for c in res.get("constraints", [])], "search_accuracy": res.get("accuracy")}
        lat = res.get("latency") or {}
        if lat.get("input_size") == input_size:
            predicted = lat.get("predicted_ms")
    if lut_path:
        from hwnas.lut import LUT, LatencyPredictor
        from hwnas.space import get_space

        lut = LUT.load(lut_path)
        sp = get_space(space, input_size=int(lut.meta["input_size"]), num_classes=int(lut.meta["num_classes"]))
        if sp.input_size != input_size:
            raise HwnasError(f"--lut was measured at {sp.input_size}px but --input is {input_size}")
        predicted = LatencyPredictor(lut, sp).predict(sp.parse(text))
    rep = export(space, text, fmt, out_path, weights, input_size, classes, dynamic_batch, fp16, threads, extra, predicted)
    if as_json:
        emit_json(rep.to_dict())
    else:
        for n in rep.notes:
            out.print(f"note: {n}")
        ok = "ok" if rep.parity_ok else "FAILED"
        out.print(f"exported {rep.path} ({fmt}); parity vs PyTorch: max |diff| {rep.max_abs_diff:.2e} "
                  f"(tolerance {rep.tolerance:g}) {ok}")
        if rep.latency_ms is not None:
            pred = f"; LUT predicts {rep.predicted_ms:.3f} ms" if rep.predicted_ms is not None else ""
            out.print(f"latency on {rep.runtime}: {rep.latency_ms:.3f} ms median (p10 {rep.latency_p10_ms:.3f}, "
                      f"p90 {rep.latency_p90_ms:.3f}) at {rep.input_size}px{pred}")
    if not rep.parity_ok:
        raise SystemExit(1)
