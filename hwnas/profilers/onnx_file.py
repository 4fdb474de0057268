"""ONNX files, the artefact ONNX Runtime and TensorRT both start from: export, metadata, checker."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from hwnas.io import atomic_path
from hwnas.space.ops import fold_bn_for_int8


def to_onnx(module: nn.Module, example: torch.Tensor, path: str, opset: int = 17, dynamic_batch: bool = False,
            metadata: dict[str, str] | None = None) -> str:
    """Export with the TorchScript-based exporter (fast, stable for these conv nets), atomically; int8 layers go out
    in their deployment form (:func:`hwnas.space.ops.fold_bn_for_int8`: QuantizeLinear / DequantizeLinear).  With
    ``metadata`` the file carries those ``metadata_props`` and passes ``onnx.checker`` before it is moved
    into place."""
    module = fold_bn_for_int8(module.eval())  # int8 layers as ONNX Runtime runs them (QDQ around folded convs)
    kw: dict[str, Any] = {}
    if dynamic_batch:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    with atomic_path(path, ".onnx") as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), tmp, input_names=["input"], output_names=["output"],
                              opset_version=opset, do_constant_folding=True, dynamo=False, **kw)
        if metadata:
            import onnx

            model = onnx.load(tmp)
            for k, v in metadata.items():
                p = model.metadata_props.add()
                p.key, p.value = k, v
            onnx.checker.check_model(model)
            onnx.save(model, tmp)
    return path
