"""PyTorch source export: one readable, runnable ``.py`` that needs only torch and numpy.

The generated file holds an ``nn.Module`` whose attributes are the layer ids (through
:func:`~cnnstudio.export.identifiers.python_identifiers`), a ``forward`` that follows the graph
line by line, ``build_model(weights_path)`` that loads a cnnstudio weights file, and a ``main``
that trains on a ``.npz`` dataset with the engine's optimizer settings, on CUDA when present and
under ``torchrun`` with DistributedDataParallel: the path for a user who outgrows one CPU.

Exactness matters more than brevity: TensorFlow-style "same" padding with stride > 1 puts the
odd pixel bottom/right, which ``nn.Conv2d(padding=...)`` cannot express, and average pooling here
divides by real pixels only. Where torch's built-in layers reproduce the engine exactly they are
used; otherwise a small helper module (emitted only when needed) pads explicitly.

Nothing from the model file becomes code: ids become identifiers through the one sanitising
function, every other string goes through ``repr``, and comments only ever hold ``repr`` text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.core.atomic import atomic_write_text
from cnnstudio.core.graph import Graph, Layer
from cnnstudio.core.rules import fmt_shape
from cnnstudio.core.shapes import AxisWindow, pad_sides, pair
from cnnstudio.core.validator import LayerReport
from cnnstudio.export.identifiers import python_identifiers
from cnnstudio.export.model_input import ModelInput
from cnnstudio.export.registry import (
    TORCH_ARRAY_NAMES,
    NetworkPlan,
    has_bias,
    network_plan,
    owned_arrays,
)

if TYPE_CHECKING:
    import numpy as np

    from cnnstudio.engine.trainer import TrainConfig

#: Names the generated module defines at top level or on the model class; layer attributes and
#: forward locals must not shadow them.
GENERATED_GLOBALS = (
    "CnnModel", "PaddedConv2d", "PaddedMaxPool2d", "RealAvgPool2d", "build_model", "main",
    "load_weights", "save_weights", "read_normalization", "load_dataset", "make_optimizer",
    "WEIGHT_KEYS", "DECAYED_KEYS", "FROZEN_BATCHNORM", "TRAINING", "INPUT_SHAPE", "MODEL_NAME",
    "MODEL_DESCRIPTION", "WEIGHTS_FILE", "ENDS_WITH_SOFTMAX", "argparse", "dist", "inputs",
    "CLASS_NAMES", "NORMALIZATION", "NORMALIZE_IN_MODEL", "load_image", "predict",
    "norm_mean", "norm_std", "set_normalization",
)


class _Emit:
    """What one layer contributes: a constructor for ``__init__`` (or None), helper names, and
    for a layer without a module (merges) the ``forward`` expression over its inputs' names."""

    def __init__(self, module: str | None, helpers: tuple[str, ...] = (),
                 expression: Callable[[list[str]], str] | None = None) -> None:
        self.module = module
        self.helpers = helpers
        self.expression = expression


Builder = Callable[[Layer, LayerReport], _Emit]


def _size(a: int, b: int) -> str:
    return str(a) if a == b else f"({a}, {b})"


def _windows(rep: LayerReport) -> tuple[AxisWindow, AxisWindow]:
    """The validator's tiling of a conv/pool layer: exporters never recompute sizes or padding."""
    assert rep.axes is not None
    return rep.axes


def _pads(wh: AxisWindow, ww: AxisWindow) -> str:
    """``F.pad`` order: (left, right, top, bottom)."""
    return f"({ww.pad_before}, {ww.pad_after}, {wh.pad_before}, {wh.pad_after})"


def _symmetric(wh: AxisWindow, ww: AxisWindow) -> bool:
    return wh.pad_before == wh.pad_after and ww.pad_before == ww.pad_after


def _conv(layer: Layer, rep: LayerReport) -> _Emit:
    wh, ww = _windows(rep)
    p = layer.params
    c_in = rep.input_shapes[0][0]  # type: ignore[index]
    common = (f"{c_in}, {p['filters']}, kernel_size={_size(*pair(p['kernel_size']))}, "
              f"stride={_size(wh.s, ww.s)}")
    if pair(p["dilation"]) != (1, 1):
        common += f", dilation={_size(*pair(p['dilation']))}"
    if p["groups"] != 1:
        common += f", groups={p['groups']}"
    bias = f"bias={has_bias(layer, rep)!r}"
    if _symmetric(wh, ww):
        return _Emit(f"nn.Conv2d({common}, padding={_size(wh.pad_before, ww.pad_before)}, "
                     f"{bias})")
    return _Emit(f"PaddedConv2d({common}, pads={_pads(wh, ww)}, {bias})", ("PaddedConv2d",))


def _fits_torch_pool(wh: AxisWindow, ww: AxisWindow) -> bool:
    """torch pools pad symmetrically and only up to half the window."""
    return _symmetric(wh, ww) and 2 * wh.pad_before <= wh.f and 2 * ww.pad_before <= ww.f


