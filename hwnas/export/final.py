"""Export of a (trained) arch: ``export`` writes the artefact with its runtime's runner, runs it there, compares
with PyTorch (max |diff|) and times it, beside the LUT's prediction.  The weights come from ``hwnas train``
(:mod:`hwnas.supernet.standalone`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import yaml

from hwnas.cost.arch_cost import count_arch
from hwnas.errors import BackendUnavailableError, HwnasError
from hwnas.export.formats import get_format, list_formats
from hwnas.lut import LUT, LatencyPredictor, space_for
from hwnas.profilers import PROFILERS, TimingConfig, get_profiler
from hwnas.profilers.base import runner_options, runners_taking
from hwnas.space.arch import Arch, arch_from
from hwnas.space.base import Network, SearchSpace, get_space
from hwnas.space.quant import int8_convs, low_bit_convs
from hwnas.supernet.standalone import load_weights


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


def check_export_flags(fmt: str, runner_cls: type, dynamic_batch: bool, int8: bool, runner: dict[str, Any]) -> None:
    """Flags the format or its runner cannot honour fail here, in a second, naming the formats that take them."""
    fmts = [get_format(n) for n in list_formats()]
    wants = [("--dynamic-batch", dynamic_batch, "dynamic_batch" in runner_cls.save_features,
              [g.name for g in fmts if "dynamic_batch" in PROFILERS.get(g.backend).save_features]),
             ("--int8", int8, get_format(fmt).int8, [g.name for g in fmts if g.int8])]
    for k in runner:
        takers = runners_taking(k)
        wants.append((runner_options()[k].cli_flags[0], True, get_format(fmt).backend in takers,
                      [g.name for g in fmts if g.backend in takers]))
    for flag, given, ok, takes in wants:
        if given and not ok:
            raise HwnasError(f"{flag} applies to --format {' / '.join(takes)}, not {fmt}")
    if "batch" in runner:
        raise HwnasError("--batch-size applies to profile and search: an export is timed one image per call")


def export(space_name: str, arch_text: str, fmt: str, out: str, weights: str | None = None, input_size: int = 224,
           num_classes: int | None = None, dynamic_batch: bool = False, extra_meta: dict[str, Any] | None = None,
           prediction: dict[str, Any] | None = None, time_it: bool = True, device: str | None = None,
           int8: bool = False, runner: dict[str, Any] | None = None) -> ExportReport:
    """Write ``fmt``'s artefact with its runtime's runner (configured by the ``runner`` options, as ``hwnas
    profile`` takes them), run it beside PyTorch (max |diff|) and time it there.

    ``prediction``: a LUT's latency for this arch (:func:`predicted_latency`), reported beside the measurement.
    ``device='android'`` (ExecuTorch, LiteRT): the parity check runs the artefact on this host, the timing on the
    phone (never here); ``android_tool`` (a runner option) reaches only the phone's runner."""
    f = get_format(fmt)
    cls = PROFILERS.get(f.backend)
    runner = dict(runner or {})
    device = device or f.device
    if device != f.device and device not in cls.devices:
        raise HwnasError(f"--format {fmt} runs on {f.device}, not --device {device}")
    check_export_flags(fmt, cls, dynamic_batch, int8, runner)
    if f.device.startswith("cuda") and not torch.cuda.is_available():
        here = [g.name for g in map(get_format, list_formats()) if not g.device.startswith("cuda")]
        raise BackendUnavailableError(f"--format {fmt} needs an NVIDIA GPU with CUDA and this machine has none; "
                                      f"use --format {' or '.join(here)} here")
    phone_kw = {k: runner.pop(k) for k in ("android_tool",) if k in runner}
    with get_profiler(f.backend, device=f.device, config=EXPORT_TIMING, **runner) as host:
        sp, arch, net, notes = build_for_export(space_name, arch_text, weights, input_size, num_classes)
        x = torch.randn(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref = net(x)
        n8 = check_quantized(net, arch_text, int8, notes)
        meta = onnx_metadata(sp, arch, extra_meta or {}) if "metadata" in cls.save_features else None
        host.save(net, x, out, metadata=meta, dynamic_batch=dynamic_batch)
        model = host.load(out)
        diff = float((model(x) - ref).abs().max())
        tol = f.int8_tolerance if n8 else f.tolerance_for(bool(runner.get("fp16")))
        rep = ExportReport(fmt, out, sp.name, str(arch), input_size, diff, tol,
                           diff <= tol * max(1.0, float(ref.abs().max())), runtime=host.runtime_text(),
                           backend=f.backend, device=device, notes=notes)
        rep.add_prediction(prediction)
        if time_it and device == f.device:
            st = host.time_artifact(out, x)
            rep.latency_ms, rep.latency_p10_ms, rep.latency_p90_ms = st.median, st.p10, st.p90
    if phone_kw and device == f.device:
        raise HwnasError("--android-tool applies to --device android")
    if time_it and device != f.device:
        with get_profiler(f.backend, device=device, config=EXPORT_TIMING, **runner, **phone_kw) as phone:
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
        sp = space_for(lut, expect=space_name, source=f"--lut {lut_path}")
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
                lut: str | None = None, time_it: bool = True, device: str | None = None, int8: bool = False,
                overwrite: bool = False, runner: dict[str, Any] | None = None) -> ExportReport:
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
    return export(space, text, fmt, out, weights, input_size, num_classes, dynamic_batch, extra, prediction, time_it,
                  device, int8, runner)
