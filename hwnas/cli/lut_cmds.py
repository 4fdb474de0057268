"""``hwnas profile`` and ``hwnas lut show|calibrate|validate|import``."""

from __future__ import annotations

import click
from rich.table import Table

from hwnas.cli.app import cli, emit_json, names_help, out, output_options, warn
from hwnas.cli.options import runner_kwargs, runner_option_group
from hwnas.cli.progress import progress_bar
from hwnas.lut.importers import IMPORTERS
from hwnas.profilers import list_profilers
from hwnas.space import list_spaces


@cli.command("profile")
@click.option(
    "--space", default="proxyless", show_default=True, help=names_help("Search space to profile", list_spaces())
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (android for a phone over adb).")
@click.option("--backend", default=None,
              help=names_help("Runtime", list_profilers(), "ort on cpu, torch on cuda"))
@click.option("--input", "input_size", type=click.IntRange(min=8), default=224, show_default=True,
              help="Input resolution the ops are profiled at.")
@click.option("--classes", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Classes of the classifier head.")
@click.option(
    "--rounds", type=click.IntRange(min=1), default=3, show_default=True, help="Interleaved timing rounds per op."
)
@click.option("--out", "out_path", default=None, help="LUT file to write [default: SPACE_BACKEND_DEVICE_INPUT.yaml].")
@click.option("--resume", is_flag=True, help="Continue an existing LUT, skipping measured ops.")
@click.option("--overwrite", is_flag=True, help="Replace an existing LUT.")
@runner_option_group
@output_options
def profile_cmd(space, device, backend, input_size, classes, rounds, out_path, resume, overwrite, quiet, as_json,
                **kw):
    """Measure every distinct op of a space into a latency LUT."""
    from hwnas.lut.profile import profile

    with progress_bar(quiet or as_json) as cb:
        res = profile(space, device, backend, input_size=input_size, num_classes=classes, rounds=rounds,
                      out=out_path, resume=resume, overwrite=overwrite, runner=runner_kwargs(kw), progress=cb)
    s = res.summary()
    if as_json:
        emit_json(s)
    elif not quiet:
        out.print(f"wrote {s['lut']}: {s['ops']} ops ({s['measured']} measured, {s['skipped']} already there), "
                  f"per-call overhead {s['overhead_ms'] * 1e3:.1f} µs")
        if s["execution"] == "eager":
            out.print("note: eager execution at small batch on a GPU is bound by kernel launches, which a per-op "
                      "table predicts poorly; --cuda-graph times graph replays (see README)")


@cli.group("lut")
def lut_group():
    """Inspect, calibrate, validate and import latency lookup tables."""


@lut_group.command("show")
@click.argument("lut_arg", metavar="[LUT]", required=False)
@click.option("--lut", "lut_opt", default=None, help="The LUT file (YAML), as every other command takes it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")
def lut_show(lut_arg, lut_opt, as_json):
    """Summarise a LUT (--lut FILE, or FILE alone): header, fingerprint, calibration, entries."""
    from hwnas.errors import HwnasError
    from hwnas.lut import LUT
    from hwnas.lut.calibration import calibration_text

    if (lut_arg is None) == (lut_opt is None):
        raise HwnasError("give the LUT once: `hwnas lut show --lut FILE` (or `hwnas lut show FILE`)")
    lut_path = lut_opt or lut_arg

    d = LUT.load(lut_path).describe()
    if as_json:
        emit_json(d)
        return
    t = Table(title=lut_path, show_header=False)
    keys = ("space", "input_size", "num_classes", "backend", "device", "overhead_ms", "entries", "created", "updated")
    for k in keys:
        t.add_row(k, str(d.get(k)))
    t.add_row("fingerprint", ", ".join(f"{k}={v}" for k, v in (d.get("fingerprint") or {}).items()))
    t.add_row("calibration", calibration_text(d["calibration"]))
    t.add_row("op types", ", ".join(f"{k}: {v}" for k, v in d["op_types"].items()))
    if d["latency_ms"]:
        lm = d["latency_ms"]
        t.add_row("op latency", f"min {lm['min']:.4f} / median {lm['median']:.4f} / max {lm['max']:.4f} ms")
    out.print(t)


@lut_group.command("calibrate")
@click.option("--lut", "lut_path", required=True, help="The LUT file (YAML) to work on.")
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True, help="Whole networks to measure.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Interleaved timing rounds per network.")
@click.option("--seed", type=int, default=1234, show_default=True, help="Seed of the networks drawn.")
@output_options
def lut_calibrate(lut_path, samples, rounds, seed, quiet, as_json):
    """Fit the calibration (sum of ops -> whole network) from measured networks; store it in the LUT."""
    from hwnas.lut.calibration import calibrate_lut, calibration_text

    with progress_bar(quiet or as_json) as cb:
        cal, warns = calibrate_lut(lut_path, samples=samples, rounds=rounds, seed=seed, progress=cb)
    for w in warns:
        warn(w)
    if as_json:
        emit_json(cal)
    elif not quiet:
        out.print(f"calibrated {lut_path}: {calibration_text(cal)}")


@lut_group.command("validate")
@click.option("--lut", "lut_path", required=True, help="The LUT file (YAML) to work on.")
@click.option("--samples", type=click.IntRange(min=2), default=30, show_default=True,
              help="Whole networks measured.")
@click.option("--rounds", type=click.IntRange(min=2), default=4, show_default=True,
              help="Interleaved timing rounds per network.")
@click.option("--seed", type=int, default=4321, show_default=True, help="Seed of the networks drawn.")
@click.option("--plot", "plot_path", default=None, help="Scatter plot PNG [default: LUT name + _validation.png].")
@click.option("--refit", is_flag=True,
              help="Refit the calibration on this session's measurements first (removes drift).")
@output_options
def lut_validate(lut_path, samples, rounds, seed, plot_path, refit, quiet, as_json):
    """Compare predictions with whole-network measurements of random archs."""
    from hwnas.lut.validation import validate_lut

    with progress_bar(quiet or as_json) as cb:
        rep, plot_path, warns = validate_lut(lut_path, samples=samples, rounds=rounds, seed=seed, refit=refit,
                                             plot_path=plot_path, progress=cb)
    if as_json:
        emit_json({**rep.to_dict(), "plot": plot_path, "warnings": warns})
        return
    for w in warns:
        warn(w)
    if quiet:
        return
    s = rep.summary()
    t = Table(title=f"validation: {rep.samples} random {rep.space} networks on {rep.backend}", show_header=False)
    t.add_row("Kendall τ / Pearson r", f"{s['kendall_tau']:.3f} / {s['pearson_r']:.3f}")
    t.add_row("RMSE", f"{s['rmse_ms']:.3f} ms")
    t.add_row("mean error / mean |error|", f"{s['mean_error_pct']:+.2f}% / {s['mean_abs_error_pct']:.2f}%")
    t.add_row("within ±5% / ±10%", f"{s['within_5_pct']:.1f}% / {s['within_10_pct']:.1f}%")
    t.add_row("noise floor", f"two halves of the measurement agree within ±5% for {s['noise_within_5_pct']:.0f}% "
              f"of networks (median gap {s['noise_median_pct']:.2f}%)")
    if s["drift_pct"] is not None:
        t.add_row("drift since calibration", f"{s['drift_pct']:+.1f}% (calibration networks re-measured now)"
                  + ("; calibration refitted on this session" if s["refit"] else ""))
    t.add_row("calibration", s["calibration"])
    t.add_row("plot", plot_path)
    out.print(t)


@lut_group.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(IMPORTERS.names()))
@click.argument("file", metavar="FILE")
@click.option("--out", "out_path", required=True, help="hwnas LUT to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")
def lut_import(fmt, file, out_path, overwrite, as_json):
    """Convert a published per-op LUT into hwnas's format (proxylessnas: Pixel 1)."""
    from hwnas.lut.importers import import_lut

    d = import_lut(fmt, file, out_path, overwrite)
    if as_json:
        emit_json(d)
        return
    cov = "covers every arch of the space" if d["complete"] else f"misses {d['missing_ops']} ops"
    out.print(f"wrote {out_path}: {d['entries']} entries for space '{d['space']}', {cov}")
    for n, v in d["named_archs_ms"].items():
        out.print(f"  {n}: predicted {v:.1f} ms")


