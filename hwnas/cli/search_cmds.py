"""``hwnas search`` (the headline: constrained architecture search with measured latency) and
``hwnas strategies``."""

from __future__ import annotations

import click
from rich.table import Table

from hwnas.cli.app import cli, emit_json, emitted, json_option, names_help, out, output_options, warn
from hwnas.cli.options import (constraint_kwargs, constraint_options, runner_kwargs, runner_option_group,
                               supernet_lever_options)
from hwnas.cli.progress import progress_bar
from hwnas.constraints import fmt_value
from hwnas.data import data_usage
from hwnas.profilers import list_profilers
from hwnas.search import list_strategies
from hwnas.space import list_spaces
from hwnas.supernet.levers import Recipe


@cli.command("strategies")
@json_option
def strategies_cmd(as_json: bool) -> None:
    """List the registered search strategies with their options and defaults (set with --opt KEY=VALUE)."""
    from hwnas.search import describe_strategies

    if emitted(rows := describe_strategies(), as_json):
        return
    for r in rows:
        needs = f"; uses {', '.join(r['needs'])}" if r["needs"] else ""
        out.print(f"[bold]{r['name']}[/bold]: {r['summary']} (default budget {r['default_budget']}{needs})",
                  highlight=False)
        if not r["options"]:
            out.print("  no options", highlight=False)
            continue
        t = Table(show_edge=False, box=None, padding=(0, 2))
        for col in ("option", "type", "default", "help"):
            t.add_column(col)
        for o in r["options"]:
            t.add_row(o["name"], o["type"], str(o["default"]), o["help"])
        out.print(t)
    out.print("set them with: hwnas search --strategy NAME --opt KEY=VALUE [--opt ...]", highlight=False)


@cli.command("search")
@constraint_options
@click.option("--space", default="proxyless", show_default=True, help=names_help("Search space", list_spaces()))
@click.option("--strategy", default="evolution", show_default=True,
              help=names_help("Search strategy (see `hwnas strategies`)", list_strategies()))
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="A strategy option, e.g. --opt population=20 (repeatable; `hwnas strategies` lists them).")
@click.option(
    "--budget", type=click.IntRange(min=1), default=None, help="Max evaluated archs [default: the strategy's]."
)
@click.option(
    "--lut", "lut_path", default=None, help="LUT to predict latency with [default: profile this machine, cached]."
)
@click.option(
    "--supernet", "supernet_path", default=None, help="Trained supernet [default: train one on --data, cached]."
)
@click.option("--data", default="digits", show_default=True, help=data_usage())
@click.option("--device", default="cpu", show_default=True, help="Device for the on-demand LUT.")
@click.option("--backend", default="ort", show_default=True,
              help=names_help("Runtime for the on-demand LUT", list_profilers()))
@runner_option_group
@click.option("--input", "input_size", type=click.IntRange(min=8), default=None,
              help="Deployment resolution: latency and counts are predicted / measured at this size "
                   "[default: the --lut's size, else 224].")
@click.option("--supernet-epochs", type=click.IntRange(min=1), default=8, show_default=True,
              help="Epochs of the on-demand supernet (cached; not used with --supernet).")
@supernet_lever_options
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the search (and of the on-demand supernet).")
@click.option("--out", "out_dir", default=None, help="Output directory [default: runs/search-<time>].")
@click.option("--resume", is_flag=True, help="Continue the search in --out.")
@click.option("--overwrite", is_flag=True, help="Start again in an --out that already holds a search.")
@click.option("--no-remeasure", is_flag=True, help="Skip re-measuring the best arch's latency.")
@output_options
def search_cmd(space, strategy, opts, budget, lut_path, supernet_path, data, device, backend, input_size,
               supernet_epochs, sandwich, distill, fair, seed, out_dir, resume, overwrite, no_remeasure, quiet, as_json,
               **kw):
    """Search a space (--space) for the most accurate arch that satisfies the constraints (e.g. --latency 17ms)."""
    from hwnas.search.job import SearchJob
    from hwnas.search.options import parse_pairs

    job = SearchJob(space=space, constraints=constraint_kwargs(kw), strategy=strategy, options=parse_pairs(opts),
                    budget=budget, lut=lut_path, supernet=supernet_path, data=data, device=device, backend=backend,
                    runner=runner_kwargs(kw), input_size=input_size, supernet_epochs=supernet_epochs,
                    supernet_recipe=Recipe(sandwich, distill, fair), seed=seed, out_dir=out_dir,
                    resume=resume, overwrite=overwrite, remeasure=not no_remeasure)
    with progress_bar(quiet or as_json) as cb:
        res = job.run(progress=cb)
    r, out_dir = res.result, res.out_dir
    if res.interrupted:
        click.echo(f"interrupted: best so far written to {out_dir}/result.yaml; "
                   f"continue with --resume --out {out_dir}", err=True)
        raise SystemExit(130)
    if as_json:
        emit_json({**r, "out": out_dir})
        return
    for w in r.get("warnings", []):
        warn(w)
    if quiet:  # still the one-line result
        if "arch" in r:
            ms = r["latency"]["predicted_ms"]
            lat = f"latency {ms:.3f} ms (predicted)" if ms is not None else f"MACs {r['macs']:,}"
            click.echo(f"{r['arch']}  accuracy {r['accuracy']:.4f}  {lat}  -> {out_dir}/result.yaml")
        else:
            click.echo(f"no evaluated arch satisfied the constraints; see {out_dir}/history.csv")
        return
    if "arch" not in r:
        out.print(f"no evaluated arch satisfied the constraints; see {out_dir}/history.csv")
        return
    t = Table(title=f"hwnas search: {space}, {strategy}, {r['evaluated']} archs evaluated", show_header=False)
    t.add_row("constraints", ", ".join(f"{v['bound']} (result: {fmt_value(m, v['value'])})"
                                       for m, v in r["constrained"].items()) or "none")
    t.add_row("accuracy", f"{100 * r['accuracy']:.2f}% ({r['accuracy_note']})")
    t.add_row("latency", latency_text(r["latency"]))
    t.add_row("MACs / params / BitOps", f"{r['macs']:,} / {r['params']:,} / {r['bitops']:,}")
    if r.get("report"):
        t.add_row(strategy, r["report"])
    t.add_row("outputs", f"{out_dir}/result.yaml, history.csv, pareto.png")
    t.add_row("wall time", f"{r['wall_s']:.1f} s search")
    out.print(t)
    out.print("best arch (copy as --arch):")
    out.print(r["arch"], soft_wrap=True, highlight=False)


def latency_text(lat: dict) -> str:
    """result.yaml's latency entry as one line: prediction, re-measurement and drift, or why there is none."""
    if lat["predicted_ms"] is None:
        return lat["note"]
    if "measured_ms" not in lat:
        meas = " (not re-measured: --no-remeasure)"
    elif lat["measured_ms"] is None:
        meas = " (not measurable on this machine)"
    else:
        meas = f", measured {lat['measured_ms']:.3f} ms ({lat['error_pct']:+.1f}%)"
    drift = (f"; calibration networks now run {lat['drift_pct']:+.1f}% vs when calibrated (error on today's "
             f"machine {lat['error_drift_corrected_pct']:+.1f}%)" if lat.get("drift_pct") is not None else "")
    return (f"predicted {lat['predicted_ms']:.3f} ms{meas} on {lat['backend']}/{lat['device']} at "
            f"{lat['input_size']}px{drift}")
