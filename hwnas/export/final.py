"""Standalone training of a found arch and export of the trained network.

``train_arch`` reuses the supernet training loop (same progress, checkpoints, resume); weights are saved
as ``weights.pt`` = ``{"model": state_dict, "meta": {...}}`` (loads with ``weights_only=True``).
``export`` writes the artefact, runs it on its runtime, compares with PyTorch (max |diff|) and times it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import yaml

from hwnas.cost.arch_cost import count_arch
from hwnas.data import Dataset
from hwnas.errors import BackendUnavailableError, HwnasError
from hwnas.export.formats import get_format, list_formats
from hwnas.io import atomic_write_text
from hwnas.lut import LUT, LatencyPredictor, space_for
from hwnas.profilers import PROFILERS, TimingConfig, get_profiler
from hwnas.space.arch import Arch
from hwnas.space.arch import ARCH_FILES, read_result
from hwnas.space.base import Network, SearchSpace, get_space
from hwnas.space.ops import int8_convs, low_bit_convs
from hwnas.supernet.api import load_supernet
from hwnas.supernet.model import extract
from hwnas.supernet.train import (CKPT, Progress, TrainConfig, TrainResult, atomic_torch_save, load_checkpoint,
                                  subnet_accuracy, train)


def arch_from(space_name: str | None, text: str) -> tuple[str, str, dict[str, Any]]:
    """(space, arch string, search result) from an arch string / named arch or a ``result.yaml``."""
    if text.endswith(ARCH_FILES):
        res = read_result(text, space_name)
        return res["space"], res["arch"], res
    if not space_name:
        raise HwnasError("--space is required with an arch string")
    return space_name, text, {}


#: learning rates when none is given: from scratch, and fine-tuning inherited supernet weights (a tenth, so the
#: first steps do not undo what the supernet learned; the measured drop at 0.05 is in docs/benchmarks.md)
SCRATCH_LR, FINETUNE_LR = 0.05, 0.005


def train_arch(space: SearchSpace, arch: Arch, data: Dataset, cfg: TrainConfig, out_dir: str, init: str | None = None,
               resume: bool = False, progress: Progress | None = None) -> tuple[Network, TrainResult, dict[str, Any]]:
    """Train ``arch`` standalone.  With ``init='supernet:CHECKPOINT'`` it starts from the supernet's weights with
    its BatchNorm statistics recalibrated for this path (where the search scored it), so fine-tuning starts at the
    inherited accuracy (``init_accuracy`` in the metrics); the network then has the supernet's layout."""
    torch.manual_seed(cfg.seed)
    init_acc = None
    if init:
        kind, _, path = init.partition(":")
        if kind != "supernet" or not path:
            raise HwnasError(f"--init must be supernet:CHECKPOINT, got {init!r}")
        sn, meta = load_supernet(path)
        if meta["space"] != space.name:
            raise HwnasError(f"supernet {path} is for space '{meta['space']}', not '{space.name}'")
        space = sn.space
        net = extract(sn, space.parse(str(arch)))
        if not resume:
            init_acc = subnet_accuracy(net, data, bn_recalibrate=True, bn_batches=10)
    else:
        net = space.build(arch)
    meta = {"kind": "subnet", "space": space.name, "arch": str(arch), "input_size": space.input_size,
            "num_classes": space.num_classes, "options": dict(space.options), "data": data.name,
            "init": init or "scratch"}
    res = train(net, lambda m, x, g: m(x), data, cfg, out_dir, meta, resume, progress)
    acc = subnet_accuracy(net, data, bn_recalibrate=False)
    metrics = {"space": space.name, "arch": str(arch), "data": data.name, "val_accuracy": acc,
               "init_accuracy": init_acc, "epochs_done": res.epochs_done, "interrupted": res.interrupted,
               "wall_s": round(res.wall_s, 2), "history": res.history, "config": asdict(cfg)}
    atomic_torch_save({"model": net.state_dict(), "meta": meta}, os.path.join(out_dir, "weights.pt"))
    atomic_write_text(os.path.join(out_dir, "metrics.yaml"), yaml.safe_dump(metrics, sort_keys=False))
    return net, res, metrics


