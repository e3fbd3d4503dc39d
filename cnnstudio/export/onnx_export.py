"""ONNX export, built node by node with ``onnx.helper`` from the graph and a weights dict.

No torch at export time: a user who installed only ``cnnstudio[onnx]`` can hand a model to any
ONNX runtime, Netron or a deployment pipeline. Opset 17, IR version 8 (old enough for most
runtimes), one input named ``input`` with a dynamic batch dimension, one output ``output``.
By default the input is what ``cnnstudio predict`` reads, images in [0, 1]: the training
normalisation is the graph's first two nodes, and it and the class names are in
``metadata_props`` (see :mod:`cnnstudio.export.model_input`).

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
from cnnstudio.core.shapes import AxisWindow, pad_sides, pair
from cnnstudio.core.validator import LayerReport
from cnnstudio.engine.kernels._windows import real_counts
from cnnstudio.export.identifiers import python_identifiers
from cnnstudio.export.model_input import ModelInput
from cnnstudio.export.registry import ExportError, has_bias, network_plan

OPSET = 17
IR_VERSION = 8
INPUT_NAME, OUTPUT_NAME = "input", "output"
#: Tensors of the normalisation at the graph's start; layer ids must not take these names.
_NORM_NAMES = ("norm_mean", "norm_std", "input_centred", "input_standardised")
INSTALL_HINT = "pip install cnnstudio[onnx]"


class OnnxMissing(ExportError):
    """The optional ``onnx`` package is not installed."""


#: An ONNX file is one protobuf message, which cannot exceed 2 GB; leave room for the graph.
MAX_ONNX_WEIGHT_BYTES = (2 << 30) - (64 << 20)


def refuse_oversized(graph: Graph) -> None:
    """ExportError when the model's weights (float32, from the validator's totals) cannot fit
    in one ONNX file: said before building the weights, not as a protobuf error after."""
    from cnnstudio.core.validator import validate

    totals = validate(graph).totals
    size = 4 * (totals.trainable + totals.non_trainable)
    if size > MAX_ONNX_WEIGHT_BYTES:
        raise ExportError([f"error: the model's weights take {size >> 20:,} MB; an ONNX file "
                           f"holds at most {MAX_ONNX_WEIGHT_BYTES >> 20:,} MB of them (protobuf "
                           "messages stop at 2 GB): export to PyTorch instead, or make the model "
                           "smaller"])


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


def _pool_pads(w: AxisWindow) -> tuple[int, int]:
    """A pool's (before, after) padding for plain floor pooling to give exactly the engine's
    windows, whatever rule a runtime has for ``ceil_mode``: the after side reaches just as far
    as the last window does. That grows it when a ``ceil_mode`` last window hangs over the
    edge, and shrinks it when the last window would start in the right padding and is dropped
    (PyTorch's rule, which the engine follows: ONNX's AveragePool would keep that window)."""
    return w.pad_before, max((w.out - 1) * w.s + w.f - w.n - w.pad_before, 0)


def _onnx_pool_pads(wh: AxisWindow, ww: AxisWindow) -> list[int]:
    (top, bottom), (left, right) = _pool_pads(wh), _pool_pads(ww)
    return [top, left, bottom, right]


def _native_pool_pads(wh: AxisWindow, ww: AxisWindow) -> bool:
    """Runtimes (onnxruntime) accept pool pads only smaller than the window."""
    return all(p < w.f for w in (wh, ww) for p in _pool_pads(w))


def _explicit_pad(b: _Builder, x: str, wh: AxisWindow, ww: AxisWindow, name: str,
                  value: float) -> str:
    (top, bottom), (left, right) = _pool_pads(wh), _pool_pads(ww)
    pads = b.const(f"{name}.pads", np.array([0, 0, top, left, 0, 0, bottom, right],
                                            dtype=np.int64))
    fill = b.const(f"{name}.fill", np.array(value, dtype=np.float32))
    return b.node("Pad", [x, pads, fill], f"{name}.padded", f"{name}.pad", mode="constant")


def _real_counts(wh: AxisWindow, ww: AxisWindow) -> np.ndarray:
    return np.outer(real_counts(wh), real_counts(ww)).reshape(1, 1, wh.out, ww.out)


def _conv(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
          name: str) -> None:
    """The windows span the dilated extent; ONNX wants the kernel's taps and the dilation."""
    wh, ww = _windows(rep)
    p = layer.params
    inputs = [ins[0], b.weight(layer.id, "weight", f"{name}.weight")]
    if has_bias(layer, rep):
        inputs.append(b.weight(layer.id, "bias", f"{name}.bias"))
    b.node("Conv", inputs, out, name, pads=_onnx_pads(wh, ww),
           kernel_shape=list(pair(p["kernel_size"])), strides=[wh.s, ww.s],
           dilations=list(pair(p["dilation"])), group=p["groups"])


