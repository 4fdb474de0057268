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
from hwnas.errors import HwnasError
from hwnas.profilers.artifacts import ExecuTorchModel, to_executorch, to_onnx
from hwnas.profilers.base import Profiler, TimingConfig
from hwnas.space.arch import Arch
from hwnas.space.base import Network, SearchSpace, get_space
from hwnas.supernet.api import load_supernet
from hwnas.supernet.model import extract
from hwnas.supernet.train import Progress, TrainConfig, TrainResult, atomic_torch_save, load_checkpoint, subnet_accuracy, train

TOLERANCE = {"onnx": 1e-4, "executorch": 1e-4, "tensorrt": 1e-3, "tensorrt-fp16": 1e-2}


def arch_from(space_name: str | None, text: str) -> tuple[str, str, dict[str, Any]]:
    """(space, arch string, search result) from an arch string / named arch or a ``result.yaml``."""
    if text.endswith((".yaml", ".yml")):
        if not os.path.exists(text):
            raise HwnasError(f"result file {text} not found")
        with open(text) as f:
            res = yaml.safe_load(f) or {}
        if "arch" not in res or "space" not in res:
            raise HwnasError(f"{text} has no 'arch'/'space'; pass a search's result.yaml or an arch string")
        if space_name and space_name != res["space"]:
            raise HwnasError(f"{text} is for space '{res['space']}', not '{space_name}'")
        return res["space"], res["arch"], res
    if not space_name:
        raise HwnasError("--space is required with an arch string")
    return space_name, text, {}


def train_arch(space: SearchSpace, arch: Arch, data: Dataset, cfg: TrainConfig, out_dir: str, init: str | None = None,
               resume: bool = False, progress: Progress | None = None) -> tuple[Network, TrainResult, dict[str, Any]]:
    torch.manual_seed(cfg.seed)
    if init:
        kind, _, path = init.partition(":")
        if kind != "supernet" or not path:
            raise HwnasError(f"--init must be supernet:CHECKPOINT, got {init!r}")
        sn, meta = load_supernet(path)
        if meta["space"] != space.name:
            raise HwnasError(f"supernet {path} is for space '{meta['space']}', not '{space.name}'")
        net = extract(sn, arch)
    else:
        net = space.build(arch)
    meta = {"kind": "subnet", "space": space.name, "arch": str(arch), "input_size": space.input_size,
            "num_classes": space.num_classes, "options": dict(space.options), "data": data.name, "init": init or "scratch"}
    res = train(net, lambda m, x, g: m(x), data, cfg, out_dir, meta, resume, progress)
    acc = subnet_accuracy(net, data, bn_recalibrate=False)
    metrics = {"space": space.name, "arch": str(arch), "data": data.name, "val_accuracy": acc, "epochs_done": res.epochs_done,
               "interrupted": res.interrupted, "wall_s": round(res.wall_s, 2), "history": res.history, "config": asdict(cfg)}
    atomic_torch_save({"model": net.state_dict(), "meta": meta}, os.path.join(out_dir, "weights.pt"))
    tmp = os.path.join(out_dir, "metrics.yaml.tmp")
    with open(tmp, "w") as f:
        yaml.safe_dump(metrics, f, sort_keys=False)
    os.replace(tmp, os.path.join(out_dir, "metrics.yaml"))
    return net, res, metrics


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
    format: str
    path: str
    space: str
    arch: str
    input_size: int
    max_abs_diff: float
    tolerance: float
    parity_ok: bool
    latency_ms: float | None = None
    latency_p10_ms: float | None = None
    latency_p90_ms: float | None = None
    runtime: str = ""
    predicted_ms: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_for_export(space_name: str, arch_text: str, weights: str | None, input_size: int,
                     num_classes: int | None) -> tuple[SearchSpace, Arch, Network, list[str]]:
    notes: list[str] = []
    ck = load_weights(weights) if weights else None
    meta = ck["meta"] if ck else {}
    if ck and (meta["space"] != space_name or meta["arch"] != arch_text):
        raise HwnasError(f"weights are for {meta['space']}:{meta['arch']}, not {space_name}:{arch_text}")
    classes = num_classes or int(meta.get("num_classes", 1000))
    sp = get_space(space_name, input_size=input_size, num_classes=classes, **meta.get("options", {}))
    arch = sp.parse(arch_text)
    net = sp.build(arch)
    if ck:
        net.load_state_dict(ck["model"])
        if meta.get("input_size") != input_size:
            notes.append(f"trained at {meta.get('input_size')}px, exported at {input_size}px (convolutions are size independent)")
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


