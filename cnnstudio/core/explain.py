"""What a layer computes, written out with the user's own numbers.

A student learns "out = floor((N + 2P - F) / S) + 1" by seeing it filled in for the layer they just
edited, next to why the parameter count is so small (weight sharing) and what a Dense layer would
cost instead. The text is plain data (sections of prose and formula lines) so the GUI inspector,
the CLI and exporters can all show it; the inspector sets formulas in monospace, prose not.

All numbers come from the validator's LayerReport (which got them from core.shapes), so the
explanation can never disagree with the canvas: this module only writes the arithmetic out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnnstudio.core.catalogue import ROLE_ACTIVATION, layer_spec
from cnnstudio.core.graph import Layer
from cnnstudio.core.rules import fmt_shape, pad_text
from cnnstudio.core.shapes import AxisWindow, pad_sides, pair
from cnnstudio.core.validator import LayerReport

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an explanation; ``formula`` lines are arithmetic (set in monospace)."""

    text: str
    formula: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    lines: tuple[Line, ...]


def _f(text: str) -> Line:
    return Line(text, formula=True)


def _p(text: str) -> Line:
    return Line(text)


def _n(value: int) -> str:
    """Results with thousands separators; operands stay bare so the formula reads as arithmetic."""
    return f"{value:,}"