def _pool_args(layer: Layer, wh: AxisWindow, ww: AxisWindow) -> str:
    ceil = ", ceil_mode=True" if layer.params["ceil_mode"] else ""
    return f"kernel_size={_size(wh.f, ww.f)}, stride={_size(wh.s, ww.s)}{ceil}"


def _helper_pool_args(layer: Layer, wh: AxisWindow, ww: AxisWindow) -> str:
    """For the explicit-padding helpers: torch's ceil_mode sees the padded input as unpadded
    and could keep a last window cnnstudio drops, so the output size is given too."""
    size = f", size=({wh.out}, {ww.out})" if layer.params["ceil_mode"] else ""
    return f"{_pool_args(layer, wh, ww)}, pads={_pads(wh, ww)}{size}"


def _maxpool(layer: Layer, rep: LayerReport) -> _Emit:
    wh, ww = _windows(rep)
    args = _pool_args(layer, wh, ww)
    if _fits_torch_pool(wh, ww):
        return _Emit(f"nn.MaxPool2d({args}, padding={_size(wh.pad_before, ww.pad_before)})")
    return _Emit(f"PaddedMaxPool2d({_helper_pool_args(layer, wh, ww)})", ("PaddedMaxPool2d",))


def _avgpool(layer: Layer, rep: LayerReport) -> _Emit:
    wh, ww = _windows(rep)
    args = _pool_args(layer, wh, ww)
    if wh.pad_total == 0 and ww.pad_total == 0:
        return _Emit(f"nn.AvgPool2d({args})")
    if _fits_torch_pool(wh, ww):
        return _Emit(f"nn.AvgPool2d({args}, padding={_size(wh.pad_before, ww.pad_before)}, "
                     "count_include_pad=False)")
    return _Emit(f"RealAvgPool2d({_helper_pool_args(layer, wh, ww)})", ("RealAvgPool2d",))


def _batchnorm(layer: Layer, rep: LayerReport) -> _Emit:
    shape = rep.input_shapes[0]
    assert shape is not None
    kind = "BatchNorm2d" if len(shape) == 3 else "BatchNorm1d"
    # Ours: moving = m * moving + (1 - m) * batch; torch: running = (1 - t) * running + t * batch.
    momentum = round(1.0 - layer.params["momentum"], 12)
    return _Emit(f"nn.{kind}({shape[0]}, eps={layer.params['epsilon']!r}, "
                 f"momentum={momentum!r})")


def _fixed(text: str) -> Builder:
    return lambda layer, rep: _Emit(text)


def _merge(expression: Callable[[list[str]], str]) -> Builder:
    return lambda layer, rep: _Emit(None, expression=expression)


def _multiply(layer: Layer, rep: LayerReport) -> _Emit:
    """Element-wise, or an image times a per-channel [B, C] vector (either order)."""
    a, b = rep.input_shapes
    if a == b:
        return _Emit(None, expression=lambda ins: f"{ins[0]} * {ins[1]}")
    image = 0 if a is not None and len(a) == 3 else 1
    return _Emit(None, expression=lambda ins: f"{ins[image]} * {ins[1 - image]}[:, :, None, None]")


def _zero_padding(layer: Layer, rep: LayerReport) -> _Emit:
    top, bottom, left, right = pad_sides(layer.params["padding"])
    return _Emit(f"nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))")


def _upsampling(layer: Layer, rep: LayerReport) -> _Emit:
    sh, sw = pair(layer.params["scale"])
    mode = layer.params["mode"]
    corners = ", align_corners=False" if mode == "bilinear" else ""
    return _Emit(f"nn.Upsample(scale_factor=({float(sh)!r}, {float(sw)!r}), mode={mode!r}"
                 f"{corners})")


#: Catalogue type -> how its module is built. Input and the merges have no module: a merge's
#: ``expression`` is its forward line.
LAYER_BUILDERS: dict[str, Builder] = {
    "Input": lambda layer, rep: _Emit(None),
    "Conv2D": _conv,
    "MaxPool2D": _maxpool,
    "AvgPool2D": _avgpool,
    "GlobalAvgPool2D": _fixed("nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())"),
    "GlobalMaxPool2D": _fixed("nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())"),
    "Flatten": _fixed("nn.Flatten()"),
    "Dense": lambda layer, rep: _Emit(
        f"nn.Linear({rep.input_shapes[0][0]}, {layer.params['units']}, "  # type: ignore[index]
        f"bias={has_bias(layer, rep)!r})"),
    "ReLU": _fixed("nn.ReLU()"),
    "Sigmoid": _fixed("nn.Sigmoid()"),
    "Tanh": _fixed("nn.Tanh()"),
    "ReLU6": _fixed("nn.ReLU6()"),
    "SiLU": _fixed("nn.SiLU()"),
    "Hardswish": _fixed("nn.Hardswish()"),
    "Hardsigmoid": _fixed("nn.Hardsigmoid()"),
    "ELU": lambda layer, rep: _Emit(f"nn.ELU(alpha={layer.params['alpha']!r})"),
    "GELU": lambda layer, rep: _Emit(f"nn.GELU(approximate={layer.params['approximate']!r})"),
    "ZeroPadding2D": _zero_padding,
    "UpSampling2D": _upsampling,
    "LeakyReLU": lambda layer, rep: _Emit(f"nn.LeakyReLU({layer.params['alpha']!r})"),
    "Softmax": _fixed("nn.Softmax(dim=1)"),
    "BatchNorm": _batchnorm,
    "GroupNorm": lambda layer, rep: _Emit(
        f"nn.GroupNorm({layer.params['groups']}, {rep.input_shapes[0][0]}, "  # type: ignore[index]
        f"eps={layer.params['epsilon']!r})"),
    "Dropout": lambda layer, rep: _Emit(f"nn.Dropout(p={layer.params['rate']!r})"),
    "SpatialDropout2D": lambda layer, rep: _Emit(f"nn.Dropout2d(p={layer.params['rate']!r})"),
    "Add": _merge(" + ".join),
    "Multiply": _multiply,
    "Concatenate": _merge(lambda ins: f"torch.cat([{', '.join(ins)}], dim=1)"),
}