@cli.command("predict")
@click.option("--lut", "lut_path", required=True, help="The LUT to predict with (`hwnas profile`, `hwnas lut import`).")
@click.option("--arch", "archs", required=True, multiple=True,
              help="Named arch, arch string, a search's result.yaml, or a file of archs (one per line, or a YAML/JSON "
                   "list); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def predict_cmd(lut_path, archs, as_json):
    """Predict archs' latency from a LUT, with a per-op breakdown and MACs / params / BitOps."""
    from hwnas.lut.predict import predict_archs

    d = predict_archs(lut_path, list(archs))
    if as_json:
        emit_json(d)
        return
    cal = ("calibrated" if d["calibrated"] else "NOT calibrated (run `hwnas lut calibrate`)" if d["calibratable"]
           else "not calibrated (an imported table: its per-op sum is used as published; only the device it came "
                "from could calibrate it)")
    out.print(f"{d['space']} at {d['input_size']}px on {d['backend']}/{d['device']}, {cal}: {d['calibration']}",
              highlight=False)
    for a in d["archs"]:
        t = Table(title=a["name"] or None, show_edge=False)
        for col, j in (("layer", "left"), ("op", "left"), ("ms", "right"), ("share", "right")):
            t.add_column(col, justify=j, overflow="fold")
        for r in a["layers"]:
            t.add_row(r["layer"], r["op"], f"{r['ms']:.4f}", f"{r['share_pct']:.1f}%")
        out.print(t)
        out.print(f"predicted {a['latency_ms']:.3f} ms (LUT sum {a['lut_sum_ms']:.3f} ms; an op's ms is its share of "
                  f"the calibrated total)   MACs {a['macs']:,}   params {a['params']:,}   BitOps {a['bitops']:,}",
                  highlight=False)
        out.print(a["arch"], soft_wrap=True, highlight=False)
