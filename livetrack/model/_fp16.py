"""FP16 ONNX export: the float graph with half-precision weights and activations.

TensorRT 11 builds strongly typed networks only: each layer runs in the type the ONNX graph
gives it, and there is no builder flag asking for FP16 any more. An engine in FP16 therefore
needs a graph in FP16. This conversion keeps the graph's input and output in float32 (one
Cast after the input, one before the output), so every caller feeds and reads the same
arrays as with the float export, and turns every float initializer and intermediate tensor
into float16. The shipped graphs hold only Conv, ConvTranspose, Relu and Add, which all take
float16; the conversion refuses any other float operator rather than guess its typing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from livetrack._errors import ModelFileError
from livetrack._extras import require

# Operators whose every float input and output may be float16 (and that hold no attribute
# naming a float type). A graph with others is refused.
_FP16_OPS = frozenset({"Conv", "ConvTranspose", "Relu", "Add", "Slice", "Concat", "Identity"})


def fp16_onnx(source: str | os.PathLike[str] | bytes) -> bytes:
    """Return an FP16 version of a float32 ONNX graph (float32 input and output kept).

    Parameters
    ----------
    source : path-like or bytes
        The float32 graph (``model.onnx``) or its bytes.

    Returns
    -------
    bytes
        The serialized FP16 graph; it passes :func:`onnx.checker.check_model`.

    Raises
    ------
    ModelFileError
        An unreadable graph, or one with operators the conversion does not know.
    """
    onnx = require("onnx", "the FP16 ONNX export", "gpu")
    from onnx import TensorProto, helper, numpy_helper

    try:
        model = (
            onnx.load_from_string(source)
            if isinstance(source, bytes)
            else onnx.load(os.fspath(source))
        )
    except Exception as exc:  # onnx raises protobuf's untyped errors for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"cannot read the ONNX graph ({first})") from None
    graph = model.graph
    unknown = sorted({n.op_type for n in graph.node} - _FP16_OPS)
    if unknown:
        raise ModelFileError(f"the FP16 export does not know the operators {', '.join(unknown)}")
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            half = numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(half, init.name))
    for info in graph.value_info:
        if info.type.tensor_type.elem_type == TensorProto.FLOAT:
            info.type.tensor_type.elem_type = TensorProto.FLOAT16
    renames: dict[str, str] = {}
    casts_in, casts_out = [], []
    for inp in graph.input:
        if inp.type.tensor_type.elem_type == TensorProto.FLOAT:
            renames[inp.name] = f"{inp.name}_fp16"
            casts_in.append(
                helper.make_node(
                    "Cast",
                    [inp.name],
                    [renames[inp.name]],
                    to=TensorProto.FLOAT16,
                    name=f"{inp.name}_to_fp16",
                )
            )
    outputs = {o.name for o in graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT}
    for out in outputs:
        renames[out] = f"{out}_fp16"
        casts_out.append(
            helper.make_node(
                "Cast", [renames[out]], [out], to=TensorProto.FLOAT, name=f"{out}_to_fp32"
            )
        )
    for node in graph.node:
        # Readers of the input read its float16 cast; writers (and readers) of an output
        # the float16 value its final cast turns back into float32.
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in outputs:
                node.output[i] = renames[name]
    nodes = [*casts_in, *graph.node, *casts_out]
    del graph.node[:]
    graph.node.extend(nodes)
    _check(onnx, model)
    return bytes(model.SerializeToString())


def _check(onnx: Any, model: Any) -> None:
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx's ValidationError, or protobuf's
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"the FP16 graph does not check ({first})") from None


def export_fp16_onnx(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write the FP16 version of the float32 graph ``source`` to ``target`` (see :func:`fp16_onnx`).

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    target = Path(target)
    target.write_bytes(fp16_onnx(source))
    return target