_HELPERS: dict[str, str] = {
    "PaddedConv2d": '''
class PaddedConv2d(nn.Conv2d):
    """Conv2d after explicit zero padding (left, right, top, bottom).

    "same" padding with an odd total puts the extra pixel at the bottom/right (as TensorFlow
    and cnnstudio do); nn.Conv2d can only pad both sides equally.
    """

    def __init__(self, *args, pads, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = tuple(pads)

    def forward(self, x):
        return super().forward(F.pad(x, self.pads))
''',
    "PaddedMaxPool2d": '''
class PaddedMaxPool2d(nn.Module):
    """Max pooling over explicit (left, right, top, bottom) padding that never wins.

    For padding nn.MaxPool2d cannot take (asymmetric, or more than half the window). A window
    made only of padding gives 0, as in cnnstudio.
    """

    def __init__(self, kernel_size, stride, pads, ceil_mode=False, size=None):
        super().__init__()
        self.kernel_size, self.stride, self.pads = kernel_size, stride, tuple(pads)
        self.ceil_mode, self.size = ceil_mode, size

    def forward(self, x):
        out = F.max_pool2d(F.pad(x, self.pads, value=float("-inf")), self.kernel_size,
                           self.stride, ceil_mode=self.ceil_mode)
        real = F.max_pool2d(F.pad(x.new_ones((1, 1) + x.shape[2:]), self.pads),
                            self.kernel_size, self.stride, ceil_mode=self.ceil_mode)
        out = torch.where(real > 0, out, torch.zeros_like(out))
        return out if self.size is None else out[:, :, :self.size[0], :self.size[1]]
''',
    "RealAvgPool2d": '''
class RealAvgPool2d(nn.Module):
    """Average pooling that divides by the real (unpadded) pixels in each window.

    Same as nn.AvgPool2d(count_include_pad=False), but for padding that layer cannot take
    (asymmetric, or more than half the window). A window made only of padding gives 0.
    """

    def __init__(self, kernel_size, stride, pads, ceil_mode=False, size=None):
        super().__init__()
        self.kernel_size, self.stride, self.pads = kernel_size, stride, tuple(pads)
        self.ceil_mode, self.size = ceil_mode, size

    def forward(self, x):
        total = F.avg_pool2d(F.pad(x, self.pads), self.kernel_size, self.stride,
                             ceil_mode=self.ceil_mode, count_include_pad=False)
        real = F.avg_pool2d(F.pad(x.new_ones((1, 1) + x.shape[2:]), self.pads),
                            self.kernel_size, self.stride, ceil_mode=self.ceil_mode,
                            count_include_pad=False)
        out = total / real.clamp_min(torch.finfo(real.dtype).tiny)
        return out if self.size is None else out[:, :, :self.size[0], :self.size[1]]
''',
}


def _py_string(text: str, width: int = 72) -> str:
    """A string literal (``repr`` pieces, wrapped in parentheses when long): data, never code."""
    if len(text) <= width:
        return repr(text)
    pieces, start = [], 0
    while start < len(text):
        end = min(start + width, len(text))
        if end < len(text):
            space = text.rfind(" ", start + 1, end)
            end = space + 1 if space > start else end
        pieces.append(repr(text[start:end]))
        start = end
    return "(\n    " + "\n    ".join(pieces) + "\n)"


