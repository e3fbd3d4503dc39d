"""ONNX export, built node by node with ``onnx.helper`` from the graph and a weights dict.

No torch at export time: a user who installed only ``cnnstudio[onnx]`` can hand a model to any
ONNX runtime, Netron or a deployment pipeline. Opset 17, IR version 8 (old enough for most
runtimes), one input named ``input`` with a dynamic batch dimension, one output ``output``.

Padding is reproduced exactly. ONNX pools take asymmetric pads natively (``[top, left, bottom,
right]``) and ``count_include_pad=0`` is the engine's real-pixel average; but runtimes refuse a
pad as large as the window, so such pools pad explicitly (``Pad``) and rescale the average by a
constant per-position factor computed here, from the same real-pixel counts the engine uses.
Tensor and node names come from the one identifier sanitiser: a model file's ids are data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnstudio.core.atomic import atomic_write_bytes
from cnnstudio.core.graph import Graph, Layer
from cnnstudio.core.shapes import AxisWindow
from cnnstudio.core.validator import LayerReport
from cnnstudio.engine.kernels._windows import real_counts
from cnnstudio.export.identifiers import python_identifiers
from cnnstudio.export.registry import ExportError, has_bias, network_plan

OPSET = 17
IR_VERSION = 8
INPUT_NAME, OUTPUT_NAME = "input", "output"
INSTALL_HINT = "pip install cnnstudio[onnx]"


class OnnxMissing(ExportError):
    """The optional ``onnx`` package is not installed."""


def require_onnx() -> Any:
    """The ``onnx`` module, or OnnxMissing with the install line."""
    try:
        import onnx
    except ImportError:
        raise OnnxMissing([f"error: ONNX export needs the onnx package: {INSTALL_HINT}"]) from None
    return onnx


@dataclass
class _Builder:
    """Collects nodes and initializers while the layers are visited in order."""

    helper: Any
    numpy_helper: Any
    state: Mapping[str, np.ndarray]
    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, layer_id: str, array: str, tensor: str) -> str:
        key = f"{layer_id}/{array}"
        if key not in self.state:
            raise ExportError([f"error: the weights have no {key}"])
        return self.const(tensor, np.asarray(self.state[key], dtype=np.float32))

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output


#: A node builder: (builder, layer, report, input tensors, output tensor, safe name).
NodeBuilder = Callable[[_Builder, Layer, LayerReport, list[str], str, str], None]


def _windows(rep: LayerReport) -> tuple[AxisWindow, AxisWindow]:
    """The validator's tiling of a conv/pool layer: exporters never recompute sizes or padding."""
    assert rep.axes is not None
    return rep.axes


def _window_attrs(wh: AxisWindow, ww: AxisWindow) -> dict[str, list[int]]:
    return {"kernel_shape": [wh.f, ww.f], "strides": [wh.s, ww.s]}


def _onnx_pads(wh: AxisWindow, ww: AxisWindow) -> list[int]:
    """ONNX order: [top, left, bottom, right]."""
    return [wh.pad_before, ww.pad_before, wh.pad_after, ww.pad_after]


def _native_pool_pads(wh: AxisWindow, ww: AxisWindow) -> bool:
    """Runtimes (onnxruntime) accept pool pads only smaller than the window."""
    return all(p < w.f for w in (wh, ww) for p in (w.pad_before, w.pad_after))


def _explicit_pad(b: _Builder, x: str, wh: AxisWindow, ww: AxisWindow, name: str,
                  value: float) -> str:
    pads = b.const(f"{name}.pads", np.array([0, 0, wh.pad_before, ww.pad_before,
                                             0, 0, wh.pad_after, ww.pad_after], dtype=np.int64))
    fill = b.const(f"{name}.fill", np.array(value, dtype=np.float32))
    return b.node("Pad", [x, pads, fill], f"{name}.padded", f"{name}.pad", mode="constant")


def _real_counts(wh: AxisWindow, ww: AxisWindow) -> np.ndarray:
    return np.outer(real_counts(wh), real_counts(ww)).reshape(1, 1, wh.out, ww.out)


def _conv(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
          name: str) -> None:
    wh, ww = _windows(rep)
    inputs = [ins[0], b.weight(layer.id, "weight", f"{name}.weight")]
    if has_bias(layer, rep):
        inputs.append(b.weight(layer.id, "bias", f"{name}.bias"))
    b.node("Conv", inputs, out, name, pads=_onnx_pads(wh, ww), **_window_attrs(wh, ww))


def _maxpool(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
             name: str) -> None:
    wh, ww = _windows(rep)
    attrs = _window_attrs(wh, ww)
    if _native_pool_pads(wh, ww):
        b.node("MaxPool", ins, out, name, pads=_onnx_pads(wh, ww), **attrs)
        return
    padded = _explicit_pad(b, ins[0], wh, ww, name, float("-inf"))
    empty = _real_counts(wh, ww) == 0
    if not empty.any():
        b.node("MaxPool", [padded], out, name, **attrs)
        return
    # A window of padding only gives 0 in the engine, not -inf.
    pooled = b.node("MaxPool", [padded], f"{name}.pooled", name, **attrs)
    mask = b.const(f"{name}.real", ~empty)
    zero = b.const(f"{name}.zero", np.array(0.0, dtype=np.float32))
    b.node("Where", [mask, pooled, zero], out, f"{name}.empty_windows")