def _groupnorm(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
               name: str) -> None:
    """Opset 17 has no GroupNormalization: reshape to [B, G, -1], normalise each row with its
    mean and biased variance, reshape back, then scale and shift per channel."""
    c, h, w = rep.input_shapes[0]  # type: ignore[misc]
    g, eps = layer.params["groups"], layer.params["epsilon"]
    rows = b.node("Reshape", [ins[0], b.const(f"{name}.grouped",
                                                 np.array([0, g, -1], dtype=np.int64))],
                  f"{name}.rows", f"{name}.rows")
    mean = b.node("ReduceMean", [rows], f"{name}.mean", f"{name}.mean", axes=[2], keepdims=1)
    centred = b.node("Sub", [rows, mean], f"{name}.centred", f"{name}.centred")
    var = b.node("ReduceMean", [b.node("Mul", [centred, centred], f"{name}.sq", f"{name}.sq")],
                 f"{name}.var", f"{name}.var", axes=[2], keepdims=1)
    std = b.node("Sqrt", [b.node("Add", [var, b.const(f"{name}.eps", _f32(eps))],
                                 f"{name}.var_eps", f"{name}.var_eps")], f"{name}.std",
                 f"{name}.std")
    normal = b.node("Div", [centred, std], f"{name}.normal", f"{name}.normal")
    maps = b.node("Reshape", [normal, b.const(f"{name}.maps",
                                                 np.array([0, c, h, w], dtype=np.int64))],
                  f"{name}.maps_out", f"{name}.maps_out")
    gamma = np.asarray(b.state.get(f"{layer.id}/gamma", np.ones(c)), np.float32).reshape(c, 1, 1)
    beta = np.asarray(b.state.get(f"{layer.id}/beta", np.zeros(c)), np.float32).reshape(c, 1, 1)
    if f"{layer.id}/gamma" not in b.state or f"{layer.id}/beta" not in b.state:
        raise ExportError([f"error: the weights have no {layer.id}/gamma or {layer.id}/beta"])
    scaled = b.node("Mul", [maps, b.const(f"{name}.gamma", gamma)], f"{name}.scaled",
                    f"{name}.scaled")
    b.node("Add", [scaled, b.const(f"{name}.beta", beta)], out, name)


def _maxpool(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
             name: str) -> None:
    wh, ww = _windows(rep)
    attrs = _window_attrs(wh, ww)
    if _native_pool_pads(wh, ww):
        b.node("MaxPool", ins, out, name, pads=_onnx_pool_pads(wh, ww), **attrs)
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
        b.node("AveragePool", ins, out, name, pads=_onnx_pool_pads(wh, ww),
               count_include_pad=0, **attrs)
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


def _f32(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float32)


def _relu6(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
           name: str) -> None:
    lo, hi = b.const(f"{name}.min", _f32(0.0)), b.const(f"{name}.max", _f32(6.0))
    b.node("Clip", [ins[0], lo, hi], out, name)


def _silu(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
          name: str) -> None:
    gate = b.node("Sigmoid", ins[:1], f"{name}.sigmoid", f"{name}.sigmoid")
    b.node("Mul", [ins[0], gate], out, name)


def _gelu(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
          name: str) -> None:
    """Opset 17 has no Gelu: x * 0.5 * (1 + erf(x / sqrt 2)), or the tanh formula."""
    x = ins[0]
    if layer.params["approximate"] == "tanh":
        cube = b.node("Mul", [x, b.node("Mul", [x, x], f"{name}.sq", f"{name}.sq")],
                      f"{name}.cube", f"{name}.cube")
        inner = b.node("Add", [x, b.node("Mul", [cube, b.const(f"{name}.c", _f32(0.044715))],
                                         f"{name}.ccube", f"{name}.ccube")],
                       f"{name}.inner", f"{name}.inner")
        scaled = b.node("Mul", [inner, b.const(f"{name}.k", _f32(np.sqrt(2 / np.pi)))],
                        f"{name}.arg", f"{name}.arg")
        core = b.node("Tanh", [scaled], f"{name}.core", f"{name}.core")
    else:
        scaled = b.node("Mul", [x, b.const(f"{name}.k", _f32(1 / np.sqrt(2)))],
                        f"{name}.arg", f"{name}.arg")
        core = b.node("Erf", [scaled], f"{name}.core", f"{name}.core")
    one_plus = b.node("Add", [core, b.const(f"{name}.one", _f32(1.0))], f"{name}.onep",
                      f"{name}.onep")
    half = b.node("Mul", [x, b.const(f"{name}.half", _f32(0.5))], f"{name}.half_x",
                  f"{name}.half_x")
    b.node("Mul", [half, one_plus], out, name)


def _zero_padding(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
                  name: str) -> None:
    top, bottom, left, right = pad_sides(layer.params["padding"])
    pads = b.const(f"{name}.pads", np.array([0, 0, top, left, 0, 0, bottom, right],
                                            dtype=np.int64))
    b.node("Pad", [ins[0], pads], out, name, mode="constant")