def train_job(arch_text: str, out_dir: str, space: str | None = None, data: str = "digits", epochs: int = 10,
              init: str | None = None, batch_size: int = 64, lr: float | None = None, seed: int = 0,
              resume: bool = False, progress: Progress | None = None, overwrite: bool = False) -> dict[str, Any]:
    """``hwnas train``: an arch string, named arch or search ``result.yaml``, trained standalone on ``data``
    (from scratch, or from a supernet's weights with ``init='supernet:CHECKPOINT'``).  An ``out_dir`` that holds
    a run needs ``resume`` or ``overwrite``."""
    from hwnas.data import load_dataset
    from hwnas.errors import Interrupted
    from hwnas.io import check_output_dir

    check_output_dir(out_dir, state=CKPT, marks=("weights.pt", "metrics.yaml"), resume=resume, overwrite=overwrite,
                     what="training run")
    space, text, _ = arch_from(space, arch_text)
    ds = load_dataset(data, seed=seed)
    sp = get_space(space, text, input_size=ds.image_size, num_classes=ds.num_classes)
    lr = lr if lr is not None else (FINETUNE_LR if init else SCRATCH_LR)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    _, res, metrics = train_arch(sp, sp.parse(text), ds, cfg,
                                 out_dir, init, resume, progress)
    if res.interrupted:
        raise Interrupted(f"interrupted: checkpoint saved in {out_dir}; continue with --resume")
    return {**metrics, "weights": os.path.join(out_dir, "weights.pt")}


def load_weights(path: str) -> dict[str, Any]:
    if os.path.isdir(path):
        path = os.path.join(path, "weights.pt")
    if not os.path.exists(path):
        raise HwnasError(f"weights file {path} not found; train with `hwnas train --out DIR` and pass DIR/weights.pt")
    ck = load_checkpoint(path)
    if "model" not in ck or ck.get("meta", {}).get("kind") != "subnet":
        raise HwnasError(f"{path} does not hold a trained subnet (train one with `hwnas train`)")
    return ck


@dataclass
class ExportReport:
    """What ``hwnas export`` did: the artefact, its parity with PyTorch, its latency on its runtime, and the
    LUT's prediction beside it (``like_for_like`` when both are for the same runtime and device)."""

    format: str
    path: str
    space: str
    arch: str
    """the arch string (comma-separated choices)"""
    input_size: int
    max_abs_diff: float  # max |artefact output - PyTorch output| on one seeded input
    tolerance: float
    parity_ok: bool
    latency_ms: float | None = None  # median of the timed runs on the format's runtime (ms); p10 / p90 beside it
    latency_p10_ms: float | None = None
    latency_p90_ms: float | None = None
    runtime: str = ""
    backend: str = ""
    device: str = ""
    predicted_ms: float | None = None
    predicted_backend: str | None = None  # the runtime the LUT's prediction is for
    predicted_device: str | None = None
    like_for_like: bool | None = None     # prediction and measurement on the same runtime and device
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add_prediction(self, prediction: dict[str, Any] | None) -> None:
        """A LUT's prediction (:func:`predicted_latency`) beside the measurement, or the note why there is none."""
        if prediction and prediction["ms"] is None:
            self.notes.append(prediction["note"])
        elif prediction:
            self.predicted_ms = prediction["ms"]
            self.predicted_backend, self.predicted_device = prediction["backend"], prediction["device"]
            self.like_for_like = (prediction["backend"], prediction["device"]) == (self.backend, self.device)


def build_for_export(space_name: str, arch_text: str, weights: str | None, input_size: int,
                     num_classes: int | None) -> tuple[SearchSpace, Arch, Network, list[str]]:
    notes: list[str] = []
    ck = load_weights(weights) if weights else None
    meta = ck["meta"] if ck else {}
    if ck and (meta["space"] != space_name or meta["arch"] != arch_text):
        raise HwnasError(f"weights are for {meta['space']}:{meta['arch']}, not {space_name}:{arch_text}")
    trained = meta.get("num_classes")
    if ck and num_classes and trained is not None and int(trained) != num_classes:
        raise HwnasError(f"--classes {num_classes} but the weights were trained for {trained} classes; drop --classes "
                         "(the weights' count is used) or train for that many classes")
    classes = num_classes or int(trained or 1000)
    sp = get_space(space_name, arch_text, input_size=input_size, num_classes=classes, **meta.get("options", {}))
    arch = sp.parse(arch_text)
    net = sp.build(arch)
    if ck:
        net.load_state_dict(ck["model"])
        if meta.get("input_size") != input_size:
            notes.append(f"trained at {meta.get('input_size')}px, exported at {input_size}px "
                         "(convolutions are size independent)")
    else:
        notes.append("no --weights: exporting randomly initialised weights (for latency / deployment checks)")
    return sp, arch, net.eval(), notes