def _avgpool(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
             name: str) -> None:
    wh, ww = _windows(rep)
    attrs = _window_attrs(wh, ww)
    if _native_pool_pads(wh, ww):
        b.node("AveragePool", ins, out, name, pads=_onnx_pads(wh, ww), count_include_pad=0,
               **attrs)
        return
    # Average over the zero-padded window, then rescale by window area / real pixels.
    padded = _explicit_pad(b, ins[0], wh, ww, name, 0.0)
    pooled = b.node("AveragePool", [padded], f"{name}.pooled", name, **attrs)
    counts = _real_counts(wh, ww)
    scale = np.divide(wh.f * ww.f, counts, out=np.zeros(counts.shape), where=counts > 0)
    factor = b.const(f"{name}.real_pixel_scale", scale.astype(np.float32))
    b.node("Mul", [pooled, factor], out, f"{name}.real_pixel_average")


def _global(op: str) -> NodeBuilder:
    def build(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
              name: str) -> None:
        pooled = b.node(op, ins, f"{name}.pooled", name)
        b.node("Flatten", [pooled], out, f"{name}.flatten", axis=1)

    return build


def _dense(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
           name: str) -> None:
    inputs = [ins[0], b.weight(layer.id, "weight", f"{name}.weight")]
    if has_bias(layer, rep):
        inputs.append(b.weight(layer.id, "bias", f"{name}.bias"))
    b.node("Gemm", inputs, out, name, transB=1)


def _batchnorm(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
               name: str) -> None:
    inputs = [ins[0]] + [b.weight(layer.id, arr, f"{name}.{arr}")
                         for arr in ("gamma", "beta", "moving_mean", "moving_var")]
    b.node("BatchNormalization", inputs, out, name, epsilon=layer.params["epsilon"])


def _simple(op: str, **fixed: Any) -> NodeBuilder:
    def build(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
              name: str) -> None:
        b.node(op, ins[:1], out, name, **fixed)

    return build


def _add(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
         name: str) -> None:
    acc = ins[0]
    for k, other in enumerate(ins[1:], start=1):
        target = out if k == len(ins) - 1 else f"{name}.sum{k}"
        acc = b.node("Add", [acc, other], target, name if target == out else f"{name}.add{k}")


#: Catalogue type -> how its ONNX nodes are built (Input has none: it is the graph input).
NODE_BUILDERS: dict[str, NodeBuilder | None] = {
    "Input": None,
    "Conv2D": _conv,
    "MaxPool2D": _maxpool,
    "AvgPool2D": _avgpool,
    "GlobalAvgPool2D": _global("GlobalAveragePool"),
    "GlobalMaxPool2D": _global("GlobalMaxPool"),
    "Flatten": _simple("Flatten", axis=1),
    "Dense": _dense,
    "ReLU": _simple("Relu"),
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "LeakyReLU": lambda b, layer, rep, ins, out, name: _simple(
        "LeakyRelu", alpha=layer.params["alpha"])(b, layer, rep, ins, out, name),
    "Softmax": _simple("Softmax", axis=1),
    "BatchNorm": _batchnorm,
    "Dropout": _simple("Identity"),  # inference graph: dropout does nothing
    "SpatialDropout2D": _simple("Identity"),
    "Add": _add,
    "Concatenate": lambda b, layer, rep, ins, out, name: b.node("Concat", ins, out, name, axis=1),
}


def build_onnx(graph: Graph, state: Mapping[str, np.ndarray], strict: bool = False) -> Any:
    """An ``onnx.ModelProto`` for ``graph`` with the weights in ``state`` (``"<id>/<name>"``).

    Raises ExportError for an invalid model, OnnxMissing without the onnx package.
    """
    onnx = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    from cnnstudio import __version__

    plan = network_plan(graph, NODE_BUILDERS, "ONNX", strict=strict)
    names = python_identifiers(plan.order, reserved=(INPUT_NAME, OUTPUT_NAME))
    tensors = {lid: names[lid] for lid in plan.order}
    tensors[plan.output_id] = OUTPUT_NAME
    tensors[plan.input_id] = INPUT_NAME
    b = _Builder(helper, numpy_helper, state)
    if plan.input_id == plan.output_id:  # a model that is only its Input
        b.node("Identity", [INPUT_NAME], OUTPUT_NAME, names[plan.input_id])
    for lid in plan.order:
        layer = graph.layer(lid)
        build = NODE_BUILDERS[layer.type]
        if build is None:
            continue
        build(b, layer, plan.result.layers[lid], [tensors[s] for s in layer.inputs],
              tensors[lid], names[lid])

    def value_info(name: str, shape: tuple[int, ...] | None) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                             ["batch", *(shape or ())])

    layers = plan.result.layers
    onnx_graph = helper.make_graph(
        b.nodes, "cnnstudio_model",
        [value_info(INPUT_NAME, layers[plan.input_id].output_shape)],
        [value_info(OUTPUT_NAME, layers[plan.output_id].output_shape)],
        initializer=b.inits,
    )
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="cnnstudio", producer_version=__version__)
    model.ir_version = IR_VERSION
    model.doc_string = graph.name
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(graph: Graph, path: str | os.PathLike[str], state: Mapping[str, np.ndarray],
                strict: bool = False) -> None:
    """Build, check and write the model atomically."""
    atomic_write_bytes(path, build_onnx(graph, state, strict).SerializeToString())
