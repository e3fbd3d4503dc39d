"""Per-layer-type rules: output shape, parameter counts, MACs and receptive field.

Each rule is a pure function of the layer's effective params (defaults filled in, a pool's empty
stride already its size) and what flows into it. The validator calls them, through
``LayerSpec.apply``, in topological order, after the input's rank was checked against the spec
and before parameter counts are added from the arrays the spec says the layer owns: a rule
computes only the output shape, MACs, receptive field and tiling. Messages state the rule and the
numbers received, so a student can see why ("(10 + 2*0 - 12)/1 + 1 = -1 < 1").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from typing import Any

from cnnstudio.core.receptive import Field, union
from cnnstudio.core.shapes import AxisWindow, dilated_extent, pad_sides, pair, window_2d

Shape = tuple[int, ...]
Params = Mapping[str, Any]

# The rank of input a layer needs (the catalogue's ``input_rank``).
IMAGE, FLAT, ANY_RANK = "image", "flat", "any"

# Fix hints the GUI turns into one-click, undoable repairs.
FIX_INSERT_FLATTEN = "insert_flatten"
FIX_PADDING_SAME = "set_padding_same"
FIX_SHRINK_POOL = "shrink_pool"
FIX_CONNECT_PREVIOUS = "connect_previous"
FIX_INSERT_RELU = "insert_relu"
FIX_REMOVE_BRIDGED = "remove_bridged"


class LayerProblem(Exception):
    """An error that stops this layer's shape from being computed."""

    def __init__(self, code: str, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix


@dataclass(frozen=True, slots=True)
class Incoming:
    """What one input edge brings: the tensor shape and the receptive field so far."""

    shape: Shape
    field: Field = Field()


@dataclass(frozen=True, slots=True)
class RuleInput:
    params: Mapping[str, Any]
    inputs: tuple[Incoming, ...]

    @property
    def first(self) -> Incoming:
        return self.inputs[0]


@dataclass(slots=True)
class RuleOutput:
    shape: Shape
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    #: Receptive field (size, jump, origin per axis) of this layer's units in input pixels.
    field: Field = Field()
    #: Conv and pooling: the per-axis tiling, from which the inspector shows the formula.
    axes: tuple[AxisWindow, AxisWindow] | None = None
    #: Conv2D: weights a Dense layer mapping the same input to the same output would need.
    fc_equivalent: int | None = None
    #: (code, message) pairs.
    warnings: list[tuple[str, str]] = dataclass_field(default_factory=list)


def fmt_shape(shape: Shape | None) -> str:
    """``(16, 32, 32)`` -> ``16x32x32``; ``(120,)`` -> ``120``; unknown -> ``?``."""
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape)