def onnx_metadata(sp: SearchSpace, arch: Arch, extra: dict[str, Any]) -> dict[str, str]:
    rep = count_arch(sp, arch)
    md = {"hwnas.space": sp.name, "hwnas.arch": str(arch), "hwnas.input_size": str(sp.input_size),
          "hwnas.num_classes": str(sp.num_classes), "hwnas.macs": str(rep.macs), "hwnas.params": str(rep.params),
          "hwnas.bitops": str(rep.bitops)}
    for k, v in extra.items():
        md[f"hwnas.{k}"] = v if isinstance(v, str) else yaml.safe_dump(v, default_flow_style=True).strip()
    return md


def read_onnx_metadata(path: str) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(path).metadata_props}


EXPORT_TIMING = TimingConfig(warmup=10, block=20, min_runs=60, max_runs=400)


def check_quantized(net: torch.nn.Module, arch_text: str, int8: bool, notes: list[str]) -> int:
    """The number of w8a8 convs, which export only with ``--int8`` (and ``--int8`` needs one); a note for convs at
    1-4 bits, which stay in fake-quant form."""
    n8, nlow = len(int8_convs(net)), len(low_bit_convs(net))
    if n8 and not int8:
        raise HwnasError(f"{arch_text} has {n8} int8 (w8a8) convs; export them with --format onnx --int8 "
                         "(QuantizeLinear / DequantizeLinear, run by ONNX Runtime's int8 kernels)")
    if int8 and not n8:
        raise HwnasError("--int8: this arch has no w8a8 layer to export as int8")
    if nlow:
        notes.append(f"{nlow} convs at 1-4 bits stay in fake-quant form (float ops in the graph): no runtime here "
                     "accelerates them; only w8a8 layers run as int8")
    return n8