def _upsampling(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
                name: str) -> None:
    """Resize as PyTorch's interpolate: nearest reads floor(o / s); bilinear samples at
    (o + 0.5) / s - 0.5, clamped at the border (half_pixel)."""
    sh, sw = pair(layer.params["scale"])
    scales = b.const(f"{name}.scales", np.array([1, 1, sh, sw], dtype=np.float32))
    if layer.params["mode"] == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                 "nearest_mode": "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    b.node("Resize", [ins[0], "", scales], out, name, **attrs)


def _multiply(b: _Builder, layer: Layer, rep: LayerReport, ins: list[str], out: str,
              name: str) -> None:
    """Element-wise; a per-channel [B, C] input is unsqueezed to [B, C, 1, 1] to broadcast."""
    shapes = rep.input_shapes
    if shapes[0] == shapes[1]:
        b.node("Mul", ins, out, name)
        return
    scale = 0 if shapes[0] is not None and len(shapes[0]) == 1 else 1
    axes = b.const(f"{name}.axes", np.array([2, 3], dtype=np.int64))
    column = b.node("Unsqueeze", [ins[scale], axes], f"{name}.scale", f"{name}.unsqueeze")
    b.node("Mul", [ins[1 - scale], column], out, name)


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
    "ReLU6": _relu6,
    "SiLU": _silu,
    "Hardswish": _simple("HardSwish"),
    "Hardsigmoid": _simple("HardSigmoid", alpha=1 / 6, beta=0.5),
    "ELU": lambda b, layer, rep, ins, out, name: _simple(
        "Elu", alpha=layer.params["alpha"])(b, layer, rep, ins, out, name),
    "GELU": _gelu,
    "ZeroPadding2D": _zero_padding,
    "UpSampling2D": _upsampling,
    "Multiply": _multiply,
    "LeakyReLU": lambda b, layer, rep, ins, out, name: _simple(
        "LeakyRelu", alpha=layer.params["alpha"])(b, layer, rep, ins, out, name),
    "Softmax": _simple("Softmax", axis=1),
    "BatchNorm": _batchnorm,
    "GroupNorm": _groupnorm,
    "Dropout": _simple("Identity"),  # inference graph: dropout does nothing
    "SpatialDropout2D": _simple("Identity"),
    "Add": _add,
    "Concatenate": lambda b, layer, rep, ins, out, name: b.node("Concat", ins, out, name, axis=1),
}


def _standardise(b: _Builder, inputs: ModelInput, channels: int) -> str:
    """``(input - mean) / std`` per channel, the training normalisation, as the graph's first
    nodes; returns the standardised tensor's name."""
    norm = inputs.normalizer
    assert norm is not None
    inputs.check_channels(channels)
    mean = b.const("norm_mean", norm.mean.reshape(1, -1, 1, 1))
    std = b.const("norm_std", norm.std.reshape(1, -1, 1, 1))
    centred = b.node("Sub", [INPUT_NAME, mean], "input_centred", "normalize_sub")
    return b.node("Div", [centred, std], "input_standardised", "normalize_div")


def build_onnx(graph: Graph, state: Mapping[str, np.ndarray], strict: bool = False,
               inputs: ModelInput | None = None) -> Any:
    """An ``onnx.ModelProto`` for ``graph`` with the weights in ``state`` (``"<id>/<name>"``).

    ``inputs`` (from the weights' meta arrays) puts the training normalisation at the start of
    the graph (unless ``inputs.inside`` is False) and records it and the class names as
    ``metadata_props``. Raises ExportError for an invalid model, OnnxMissing without the onnx
    package.
    """
    onnx = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    from cnnstudio import __version__

    plan = network_plan(graph, NODE_BUILDERS, "ONNX", strict=strict)
    inputs = inputs if inputs is not None else ModelInput()
    names = python_identifiers(plan.order, reserved=(INPUT_NAME, OUTPUT_NAME, *_NORM_NAMES))
    tensors = {lid: names[lid] for lid in plan.order}
    tensors[plan.output_id] = OUTPUT_NAME
    b = _Builder(helper, numpy_helper, state)
    first = INPUT_NAME
    if inputs.standardises:
        shape = plan.result.layers[plan.input_id].output_shape
        first = _standardise(b, inputs, shape[0] if shape else 0)
    tensors[plan.input_id] = first
    if plan.input_id == plan.output_id:  # a model that is only its Input
        b.node("Identity", [first], OUTPUT_NAME, names[plan.input_id])
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
    helper.set_model_props(model, inputs.metadata())
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(graph: Graph, path: str | os.PathLike[str], state: Mapping[str, np.ndarray],
                strict: bool = False, inputs: ModelInput | None = None) -> None:
    """Build, check and write the model atomically."""
    atomic_write_bytes(path, build_onnx(graph, state, strict, inputs).SerializeToString())