def _comment(text: str) -> str:
    """Text safe inside a ``#`` comment: nothing that could end the line."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _constant_floats(values: np.ndarray) -> str:
    """A float tuple literal that reads back as the same float32 numbers."""
    return "(" + ", ".join(repr(float(v)) for v in values) + ("," if len(values) == 1 else "") + ")"


def _input_constants(inputs: ModelInput) -> list[str]:
    norm = inputs.normalizer
    names = None if inputs.class_names is None else tuple(inputs.class_names)
    return [
        "#: The dataset's class names, one per output (None when the weights record none).",
        f"CLASS_NAMES = {names!r}",
        "#: Per-channel (mean, std) of the training images: the model was trained on",
        "#: (x - mean) / std with x in [0, 1]. None when the weights record none.",
        "NORMALIZATION = " + ("None" if norm is None else
                              f"({_constant_floats(norm.mean)}, {_constant_floats(norm.std)})"),
        "#: True: build_model() puts that standardisation inside the model, which then takes",
        "#: images in [0, 1] (as load_image() gives and `cnnstudio predict` reads); False: feed",
        "#: it standardised images.",
        f"NORMALIZE_IN_MODEL = {inputs.inside!r}",
    ]


def pytorch_source(graph: Graph, *, config: TrainConfig | None = None,
                   weights_file: str | None = None, strict: bool = False,
                   inputs: ModelInput | None = None) -> str:
    """The generated ``.py`` for ``graph``; raises ExportError for an invalid model.

    ``config`` is an engine ``TrainConfig`` (default: the engine's defaults) whose optimizer,
    learning rate, weight decay, batch size, epochs, seed and normalisation the file's ``main``
    uses by default. ``weights_file`` (a path, relative to the generated file or absolute) is
    what ``build_model()`` loads when called without a path. ``inputs`` (from the weights'
    meta arrays) gives the normalisation and class names written into the file.
    """
    from cnnstudio import __version__
    from cnnstudio.engine.trainer import TrainConfig

    plan = network_plan(graph, LAYER_BUILDERS, "PyTorch", strict=strict)
    cfg = config if config is not None else TrainConfig()
    emits = {lid: LAYER_BUILDERS[graph.layer(lid).type](graph.layer(lid), plan.result.layers[lid])
             for lid in plan.order}
    modules = repeated_units(plan, emits)
    names = python_identifiers([*plan.order, *(u for m in modules for u in m.units)],
                               reserved=(*GENERATED_GLOBALS, *(m.class_name for m in modules)))
    paths = dict(names)  # attribute path from the model: "stage1.b1_c1" inside a unit module
    for module in modules:
        for uid, members in zip(module.units, module.members, strict=True):
            for lid, attr in zip(members, module.attrs, strict=True):
                paths[lid] = f"{names[uid]}.{attr}"
    helpers = sorted({h for e in emits.values() for h in e.helpers})
    input_shape = plan.result.layers[plan.input_id].output_shape
    inputs = inputs if inputs is not None else ModelInput()
    inputs.check_channels(input_shape[0])  # type: ignore[index]

    out: list[str] = [
        f'"""A PyTorch model exported by cnnstudio {__version__}; needs torch and numpy '
        "(and Pillow for load_image).",
        "",
        "Use it:     from <this module> import build_model, load_image",
        "            model = build_model(); model(torch.from_numpy(load_image(\"a.png\"))[None])",
        "            (inputs are images in [0, 1], channels first; see NORMALIZE_IN_MODEL)",
        "Classify:   python <this file> --predict picture.png [more.png ...]",
        "Train it:   python <this file> --data data.npz --epochs 10",
        "On N GPUs:  torchrun --nproc_per_node=N <this file> --data data.npz",
        "",
        "Layer attributes are named after the model's layer ids; WEIGHT_KEYS maps the weights",
        'file\'s "<layer id>/<name>" keys (PyTorch layouts) to this module\'s state_dict.',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import argparse",
        "import os",
        "import tempfile",
        "",
        "import numpy as np",
        "import torch",
        "import torch.distributed as dist",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        f"MODEL_NAME = {_py_string(graph.name)}",
        f"MODEL_DESCRIPTION = {_py_string(graph.description)}",
        "#: One input image, channels first (batch excluded).",
        f"INPUT_SHAPE = {tuple(input_shape)!r}",  # type: ignore[arg-type]
        "#: Weights loaded by build_model() when no path is given (relative to this file).",
        f"WEIGHTS_FILE = {weights_file!r}",
        "#: The training settings the model had in cnnstudio; main()'s options override them.",
        "TRAINING = {",
        f"    'optimizer': {cfg.optimizer.name!r},",
        f"    'lr': {cfg.optimizer.lr!r},",
        f"    'momentum': {cfg.optimizer.momentum!r},",
        f"    'weight_decay': {cfg.optimizer.weight_decay!r},",
        f"    'betas': ({cfg.optimizer.beta1!r}, {cfg.optimizer.beta2!r}),",
        f"    'eps': {cfg.optimizer.eps!r},",
        f"    'batch_size': {cfg.batch_size!r},",
        f"    'epochs': {cfg.epochs!r},",
        f"    'seed': {cfg.seed!r},",
        f"    'normalize': {cfg.normalize!r},",
        "}",
        f"ENDS_WITH_SOFTMAX = {graph.layer(plan.output_id).type == 'Softmax'!r}",
        *_input_constants(inputs),
    ]
    out += _weight_tables(plan, paths)
    for name in helpers:
        out += ["", "", _HELPERS[name].strip("\n")]
    for module in modules:
        out += ["", "", *_unit_class(plan, module, emits)]
    out += ["", "", *_model_class(plan, names, paths, emits, modules)]
    out += ["", "", _RUNTIME.strip("\n"), ""]
    return "\n".join(out)


