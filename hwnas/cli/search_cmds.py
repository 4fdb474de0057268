"""``hwnas search``: the headline — constrained architecture search with measured latency."""

from __future__ import annotations

import time

import click
from rich.table import Table

from hwnas.cli.main import cli, emit_json, out
from hwnas.cli.options import constraint_kwargs, constraint_options
from hwnas.cli.progress import progress_bar


@cli.command("search")
@constraint_options
@click.option("--space", default="proxyless", show_default=True)
@click.option("--strategy", default="evolution", show_default=True, help="evolution | random | coordinate")
@click.option("--budget", type=click.IntRange(min=1), default=None, help="Max evaluated archs [default: population x (generations+1)].")
@click.option("--lut", "lut_path", default=None, help="LUT to predict latency with [default: profile this machine, cached].")
@click.option("--supernet", "supernet_path", default=None, help="Trained supernet [default: train one on --data, cached].")
@click.option("--data", default="digits", show_default=True, help="digits | cifar10:PATH | imagefolder:PATH")
@click.option("--device", default="cpu", show_default=True, help="Device for the on-demand LUT.")
@click.option("--backend", default="ort", show_default=True, help="Runtime for the on-demand LUT.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--input", "input_size", type=click.IntRange(min=8), default=224, show_default=True,
              help="Deployment resolution: latency and counts are predicted / measured at this size.")
@click.option("--supernet-epochs", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--population", type=click.IntRange(min=2), default=None, help="Evolution population [50].")
@click.option("--generations", type=click.IntRange(min=0), default=None, help="Evolution generations [20].")
@click.option("--topk", type=click.IntRange(min=2), default=None, help="Evolution parents [10].")
@click.option("--mutation-prob", type=click.FloatRange(0, 1), default=None, help="Evolution mutation probability [0.1].")
@click.option("--iterations", "T", type=click.IntRange(min=1), default=None, help="Coordinate descent: iterations T [1].")
@click.option("--shared-epochs", "P", type=click.IntRange(min=0), default=None, help="Coordinate: weight-sharing epochs P [1].")
@click.option("--independent-epochs", "Q", type=click.IntRange(min=0), default=None, help="Coordinate: independent epochs Q [1].")
@click.option("--keep", "E", type=click.IntRange(min=1), default=None, help="Coordinate: candidates kept per block E [2].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", default=None, help="Output directory [default: runs/search-<time>].")
@click.option("--resume", is_flag=True, help="Continue the search in --out.")
@click.option("--no-remeasure", is_flag=True, help="Skip re-measuring the best arch's latency.")
@click.option("--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def search_cmd(space, strategy, budget, lut_path, supernet_path, data, device, backend, threads, input_size, supernet_epochs,
               population, generations, topk, mutation_prob, T, P, Q, E, seed, out_dir, resume, no_remeasure, quiet, as_json, **kw):
    """Search SPACE for the most accurate arch that satisfies the constraints (e.g. --latency 17ms)."""
    from hwnas.constraints import parse_constraints
    from hwnas.data import load_dataset
    from hwnas.errors import HwnasError
    from hwnas.lut import LUT
    from hwnas.search import get_strategy
    from hwnas.search.driver import run_search
    from hwnas.search.setup import ensure_lut, ensure_supernet
    from hwnas.supernet.api import load_supernet
    from hwnas.space import get_space

    constraints = parse_constraints(**constraint_kwargs(kw))
    get_strategy(strategy)
    if resume and not out_dir:
        raise HwnasError("--resume needs --out DIR, the directory of the search to continue")
    out_dir = out_dir or f"runs/search-{time.strftime('%Y%m%d-%H%M%S')}"
    ds = load_dataset(data, seed=seed)
    params = {"population": population, "generations": generations, "topk": topk, "mutation_prob": mutation_prob,
              "T": T, "P": P, "Q": Q, "E": E}
    params = {k: v for k, v in params.items() if v is not None}
    if budget is None:
        budget = (params.get("population", 50) * (params.get("generations", 20) + 1)) if strategy != "coordinate" else 10_000
    with progress_bar(quiet or as_json) as cb:
        if lut_path:
            lut = LUT.load(lut_path)
        else:
            lut_path, lut = ensure_lut(space, input_size, ds.num_classes, device, backend, threads, cb)
        if lut.meta.get("space") != space:
            raise HwnasError(f"--lut {lut_path} is for space '{lut.meta.get('space')}', not '{space}'")
        deploy = get_space(space, input_size=int(lut.meta["input_size"]), num_classes=int(lut.meta["num_classes"]))
        if supernet_path:
            net, meta = load_supernet(supernet_path)
            if meta["space"] != space:
                raise HwnasError(f"--supernet {supernet_path} was trained on space '{meta['space']}', not '{space}'")
        else:
            supernet_path, net, meta = ensure_supernet(space, ds, supernet_epochs, seed, progress=cb)
        settings = {"strategy": strategy, "budget": budget, "seed": seed, "params": params, "lut": lut_path,
                    "supernet": supernet_path, "data": ds.name, "deploy_input": deploy.input_size}
        res = run_search(deploy, net, ds, lut, constraints, strategy, budget, seed, out_dir, settings, resume=resume,
                         remeasure=not no_remeasure,
                         strategy_params=params, progress=cb)
    r = res.result
    if res.interrupted:
        click.echo(f"interrupted: best so far written to {out_dir}/result.yaml; continue with --resume --out {out_dir}", err=True)
        raise SystemExit(130)
    if as_json:
        emit_json({**r, "out": out_dir})
        return
    if quiet:
        return
    if "arch" not in r:
        out.print(f"no evaluated arch satisfied the constraints; see {out_dir}/history.csv")
        return
    t = Table(title=f"hwnas search: {space}, {strategy}, {r['evaluated']} archs evaluated", show_header=False)
    t.add_row("constraints", ", ".join(c["text"] for c in r["constraints"]) or "none")
    t.add_row("best arch", r["arch"])
    t.add_row("accuracy", f"{100 * r['accuracy']:.2f}% ({r['accuracy_note']})")
    lat = r["latency"]
    meas = (f", measured {lat['measured_ms']:.3f} ms ({lat['error_pct']:+.1f}%)" if lat.get("measured_ms") is not None
            else " (not measurable on this machine)")
    drift = (f"; calibration networks now run {lat['drift_pct']:+.1f}% vs when calibrated (error on today's "
             f"machine {lat['error_drift_corrected_pct']:+.1f}%)" if lat.get("drift_pct") is not None else "")
    t.add_row("latency", f"predicted {lat['predicted_ms']:.3f} ms{meas} on {lat['backend']}/{lat['device']} at "
              f"{lat['input_size']}px{drift}")
    t.add_row("MACs / params / BitOps", f"{r['macs']:,} / {r['params']:,} / {r['bitops']:,}")
    t.add_row("outputs", f"{out_dir}/result.yaml, history.csv, pareto.png")
    t.add_row("wall time", f"{r['wall_s']:.1f} s search")
    out.print(t)