def _prod(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _times(shape: Shape) -> str:
    return "*".join(str(d) for d in shape)


# --- sections shared by several layer types ---------------------------------------------------

_AXES = (("H", "height", "top", "bottom"), ("W", "width", "left", "right"))


def _axis_formula(ax: AxisWindow, ceil: bool = False) -> str:
    if not ceil:
        return f"floor(({ax.n} + {pad_text(ax)} - {ax.f}) / {ax.s}) + 1 = {ax.out}"
    raw = -(-ax.span // ax.s) + 1
    dropped = f" - 1 (its last window would start in the padding) = {ax.out}" \
        if raw != ax.out else ""
    return f"ceil(({ax.n} + {pad_text(ax)} - {ax.f}) / {ax.s}) + 1 = {raw}{dropped}"


def _same_split(label: str, ax: AxisWindow, before: str, after: str) -> list[Line]:
    """How "same" picks its padding: the output is ceil(N / S), the odd pixel goes after."""
    out = -(-ax.n // ax.s)
    return [
        _f(f"{label} same: out = ceil({ax.n} / {ax.s}) = {out}"),
        _f(f"{label} pad = max(({out} - 1)*{ax.s} + {ax.f} - {ax.n}, 0) = {ax.pad_total}: "
           f"{ax.pad_before} {before}, {ax.pad_after} {after}"),
    ]


def _remainder_text(ax: AxisWindow, name: str, unit: str) -> str:
    """What flooring costs on one axis: real rows (the validator warns), or only padding or rows
    the stride skips anyway (no warning, so the explanation is where the user learns of it)."""
    head = (f"The window does not tile the {name}: the last {ax.remainder} {unit}(s) of the "
            "padded input are skipped")
    lost = ax.floored_away
    if lost:
        return f"{head}, so input {unit}(s) {', '.join(map(str, lost))} are never seen."
    if any(0 <= i < ax.n for i in range(ax.n + ax.pad_after - ax.remainder, ax.n)):
        return (f"{head}; the stride ({ax.s}) is larger than the window ({ax.f}), so it skips "
                f"{unit}s between windows anyway: nothing more of the image is lost.")
    return f"{head}; they are unused padding, so nothing of the image is lost."


def _output_section(axes: tuple[AxisWindow, AxisWindow], channels: int,
                    what: str, ceil: bool = False, before_formula: tuple[Line, ...] = ()
                    ) -> Section:
    """Output size per axis, with the "same" padding split and any untiled remainder;
    ``ceil`` for pooling's ceil_mode (the output rounded up, as PyTorch)."""
    rounding = "ceil" if ceil else "floor"
    lines = [_p(f"Per axis, with N the input size, P the padding, F the {what} and S the "
                "stride:"), *before_formula, _f(f"out = {rounding}((N + 2P - F) / S) + 1")]
    if ceil:
        lines.append(_p("ceil mode: the last window may hang over the edge (it reads only the "
                        "pixels there); one that would start in the right padding is dropped."))
    identical = axes[0] == axes[1]
    for (short, name, before, after), ax in zip(_AXES, axes, strict=True):
        label = "H, W" if identical else short
        lines.append(_f(f"{label}: {_axis_formula(ax, ceil)}"))
        if ax.same:
            lines += _same_split(label, ax, before, after)
        if ax.remainder:
            lines.append(_p(_remainder_text(ax, name, "row" if short == "H" else "column")))
        if identical:
            break
    lines.append(_p(f"Output: {channels}x{axes[0].out}x{axes[1].out} "
                    "(channels x height x width)"))
    return Section("Output size", tuple(lines))


def _rf_section(report: LayerReport, axes: tuple[AxisWindow, AxisWindow] | None,
                merge: bool = False) -> Section:
    """Receptive field; for windows, the rules r_out = r_in + (F - 1)*j_in and
    o_out = o_in - P_before*j_in filled in; for image outputs, where unit (i, j) looks."""
    rh, rw = report.receptive_field or (1, 1)
    lines = [_p(f"Each output value sees a {rh}x{rw} patch of the input image.")]
    if merge:
        lines.append(_p("A merge sees whatever any of its inputs sees: its patch is the union "
                        "of theirs, larger than each when the branches are not aligned."))
    if axes is not None and report.jump is not None and report.origin is not None:
        lines.append(_p("It grows by (F - 1) times the input's jump j, the product of the "
                        "strides so far:"))
        lines.append(_f("r_out = r_in + (F - 1)*j_in"))
        sizes, origins = [], []
        for (short, *_), ax, r, j_out, o in zip(_AXES, axes, (rh, rw), report.jump,
                                                report.origin, strict=True):
            j_in = j_out // ax.s
            r_in = r - (ax.f - 1) * j_in
            o_in = o + ax.pad_before * j_in
            sizes.append((short, f"{r_in} + ({ax.f} - 1)*{j_in} = {r}"))
            origins.append((short, f"{o_in} - {ax.pad_before}*{j_in} = {o}"))
        lines += _per_axis(sizes)
        lines.append(_p("Its origin (where value (0, 0)'s patch starts) moves back by the "
                        "padding before, in input pixels:"))
        lines.append(_f("o_out = o_in - P_before*j_in"))
        lines += _per_axis(origins)
    shape = report.output_shape
    if shape is not None and len(shape) == 3 and report.jump and report.origin:
        lines += _where_units_look(report.receptive_field or (1, 1), report.jump, report.origin)
    return Section("Receptive field", tuple(lines))


def _has_bias(layer: Layer, ins: tuple[Shape, ...]) -> bool:
    """Whether the catalogue gives this layer a bias array (the one place that decides it)."""
    return any(a.name == "bias" for a in layer.spec.arrays(layer.params, ins))


def _per_axis(steps: list[tuple[str, str]]) -> list[Line]:
    """One formula line for both axes when they agree, else one each."""
    if steps[0][1] == steps[1][1]:
        return [_f(f"H, W: {steps[0][1]}")]
    return [_f(f"{short}: {text}") for short, text in steps]


def _where_units_look(rf: tuple[int, int], jump: tuple[int, int],
                      origin: tuple[int, int]) -> list[Line]:
    """Jump and origin in words and as the box of value (i, j)."""
    (rh, rw), (jh, jw), (oh, ow) = rf, jump, origin
    apart = (f"{jh} input pixel{'s' if jh != 1 else ''}" if jh == jw
             else f"{jh} input rows and {jw} input columns")
    return [
        _p(f"Jump {jh}x{jw}: neighbouring output values look {apart} apart. Origin "
           f"({oh}, {ow}): value (0, 0) sees input rows {oh}..{oh + rh - 1} and columns "
           f"{ow}..{ow + rw - 1}" + (" (negative indices are padding)." if min(oh, ow) < 0
                                     else ".")),
        _p("Value (i, j) sees:"),
        _f(f"rows {_affine(oh, jh, 'i')} .. {_affine(oh + rh - 1, jh, 'i')}"),
        _f(f"cols {_affine(ow, jw, 'j')} .. {_affine(ow + rw - 1, jw, 'j')}"),
    ]


def _affine(start: int, step: int, var: str) -> str:
    """``-1 + 2i``, ``4 + i``, ``i`` as a person writes them."""
    term = var if step == 1 else f"{step}{var}"
    return term if start == 0 else f"{start} + {term}"


def _macs_line(formula: str, macs: int) -> Line:
    return _f(f"MACs = {formula} = {_n(macs)}")


# --- one explainer per layer type -------------------------------------------------------------

Explainer = Callable[[Layer, LayerReport, tuple[Shape, ...]], list[Section]]


def _input(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    shape = report.output_shape or ()
    return [Section("Output", (
        _f(f"C*H*W = {_times(shape)} = {_n(_prod(shape))} values per image"),
        _p("Channels first: 1 for grey images, 3 for RGB. Every later shape follows from this."),
    ))]


def _dilation_lines(p: dict, axes: tuple[AxisWindow, AxisWindow]) -> tuple[Line, ...]:
    """The dilated kernel's span, F = D*(K - 1) + 1, with the user's numbers."""
    (kh, kw), (dh, dw) = pair(p["kernel_size"]), pair(p["dilation"])
    if (dh, dw) == (1, 1):
        return ()
    spans = [f"{d}*({k} - 1) + 1 = {ax.f}" for k, d, ax in zip((kh, kw), (dh, dw), axes,
                                                                strict=True)]
    text = (f"H, W: F = {spans[0]}" if spans[0] == spans[1]
            else f"H: F = {spans[0]}    W: F = {spans[1]}")
    return (_p(f"Dilation {dh}x{dw} spreads the {kh}x{kw} taps apart (atrous), so the kernel "
               f"spans F = D*(K - 1) + 1 pixels with the same {kh * kw} weights per channel:"),
            _f(text))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _group_lines(p: dict, c: int, params: int, has_bias: bool) -> list[Line]:
    """What groups do to a conv, and what they save against a full convolution."""
    g, k = p["groups"], p["filters"]
    fh, fw = pair(p["kernel_size"])
    if g == 1:
        return [_p(f"Each filter is {fh}x{fw}x{c}: as deep as its input ({c} channel"
                   f"{'s' if c != 1 else ''}), so it mixes every channel at once.")]
    full = fh * fw * c * k + (k if has_bias else 0)
    kind = (" This is a depthwise convolution (groups = input channels): each filter sees "
            "one channel, and a 1x1 convolution after it usually mixes them (together, a "
            "depthwise-separable convolution)." if g == c else "")
    return [
        _p(f"{g} groups: the {c} input channels and {k} filters are split into {g} groups of "
           f"{_count(c // g, 'channel')} and {_count(k // g, 'filter')}; each filter sees only "
           f"its own group's channels, so each is {fh}x{fw}x{c // g}.{kind}"),
        _p(f"A full convolution (groups = 1) would need {fh}*{fw}*{c}*{k}"
           f"{f' + {k}' if has_bias else ''} = {_n(full)} parameters: "
           f"{full / params:.3g}x the {_n(params)} of this one."),
    ]


def _conv(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    p = layer.params
    c, _, _ = ins[0]
    fh, fw = pair(p["kernel_size"])
    k, g = p["filters"], p["groups"]
    depth = str(c) if g == 1 else f"({c}/{g})"
    axes = report.axes
    assert axes is not None  # the validator always tiles a conv it could compute
    ho, wo = axes[0].out, axes[1].out
    has_bias = _has_bias(layer, ins)
    bias = f" + {k}" if has_bias else ""
    params = report.trainable + report.non_trainable
    sections = [
        _output_section(axes, k, "kernel's span", before_formula=_dilation_lines(p, axes)),
        Section("Parameters", (
            _p("kernel height x kernel width x input channels"
               + (" per group" if g > 1 else "") + " x filters"
               + (" + one bias per filter" if has_bias else " (no bias)")),
            _f(f"{fh}*{fw}*{depth}*{k}{bias} = {_n(params)}"),
            *_group_lines(p, c, params, has_bias),
            _p(f"Weight sharing: the same {_n(params)} numbers are reused at all "
               f"{ho}x{wo} = {_n(ho * wo)} output positions."),
        )),
        _rf_section(report, axes),
        Section("Cost", (
            _macs_line(f"Ho*Wo*K*Fh*Fw*C{'/groups' if g > 1 else ''} = "
                       f"{ho}*{wo}*{k}*{fh}*{fw}*{depth}", report.macs),
            _p("multiply-accumulates per image"),
        )),
    ]
    if report.fc_equivalent is not None:
        fc = report.fc_equivalent
        ratio = f"{round(fc / params):,}x more than" if params else "compared with"
        sections.append(Section("Compared with Dense", (
            _p(f"A Dense layer mapping {fmt_shape(ins[0])} to {fmt_shape(report.output_shape)} "
               f"would need {_n(fc)} weights: {ratio} this conv's {_n(params)}."),
            _f(f"{_times(ins[0])} * {_times(report.output_shape or ())} = {_n(fc)}"),
        )))
    return sections


def _pool(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    p = layer.params
    c = ins[0][0]
    axes = report.axes
    assert axes is not None
    kind = "largest value" if layer.spec.reduction == "max" else "average"
    stride_note = (" The stride is empty, so it equals the pool size: windows do not overlap."
                   if p["stride"] is None else "")
    return [
        _output_section(axes, c, "pool size", ceil=p["ceil_mode"]),
        Section("What it does", (
            _p(f"No weights: keeps the {kind} of each {axes[0].f}x{axes[1].f} window, channel "
               f"by channel, so the {c} channels stay {c}.{stride_note}"),
        )),
        _rf_section(report, axes),
    ]


def _global_pool(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    c, h, w = ins[0]
    kind = "Takes the maximum of" if layer.spec.reduction == "max" else "Averages"
    return [Section("What it does", (
        _f(f"{c}x{h}x{w} -> {c}"),
        _p(f"{kind} each whole {h}x{w} map: one number per channel, no weights, and it works "
           "for any image size, unlike Flatten + Dense."),
    )), _rf_section(report, None)]


def _flatten(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    return [Section("What it does", (
        _f(f"{fmt_shape(ins[0])} -> {_times(ins[0])} = {_n(_prod(ins[0]))}"),
        _p("Unrolls the maps into one vector, channel by channel, row by row; no weights. The "
           "Dense layer after it pays for every one of these values."),
    )), _rf_section(report, None)]


def _dense(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    n = ins[0][0]
    u = layer.params["units"]
    bias = f" + {u}" if _has_bias(layer, ins) else ""
    return [
        Section("Parameters", (
            _p("inputs x units" + (" + one bias per unit" if bias else " (no bias)")),
            _f(f"{n}*{u}{bias} = {_n(report.trainable + report.non_trainable)}"),
            _p(f"Each of the {_n(u)} outputs is a weighted sum of all {_n(n)} inputs: no "
               "sharing, which is why Dense layers are cheap only on small vectors."),
        )),
        _rf_section(report, None),
        Section("Cost", (_macs_line(f"N*units = {n}*{u}", report.macs),
                         _p("multiply-accumulates per image"))),
    ]


def _activation(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    return [Section("What it does", (
        _p(f"Applied to each of the {_n(_prod(ins[0]))} values on its own: no weights, shape "
           f"unchanged ({fmt_shape(ins[0])})."),
    ))]


def _softmax(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    n = ins[0][0]
    return [Section("What it does", (
        _f("p_i = e^x_i / sum_j e^x_j"),
        _p(f"Turns {n} scores into {n} probabilities that sum to 1; no weights."),
    ))]


def _batchnorm(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    shape = ins[0]
    c = shape[0]
    where = (f"the batch and all {shape[1]}x{shape[2]} positions" if len(shape) == 3
             else "the batch")
    unit = "channel" if len(shape) == 3 else "feature"
    return [Section("Parameters", (
        _f(f"2C = 2*{c} = {_n(2 * c)} trained (gamma, beta)"),
        _f(f"2C = 2*{c} = {_n(2 * c)} moving (mean, variance; not trained)"),
        _p(f"Per {unit}: each of the {c} {unit}s is normalised with its own mean and variance "
           f"over {where}, then scaled by gamma and shifted by beta."),
    ))]


def _drop_line(layer: Layer, what: str) -> Line:
    rate = layer.params["rate"]
    scale = f"{1 / (1 - rate):.3g}"
    return _p(f"In training, {what} is zeroed with probability {rate:g} and the rest are scaled "
              f"by 1/(1 - {rate:g}) = {scale}; in evaluation nothing is dropped. No weights.")


def _groupnorm(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    c, h, w = ins[0]
    g = layer.params["groups"]
    kind = (" With one group it is a layer norm (over all of C, H, W)." if g == 1 else
            " With one group per channel it is an instance norm." if g == c else "")
    return [Section("Parameters", (
        _f(f"2C = 2*{c} = {_n(2 * c)} trained (gamma, beta); no moving statistics"),
    )), Section("What it averages over", (
        _f(f"{c} channels / {g} groups = {c // g} channels per group"),
        _p(f"For each image on its own, each group's {c // g}x{h}x{w} = "
           f"{_n(c // g * h * w)} values are normalised to zero mean and unit variance, then "
           f"each channel is scaled by gamma and shifted by beta.{kind}"),
        _p("BatchNorm instead averages each channel over the whole batch, so its statistics "
           "are noisy for small batches and it needs moving averages for evaluation; GroupNorm "
           "never looks across images, so it does not depend on the batch size and computes "
           "the same in training and evaluation."),
    ))]


def _dropout(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    lines = [_drop_line(layer, "each value")]
    if len(ins[0]) == 3:
        lines.append(_p("On feature maps, SpatialDropout2D usually helps more: neighbouring "
                        "pixels are correlated, so single dropped pixels are easy to guess."))
    return [Section("What it does", tuple(lines))]


def _spatial_dropout(layer: Layer, report: LayerReport,
                     ins: tuple[Shape, ...]) -> list[Section]:
    return [Section("What it does", (
        _drop_line(layer, f"each of the {ins[0][0]} whole maps"),
        _p("Whole channels, because neighbouring pixels are so alike that dropping single ones "
           "hides almost nothing."),
    ))]


def _add(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    return [Section("What it does", (
        _p(f"Adds its {len(ins)} inputs of shape {fmt_shape(ins[0])} element by element; no "
           "weights. A skip connection lets the signal and its gradient bypass layers."),
    )), _rf_section(report, None, merge=True)]


def _multiply(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    if ins[0] == ins[1]:
        return [Section("What it does", (
            _p(f"Multiplies its 2 inputs of shape {fmt_shape(ins[0])} element by element; no "
               "weights. One input can gate the other (values near 0 switch it off)."),
        )), _rf_section(report, None, merge=len(ins[0]) == 3)]
    image, scale = (ins[0], ins[1]) if len(ins[0]) == 3 else (ins[1], ins[0])
    c, h, w = image
    return [Section("What it does", (
        _f(f"out[c, y, x] = image[c, y, x] * weight[c]   ({c}x{h}x{w} * {c} -> {c}x{h}x{w})"),
        _p(f"Each of the {c} channels is rescaled by one weight computed from the whole image: "
           "the last step of a squeeze-and-excitation block (global pooling squeezes each map "
           "to one number, two Dense layers and a Sigmoid turn those into weights in (0, 1), "
           "and Multiply applies them), so the network can stress the channels that matter "
           "for this image and damp the others."),
        _p("No weights of its own; the receptive field is the image input's (the weights have "
           "seen the whole image already)."),
    )), _rf_section(report, None)]


def _zero_padding(layer: Layer, report: LayerReport,
                  ins: tuple[Shape, ...]) -> list[Section]:
    c, h, w = ins[0]
    top, bottom, left, right = pad_sides(layer.params["padding"])
    out = report.output_shape or ()
    return [Section("What it does", (
        _f(f"H: {h} + {top} + {bottom} = {out[1]}    W: {w} + {left} + {right} = {out[2]}"),
        _p(f"Adds {top} row(s) of zeros on top, {bottom} below, {left} column(s) on the left and "
           f"{right} on the right of each of the {c} maps; no weights. The units see what they "
           "saw before; the new border sees only padding, so the origin moves back by "
           f"{top} row(s) and {left} column(s)."),
    )), _rf_section(report, None)]


def _upsampling(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    c, h, w = ins[0]
    sh, sw = pair(layer.params["scale"])
    out = report.output_shape or ()
    how = ("repeats each pixel in a {sh}x{sw} block" if layer.params["mode"] == "nearest" else
           "blends the two nearest input pixels per axis (bilinear, align_corners false)")
    rh, rw = report.receptive_field or (1, 1)
    return [Section("What it does", (
        _f(f"H: {h}*{sh} = {out[1]}    W: {w}*{sw} = {out[2]}"),
        _p(f"Enlarges each of the {c} maps; no weights. It {how.format(sh=sh, sw=sw)}."),
    )), Section("Receptive field", (
        _p(f"Each output value sees a {rh}x{rw} patch of the input image: upsampling adds no "
           "context. A nearest value copies one input value and sees just what it saw; a "
           "bilinear value blends two neighbours, one jump apart. Neighbouring outputs are "
           "closer together (the jump is divided by the scale where it divides evenly)."),
    )), _rf_section(report, None)]




def _concat(layer: Layer, report: LayerReport, ins: tuple[Shape, ...]) -> list[Section]:
    parts = " + ".join(str(s[0]) for s in ins)
    return [Section("What it does", (
        _f(f"channels: {parts} = {report.output_shape[0] if report.output_shape else '?'}"),
        _p("Stacks its inputs along the channel axis; no weights."),
    )), _rf_section(report, None, merge=len(report.output_shape or ()) == 3)]


EXPLAINERS: dict[str, Explainer] = {
    "Input": _input,
    "Conv2D": _conv,
    "MaxPool2D": _pool,
    "AvgPool2D": _pool,
    "GlobalAvgPool2D": _global_pool,
    "GlobalMaxPool2D": _global_pool,
    "Flatten": _flatten,
    "Dense": _dense,
    "Softmax": _softmax,
    "BatchNorm": _batchnorm,
    "GroupNorm": _groupnorm,
    "Dropout": _dropout,
    "SpatialDropout2D": _spatial_dropout,
    "Add": _add,
    "Multiply": _multiply,
    "ZeroPadding2D": _zero_padding,
    "UpSampling2D": _upsampling,
    "Concatenate": _concat,
}


#: Explainers for a whole role, used when a type has none of its own: a new activation is
#: explained without touching this module.
ROLE_EXPLAINERS: dict[str, Explainer] = {
    ROLE_ACTIVATION: _activation,
}


def explainer_for(type_name: str) -> Explainer | None:
    """The type's own explainer, else its role's, else None."""
    return EXPLAINERS.get(type_name) or ROLE_EXPLAINERS.get(layer_spec(type_name).role)


def explain(layer: Layer, report: LayerReport | None) -> list[Section]:
    """Sections explaining what ``layer`` computes, numbers filled in from ``report``.

    When the shape is unknown (an error here or upstream) it says so instead of guessing: stale
    numbers would teach the wrong thing.
    """
    shape_in = report.input_shapes if report else ()
    known = (report is not None and report.output_shape is not None
             and all(s is not None for s in shape_in))
    if not known:
        return [Section("Output size", (
            _p("Unknown until the problems listed for this layer or above it are fixed."),
        ))]
    assert report is not None
    explainer = explainer_for(layer.type)
    sections = explainer(layer, report, shape_in) if explainer else []  # type: ignore[arg-type]
    if not layer.trainable and layer.spec.arrays_decl:
        sections.append(Section("Frozen", (
            _p("Its weights are not updated in training (transfer learning keeps what they "
               "learned)."),
        )))
    return sections


def explain_text(layer: Layer, report: LayerReport | None) -> str:
    """The explanation as plain text (CLI, tests, clipboard)."""
    out = []
    for section in explain(layer, report):
        out.append(f"{section.title}:")
        out += [f"  {line.text}" for line in section.lines]
    return "\n".join(out)