def export(space_name: str, arch_text: str, fmt: str, out: str, weights: str | None = None, input_size: int = 224,
           num_classes: int | None = None, dynamic_batch: bool = False, fp16: bool = False, threads: int = 1,
           extra_meta: dict[str, Any] | None = None, prediction: dict[str, Any] | None = None,
           time_it: bool = True, device: str | None = None, android_tool: str | None = None,
           int8: bool = False) -> ExportReport:
    """Write ``fmt``'s artefact with its runtime's runner, run it beside PyTorch (max |diff|) and time it there.

    ``prediction``: a LUT's latency for this arch (:func:`predicted_latency`), reported beside the measurement.
    ``device='android'`` (ExecuTorch, LiteRT): the parity check runs the artefact on this host, the timing on the
    phone (never here)."""
    f = get_format(fmt)
    device = device or f.device
    if device != f.device and device not in PROFILERS.get(f.backend).devices:
        raise HwnasError(f"--format {fmt} runs on {f.device}, not --device {device}")
    for flag, given in (("dynamic_batch", dynamic_batch), ("fp16", fp16), ("int8", int8)):
        if given and flag not in f.options:
            takes = [g.name for g in map(get_format, list_formats()) if flag in g.options]
            raise HwnasError(f"--{flag.replace('_', '-')} applies to --format {' / '.join(takes)}, not {fmt}")
    if f.device.startswith("cuda") and not torch.cuda.is_available():
        here = [g.name for g in map(get_format, list_formats()) if not g.device.startswith("cuda")]
        raise BackendUnavailableError(f"--format {fmt} needs an NVIDIA GPU with CUDA and this machine has none; "
                                      f"use --format {' or '.join(here)} here")
    runner_kw = {"fp16": True} if fp16 else {}
    with get_profiler(f.backend, device=f.device, threads=threads, config=EXPORT_TIMING, **runner_kw) as runner:
        sp, arch, net, notes = build_for_export(space_name, arch_text, weights, input_size, num_classes)
        x = torch.randn(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref = net(x)
        kw: dict[str, Any] = {}
        if f.metadata:
            kw["metadata"] = onnx_metadata(sp, arch, extra_meta or {})
        if "dynamic_batch" in f.options:
            kw["dynamic_batch"] = dynamic_batch
        if f.keeps_onnx:
            kw["onnx_path"] = os.path.splitext(out)[0] + ".onnx"
        n8 = check_quantized(net, arch_text, int8, notes)
        runner.save(net, x, out, **kw)
        model = runner.load(out)
        diff = float((model(x) - ref).abs().max())
        tol = f.int8_tolerance if n8 else f.tolerance_for(fp16)
        rep = ExportReport(fmt, out, sp.name, str(arch), input_size, diff, tol,
                           diff <= tol * max(1.0, float(ref.abs().max())), runtime=runner.runtime_text(),
                           backend=f.backend, device=device, notes=notes)
        rep.add_prediction(prediction)
        if time_it and device == f.device:
            st = runner.time_artifact(out, x)
            rep.latency_ms, rep.latency_p10_ms, rep.latency_p90_ms = st.median, st.p10, st.p90
    if time_it and device != f.device:
        with get_profiler(f.backend, device=device, threads=threads, config=EXPORT_TIMING,
                          android_tool=android_tool) as phone:
            st = phone.time_artifact(out, x)
            rep.runtime = phone.runtime_text()
            rep.notes.append("parity checked on this host; latency measured on the phone")
            rep.latency_ms, rep.latency_p10_ms, rep.latency_p90_ms = st.median, st.p10, st.p90
    return rep


def predicted_latency(space_name: str, arch_text: str, input_size: int, result: dict[str, Any] | None = None,
                      lut_path: str | None = None) -> dict[str, Any] | None:
    """A LUT's latency for the arch at ``input_size``, with the runtime and device the LUT was measured on:
    from ``lut_path`` if given, else from a search's ``result`` when it predicted at the same size."""
    if lut_path:
        lut = LUT.load(lut_path)
        sp = space_for(lut)
        if sp.name != space_name:
            raise HwnasError(f"--lut {lut_path} is for space '{sp.name}', not '{space_name}'")
        if sp.input_size != input_size:
            raise HwnasError(f"--lut was measured at {sp.input_size}px but --input is {input_size}")
        built = get_space(space_name, arch_text, input_size=input_size).options
        if built != sp.options:
            return {"ms": None, "note": f"no LUT prediction: the LUT was profiled in the space's layout "
                    f"{sp.options or '(default)'}, but {arch_text} is built with {built}"}
        return {"ms": LatencyPredictor(lut, sp).predict(sp.parse(arch_text)), "backend": lut.meta.get("backend"),
                "device": lut.meta.get("device"), "source": lut_path}
    lat = (result or {}).get("latency") or {}
    if lat.get("input_size") == input_size and lat.get("predicted_ms") is not None:
        return {"ms": lat["predicted_ms"], "backend": lat.get("backend"), "device": lat.get("device"),
                "source": "the search's result"}
    return None


def export_arch(arch_text: str, fmt: str, out: str, space: str | None = None, weights: str | None = None,
                input_size: int = 224, num_classes: int | None = None, dynamic_batch: bool = False,
                fp16: bool = False, threads: int = 1, lut: str | None = None, time_it: bool = True,
                device: str | None = None, android_tool: str | None = None, int8: bool = False,
                overwrite: bool = False) -> ExportReport:
    """``hwnas export``: an arch string, named arch or search ``result.yaml`` -> artefact, parity, latency, and
    the LUT's prediction beside it (a search result carries its constraints and accuracy into the metadata).
    An existing ``out`` is replaced only with ``overwrite``."""
    from hwnas.io import check_output_file

    get_format(fmt)
    check_output_file(out, overwrite)
    space, text, res = arch_from(space, arch_text)
    extra = {}
    if res:
        extra = {"constraints": [c.get("text") for c in res.get("constraints", [])],
                 "search_accuracy": res.get("accuracy")}
    prediction = predicted_latency(space, text, input_size, res, lut)
    return export(space, text, fmt, out, weights, input_size, num_classes, dynamic_batch, fp16, threads, extra,
                  prediction, time_it, device, android_tool, int8)