def _weight_tables(plan: NetworkPlan, names: dict[str, str]) -> list[str]:
    """``names``: each layer's attribute path in the model (dotted inside a unit module)."""
    keys, decayed, frozen_bn = [], [], []
    for lid in plan.order:
        layer = plan.graph.layer(lid)
        for arr in owned_arrays(layer, plan.result.layers[lid]):
            torch_name = f"{names[lid]}.{TORCH_ARRAY_NAMES[arr.name]}"
            keys.append(f"    {f'{lid}/{arr.name}'!r}: {torch_name!r},")
            if arr.decayed:  # the engine decays conv and dense kernels only
                decayed.append(f"    {torch_name!r},")
        if layer.spec.has_moving_statistics and not layer.trainable:
            frozen_bn.append(f"    {names[lid]!r},")
    return [
        "#: Weights-file key -> state_dict key.",
        "WEIGHT_KEYS = {", *keys, "}",
        "#: Parameters that get weight decay (conv and dense kernels, as in cnnstudio).",
        "DECAYED_KEYS = {", *decayed, "}",
        "#: Frozen BatchNorm layers run on their moving statistics even in training.",
        "FROZEN_BATCHNORM = (", *frozen_bn, ")",
    ]


def _model_class(plan: NetworkPlan, names: dict[str, str], paths: dict[str, str],
                 emits: dict[str, _Emit], modules: list[UnitModule]) -> list[str]:
    graph, result = plan.graph, plan.result
    init = ["    def __init__(self) -> None:", "        super().__init__()",
            "        # (x - norm_mean) / norm_std per channel when set (set_normalization); not",
            "        # in the state_dict: the weights file keeps it as its _meta/ arrays.",
            '        self.register_buffer("norm_mean", None, persistent=False)',
            '        self.register_buffer("norm_std", None, persistent=False)']
    frozen = []
    unit_of = {lid: (module, uid) for module in modules
               for uid, members in zip(module.units, module.members, strict=True)
               for lid in members}
    first = {members[0]: (module, uid) for module in modules
             for uid, members in zip(module.units, module.members, strict=True)}
    arg = names[plan.input_id]
    fwd = [f"    def forward(self, {arg}: torch.Tensor) -> torch.Tensor:",
           "        if self.norm_mean is not None:",
           f"            {arg} = ({arg} - self.norm_mean) / self.norm_std"]
    for lid in plan.order:
        layer = graph.layer(lid)
        if not layer.trainable and layer.spec.arrays_decl:
            frozen.append(f"        self.{paths[lid]}.requires_grad_(False)  # frozen in cnnstudio")
        if lid in first:  # a repeated unit: one module call stands for all its layers
            module, uid = first[lid]
            source, exit_id = module.ends[module.units.index(uid)]
            init.append(f"        # unit {_comment(repr(graph.units.get(uid).name))}")
            init.append(f"        self.{names[uid]} = {module.class_name}()")
            fwd.append(f"        {names[exit_id]} = self.{names[uid]}({names[source]})")
            continue
        if lid in unit_of:
            continue
        emit = emits[lid]
        if emit.module is not None:
            notation = layer.spec.notation(layer.params) or layer.type
            shape = fmt_shape(result.layers[lid].output_shape)
            init.append(f"        # {lid!r}: {_comment(notation)} -> {shape}")
            init.append(f"        self.{names[lid]} = {emit.module}")
        line = _forward_line(layer, names, emit)
        if line:
            fwd.append(f"        {names[lid]} = {line}")
    init += frozen
    fwd.append(f"        return {names[plan.output_id]}")
    train = [
        "    def set_normalization(self, mean, std) -> None:",
        '        """Standardise inputs inside the model: it then takes images in [0, 1]."""',
        "        shape = (1, -1, 1, 1)",
        "        self.norm_mean = torch.as_tensor(np.asarray(mean, np.float32)).reshape(shape)",
        "        self.norm_std = torch.as_tensor(np.asarray(std, np.float32)).reshape(shape)",
        "",
        "    def train(self, mode: bool = True) -> CnnModel:",
        "        super().train(mode)",
        "        for name in FROZEN_BATCHNORM:",
        "            self.get_submodule(name).eval()",
        "        return self",
    ]
    return [
        "class CnnModel(nn.Module):",
        '    """The network as designed in cnnstudio; forward follows its graph."""',
        "",
        *init, "", *fwd, "", *train,
    ]


@dataclass(frozen=True, slots=True)
class UnitModule:
    """Units of the model with the same layers, params and wiring: one nn.Module class."""

    class_name: str
    units: list[str]
    members: list[list[str]]  # per unit, its layers in forward order
    ends: list[tuple[str, str]]  # per unit, (the layer feeding it, its output layer)
    attrs: list[str]  # attribute names inside the class, by position


