"""``hwnas train-supernet``."""

from __future__ import annotations

import os

import click

from hwnas.cli.main import cli, emit_json, out
from hwnas.cli.options import constraint_kwargs, constraint_options
from hwnas.cli.progress import progress_bar


def build_cost_filter(space_name: str, input_size: int, lut_path: str | None, cons: dict, options: dict | None = None):
    """HardFilter at the deployment resolution (constraints are about the deployed model), or None."""
    from hwnas.constraints import CostModel, HardFilter, parse_constraints
    from hwnas.lut import LUT, LatencyPredictor
    from hwnas.space import get_space

    constraints = parse_constraints(**cons)
    if not constraints:
        return None, []
    sp = get_space(space_name, input_size=input_size, **(options or {}))
    pred = None
    if lut_path:
        lut = LUT.load(lut_path)
        sp = get_space(space_name, input_size=int(lut.meta["input_size"]), num_classes=int(lut.meta["num_classes"]),
                       **(options or {}))
        pred = LatencyPredictor(lut, sp)
    return HardFilter(constraints, CostModel(sp, pred)), constraints


@cli.command("train-supernet")
@click.option("--space", default="proxyless", show_default=True)
@click.option("--data", default="digits", show_default=True, help="digits | cifar10:PATH | imagefolder:PATH")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--out", "out_dir", required=True, help="Output directory (checkpoint.pt, metrics.yaml).")
@click.option("--sampler", type=click.Choice(["uniform", "constrained"]), default="uniform", show_default=True)
@click.option("--sharing", type=click.Choice(["entangled", "separate"]), default="entangled", show_default=True,
              help="entangled: kernels/expansions share sliced weights (fast to train); separate: SPOS's own.")
@click.option("--lut", "lut_path", default=None, help="LUT for a --latency constraint.")
@click.option("--input", "input_size", type=click.IntRange(min=8), default=224, show_default=True,
              help="Deployment resolution at which constraints are evaluated.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@constraint_options
@click.option("--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def train_supernet_cmd(space, data, epochs, out_dir, sampler, sharing, lut_path, input_size, batch_size, lr, seed, resume,
                       quiet, as_json, **kw):
    """Train a single-path weight-sharing supernet (SPOS) on a dataset."""
    import yaml

    from hwnas.data import load_dataset
    from hwnas.errors import ConstraintError
    from hwnas.space import get_space
    from hwnas.supernet.api import TrainConfig, constrained_sampler, train_supernet
    from hwnas.supernet.train import init_distributed

    rank, world = init_distributed()
    ds = load_dataset(data, seed=seed)
    sp = get_space(space, input_size=ds.image_size, num_classes=ds.num_classes)
    cons = constraint_kwargs(kw)
    samp, desc = None, "uniform"
    if sampler == "constrained":
        hard, constraints = build_cost_filter(space, input_size, lut_path, cons)
        if hard is None:
            raise ConstraintError("--sampler constrained needs a constraint, e.g. --flops 300M")
        samp, desc = constrained_sampler(hard), "constrained: " + ", ".join(map(str, constraints))
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    with progress_bar(quiet or as_json or rank != 0) as cb:
        net, res = train_supernet(sp, ds, cfg, out_dir, samp, resume, cb, sampler_desc=desc, sharing=sharing)
    metrics = {"space": space, "data": ds.name, "epochs_done": res.epochs_done, "steps": res.steps, "world_size": world,
               "interrupted": res.interrupted, "wall_s": round(res.wall_s, 2), "sampler": desc, "sharing": sharing,
               "history": res.history, "checkpoint": res.checkpoint,
               "ranks_identical": len(set(res.rank_digests)) == 1 if res.rank_digests else None}
    if rank == 0:
        with open(os.path.join(out_dir, "metrics.yaml"), "w") as f:
            yaml.safe_dump(metrics, f, sort_keys=False)
    if res.interrupted:
        click.echo(f"interrupted: checkpoint saved at {res.checkpoint}; continue with --resume", err=True)
        raise SystemExit(130)
    if rank != 0:
        return
    if as_json:
        emit_json(metrics)
    elif not quiet:
        last = res.history[-1] if res.history else {}
        out.print(f"supernet trained: {res.epochs_done} epochs, final loss {last.get('loss', float('nan')):.4f}, "
                  f"train acc {last.get('train_acc', float('nan')):.3f} -> {res.checkpoint}")