def export(space_name: str, arch_text: str, fmt: str, out: str, weights: str | None = None, input_size: int = 224,
           num_classes: int | None = None, dynamic_batch: bool = False, fp16: bool = False, threads: int = 1,
           extra_meta: dict[str, Any] | None = None, predicted_ms: float | None = None, time_it: bool = True) -> ExportReport:
    if fmt not in ("onnx", "executorch", "tensorrt"):
        raise HwnasError(f"unknown export format '{fmt}'; choose onnx, tensorrt or executorch")
    sp, arch, net, notes = build_for_export(space_name, arch_text, weights, input_size, num_classes)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    x = torch.randn(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = net(x)
    cfg = TimingConfig(warmup=10, block=20, min_runs=60, max_runs=400)
    timer: Any = Profiler(device="cpu", threads=threads, config=cfg)
    if fmt == "onnx" or fmt == "tensorrt":
        onnx_path = out if fmt == "onnx" else os.path.splitext(out)[0] + ".onnx"
        if fmt == "tensorrt":
            from hwnas.errors import BackendUnavailableError
            from hwnas.profilers.base import require

            if not torch.cuda.is_available():
                raise BackendUnavailableError("TensorRT export needs an NVIDIA GPU with CUDA and this machine has none; "
                                              "use --format onnx or executorch here")
            require("tensorrt", "TensorRT needs an NVIDIA GPU: pip install -e '.[gpu]' on a CUDA machine")
        _write_onnx(net, x, onnx_path, dynamic_batch, onnx_metadata(sp, arch, extra_meta or {}))
    if fmt == "onnx":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3
        sess = ort.InferenceSession(out, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        got = torch.from_numpy(sess.run(None, {name: x.numpy()})[0])
        run = lambda: sess.run(None, {name: x.numpy()})  # noqa: E731
        runtime, tol = f"onnxruntime {ort.__version__} CPU, {threads} thread(s)", TOLERANCE["onnx"]
    elif fmt == "executorch":
        to_executorch(net, x, out)
        model = ExecuTorchModel(out)
        got = model(x)
        run = lambda: model.method.execute([x])  # noqa: E731
        runtime, tol = "executorch.runtime (XNNPACK) on this host", TOLERANCE["executorch"]
    else:
        from hwnas.profilers.trt import TRTEngine, build_engine

        blob = build_engine(onnx_path, fp16=fp16)
        with open(out + ".tmp", "wb") as f:
            f.write(blob)
        os.replace(out + ".tmp", out)
        eng = TRTEngine(blob, "cuda")
        got = eng(x.cuda()).cpu()
        run = eng.execute
        from hwnas.profilers.backends import TorchProfiler

        timer = TorchProfiler(device="cuda", config=cfg)  # CUDA-event timing
        runtime, tol = f"TensorRT {'fp16' if fp16 else 'fp32'}", TOLERANCE["tensorrt-fp16" if fp16 else "tensorrt"]
    diff = float((got - ref).abs().max())
    rep = ExportReport(fmt, out, sp.name, str(arch), input_size, diff, tol, diff <= tol * max(1.0, float(ref.abs().max())),
                       runtime=runtime, predicted_ms=predicted_ms, notes=notes)
    if time_it:
        st = timer.time_runnable(run)
        rep.latency_ms, rep.latency_p10_ms, rep.latency_p90_ms = st.median, st.p10, st.p90
    return rep


def _write_onnx(net: Network, x: torch.Tensor, path: str, dynamic_batch: bool, metadata: dict[str, str]) -> None:
    import onnx

    tmp = path + ".tmp.onnx"
    to_onnx(net, x, tmp, opset=17, dynamic_batch=dynamic_batch)
    model = onnx.load(tmp)
    for k, v in metadata.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, tmp)
    os.replace(tmp, path)