def repeated_units(plan: NetworkPlan, emits: dict[str, _Emit]) -> list[UnitModule]:
    """Units that repeat (two or more with the same structure, one tensor in and one out) as
    module classes, outermost units first; a unit inside a chosen one is part of its class."""
    graph = plan.graph
    units = graph.units
    in_plan = set(plan.order)
    groups: dict[tuple, list[tuple[str, list[str], tuple[str, str]]]] = {}
    for unit in sorted(units, key=lambda u: len(units.ancestors(u.id))):
        held = set(units.layers(unit.id))
        sources, exits = units.boundary(unit.id)
        if not held <= in_plan or len(sources) != 1 or len(exits) != 1 or \
                any(graph.layer(lid).spec.max_inputs == 0 for lid in held):
            continue
        order = [lid for lid in plan.order if lid in held]
        pos = {lid: i for i, lid in enumerate(order)}
        key = tuple((graph.layer(lid).type, emits[lid].module, graph.layer(lid).trainable,
                     tuple(pos.get(s, -1) for s in graph.layer(lid).inputs)) for lid in order)
        groups.setdefault(key, []).append((unit.id, order, (sources[0], exits[0])))
    chosen: set[str] = set()
    out: list[UnitModule] = []
    taken = set(GENERATED_GLOBALS)
    for found in groups.values():
        found = [f for f in found if not any(a in chosen for a in units.ancestors(f[0]))]
        if len(found) < 2:
            continue
        chosen.update(f[0] for f in found)
        base = "".join(w[:1].upper() + w[1:] for w in
                       re.findall(r"[A-Za-z0-9]+", units.get(found[0][0]).name)) or "Unit"
        base = re.sub(r"\d+$", "", base) or "Unit"
        name = base if base[0].isalpha() else "Unit" + base
        n = 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        attrs = python_identifiers(found[0][1], reserved=(*GENERATED_GLOBALS, "x"))
        out.append(UnitModule(name, [f[0] for f in found], [f[1] for f in found],
                              [f[2] for f in found], [attrs[lid] for lid in found[0][1]]))
    return out


