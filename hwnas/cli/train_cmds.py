"""``hwnas train-supernet`` (weight-sharing supernet) and ``hwnas train`` (a found arch, standalone)."""

from __future__ import annotations

import click

from hwnas.cli.app import cli, emit_json, names_help, out, output_options, warn
from hwnas.cli.options import constraint_kwargs, constraint_options, supernet_lever_options
from hwnas.cli.progress import progress_bar
from hwnas.data import data_usage
from hwnas.space import list_spaces
from hwnas.supernet.levers import Recipe
from hwnas.supernet.model import SHARING


@cli.command("train-supernet")
@click.option("--space", default="proxyless", show_default=True, help=names_help("Search space", list_spaces()))
@click.option("--data", default="digits", show_default=True, help=data_usage())
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Training epochs.")
@click.option("--out", "out_dir", required=True, help="Output directory (checkpoint.pt, metrics.yaml).")
@click.option("--sampler", type=click.Choice(["uniform", "constrained"]), default="uniform", show_default=True,
              help="uniform: every path; constrained: only archs that meet the given constraints.")
@click.option("--sharing", type=click.Choice(list(SHARING)), default="entangled", show_default=True,
              help="entangled: kernels/expansions share sliced weights (fast to train); separate: SPOS's own.")
@click.option("--lut", "lut_path", default=None, help="LUT for a --latency constraint.")
@click.option("--input", "input_size", type=click.IntRange(min=8), default=224, show_default=True,
              help="Deployment resolution at which constraints are evaluated.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Images per step.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="Peak SGD learning rate (warm-up, then cosine decay).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of data order and paths.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--overwrite", is_flag=True, help="Start again in an --out that already holds a training run.")
@click.option("--pact-init", type=click.Choice(["data", "pact"]), default="data", show_default=True,
              help="Quantized spaces: data = each PACT clipping level starts at the 99.9th percentile of what it "
                   "clips and also learns from activations below it; pact = PACT as published (start 10, gradient "
                   "only above it, at which the levels never move here).")
@supernet_lever_options
@click.option("--warmup-epochs", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Linear learning-rate warm-up before the cosine decay, in epochs.")
@click.option("--label-smoothing", type=click.FloatRange(min=0, max=1, max_open=True), default=0.0,
              show_default=True, help="Label smoothing of the cross-entropy loss.")
@constraint_options
@output_options
def train_supernet_cmd(space, data, epochs, out_dir, sampler, sharing, lut_path, input_size, batch_size, lr,
                       seed, resume, overwrite, pact_init, sandwich, distill, fair, warmup_epochs, label_smoothing,
                       quiet, as_json, **kw):
    """Train a single-path weight-sharing supernet (SPOS) on a dataset."""
    from hwnas.supernet.api import train_supernet_job

    with progress_bar(quiet or as_json) as cb:
        m = train_supernet_job(space, data, out_dir, epochs, sampler, sharing, constraint_kwargs(kw), lut_path,
                               input_size, batch_size, lr, seed, resume, cb, pact_init=pact_init,
                               recipe=Recipe(sandwich, distill, fair), warmup_epochs=warmup_epochs,
                               label_smoothing=label_smoothing, overwrite=overwrite)
    if m["rank"] != 0:
        return
    if as_json:
        emit_json(m)
        return
    for w in m.get("warnings", []):
        warn(w)
    if not quiet:
        last = m["history"][-1] if m["history"] else {}
        out.print(f"supernet trained: {m['epochs_done']} epochs, final loss {last.get('loss', float('nan')):.4f}, "
                  f"train acc {last.get('train_acc', float('nan')):.3f} -> {m['checkpoint']}")
        if m.get("pact_levels"):
            lv = list(m["pact_levels"].values())
            out.print(f"PACT clipping levels ({m['pact_init']} start): {len(lv)} levels, {min(lv):.3f}..{max(lv):.3f}; "
                      "each per layer/conv and activation bits in metrics.yaml")


@cli.command("train")
@click.option("--space", default=None, help=names_help("Search space (not needed with a result.yaml)", list_spaces()))
@click.option("--arch", "arch_text", required=True, help="Arch string, named arch, or a search's result.yaml.")
@click.option("--data", default="digits", show_default=True, help=data_usage())
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Training epochs.")
@click.option("--out", "out_dir", required=True, help="Output directory (weights.pt, metrics.yaml, checkpoint.pt).")
@click.option("--init", default=None, help="supernet:CHECKPOINT to start from inherited weights [default: scratch].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Images per step.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="[default: 0.05 from scratch, 0.005 fine-tuning from --init supernet weights]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of data order and paths.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--overwrite", is_flag=True, help="Start again in an --out that already holds a training run.")
@output_options
def train_cmd(space, arch_text, data, epochs, out_dir, init, batch_size, lr, seed, resume, overwrite, quiet, as_json):
    """Train a found architecture as a standalone network."""
    from hwnas.supernet.standalone import train_job

    with progress_bar(quiet or as_json) as cb:
        m = train_job(arch_text, out_dir, space, data, epochs, init, batch_size, lr, seed, resume, cb,
                      overwrite=overwrite)
    if as_json:
        emit_json(m)
    elif not quiet:
        start = (f" (inherited from the supernet: {100 * m['init_accuracy']:.2f}%)"
                 if m.get("init_accuracy") is not None else "")
        out.print(f"trained {m['space']} arch for {m['epochs_done']} epochs: held-out accuracy "
                  f"{100 * m['val_accuracy']:.2f}%{start} -> {m['weights']}")
