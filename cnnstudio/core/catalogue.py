"""The layer catalogue: every layer type described once, as data.

The palette, canvas blocks, inspector forms, model-file reader, validator, engine bindings and
exporters all read this table, so adding a layer type means adding one entry here (plus its engine
kernel, export mapping and icon, which conformance tests demand). Nothing else in the program lists
layer types or their params.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cnnstudio.core import rules

# Param kinds: the semantic type of a value, which decides the editor in the inspector and the
# checks in the reader.
INT = "int"  # a whole number
SIZE2 = "size2"  # an int or [h, w] of positive ints (kernel, stride, pool size)
PADDING = "padding"  # "valid", "same", an int >= 0, or [h, w]
FLOAT = "float"
BOOL = "bool"

# Families: colour and palette group.
INPUT, CONV, POOL, DENSE, ACTIVATION, NORM, MERGE = (
    "input", "convolution", "pooling", "dense", "activation", "normalization", "merge",
)
FAMILY_TITLES: dict[str, str] = {
    INPUT: "Input",
    CONV: "Convolution",
    POOL: "Pooling",
    DENSE: "Dense and Flatten",
    ACTIVATION: "Activations",
    NORM: "Normalisation and Regularisation",
    MERGE: "Merge",
}

#: Upper bound for any size-like number, so a file with absurd values is refused at once.
MAX_SIZE = 1 << 20


class ParamError(ValueError):
    """A param value of the wrong kind or out of range; the message says which rule it breaks."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One layer parameter: what it is called, what values it takes and what it teaches."""

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    #: True when ``maximum`` itself is not allowed (e.g. a dropout rate of 1 would drop everything).
    exclusive_max: bool = False
    #: True when ``minimum`` itself is not allowed (epsilon must be > 0).
    exclusive_min: bool = False
    #: ``None`` is allowed and means "the default rule" (pool stride = pool size).
    optional: bool = False
    title: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ")

    def range_text(self) -> str:
        lo = "(" if self.exclusive_min else "["
        hi = ")" if self.exclusive_max else "]"
        return f"{lo}{_num(self.minimum)}, {_num(self.maximum)}{hi}"

    def check(self, value: Any) -> Any:
        """Return the value in canonical form (``[h, w]`` lists, floats) or raise ParamError."""
        if value is None:
            if self.optional:
                return None
            raise ParamError(f"{self.name} must be set")
        if self.kind == BOOL:
            if not isinstance(value, bool):
                raise ParamError(f"{self.name} must be true or false, got {_show(value)}")
            return value
        if self.kind == INT:
            return self._check_int(value, self.name)
        if self.kind == FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{self.name} must be a number, got {_show(value)}")
            if isinstance(value, int) and abs(value) > MAX_SIZE:
                # float() of a 400-digit JSON integer overflows; no float param needs one.
                raise ParamError(f"{self.name} must be in {self.range_text()}, got {_show(value)}")
            value = float(value)
            if not math.isfinite(value):
                raise ParamError(f"{self.name} must be a finite number, got {value}")
            self._check_range(value, self.name)
            return value
        if self.kind == SIZE2:
            return self._check_pair(value)
        if self.kind == PADDING:
            if isinstance(value, str):
                if value not in ("valid", "same"):
                    raise ParamError(
                        f"{self.name} must be \"valid\", \"same\", an int or [h, w], got {value!r}"
                    )
                return value
            return self._check_pair(value)
        raise AssertionError(f"unknown param kind {self.kind}")

    def _check_pair(self, value: Any) -> int | list[int]:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ParamError(f"{self.name} must be an int or [h, w], got {_show(value)}")
            h = self._check_int(value[0], f"{self.name} height")
            w = self._check_int(value[1], f"{self.name} width")
            return h if h == w else [h, w]
        return self._check_int(value, self.name)

    def _check_int(self, value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SIZE:
                value = int(value)
            else:
                raise ParamError(f"{what} must be a whole number, got {_show(value)}")
        self._check_range(value, what)
        return value

    def _check_range(self, value: float, what: str) -> None:
        lo, hi = self.minimum, self.maximum
        bad = (
            (lo is not None and (value < lo or (self.exclusive_min and value == lo)))
            or (hi is not None and (value > hi or (self.exclusive_max and value == hi)))
        )
        if bad:
            raise ParamError(f"{what} must be in {self.range_text()}, got {_num(value)}")


def _num(x: float | None) -> str:
    if x is None:
        return "inf"
    if isinstance(x, int):  # no float(): a huge int from a file would overflow it
        return _show(x)
    return str(int(x)) if x.is_integer() else repr(x)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer type: identity, teaching text, params, arity and the rule that computes it."""

    type: str
    title: str
    family: str
    description: str
    params: tuple[ParamSpec, ...]
    rule: Callable[[rules.RuleInput], rules.RuleOutput]
    min_inputs: int = 1
    max_inputs: int | None = 1
    #: The short notation people write on diagrams ("Conv 16@3x3 s2 same").
    notation: Callable[[Mapping[str, Any]], str] = field(default=lambda p: "")
    #: Names of the weight arrays this layer trains and keeps, as in the weights file.
    weights: tuple[str, ...] = ()
    buffers: tuple[str, ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Full params: given values checked and canonical, missing ones at their defaults.

        Raises ParamError naming the first unknown or bad param.
        """
        unknown = [k for k in params if k not in self.param_names]
        if unknown:
            known = ", ".join(self.param_names) or "none"
            raise ParamError(f"unknown param {unknown[0]!r} for {self.type} (known: {known})")
        return {p.name: p.check(params.get(p.name, p.default)) for p in self.params}

    @property
    def is_merge(self) -> bool:
        return self.max_inputs is None or self.max_inputs > 1


# --- notation helpers -------------------------------------------------------------------------

def _size(v: Any) -> str:
    h, w = (v, v) if not isinstance(v, (list, tuple)) else v
    return f"{h}x{w}"


def _stride(v: Any) -> str:
    if v is None:
        return ""
    h, w = (v, v) if not isinstance(v, (list, tuple)) else v
    return f" s{h}" if h == w else f" s{h},{w}"


def _pad(v: Any) -> str:
    if isinstance(v, str):
        return f" {v}"
    h, w = (v, v) if not isinstance(v, (list, tuple)) else v
    return f" p{h}" if h == w else f" p{h},{w}"


def _conv_notation(p: Mapping[str, Any]) -> str:
    size, stride, pad = _size(p["kernel_size"]), _stride(p["stride"]), _pad(p["padding"])
    return f"Conv {p['filters']}@{size}{stride}{pad}"


def _pool_notation(name: str) -> Callable[[Mapping[str, Any]], str]:
    def notation(p: Mapping[str, Any]) -> str:
        stride = p.get("stride")
        s = "" if stride is None or stride == p["pool_size"] else _stride(stride)
        pad = "" if p["padding"] == "valid" else _pad(p["padding"])
        return f"{name} {_size(p['pool_size'])}{s}{pad}"

    return notation


# --- params shared between types --------------------------------------------------------------

def _kernel(default: int = 3) -> ParamSpec:
    return ParamSpec("kernel_size", SIZE2, default, "the filter's height and width in pixels: how "
                     "much of the input one output pixel looks at", 1, MAX_SIZE, title="kernel")


def _stride_param(optional: bool = False) -> ParamSpec:
    return ParamSpec("stride", SIZE2, None if optional else 1,
                     "how far the filter jumps between positions; 2 halves the output size"
                     + ("; empty means the same as the pool size" if optional else ""),
                     1, MAX_SIZE, optional=optional)


PADDING_HELP = ("zeros added around the input: \"valid\" adds none (the output shrinks), \"same\" "
                "adds enough that the output is ceil(input / stride)")
_padding = ParamSpec("padding", PADDING, "valid", PADDING_HELP, 0, MAX_SIZE)
_use_bias = ParamSpec("use_bias", BOOL, True, "add one learned constant per output; not needed "
                      "when BatchNorm follows, since it subtracts the mean anyway",
                      title="use bias")


def _rate(what: str) -> ParamSpec:
    return ParamSpec("rate", FLOAT, 0.5, f"fraction of {what} set to zero at random in training "
                     "(the rest are scaled up by 1/(1-rate)); nothing is dropped in evaluation",
                     0.0, 1.0, exclusive_max=True)


LAYERS: dict[str, LayerSpec] = {}


def _register(spec: LayerSpec) -> None:
    LAYERS[spec.type] = spec


_register(LayerSpec(
    "Input", "Input", INPUT,
    "The image that enters the network: channels (1 for grey, 3 for RGB) x height x width.",
    (
        ParamSpec("channels", INT, 3, "colour channels: 1 for grey, 3 for RGB", 1, 4096),
        ParamSpec("height", INT, 32, "image height in pixels", 1, 1 << 16),
        ParamSpec("width", INT, 32, "image width in pixels", 1, 1 << 16),
    ),
    rules.input_rule, min_inputs=0, max_inputs=0,
    notation=lambda p: f"Input {p['channels']}x{p['height']}x{p['width']}",
))
_register(LayerSpec(
    "Conv2D", "Conv2D", CONV,
    "Slides small learned filters over the image; each filter is as deep as its input and its "
    "weights are shared across every position, so it finds one pattern anywhere in the image.",
    (
        ParamSpec("filters", INT, 16, "how many filters, i.e. output channels (feature maps)",
                  1, MAX_SIZE),
        _kernel(), _stride_param(), _padding, _use_bias,
    ),
    rules.conv2d_rule, notation=_conv_notation, weights=("weight", "bias"),
))
for _name, _title, _short, _help in (
    ("MaxPool2D", "MaxPool2D", "MaxPool", "Keeps the largest value in each window: a summary of "
     "whether a feature is present nearby, which shrinks the map and adds some shift tolerance."),
    ("AvgPool2D", "AvgPool2D", "AvgPool", "Averages each window (padding is not counted in the "
     "average): a smoother way to shrink the map than max pooling."),
):
    _register(LayerSpec(
        _name, _title, POOL, _help,
        (
            ParamSpec("pool_size", SIZE2, 2, "the window's height and width", 1, MAX_SIZE,
                      title="pool size"),
            _stride_param(optional=True), _padding,
        ),
        rules.pool_rule, notation=_pool_notation(_short),
    ))
_register(LayerSpec(
    "GlobalAvgPool2D", "GlobalAvgPool2D", POOL,
    "Averages each whole feature map to one number: C maps become a vector of C, with no weights "
    "and any image size. The usual way to end a modern CNN before its classifier.",
    (), rules.global_pool_rule, notation=lambda p: "GlobalAvgPool",
))
_register(LayerSpec(
    "GlobalMaxPool2D", "GlobalMaxPool2D", POOL,
    "Takes the maximum of each whole feature map: 'is this feature anywhere in the image?'",
    (), rules.global_pool_rule, notation=lambda p: "GlobalMaxPool",
))
_register(LayerSpec(
    "Flatten", "Flatten", DENSE,
    "Unrolls C x H x W feature maps into one vector (channel by channel, row by row) so Dense "
    "layers can follow.",
    (), rules.flatten_rule, notation=lambda p: "Flatten",
))
_register(LayerSpec(
    "Dense", "Dense", DENSE,
    "Fully connected: every output is a weighted sum of every input. Cheap on small vectors, "
    "ruinous on whole images, which is why CNNs use convolutions first.",
    (
        ParamSpec("units", INT, 10, "how many outputs (neurons); the last Dense has one per class",
                  1, MAX_SIZE),
        _use_bias,
    ),
    rules.dense_rule, notation=lambda p: f"Dense {p['units']}", weights=("weight", "bias"),
))
for _name, _help in (
    ("ReLU", "max(0, x): keeps positive responses and zeroes the rest; cheap and the default."),
    ("Sigmoid", "1 / (1 + e^-x): squashes to (0, 1); saturates, so deep stacks learn slowly."),
    ("Tanh", "Squashes to (-1, 1), centred on 0; saturates like Sigmoid."),
):
    _register(LayerSpec(_name, _name, ACTIVATION, _help, (), rules.same_shape_rule,
                        notation=lambda p, n=_name: n))
_register(LayerSpec(
    "LeakyReLU", "LeakyReLU", ACTIVATION,
    "Like ReLU but lets a small slope (alpha) through for negative inputs, so units never die.",
    (ParamSpec("alpha", FLOAT, 0.01, "slope for negative inputs", 0.0, 1.0),),
    rules.same_shape_rule, notation=lambda p: f"LeakyReLU {p['alpha']:g}",
))
_register(LayerSpec(
    "Softmax", "Softmax", ACTIVATION,
    "Turns a vector of scores into probabilities that sum to 1; belongs at the very end.",
    (), rules.softmax_rule, notation=lambda p: "Softmax",
))
_register(LayerSpec(
    "BatchNorm", "BatchNorm", NORM,
    "Normalises each channel to zero mean and unit variance over the batch (and all positions: "
    "spatial batch norm), then scales and shifts it with two learned numbers per channel.",
    (
        ParamSpec("momentum", FLOAT, 0.9, "how slowly the moving mean and variance used in "
                  "evaluation follow the batches (moving = momentum*moving + (1-momentum)*batch)",
                  0.0, 1.0, exclusive_max=True),
        ParamSpec("epsilon", FLOAT, 1e-5, "added to the variance so it never divides by zero",
                  0.0, 1.0, exclusive_min=True),
    ),
    rules.batchnorm_rule, notation=lambda p: "BatchNorm",
    weights=("gamma", "beta"), buffers=("moving_mean", "moving_var"),
))
_register(LayerSpec(
    "Dropout", "Dropout", NORM,
    "In training, zeroes single units at random so the network cannot rely on any one of them.",
    (_rate("units"),), rules.dropout_rule, notation=lambda p: f"Dropout {p['rate']:g}",
))
_register(LayerSpec(
    "SpatialDropout2D", "SpatialDropout2D", NORM,
    "In training, zeroes whole feature maps at random: neighbouring pixels are so correlated "
    "that dropping single ones teaches little.",
    (_rate("feature maps (channels)"),), rules.spatial_dropout_rule,
    notation=lambda p: f"SpatialDropout {p['rate']:g}",
))
_register(LayerSpec(
    "Add", "Add", MERGE,
    "Adds its inputs element by element (a residual or skip connection); they must have the "
    "same shape.",
    (), rules.add_rule, min_inputs=2, max_inputs=None, notation=lambda p: "Add",
))
_register(LayerSpec(
    "Concatenate", "Concatenate", MERGE,
    "Stacks its inputs along the channel axis; their other dimensions must agree.",
    (), rules.concatenate_rule, min_inputs=2, max_inputs=None, notation=lambda p: "Concatenate",
))


def layer_spec(type_name: str) -> LayerSpec:
    """The spec of a layer type; KeyError with the known names for an unknown type."""
    try:
        return LAYERS[type_name]
    except KeyError:
        raise KeyError(
            f"unknown layer type {type_name!r} (known: {', '.join(LAYERS)})"
        ) from None


def types_by_family() -> dict[str, list[LayerSpec]]:
    """Layer specs grouped for the palette, families in the order of FAMILY_TITLES."""
    groups: dict[str, list[LayerSpec]] = {f: [] for f in FAMILY_TITLES}
    for spec in LAYERS.values():
        groups[spec.family].append(spec)
    return groups