def _prod(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def check_rank(rank: str, shape: Shape) -> None:
    """Raise wrong_rank when ``shape`` is not the rank (IMAGE, FLAT, ANY_RANK) a layer needs."""
    if rank == IMAGE:
        _need_image(shape)
    elif rank == FLAT:
        _need_flat(shape)


def _need_image(shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise LayerProblem(
            "wrong_rank",
            f"needs an image [C, H, W] but receives a flat vector of {fmt_shape(shape)}; "
            "convolution and pooling slide over height and width, so put them before Flatten",
        )
    return shape  # type: ignore[return-value]


def _need_flat(shape: Shape) -> int:
    if len(shape) != 1:
        raise LayerProblem(
            "wrong_rank",
            f"needs a flat vector but receives {fmt_shape(shape)} feature maps; insert "
            "Flatten or GlobalAvgPool2D before it",
            FIX_INSERT_FLATTEN,
        )
    return shape[0]


_AXIS = ("height", "width")


def conv_windows(params: Params, hw: tuple[int, int]) -> tuple[AxisWindow, AxisWindow]:
    """A convolution's tiling of an ``(H, W)`` input (the catalogue's ``windows`` for Conv2D):
    windows of the dilated kernel's extent ``D*(F-1)+1``."""
    extent = dilated_extent(params["kernel_size"], params["dilation"])
    return _windows(hw[0], hw[1], extent, params["stride"], params["padding"])


def pool_windows(params: Params, hw: tuple[int, int]) -> tuple[AxisWindow, AxisWindow]:
    """A pooling window's tiling of an ``(H, W)`` input; ``stride`` is the effective one."""
    return _windows(hw[0], hw[1], params["pool_size"], params["stride"], params["padding"],
                    params["ceil_mode"])


def _tile(rin: RuleInput, windows: Any, fix: str, noun: str) -> tuple[AxisWindow, AxisWindow]:
    """Tile both axes with ``windows(params, (H, W))``; raise kernel_too_large if it does not
    fit."""
    c, h, w = _need_image(rin.first.shape)
    axes = windows(rin.params, (h, w))
    for name, ax in zip(_AXIS, axes, strict=True):
        if ax.span < 0:
            raw = (ax.n + ax.pad_total - ax.f) / ax.s + 1
            fh, fw = axes[0].f, axes[1].f
            raise LayerProblem(
                "kernel_too_large",
                f"output {name} ({ax.n} + {pad_text(ax)} - {ax.f})/{ax.s} + 1 = {raw:g} < 1: "
                f"the {fh}x{fw} {noun} is larger than the {h}x{w} input"
                + (f" padded to {ax.n + ax.pad_total}" if ax.pad_total else ""),
                fix,
            )
    return axes


def _frozen(value: Any) -> Any:
    """A list param (``[3, 5]``) as a tuple, so the window memo can key on it."""
    return tuple(value) if isinstance(value, list) else value


def _windows(h: int, w: int, kernel: Any, stride: Any, padding: Any, ceil_mode: bool = False
             ) -> tuple[AxisWindow, AxisWindow]:
    """``window_2d`` through a memo: the validator runs on every edit, and the same few windows
    recur all over a model (building the two AxisWindows is most of a conv layer's cost)."""
    try:
        return _windows_memo(h, w, _frozen(kernel), _frozen(stride), _frozen(padding),
                             ceil_mode)
    except TypeError:  # an unhashable value the catalogue let through: compute directly
        return window_2d((h, w), kernel, stride, padding, ceil_mode)


@lru_cache(maxsize=1024)
def _windows_memo(h: int, w: int, kernel: Any, stride: Any, padding: Any, ceil_mode: bool
                  ) -> tuple[AxisWindow, AxisWindow]:
    return window_2d((h, w), kernel, stride, padding, ceil_mode)


def pad_text(ax: AxisWindow) -> str:
    if ax.pad_before == ax.pad_after:
        return f"2*{ax.pad_before}"
    return f"{ax.pad_before}+{ax.pad_after}"


def fractional_warnings(axes: tuple[AxisWindow, AxisWindow]) -> list[tuple[str, str]]:
    """Warn when flooring the output loses real input rows/columns, naming them. When only padding
    (or rows the stride skips anyway) is left over, nothing of the image is lost: no warning, the
    layer's explanation says so (spec, "Arithmetic")."""
    out = []
    for name, unit, ax in zip(_AXIS, ("row", "column"), axes, strict=True):
        lost_rows = ax.floored_away
        if not lost_rows:
            continue
        idx = ", ".join(str(i) for i in lost_rows)
        many = len(lost_rows) > 1
        lost = f"input {unit}{'s' if many else ''} {idx} {'are' if many else 'is'} never covered"
        out.append((
            "fractional_tiling",
            f"{name}: ({ax.n} + {pad_text(ax)} - {ax.f})/{ax.s} = {ax.span / ax.s:g} is not whole, "
            f"so the output is floored to {ax.out}; {lost}",
        ))
    return out


def input_rule(rin: RuleInput) -> RuleOutput:
    p = rin.params
    return RuleOutput(shape=(p["channels"], p["height"], p["width"]))


def _check_groups(groups: int, counts: Mapping[str, int]) -> None:
    """Groups must divide every count (channels, filters): each group gets an equal share."""
    if groups == 1:
        return
    bad = {what: n for what, n in counts.items() if n % groups}
    if bad:
        listed = " and ".join(f"the {what} ({n})" for what, n in bad.items())
        raise LayerProblem(
            "groups_mismatch",
            f"groups = {groups} must divide {listed}: every group needs the same number; "
            "try a divisor, or groups = 1",
        )


def groupnorm_rule(rin: RuleInput) -> RuleOutput:
    """Same shape; the channels split into ``groups`` equal runs."""
    _check_groups(rin.params["groups"], {"channels": rin.first.shape[0]})
    return same_shape_rule(rin)


def conv2d_rule(rin: RuleInput) -> RuleOutput:
    p = rin.params
    c = rin.first.shape[0]
    k, g = p["filters"], p["groups"]
    _check_groups(g, {"input channels": c, "filters": k})
    axes = _tile(rin, conv_windows, FIX_PADDING_SAME, "filter")
    fh, fw = pair(p["kernel_size"])
    ho, wo = axes[0].out, axes[1].out
    return RuleOutput(
        shape=(k, ho, wo),
        macs=ho * wo * k * fh * fw * (c // g),
        field=rin.first.field.grow(axes), axes=axes,
        fc_equivalent=_prod(rin.first.shape) * k * ho * wo,
        warnings=fractional_warnings(axes),
    )


def pool_rule(rin: RuleInput) -> RuleOutput:
    axes = _tile(rin, pool_windows, FIX_SHRINK_POOL, "pooling window")
    c = rin.first.shape[0]
    return RuleOutput(shape=(c, axes[0].out, axes[1].out), field=rin.first.field.grow(axes),
                      axes=axes,
                      warnings=fractional_warnings(axes))


def _whole_map_field(rin: RuleInput) -> Field:
    """A unit that sees the whole map: as if a window the size of the map slid once."""
    shape = rin.first.shape
    if len(shape) != 3:
        return rin.first.field
    return rin.first.field.whole_map((shape[1], shape[2]))


def global_pool_rule(rin: RuleInput) -> RuleOutput:
    c = rin.first.shape[0]
    return RuleOutput(shape=(c,), field=_whole_map_field(rin))


def flatten_rule(rin: RuleInput) -> RuleOutput:
    shape = rin.first.shape
    return RuleOutput(shape=(_prod(shape),), field=_whole_map_field(rin))


def dense_rule(rin: RuleInput) -> RuleOutput:
    n = rin.first.shape[0]
    u = rin.params["units"]
    return RuleOutput(shape=(u,), macs=n * u, field=rin.first.field)


def same_shape_rule(rin: RuleInput) -> RuleOutput:
    return RuleOutput(shape=rin.first.shape, field=rin.first.field)


def _merged_field(rin: RuleInput, shape: Shape) -> Field:
    """Merges see the union of their inputs' boxes (see receptive.union)."""
    hw = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
    return union([i.field for i in rin.inputs], hw)


def add_rule(rin: RuleInput) -> RuleOutput:
    shapes = [i.shape for i in rin.inputs]
    if any(s != shapes[0] for s in shapes):
        listed = ", ".join(fmt_shape(s) for s in shapes)
        raise LayerProblem(
            "shape_mismatch",
            f"needs inputs of one shape, got {listed}; match them with a 1x1 Conv2D "
            "(channels) or a strided layer (height and width)",
        )
    return RuleOutput(shape=shapes[0], field=_merged_field(rin, shapes[0]))


def concatenate_rule(rin: RuleInput) -> RuleOutput:
    shapes = [i.shape for i in rin.inputs]
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1 or (shapes[0] and any(s[1:] != shapes[0][1:] for s in shapes)):
        listed = ", ".join(fmt_shape(s) for s in shapes)
        raise LayerProblem(
            "concat_mismatch",
            f"stacks along channels, so every other dimension must agree; got {listed}",
        )
    shape = (sum(s[0] for s in shapes), *shapes[0][1:])
    return RuleOutput(shape=shape, field=_merged_field(rin, shape))


def multiply_rule(rin: RuleInput) -> RuleOutput:
    """Same-shape inputs multiply element by element; an image [C, H, W] and a [C] vector (in
    either order) scale each channel. The output and its receptive field are the image's: the
    [C] input was computed from the whole image already."""
    a, b = rin.inputs
    if a.shape == b.shape:
        return RuleOutput(shape=a.shape, field=_merged_field(rin, a.shape))
    for image, scale in ((a, b), (b, a)):
        if len(image.shape) == 3 and scale.shape == image.shape[:1]:
            return RuleOutput(shape=image.shape, field=image.field)
    raise LayerProblem(
        "shape_mismatch",
        f"multiplies inputs of one shape, or an image [C, H, W] by a [C] vector of per-channel "
        f"weights; got {fmt_shape(a.shape)} and {fmt_shape(b.shape)}",
    )


def zero_padding_rule(rin: RuleInput) -> RuleOutput:
    """[C, H, W] -> [C, H + top + bottom, W + left + right]. Units see what they saw; unit 0 is
    now a padding one, so the origin moves back by top (left) jumps."""
    c, h, w = rin.first.shape
    top, bottom, left, right = pad_sides(rin.params["padding"])
    f = rin.first.field
    return RuleOutput(shape=(c, h + top + bottom, w + left + right),
                      field=Field(f.size, f.jump, (f.origin[0] - top * f.jump[0],
                                                   f.origin[1] - left * f.jump[1])))


def upsampling_rule(rin: RuleInput) -> RuleOutput:
    """[C, H, W] -> [C, H*sh, W*sw]. Upsampling adds no context: a nearest unit copies one
    input unit and sees exactly its box; a bilinear unit blends two neighbouring units, one jump
    apart, so its box is one jump larger. Unit 0 sees what input unit 0 sees (same origin).
    Units are s times denser: the jump is divided by s where s divides it; otherwise the
    input's jump is kept, so the layers after are given boxes that are never too small."""
    c, h, w = rin.first.shape
    scale = pair(rin.params["scale"])
    blend = rin.params["mode"] == "bilinear"
    f = rin.first.field
    size = tuple(r + (j if blend and s > 1 else 0) for r, j, s in zip(f.size, f.jump, scale,
                                                                       strict=True))
    jump = tuple(j // s if j % s == 0 else j for j, s in zip(f.jump, scale, strict=True))
    return RuleOutput(shape=(c, h * scale[0], w * scale[1]),
                      field=Field(size, jump, f.origin))  # type: ignore[arg-type]