def _unit_class(plan: NetworkPlan, module: UnitModule, emits: dict[str, _Emit]) -> list[str]:
    """The class of a repeated unit, written from its first copy (every copy is the same)."""
    graph, result = plan.graph, plan.result
    members = module.members[0]
    source, exit_id = module.ends[0]
    local = dict(zip(members, module.attrs, strict=True))
    local[source] = "x"
    names = [repr(graph.units.get(u).name) for u in module.units]
    init = ["    def __init__(self) -> None:", "        super().__init__()"]
    fwd = ["    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    for lid in members:
        layer, emit = graph.layer(lid), emits[lid]
        if emit.module is not None:
            notation = layer.spec.notation(layer.params) or layer.type
            shape = fmt_shape(result.layers[lid].output_shape)
            init.append(f"        # {_comment(notation)} -> {shape}")
            init.append(f"        self.{local[lid]} = {emit.module}")
        fwd.append(f"        {local[lid]} = {_forward_line(layer, local, emit)}")
    fwd.append(f"        return {local[exit_id]}")
    return [
        f"# The units {_comment(', '.join(names))} of the model: one class, one instance each.",
        f"class {module.class_name}(nn.Module):",
        '    """A unit that repeats in the model; each copy has its own weights."""',
        "",
        *init, "", *fwd,
    ]


def _forward_line(layer: Layer, names: dict[str, str], emit: _Emit) -> str | None:
    """One forward statement's right-hand side; ``names`` maps layer ids to local names (and
    the attribute names of the module's layers)."""
    ins = [names[s] for s in layer.inputs]
    if emit.expression is not None:
        return emit.expression(ins)
    if emit.module is None:  # the Input: the forward's argument
        return None
    return f"self.{names[layer.id]}({ins[0]})"


_RUNTIME = '''
def read_normalization(path):
    """(mean, std) per input channel stored in a cnnstudio weights file, or None.

    cnnstudio standardises images with the statistics of its training data; feed this model
    (x - mean[c]) / std[c] as well.
    """
    with np.load(path, allow_pickle=False) as archive:
        if "_meta/norm_mean" not in archive.files:
            return None
        return (archive["_meta/norm_mean"].astype(np.float32),
                archive["_meta/norm_std"].astype(np.float32))


def load_weights(model, path):
    """Copy a cnnstudio weights file (.npz of "<layer id>/<name>" arrays) into ``model``.

    Refuses a file whose keys or shapes do not fit, listing every mismatch.
    """
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files if not key.startswith("_meta/")}
    state = model.state_dict()
    problems, new_state = [], {}
    for key, target in WEIGHT_KEYS.items():
        if key not in arrays:
            problems.append(f"missing {key} {list(state[target].shape)}")
        elif tuple(arrays[key].shape) != tuple(state[target].shape):
            problems.append(f"{key} has shape {list(arrays[key].shape)}, "
                            f"the model needs {list(state[target].shape)}")
        else:
            new_state[target] = torch.from_numpy(np.asarray(arrays[key], dtype=np.float32))
    problems += [f"unexpected {key}" for key in arrays if key not in WEIGHT_KEYS]
    if problems:
        raise ValueError(f"{path}: weights do not fit the model: " + "; ".join(problems))
    model.load_state_dict(new_state, strict=False)


def save_weights(model, path, normalization=None):
    """Write the model's weights as a cnnstudio weights file (atomic: temp file + rename)."""
    state = model.state_dict()
    arrays = {key: state[target].detach().cpu().numpy().astype(np.float32)
              for key, target in WEIGHT_KEYS.items()}
    if normalization is not None:
        arrays["_meta/norm_mean"], arrays["_meta/norm_std"] = normalization
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def build_model(weights_path=None, normalize=NORMALIZE_IN_MODEL):
    """The model in eval mode, with weights from ``weights_path`` (or WEIGHTS_FILE) if any.

    With ``normalize`` the model standardises its input itself (the weights file's
    normalisation, else NORMALIZATION) and takes images in [0, 1].
    """
    model = CnnModel()
    normalization = NORMALIZATION
    if weights_path is None and WEIGHTS_FILE is not None:
        weights_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), WEIGHTS_FILE)
    if weights_path is not None:
        load_weights(model, weights_path)
        normalization = read_normalization(weights_path) or normalization
    if normalize and normalization is not None:
        model.set_normalization(*normalization)
    return model.eval()


def load_image(path):
    """One image file as float32 [C, H, W] in [0, 1], prepared exactly as cnnstudio does.

    16-bit grey is scaled to 8 bits, transparency dropped, the picture converted to grey
    (luma) or RGB and resized bilinearly to the model's input size. Needs Pillow.
    """
    from PIL import Image

    channels, height, width = INPUT_SHAPE
    if channels not in (1, 3):
        raise ValueError(f"the model takes {channels}-channel inputs; images give 1 or 3")
    with Image.open(path) as img:
        img.load()
        if img.mode == "I" or img.mode.startswith("I;16"):
            wide = np.asarray(img, dtype=np.float64)
            img = Image.fromarray(np.clip(wide / 257.0, 0, 255).astype(np.uint8))
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(img, dtype=np.uint8)
    chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(chw).astype(np.float32) / np.float32(255)


def predict(paths, weights_path=None):
    """The model's outputs [N, classes] for image files, as `cnnstudio predict` computes them
    (probabilities when the model ends with Softmax, else logits)."""
    model = build_model(weights_path, normalize=True)
    x = torch.from_numpy(np.stack([load_image(p) for p in paths]))
    with torch.no_grad():
        return model(x).numpy()


def _print_predictions(paths, outputs, top=3):
    """One line per image: its most likely classes, by name where CLASS_NAMES has them."""
    probs = outputs if ENDS_WITH_SOFTMAX else torch.softmax(
        torch.from_numpy(outputs).double(), dim=1).numpy()
    for path, p in zip(paths, probs):
        best = np.argsort(-p, kind="stable")[:top]
        names = [CLASS_NAMES[i] if CLASS_NAMES and i < len(CLASS_NAMES) else f"class {i}"
                 for i in best]
        print(f"{path}: " + ", ".join(f"{n} {p[i]:.1%}" for n, i in zip(names, best)))


def load_dataset(path):
    """(x_train, y_train, x_test, y_test) from a .npz; images become float32 [N, C, H, W].

    Integer pixels are taken as 8-bit and scaled to [0, 1] as cnnstudio does; [N, H, W] and
    channels-last [N, H, W, C] arrays are accepted.
    """
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise SystemExit(f"{path}: missing array {key!r}")

    def images(x):
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim == 4 and x.shape[1] != INPUT_SHAPE[0] and x.shape[3] == INPUT_SHAPE[0]:
            x = x.transpose(0, 3, 1, 2)
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float32) / (255.0 if x.max(initial=0) <= 255 else 65535.0)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != INPUT_SHAPE:
            raise SystemExit(f"{path}: images are {list(x.shape[1:])}, "
                             f"the model takes {list(INPUT_SHAPE)}")
        return x

    def labels(y):
        return np.asarray(y).reshape(-1).astype(np.int64)

    x_test = arrays.get("x_test")
    y_test = arrays.get("y_test")
    return (images(arrays["x_train"]), labels(arrays["y_train"]),
            None if x_test is None else images(x_test),
            None if y_test is None else labels(y_test))


def make_optimizer(model, name, lr, momentum, weight_decay):
    """The optimizer cnnstudio would use: decay on conv/dense kernels only."""
    decayed, other = [], []
    for key, param in model.named_parameters():
        if param.requires_grad:
            (decayed if key in DECAYED_KEYS else other).append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay},
              {"params": other, "weight_decay": 0.0}]
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=TRAINING["betas"], eps=TRAINING["eps"])
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=name == "nesterov")


def _loss(output, target):
    if ENDS_WITH_SOFTMAX:  # the model outputs probabilities
        return F.nll_loss(torch.log(output.clamp_min(1e-12)), target)
    return F.cross_entropy(output, target)


def main(argv=None):
    """Train on a .npz dataset; under torchrun, one process per device with DDP."""
    parser = argparse.ArgumentParser(description="Train this cnnstudio model with PyTorch, "
                                     "or classify image files with it (--predict).")
    parser.add_argument("--predict", nargs="+", metavar="IMAGE",
                        help="print the most likely classes of these image files and exit")
    parser.add_argument("--data", help=".npz with x_train, y_train "
                        "(and optionally x_test, y_test); needed to train")
    parser.add_argument("--weights", help="cnnstudio weights file to start from")
    parser.add_argument("--out", default="trained_weights.npz",
                        help="where to save the trained weights (cnnstudio .npz format)")
    parser.add_argument("--epochs", type=int, default=TRAINING["epochs"])
    parser.add_argument("--batch-size", type=int, default=TRAINING["batch_size"],
                        help="per process")
    parser.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam"),
                        default=TRAINING["optimizer"])
    parser.add_argument("--lr", type=float, default=TRAINING["lr"])
    parser.add_argument("--momentum", type=float, default=TRAINING["momentum"])
    parser.add_argument("--weight-decay", type=float, default=TRAINING["weight_decay"])
    parser.add_argument("--seed", type=int, default=TRAINING["seed"])
    parser.add_argument("--no-normalize", action="store_true",
                        help="feed raw pixels instead of per-channel standardised ones")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = parser.parse_args(argv)
    if args.predict:
        _print_predictions(args.predict, predict(args.predict, args.weights))
        return
    if args.data is None:
        parser.error("--data is required to train (or give --predict IMAGE ...)")

    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    cuda = torch.cuda.is_available()
    rank, world = 0, 1
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    torch.manual_seed(args.seed)

    x_train, y_train, x_test, y_test = load_dataset(args.data)
    start = args.weights
    normalization = read_normalization(start) if start else NORMALIZATION
    if normalization is None and TRAINING["normalize"] and not args.no_normalize:
        std = x_train.std(axis=(0, 2, 3))
        normalization = (x_train.mean(axis=(0, 2, 3)).astype(np.float32),
                         np.where(std < 1e-6, 1.0, std).astype(np.float32))
    model = build_model(start, normalize=False)
    if normalization is not None and NORMALIZE_IN_MODEL:
        model.set_normalization(*normalization)
    elif normalization is not None:
        mean, std = (a.reshape(1, -1, 1, 1) for a in normalization)
        x_train = (x_train - mean) / std
        x_test = None if x_test is None else (x_test - mean) / std
    model = model.to(device)
    model.train()
    net = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if cuda else None)
    data = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    sampler = (torch.utils.data.distributed.DistributedSampler(data, world, rank, seed=args.seed)
               if distributed else None)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size,
                                         shuffle=sampler is None, sampler=sampler,
                                         num_workers=args.workers, pin_memory=cuda)
    optimizer = make_optimizer(model, args.optimizer, args.lr, args.momentum,
                               args.weight_decay)
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        total, correct, seen = 0.0, 0, 0
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            output = net(xb)
            loss = _loss(output, yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            correct += (output.argmax(1) == yb).sum().item()
            seen += len(yb)
        line = (f"epoch {epoch + 1}/{args.epochs}  loss {total / max(seen, 1):.4f}  "
                f"accuracy {correct / max(seen, 1):.4f}")
        if rank == 0 and x_test is not None and y_test is not None:
            model.eval()
            with torch.no_grad():
                hits = 0
                for i in range(0, len(x_test), 256):
                    xb = torch.from_numpy(x_test[i:i + 256]).to(device)
                    hits += (model(xb).argmax(1).cpu().numpy() == y_test[i:i + 256]).sum()
            line += f"  test accuracy {hits / len(x_test):.4f}"
        if rank == 0:
            print(line, flush=True)
    if rank == 0:
        save_weights(model, args.out, normalization)
        print(f"saved {args.out}", flush=True)
    if distributed:
        # Every rank waits here until rank 0 has saved: a rank that tore its process group
        # down while another still used it could abort at exit ("terminate called without an
        # active exception", seen once with gloo on the CPU).
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
'''


def export_pytorch(graph: Graph, path: str | os.PathLike[str], *, config: TrainConfig | None = None,
                   weights_file: str | os.PathLike[str] | None = None,
                   strict: bool = False, inputs: ModelInput | None = None) -> None:
    """Write the generated file atomically. ``weights_file`` is stored relative to the output's
    folder when it lies inside it, so the pair can be moved together."""
    target = Path(path)
    stored = None
    if weights_file is not None:
        w = Path(weights_file).resolve()
        try:
            stored = str(w.relative_to(target.resolve().parent))
        except ValueError:
            stored = str(w)
    atomic_write_text(target, pytorch_source(graph, config=config, weights_file=stored,
                                             strict=strict, inputs=inputs))
