"""``hwnas profile`` and ``hwnas lut show|calibrate|validate|import``."""

from __future__ import annotations

import os

import click
from rich.table import Table

from hwnas.cli.main import cli, emit_json, out
from hwnas.cli.progress import progress_bar


def _warn(msg: str) -> None:
    click.echo(f"warning: {msg}", err=True)


def default_lut_path(space: str, backend: str, device: str, input_size: int) -> str:
    return f"{space}_{backend}_{device.replace(':', '')}_{input_size}.yaml"


@cli.command("profile")
@click.option("--space", default="proxyless", show_default=True, help="Search space to profile.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (android for a phone over adb).")
@click.option("--backend", default=None, help="torch, ort, tensorrt, executorch, litert [default: ort on cpu, torch on cuda].")
@click.option("--provider", default=None, help="ONNX Runtime execution provider: cpu, cuda, tensorrt.")
@click.option("--fp16", is_flag=True, help="TensorRT: allow fp16 kernels.")
@click.option("--cuda-graph", is_flag=True, help="torch/ort on CUDA: time CUDA-graph replays, not eager launches.")
@click.option("--input", "input_size", type=click.IntRange(min=8), default=224, show_default=True)
@click.option("--classes", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Intra-op threads (recorded).")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True, help="Interleaved timing rounds per op.")
@click.option("--out", "out_path", default=None, help="LUT file to write [default: SPACE_BACKEND_DEVICE_INPUT.yaml].")
@click.option("--resume", is_flag=True, help="Continue an existing LUT, skipping measured ops.")
@click.option("--overwrite", is_flag=True, help="Replace an existing LUT.")
@click.option("--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def profile_cmd(space, device, backend, provider, fp16, cuda_graph, input_size, classes, batch, threads, rounds, out_path,
                resume, overwrite, quiet, as_json):
    """Measure every distinct op of a space into a latency LUT."""
    from hwnas.lut.profile import profile_space
    from hwnas.profilers import TimingConfig, get_profiler
    from hwnas.space import get_space

    sp = get_space(space, input_size=input_size, num_classes=classes)
    backend = backend or ("torch" if device.startswith("cuda") else "ort")
    out_path = out_path or default_lut_path(space, backend, device, input_size)
    kw = {}
    if provider:
        kw["provider"] = provider
    if fp16:
        kw["fp16"] = True
    if cuda_graph:
        if backend not in ("torch", "ort"):
            raise click.UsageError(f"--cuda-graph applies to --backend torch or ort, not {backend}")
        kw["cuda_graph"] = True
    with get_profiler(backend, device=device, threads=threads, batch=batch, config=TimingConfig(rounds=rounds), **kw) as prof:
        with progress_bar(quiet or as_json) as cb:
            try:
                res = profile_space(sp, prof, out_path, resume=resume, overwrite=overwrite, progress=cb)
            except KeyboardInterrupt:
                click.echo(f"interrupted: ops measured so far are saved in {out_path}; continue with --resume", err=True)
                raise SystemExit(130)
    summary = {"lut": out_path, "space": space, "backend": backend, "device": device, "ops": res.total,
               "measured": res.measured, "skipped": res.skipped, "overhead_ms": res.lut.overhead_ms}
    if as_json:
        emit_json(summary)
    elif not quiet:
        out.print(f"wrote {out_path}: {res.total} ops ({res.measured} measured, {res.skipped} already there), "
                  f"per-call overhead {res.lut.overhead_ms * 1e3:.1f} µs")
        if device.startswith("cuda") and backend in ("torch", "ort") and not cuda_graph:
            out.print("note: eager execution at small batch on a GPU is bound by kernel launches, which a per-op "
                      "table predicts poorly; --cuda-graph times graph replays (see README)")


@cli.group("lut")
def lut_group():
    """Inspect, calibrate, validate and import latency lookup tables."""


def _load(path: str):
    from hwnas.lut import LUT

    return LUT.load(path)


@lut_group.command("show")
@click.argument("lut_path", metavar="LUT")
@click.option("--json", "as_json", is_flag=True)
def lut_show(lut_path, as_json):
    """Summarise a LUT: header, fingerprint, calibration, entries."""
    from hwnas.lut.fidelity import calibration_text

    d = _load(lut_path).describe()
    if as_json:
        emit_json(d)
        return
    t = Table(title=lut_path, show_header=False)
    for k in ("space", "input_size", "num_classes", "backend", "device", "overhead_ms", "entries", "created", "updated"):
        t.add_row(k, str(d.get(k)))
    t.add_row("fingerprint", ", ".join(f"{k}={v}" for k, v in (d.get("fingerprint") or {}).items()))
    t.add_row("calibration", calibration_text(d["calibration"]))
    t.add_row("op types", ", ".join(f"{k}: {v}" for k, v in d["op_types"].items()))
    if d["latency_ms"]:
        lm = d["latency_ms"]
        t.add_row("op latency", f"min {lm['min']:.4f} / median {lm['median']:.4f} / max {lm['max']:.4f} ms")
    out.print(t)


def _space_for(lut):
    from hwnas.space import get_space

    return get_space(lut.meta["space"], input_size=int(lut.meta["input_size"]), num_classes=int(lut.meta["num_classes"]))


@lut_group.command("calibrate")
@click.option("--lut", "lut_path", required=True)
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True, help="Whole networks to measure.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def lut_calibrate(lut_path, samples, rounds, seed, quiet, as_json):
    """Fit the calibration (sum of ops -> whole network) from measured networks; store it in the LUT."""
    from hwnas.lut.fidelity import calibrate, calibration_text, profiler_for

    lut = _load(lut_path)
    sp = _space_for(lut)
    with profiler_for(lut) as prof:
        _fp_warn(lut, prof)
        with progress_bar(quiet or as_json) as cb:
            cal = calibrate(lut, sp, prof, samples=samples, seed=seed, rounds=rounds, progress=cb)
    lut.save(lut_path)
    if as_json:
        emit_json(cal)
    elif not quiet:
        out.print(f"calibrated {lut_path}: {calibration_text(cal)}")


def _fp_warn(lut, prof) -> None:
    diffs = lut.fingerprint_mismatch(prof.fingerprint())
    if diffs:
        _warn("LUT measured on another device/runtime: " + "; ".join(diffs))


@lut_group.command("validate")
@click.option("--lut", "lut_path", required=True)
@click.option("--samples", type=click.IntRange(min=2), default=30, show_default=True)
@click.option("--rounds", type=click.IntRange(min=2), default=4, show_default=True)
@click.option("--seed", type=int, default=4321, show_default=True)
@click.option("--plot", "plot_path", default=None, help="Scatter plot PNG [default: LUT name + _validation.png].")
@click.option("--refit", is_flag=True, help="Refit the calibration on this session's measurements first (removes drift).")
@click.option("--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def lut_validate(lut_path, samples, rounds, seed, plot_path, refit, quiet, as_json):
    """Compare predictions with whole-network measurements of random archs."""
    from hwnas.lut.fidelity import plot_validation, profiler_for, validate

    lut = _load(lut_path)
    sp = _space_for(lut)
    with profiler_for(lut) as prof:
        _fp_warn(lut, prof)
        with progress_bar(quiet or as_json) as cb:
            rep = validate(lut, sp, prof, samples=samples, seed=seed, rounds=rounds, refit=refit, progress=cb)
    plot_path = plot_path or os.path.splitext(lut_path)[0] + "_validation.png"
    plot_validation(rep, plot_path)
    if as_json:
        emit_json({**rep.to_dict(), "plot": plot_path})
        return
    if quiet:
        return
    if not rep.calibrated:
        _warn("LUT is not calibrated: run `hwnas lut calibrate` first for accurate absolute latencies")
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
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["proxylessnas"]))
@click.argument("file", metavar="FILE")
@click.option("--out", "out_path", required=True, help="hwnas LUT to write.")
@click.option("--json", "as_json", is_flag=True)
def lut_import(fmt, file, out_path, as_json):
    """Convert a published per-op LUT into hwnas's format (proxylessnas: Pixel 1)."""
    from hwnas.lut.importers import IMPORTERS
    from hwnas.lut.predictor import LatencyPredictor

    lut = IMPORTERS.get(fmt)(file)
    sp = _space_for(lut)
    pred = LatencyPredictor(lut, sp)
    lut.save(out_path)
    cov = "covers every arch of the space" if pred.complete else f"misses {len(pred.missing_ops())} ops"
    d = {"lut": out_path, "entries": len(lut), "space": sp.name, "complete": pred.complete,
         "named_archs_ms": {n: round(pred.predict(sp.parse(n)), 3) for n in sp.named_archs}}
    if as_json:
        emit_json(d)
        return
    out.print(f"wrote {out_path}: {len(lut)} entries for space '{sp.name}', {cov}")
    for n, v in d["named_archs_ms"].items():
        out.print(f"  {n}: predicted {v:.1f} ms")
