"""Importers for published per-op latency tables.

``proxylessnas``: ProxylessNAS's Google Pixel 1 table (``mobile_trim.yaml``: keys like
``expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0`` with count /
mean / var in ms).  Entries map onto the ``proxyless`` space's units so that an arch's prediction is
the publishers' estimator sum: ``Conv`` + every ``expanded_conv`` (``idskip:1`` for residual blocks) +
``Conv_1`` + ``Logits``.  The published mean becomes the median; p10/p90 are mean ∓ 1.2816 σ (normal
approximation, marked ``estimated`` in the entry's source).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import yaml

from hwnas.errors import LUTError
from hwnas.lut.table import LUT, LUTEntry, new_lut
from hwnas.cost.arch_cost import ArchCoster
from hwnas.registry import Registry
from hwnas.space.base import get_space
from hwnas.space.ops import OpSig

IMPORTERS: Registry = Registry("LUT importer")

_SHAPE = r"(\d+)x(\d+)x(\d+)"
_PAT = {
    "Conv": re.compile(rf"^Conv-input:{_SHAPE}-output:{_SHAPE}$"),
    "Conv_1": re.compile(rf"^Conv_1-input:{_SHAPE}-output:{_SHAPE}$"),
    "Logits": re.compile(rf"^Logits-input:{_SHAPE}-output:(\d+)$"),
    "expanded_conv": re.compile(rf"^expanded_conv-input:{_SHAPE}-output:{_SHAPE}-expand:(\d+)-kernel:(\d+)"
                                rf"-stride:(\d+)-idskip:(\d)$"),
}


def proxyless_key_to_sig(key: str) -> OpSig:
    """Map one ProxylessNAS LUT key to the ``proxyless`` space's unit signature."""
    for kind, pat in _PAT.items():
        m = pat.match(key)
        if not m:
            continue
        g = [int(x) for x in m.groups()]
        h, w, c = g[0], g[1], g[2]
        if kind == "Conv":
            oh = g[3]
            return OpSig.make("conv", (c, h, w), cin=c, cout=g[5], k=3, s=h // oh, act="relu6")
        if kind == "Conv_1":
            return OpSig.make("conv", (c, h, w), cin=c, cout=g[5], k=1, s=1, act="relu6")
        if kind == "Logits":
            return OpSig.make("classifier", (c, h, w), cin=c, classes=g[3])
        cout, e, k, s, res = g[5], g[6], g[7], g[8], g[9]
        return OpSig.make("mbconv", (c, h, w), cin=c, cout=cout, k=k, e=e, s=s, res=res, act="relu6")
    raise LUTError(f"unrecognised ProxylessNAS LUT key {key!r}")


@IMPORTERS.register("proxylessnas")
def import_proxylessnas(path: str) -> LUT:
    if not os.path.exists(path):
        raise LUTError(f"file {path} not found; the published table is shared/data/luts/proxylessnas_mobile_trim.yaml")
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError:
        raise LUTError(f"{path} is not valid YAML; expected ProxylessNAS's mobile_trim.yaml") from None
    if not isinstance(raw, dict) or not raw:
        raise LUTError(f"{path} has no entries; expected ProxylessNAS's mobile_trim.yaml")
    logits = next((k for k in raw if str(k).startswith("Logits")), None)
    classes = int(str(logits).rsplit(":", 1)[1]) if logits else 1000
    conv = next((k for k in raw if str(k).startswith("Conv-")), None)
    size = int(_PAT["Conv"].match(conv)[1]) if conv and _PAT["Conv"].match(conv) else 224
    space = get_space("proxyless", input_size=size, num_classes=classes)
    coster = ArchCoster(space)
    fp: dict[str, Any] = {"device": "Google Pixel 1 (published)", "backend": "proxylessnas-published",
                          "runtime": "TensorFlow Lite (ProxylessNAS measurements)", "batch": 1, "dtype": "float32",
                          "source": os.path.basename(path)}
    lut = new_lut("proxyless", size, classes, "proxylessnas-published", "pixel1", fp, 0.0,
                  note="imported from ProxylessNAS's published per-op Pixel 1 table; latencies are published means")
    for key, v in raw.items():
        sig = proxyless_key_to_sig(str(key))
        try:
            mean, var, n = float(v["mean"]), float(v.get("var", 0.0)), int(v.get("count", 0))
        except (KeyError, TypeError, ValueError):
            raise LUTError(f"{path}: entry {key!r} lacks a numeric 'mean'") from None
        sd = math.sqrt(max(var, 0.0))
        u = coster.unit(sig)
        lut.add(LUTEntry(sig, {"median": mean, "p10": mean - 1.2816 * sd, "p90": mean + 1.2816 * sd,
                               "cv": sd / mean if mean else 0.0, "n": n, "source": "published mean; p10/p90 estimated"},
                         u.macs, u.params, u.bitops))
    return lut


def import_lut(fmt: str, path: str, out: str, overwrite: bool = False) -> dict[str, Any]:
    """``hwnas lut import``: convert a published table with importer ``fmt``, save it at ``out`` (an existing
    file only with ``overwrite``), and say how much of the space it covers and what it predicts for the space's
    named archs."""
    from hwnas.io import check_output_file
    from hwnas.lut.predictor import LatencyPredictor
    from hwnas.lut.table import space_for

    check_output_file(out, overwrite)

    lut = IMPORTERS.get(fmt)(path)
    sp = space_for(lut)
    pred = LatencyPredictor(lut, sp)
    lut.save(out)
    return {"lut": out, "entries": len(lut), "space": sp.name, "complete": pred.complete,
            "missing_ops": len(pred.missing_ops()),
            "named_archs_ms": {n: round(pred.predict(sp.parse(n)), 3) for n in sp.named_archs}}
