"""The layer catalogue: every layer type described once, as data.

The palette, canvas blocks, inspector forms, model-file reader, validator, engine bindings and
exporters all read this table, so adding a layer type means adding one entry here (plus its shape
rule, engine kernel and export mappings, which tests/test_conformance.py demands). Nothing else in
the program lists layer types or their params.

An entry holds a layer's *derived* meaning too, so no other module restates it: the arrays it owns
for given params and input shape (a bias only when ``use_bias``; BatchNorm's moving statistics),
the effective value of a defaulted param (a pool's stride is its size), the rank of input it needs
(image or flat vector) and its role (spatial filter, activation, normalisation...), which the
weight initialiser, the training views and the explanations ask instead of testing type names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnnstudio.core import rules
from cnnstudio.core.shapes import pair

# Param kinds: the semantic type of a value, which decides the editor in the inspector and the
# checks in the reader.
INT = "int"  # a whole number
SIZE2 = "size2"  # an int or [h, w] of positive ints (kernel, stride, pool size)
PADDING = "padding"  # one of its choices ("valid", "same"), an int >= 0, or [h, w]
FLOAT = "float"
BOOL = "bool"
CHOICE = "choice"  # one of the param's ``choices`` (strings)
SIDES = "sides"  # an int, [h, w] or [top, bottom, left, right] of ints >= 0 (ZeroPadding2D)
PARAM_KINDS = (INT, SIZE2, PADDING, FLOAT, BOOL, CHOICE, SIDES)

# Roles: what a layer does in a network, asked by code that must treat kinds of layers alike
# (the initialiser, the training views, the explanations) instead of testing type names.
ROLE_INPUT = "input"
#: Learned filters slid over the image (their weights can be drawn as pictures, their outputs
#: are feature maps).
ROLE_SPATIAL_FILTER = "spatial filter"
ROLE_FULLY_CONNECTED = "fully connected"
ROLE_POOLING = "pooling"
ROLE_RESHAPE = "reshape"
ROLE_ACTIVATION = "activation"
ROLE_NORMALISATION = "normalisation"
ROLE_REGULARISATION = "regularisation"
ROLE_MERGE = "merge"
ROLES = (ROLE_INPUT, ROLE_SPATIAL_FILTER, ROLE_FULLY_CONNECTED, ROLE_POOLING, ROLE_RESHAPE,
         ROLE_ACTIVATION, ROLE_NORMALISATION, ROLE_REGULARISATION, ROLE_MERGE)
#: Roles that sit between a weighted layer and its activation without changing which weight
#: initialisation suits it (conv -> BatchNorm -> ReLU still wants He).
INIT_TRANSPARENT_ROLES = frozenset({ROLE_NORMALISATION, ROLE_REGULARISATION})

# The rank of input a layer needs (checked before the layer's rule runs).
IMAGE, FLAT, ANY_RANK = rules.IMAGE, rules.FLAT, rules.ANY_RANK

# How an owned array starts: drawn from the fan-in/out (He or Glorot), zeros or ones.
INIT_FAN, INIT_ZEROS, INIT_ONES = "fan", "zeros", "ones"

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
    #: CHOICE and PADDING: the words the param accepts (the reader, the inspector's combo box
    #: and the docs all read them from here).
    choices: tuple[str, ...] = ()
    #: An optional param left empty takes the value of this param (a pool's stride is its size).
    same_as: str | None = None
    #: One of the spec's "Additions to version 1": saved only when it is not at its default
    #: (which is the old behaviour), so a reader that predates it still opens such files.
    addition: bool = False

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ")

    def range_text(self) -> str:
        lo = "(" if self.exclusive_min else "["
        hi = ")" if self.exclusive_max else "]"
        return f"{lo}{_num(self.minimum)}, {_num(self.maximum)}{hi}"

    def choices_text(self) -> str:
        """``"valid", "same"`` or ``"none" or "tanh"``: the accepted words, quoted."""
        words = [f'"{c}"' for c in self.choices]
        return " or ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + f" or {words[-1]}"

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
                if value not in self.choices:
                    words = ", ".join(f'"{c}"' for c in self.choices)
                    raise ParamError(f"{self.name} must be {words}, an int or [h, w], got "
                                     f"{_show(value)}")
                return value
            return self._check_pair(value)
        if self.kind == SIDES:
            return self._check_sides(value)
        if self.kind == CHOICE:
            if not isinstance(value, str) or value not in self.choices:
                raise ParamError(f"{self.name} must be {self.choices_text()}, got {_show(value)}")
            return value
        raise AssertionError(f"unknown param kind {self.kind}")

    def _check_sides(self, value: Any) -> int | list[int]:
        """An int, ``[h, w]`` or ``[top, bottom, left, right]``, in its shortest form."""
        if not isinstance(value, (list, tuple)) or len(value) == 2:
            return self._check_pair(value)
        if len(value) != 4:
            raise ParamError(f"{self.name} must be an int, [h, w] or [top, bottom, left, right], "
                             f"got {_show(value)}")
        t, b, l, r = (self._check_int(v, f"{self.name} {side}")
                      for v, side in zip(value, ("top", "bottom", "left", "right"), strict=True))
        if t == b and l == r:
            return t if t == l else [t, l]
        return [t, b, l, r]

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


Shape = tuple[int, ...]
Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ArraySpec:
    """One array a layer owns for given params and input: the weights file's key and layout."""

    name: str
    shape: Shape
    trainable: bool
    init: str
    #: Weight decay applies to it (conv and dense kernels; never biases or norm parameters).
    decayed: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class ArrayDecl:
    """How a layer type's array is shaped from its (effective) params and its first input."""

    name: str
    shape: Callable[[Params, Shape], Shape]
    trainable: bool = True
    init: str = INIT_FAN
    decayed: bool = False
    #: The array exists only when this says so (a bias only when ``use_bias``).
    present: Callable[[Params], bool] = field(default=lambda p: True)


