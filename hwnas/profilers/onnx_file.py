"""ONNX files, the artefact ONNX Runtime and TensorRT both start from: export, metadata, checker."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from hwnas.io import atomic_path
from hwnas.space.quant import fold_bn_for_int8


def to_onnx(module: nn.Module, example: torch.Tensor, path: str, opset: int = 17, dynamic_batch: bool = False,
            metadata: dict[str, str] | None = None) -> str:
    """Export with the TorchScript-based exporter (fast, stable for these conv nets), atomically; int8 layers go out
    in their deployment form (:func:`hwnas.space.quant.fold_bn_for_int8`: QuantizeLinear / DequantizeLinear).  With
    ``metadata`` the file carries those ``metadata_props`` and passes ``onnx.checker`` before it is moved
    into place."""
    quantized = fold_bn_for_int8(module.eval(), calib=example)  # int8 layers as ORT runs them (QDQ, folded BN)
    int8 = quantized is not module
    module = quantized
    kw: dict[str, Any] = {}
    if dynamic_batch:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    with atomic_path(path, ".onnx") as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), tmp, input_names=["input"], output_names=["output"],
                              opset_version=opset, do_constant_folding=True, dynamo=False, **kw)
        if metadata or int8:
            import onnx

            model = onnx.load(tmp)
            if int8:
                store_int8_weights(model)
            for k, v in (metadata or {}).items():
                p = model.metadata_props.add()
                p.key, p.value = k, v
            onnx.checker.check_model(model)
            onnx.save(model, tmp)
    return path


def store_int8_weights(model: Any) -> int:
    """Replace every constant weight that goes through QuantizeLinear -> DequantizeLinear by its int8 values (the
    QuantizeLinear computed once, here), so that the file holds int8 weights -- about 4x smaller -- and ONNX
    Runtime reads them as int8 instead of quantising float weights at run time.  The numbers are the ones
    QuantizeLinear would produce.  Returns how many weights were stored as int8."""
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consts = {n.output[0]: next(a.t for a in n.attribute if a.name == "value") for n in g.node
              if n.op_type == "Constant" and any(a.name == "value" for a in n.attribute)}

    def const(name: str) -> Any:
        t = inits.get(name, consts.get(name))
        return None if t is None else numpy_helper.to_array(t)

    # the exporter shares equal constants through Identity nodes (e.g. the all-zero folded weights of residual
    # branches whose BN scale starts at 0): see through them
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity" and n.input[0] in inits}
    done, drop = 0, []
    for n in list(g.node):
        src = alias.get(n.input[0], n.input[0]) if n.input else ""
        if n.op_type != "QuantizeLinear" or src not in inits or len(n.input) < 3:
            continue
        scale, zp = const(n.input[1]), const(n.input[2])
        if scale is None or zp is None:
            continue
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        name = f"{src}_quantized_{done}"
        g.initializer.append(numpy_helper.from_array(quantize_linear(numpy_helper.to_array(inits[src]), scale, zp,
                                                                     axis), name))
        for m in g.node:  # consumers of the QuantizeLinear's output now read the stored int8 weight
            m.input[:] = [name if i == n.output[0] else i for i in m.input]
        drop.append(n)
        done += 1
    for n in drop:
        g.node.remove(n)
    drop_unused(g)
    return done


def quantize_linear(w: Any, scale: Any, zp: Any, axis: int) -> Any:
    """ONNX QuantizeLinear in numpy: per tensor, or per channel along ``axis`` when ``scale`` is a vector; round
    half to even, saturate to ``zp``'s integer type."""
    import numpy as np

    w, s, z = w.astype(np.float64), scale.astype(np.float64), zp.astype(np.float64)
    if s.ndim == 1 and s.size > 1:
        shape = [1] * w.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    info = np.iinfo(zp.dtype)
    return np.clip(np.rint(w / s) + z, info.min, info.max).astype(zp.dtype)


def drop_unused(g: Any) -> None:
    """Remove what nothing reads any more: Identity / Constant nodes (repeatedly), then initializers."""
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if n.op_type in ("Identity", "Constant") and not set(n.output) & used]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