#: Parameter counts by (type, input shape, param values): a pure function, memoised.
_COUNTS: dict[tuple[Any, ...], tuple[int, int]] = {}
#: Per type, its params that default to another param when empty (filled by ``effective``).
_DEFAULTED: dict[str, tuple[ParamSpec, ...]] = {}


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer type: identity, teaching text, params, arity, derived meaning and its rule."""

    type: str
    title: str
    family: str
    description: str
    params: tuple[ParamSpec, ...]
    rule: Callable[[rules.RuleInput], rules.RuleOutput]
    role: str
    min_inputs: int = 1
    max_inputs: int | None = 1
    #: The short notation people write on diagrams ("Conv 16@3x3 s2 same").
    notation: Callable[[Params], str] = field(default=lambda p: "")
    #: The arrays it can own, in weights-file order.
    arrays_decl: tuple[ArrayDecl, ...] = ()
    #: The rank of its (first) input: IMAGE [C, H, W], FLAT [N] or ANY_RANK.
    input_rank: str = ANY_RANK
    #: Activations after which He initialisation keeps the signal's variance (ReLU family).
    rectifier: bool = False
    #: Pooling: what a window is reduced to, "max" or "average".
    reduction: str = ""
    #: Conv and pooling: the per-axis tiling of an (H, W) input (shapes.AxisWindow pair), the
    #: one computation the validator, engine and exporters share.
    windows: Callable[[Params, tuple[int, int]], Any] | None = None
    #: Params that exercise its less common paths (a stride, padding, a non-default mode): used
    #: by the conformance tests and as a worked example.
    example: Mapping[str, Any] = field(default_factory=dict)

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

    def resolve(self, params: Params) -> dict[str, Any]:
        """Full params: given values checked and canonical, missing ones at their defaults.

        Raises ParamError naming the first unknown or bad param.
        """
        unknown = [k for k in params if k not in self.param_names]
        if unknown:
            known = ", ".join(self.param_names) or "none"
            raise ParamError(f"unknown param {unknown[0]!r} for {self.type} (known: {known})")
        return {p.name: p.check(params.get(p.name, p.default)) for p in self.params}

    def effective(self, params: Params) -> Params:
        """Resolved params with every empty ``same_as`` param filled in (pool stride = size);
        ``params`` itself when nothing is empty (the validator calls this on every edit)."""
        defaulted = _DEFAULTED.get(self.type)
        if defaulted is None:
            defaulted = _DEFAULTED[self.type] = tuple(p for p in self.params if p.same_as)
        empty = [p for p in defaulted if params.get(p.name) is None]
        if not empty:
            return params
        out = dict(params)
        for p in empty:
            out[p.name] = out[p.same_as]  # type: ignore[index]
        return out

    def file_params(self, params: Params) -> dict[str, Any]:
        """The params a model file records: empty ones and additions at their default left
        out (both mean the default when read back)."""
        return {p.name: params[p.name] for p in self.params
                if params.get(p.name) is not None
                and not (p.addition and params[p.name] == p.default)}

    @property
    def is_merge(self) -> bool:
        return self.max_inputs is None or self.max_inputs > 1

    # --- the arrays it owns -------------------------------------------------------------------
    def arrays(self, params: Params, input_shapes: Sequence[Shape]) -> tuple[ArraySpec, ...]:
        """The arrays a layer with these params and inputs owns, in weights-file order."""
        eff = self.effective(params)
        shape = tuple(input_shapes[0]) if input_shapes else ()
        return tuple(ArraySpec(d.name, tuple(d.shape(eff, shape)), d.trainable, d.init,
                               d.decayed)
                     for d in self.arrays_decl if d.present(eff))

    @property
    def weights(self) -> tuple[str, ...]:
        """Names of the trainable arrays it can own (the weights file's names)."""
        return tuple(d.name for d in self.arrays_decl if d.trainable)

    @property
    def buffers(self) -> tuple[str, ...]:
        """Names of the arrays it keeps but does not train (BatchNorm's moving statistics)."""
        return tuple(d.name for d in self.arrays_decl if not d.trainable)

    @property
    def has_moving_statistics(self) -> bool:
        """It keeps statistics besides its weights: frozen, it runs in inference mode."""
        return bool(self.buffers)

    # --- what the validator calls ---------------------------------------------------------
    def apply(self, rin: rules.RuleInput) -> rules.RuleOutput:
        """The layer's rule on effective params, after the input-rank check, with parameter
        counts taken from the arrays it owns (so counts and the engine's arrays agree)."""
        if self.input_rank != ANY_RANK and rin.inputs:
            rules.check_rank(self.input_rank, rin.first.shape)
        params = self.effective(rin.params)
        out = self.rule(rules.RuleInput(params, rin.inputs) if params is not rin.params
                        else rin)
        if not self.arrays_decl:
            return out
        shape = rin.first.shape if rin.inputs else ()
        try:  # the validator runs on every edit, and a model repeats the same few layers
            key = (self.type, shape, tuple(params.values()))
            counts = _COUNTS.get(key)
        except TypeError:  # a list param ([3, 5]): not hashable, count directly
            key, counts = None, None
        if counts is None:
            counts = self._counts(params, shape)
            if key is not None and len(_COUNTS) < 4096:
                _COUNTS[key] = counts
        out.trainable += counts[0]
        out.non_trainable += counts[1]
        return out

    def _counts(self, params: Params, shape: Shape) -> tuple[int, int]:
        """(trainable, non-trainable) sizes of what ``arrays`` lists, without building it."""
        trainable = non_trainable = 0
        for d in self.arrays_decl:
            if d.present(params):
                size = math.prod(d.shape(params, shape))
                if d.trainable:
                    trainable += size
                else:
                    non_trainable += size
        return trainable, non_trainable


# --- notation helpers -------------------------------------------------------------------------

def _size(v: Any) -> str:
    h, w = (v, v) if not isinstance(v, (list, tuple)) else v
    return f"{h}x{w}"


def _stride(v: Any) -> str:
    if v is None:
        return ""
    h, w = (v, v) if not isinstance(v, (list, tuple)) else v
    return f" s{h}" if h == w else f" s{h},{w}"


def _sides(v: Any) -> str:
    return str(v) if not isinstance(v, (list, tuple)) else ",".join(str(x) for x in v)


def _pad(v: Any) -> str:
    if isinstance(v, str):
        return f" {v}"
    h, w = (v, v) if not isinstance(v, (list, tuple)) else v
    return f" p{h}" if h == w else f" p{h},{w}"


def _conv_notation(p: Mapping[str, Any]) -> str:
    size, stride, pad = _size(p["kernel_size"]), _stride(p["stride"]), _pad(p["padding"])
    dh, dw = pair(p.get("dilation", 1))
    dilation = "" if (dh, dw) == (1, 1) else (f" d{dh}" if dh == dw else f" d{dh},{dw}")
    groups = "" if p.get("groups", 1) == 1 else f" g{p['groups']}"
    return f"Conv {p['filters']}@{size}{stride}{pad}{dilation}{groups}"


def _pool_notation(name: str) -> Callable[[Mapping[str, Any]], str]:
    def notation(p: Mapping[str, Any]) -> str:
        stride = p.get("stride")
        s = "" if stride is None or stride == p["pool_size"] else _stride(stride)
        pad = "" if p["padding"] == "valid" else _pad(p["padding"])
        ceil = " ceil" if p.get("ceil_mode") else ""
        return f"{name} {_size(p['pool_size'])}{s}{pad}{ceil}"

    return notation


# --- params shared between types --------------------------------------------------------------

def _kernel(default: int = 3) -> ParamSpec:
    return ParamSpec("kernel_size", SIZE2, default, "the filter's height and width in pixels: how "
                     "much of the input one output pixel looks at", 1, MAX_SIZE, title="kernel")


def _stride_param(optional: bool = False) -> ParamSpec:
    return ParamSpec("stride", SIZE2, None if optional else 1,
                     "how far the filter jumps between positions; 2 halves the output size"
                     + ("; empty means the same as the pool size" if optional else ""),
                     1, MAX_SIZE, optional=optional,
                     same_as="pool_size" if optional else None)


PADDING_HELP = ("zeros added around the input: \"valid\" adds none (the output shrinks), \"same\" "
                "adds enough that the output is ceil(input / stride)")
_padding = ParamSpec("padding", PADDING, "valid", PADDING_HELP, 0, MAX_SIZE,
                     choices=("valid", "same"))
_use_bias = ParamSpec("use_bias", BOOL, True, "add one learned constant per output; not needed "
                      "when BatchNorm follows, since it subtracts the mean anyway",
                      title="use bias")


def _rate(what: str) -> ParamSpec:
    return ParamSpec("rate", FLOAT, 0.5, f"fraction of {what} set to zero at random in training "
                     "(the rest are scaled up by 1/(1-rate)); nothing is dropped in evaluation",
                     0.0, 1.0, exclusive_max=True)


# --- arrays shared between types --------------------------------------------------------------

def _bias(outputs: str) -> ArrayDecl:
    """One learned constant per output, present only when ``use_bias`` is on."""
    return ArrayDecl("bias", lambda p, s: (p[outputs],), init=INIT_ZEROS,
                     present=lambda p: p["use_bias"])


def _per_channel(name: str, init: str, trainable: bool = True) -> ArrayDecl:
    return ArrayDecl(name, lambda p, s: (s[0],), trainable=trainable, init=init)


#: Conv weight [filters, C_in / groups, Fh, Fw] (PyTorch's layout): a filter sees its group's
#: channels only.
_CONV_WEIGHT = ArrayDecl(
    "weight", lambda p, s: (p["filters"], s[0] // p["groups"], *pair(p["kernel_size"])),
    decayed=True)
#: Dense weight [units, N] (PyTorch's layout).
_DENSE_WEIGHT = ArrayDecl("weight", lambda p, s: (p["units"], s[0]), decayed=True)
_BATCHNORM_ARRAYS = (
    _per_channel("gamma", INIT_ONES), _per_channel("beta", INIT_ZEROS),
    _per_channel("moving_mean", INIT_ZEROS, trainable=False),
    _per_channel("moving_var", INIT_ONES, trainable=False),
)


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
    rules.input_rule, ROLE_INPUT, min_inputs=0, max_inputs=0,
    notation=lambda p: f"Input {p['channels']}x{p['height']}x{p['width']}",
    example={"channels": 2, "height": 6, "width": 5},
))
_register(LayerSpec(
    "Conv2D", "Conv2D", CONV,
    "Slides small learned filters over the image; each filter is as deep as its input and its "
    "weights are shared across every position, so it finds one pattern anywhere in the image.",
    (
        ParamSpec("filters", INT, 16, "how many filters, i.e. output channels (feature maps)",
                  1, MAX_SIZE),
        _kernel(), _stride_param(), _padding, _use_bias,
        ParamSpec("dilation", SIZE2, 1, "spacing between the filter's taps (atrous): a 3x3 "
                  "filter dilated by 2 spans 5x5 pixels with 9 weights, seeing more context for "
                  "the same cost", 1, MAX_SIZE, addition=True),
        ParamSpec("groups", INT, 1, "split input channels and filters into this many groups, "
                  "each filter seeing only its group's channels; groups = input channels is a "
                  "depthwise convolution", 1, MAX_SIZE, addition=True),
    ),
    rules.conv2d_rule, ROLE_SPATIAL_FILTER, notation=_conv_notation,
    arrays_decl=(_CONV_WEIGHT, _bias("filters")), input_rank=IMAGE,
    windows=rules.conv_windows,
    example={"filters": 6, "kernel_size": [3, 2], "stride": 2, "padding": "same",
             "dilation": [2, 1], "groups": 2},
))
for _name, _title, _short, _reduction, _help, _example in (
    ("MaxPool2D", "MaxPool2D", "MaxPool", "max", "Keeps the largest value in each window: a "
     "summary of whether a feature is present nearby, which shrinks the map and adds some shift "
     "tolerance.", {"pool_size": 3, "stride": 2, "padding": "same"}),
    ("AvgPool2D", "AvgPool2D", "AvgPool", "average", "Averages each window (padding is not "
     "counted in the average): a smoother way to shrink the map than max pooling.",
     {"pool_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}),
):
    _register(LayerSpec(
        _name, _title, POOL, _help,
        (
            ParamSpec("pool_size", SIZE2, 2, "the window's height and width", 1, MAX_SIZE,
                      title="pool size"),
            _stride_param(optional=True), _padding,
            ParamSpec("ceil_mode", BOOL, False, "round the output size up instead of down, as "
                      "PyTorch's ceil_mode: a last window may hang over the edge (one that "
                      "would start in the right padding is dropped)", title="ceil mode",
                      addition=True),
        ),
        rules.pool_rule, ROLE_POOLING, notation=_pool_notation(_short), input_rank=IMAGE,
        reduction=_reduction, windows=rules.pool_windows, example=_example,
    ))
_register(LayerSpec(
    "GlobalAvgPool2D", "GlobalAvgPool2D", POOL,
    "Averages each whole feature map to one number: C maps become a vector of C, with no weights "
    "and any image size. The usual way to end a modern CNN before its classifier.",
    (), rules.global_pool_rule, ROLE_POOLING, notation=lambda p: "GlobalAvgPool",
    input_rank=IMAGE, reduction="average",
))
_register(LayerSpec(
    "GlobalMaxPool2D", "GlobalMaxPool2D", POOL,
    "Takes the maximum of each whole feature map: 'is this feature anywhere in the image?'",
    (), rules.global_pool_rule, ROLE_POOLING, notation=lambda p: "GlobalMaxPool",
    input_rank=IMAGE, reduction="max",
))
_register(LayerSpec(
    "Flatten", "Flatten", DENSE,
    "Unrolls C x H x W feature maps into one vector (channel by channel, row by row) so Dense "
    "layers can follow.",
    (), rules.flatten_rule, ROLE_RESHAPE, notation=lambda p: "Flatten", input_rank=IMAGE,
))
_register(LayerSpec(
    "ZeroPadding2D", "ZeroPadding2D", CONV,
    "Adds rows and columns of zeros around every feature map, so a following layer can use "
    "\"valid\" windows and still keep (or choose) the size.",
    (ParamSpec("padding", SIDES, 1, "zeros added: one number for every side, h,w (top and "
               "bottom, left and right) or top,bottom,left,right", 0, MAX_SIZE),),
    rules.zero_padding_rule, ROLE_RESHAPE, notation=lambda p: f"ZeroPad {_sides(p['padding'])}",
    input_rank=IMAGE, example={"padding": [1, 2, 0, 3]},
))
_register(LayerSpec(
    "UpSampling2D", "UpSampling2D", CONV,
    "Enlarges every feature map by a whole factor, repeating pixels (nearest) or blending "
    "neighbours (bilinear): how decoders and segmentation nets get back to full size.",
    (
        ParamSpec("scale", SIZE2, 2, "how many times taller and wider the maps become", 1, 64),
        ParamSpec("mode", CHOICE, "nearest", "\"nearest\" repeats each pixel, \"bilinear\" "
                  "blends the two nearest pixels per axis (align_corners false, as PyTorch and "
                  "Keras)", choices=("nearest", "bilinear")),
    ),
    rules.upsampling_rule, ROLE_RESHAPE,
    notation=lambda p: f"UpSample {_size(p['scale'])} {p['mode']}", input_rank=IMAGE,
    example={"scale": [2, 3], "mode": "bilinear"},
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
    rules.dense_rule, ROLE_FULLY_CONNECTED, notation=lambda p: f"Dense {p['units']}",
    arrays_decl=(_DENSE_WEIGHT, _bias("units")), input_rank=FLAT, example={"units": 4},
))
for _name, _help, _rectifier in (
    ("ReLU", "max(0, x): keeps positive responses and zeroes the rest; cheap and the default.",
     True),
    ("Sigmoid", "1 / (1 + e^-x): squashes to (0, 1); saturates, so deep stacks learn slowly.",
     False),
    ("Tanh", "Squashes to (-1, 1), centred on 0; saturates like Sigmoid.", False),
    ("ReLU6", "min(max(0, x), 6): ReLU capped at 6, so activations stay small enough for "
     "low-precision phones (MobileNet's choice).", True),
    ("SiLU", "x * sigmoid(x) (swish): a smooth ReLU that lets small negatives through; "
     "EfficientNet's choice.", True),
    ("Hardswish", "x * relu6(x + 3) / 6: a cheap, piecewise approximation of SiLU (MobileNetV3).",
     True),
    ("Hardsigmoid", "relu6(x + 3) / 6: a cheap, piecewise Sigmoid, 0 below -3 and 1 above 3; "
     "used to gate channels in MobileNetV3's squeeze-and-excitation.", False),
):
    _register(LayerSpec(_name, _name, ACTIVATION, _help, (), rules.same_shape_rule,
                        ROLE_ACTIVATION, notation=lambda p, n=_name: n, rectifier=_rectifier))
_register(LayerSpec(
    "LeakyReLU", "LeakyReLU", ACTIVATION,
    "Like ReLU but lets a small slope (alpha) through for negative inputs, so units never die.",
    (ParamSpec("alpha", FLOAT, 0.01, "slope for negative inputs", 0.0, 1.0),),
    rules.same_shape_rule, ROLE_ACTIVATION, notation=lambda p: f"LeakyReLU {p['alpha']:g}",
    rectifier=True, example={"alpha": 0.1},
))
_register(LayerSpec(
    "ELU", "ELU", ACTIVATION,
    "x for positive inputs, alpha * (e^x - 1) below: smooth, with negative outputs that pull the "
    "mean activation towards zero.",
    (ParamSpec("alpha", FLOAT, 1.0, "the value negative inputs saturate to is -alpha", 0.0,
               100.0),),
    rules.same_shape_rule, ROLE_ACTIVATION, notation=lambda p: f"ELU {p['alpha']:g}",
    rectifier=True, example={"alpha": 0.7},
))
_register(LayerSpec(
    "GELU", "GELU", ACTIVATION,
    "x * P(X <= x) for a standard normal X: weighs each input by how likely it is to be kept; "
    "the transformers' and ConvNeXt's activation.",
    (ParamSpec("approximate", CHOICE, "none", "\"none\" computes the normal distribution "
               "exactly, \"tanh\" uses the faster tanh formula (PyTorch's names)",
               choices=("none", "tanh")),),
    rules.same_shape_rule, ROLE_ACTIVATION,
    notation=lambda p: "GELU" if p["approximate"] == "none" else "GELU tanh",
    rectifier=True, example={"approximate": "tanh"},
))
_register(LayerSpec(
    "Softmax", "Softmax", ACTIVATION,
    "Turns a vector of scores into probabilities that sum to 1; belongs at the very end.",
    (), rules.same_shape_rule, ROLE_ACTIVATION, notation=lambda p: "Softmax", input_rank=FLAT,
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
    rules.same_shape_rule, ROLE_NORMALISATION, notation=lambda p: "BatchNorm",
    arrays_decl=_BATCHNORM_ARRAYS, example={"momentum": 0.8, "epsilon": 1e-3},
))
_register(LayerSpec(
    "GroupNorm", "GroupNorm", NORM,
    "Normalises each image on its own: its channels split into groups, each group to zero mean "
    "and unit variance over its channels and positions, then a learned scale and shift per "
    "channel. Independent of the batch, so it works with batches of 1.",
    (
        ParamSpec("groups", INT, 32, "how many groups the channels are split into (it must "
                  "divide them): 1 is a layer norm over C, H, W; one per channel is an instance "
                  "norm", 1, MAX_SIZE),
        ParamSpec("epsilon", FLOAT, 1e-5, "added to the variance so it never divides by zero",
                  0.0, 1.0, exclusive_min=True),
    ),
    rules.groupnorm_rule, ROLE_NORMALISATION,
    notation=lambda p: f"GroupNorm {p['groups']}",
    arrays_decl=_BATCHNORM_ARRAYS[:2], input_rank=IMAGE, example={"groups": 2, "epsilon": 1e-3},
))
_register(LayerSpec(
    "Dropout", "Dropout", NORM,
    "In training, zeroes single units at random so the network cannot rely on any one of them.",
    (_rate("units"),), rules.same_shape_rule, ROLE_REGULARISATION,
    notation=lambda p: f"Dropout {p['rate']:g}", example={"rate": 0.3},
))
_register(LayerSpec(
    "SpatialDropout2D", "SpatialDropout2D", NORM,
    "In training, zeroes whole feature maps at random: neighbouring pixels are so correlated "
    "that dropping single ones teaches little.",
    (_rate("feature maps (channels)"),), rules.same_shape_rule, ROLE_REGULARISATION,
    notation=lambda p: f"SpatialDropout {p['rate']:g}", input_rank=IMAGE, example={"rate": 0.3},
))
_register(LayerSpec(
    "Add", "Add", MERGE,
    "Adds its inputs element by element (a residual or skip connection); they must have the "
    "same shape.",
    (), rules.add_rule, ROLE_MERGE, min_inputs=2, max_inputs=None, notation=lambda p: "Add",
))
_register(LayerSpec(
    "Multiply", "Multiply", MERGE,
    "Multiplies its two inputs element by element, or scales each channel of an image by one "
    "number from a [C] vector: the last step of a squeeze-and-excitation block.",
    (), rules.multiply_rule, ROLE_MERGE, min_inputs=2, max_inputs=2,
    notation=lambda p: "Multiply",
))
_register(LayerSpec(
    "Concatenate", "Concatenate", MERGE,
    "Stacks its inputs along the channel axis; their other dimensions must agree.",
    (), rules.concatenate_rule, ROLE_MERGE, min_inputs=2, max_inputs=None,
    notation=lambda p: "Concatenate",
))


@dataclass(frozen=True, slots=True)
class Preset:
    """A palette entry that adds a catalogue type already configured (it is not a type: the
    model file records the type and its params). ``params`` gets the shape of the layer's first
    input, or None when it is added unconnected."""

    name: str
    type: str
    description: str
    params: Callable[[Shape | None], dict[str, Any]]


def _depthwise_params(shape: Shape | None) -> dict[str, Any]:
    base: dict[str, Any] = {"kernel_size": 3, "padding": "same", "use_bias": False}
    if shape is None or len(shape) != 3:
        return base
    return {**base, "filters": shape[0], "groups": shape[0]}


#: Palette presets by name.
PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("DepthwiseConv2D", "Conv2D",
           "A Conv2D with groups = input channels (and as many filters): one 3x3 filter per "
           "channel, no mixing between channels; follow it with a 1x1 Conv2D to mix them (a "
           "depthwise-separable convolution, MobileNet's building block).",
           _depthwise_params),
)}


def resolve_entry(name: str, input_shape: Shape | None = None) -> tuple[str, dict[str, Any]]:
    """A palette name (a type or a preset) -> (type, params) for a layer fed ``input_shape``."""
    if name in PRESETS:
        preset = PRESETS[name]
        return preset.type, preset.params(input_shape)
    return layer_spec(name).type, {}


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
