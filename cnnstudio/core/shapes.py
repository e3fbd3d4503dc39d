"""Pure shape arithmetic shared by the validator, the engine and the exporters.

One place computes how a sliding window (convolution or pooling) maps an input size to an output
size, so the validator's numbers, the engine's arrays and the exported code can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Padding = str | int | tuple[int, int] | list[int]


@dataclass(frozen=True, slots=True)
class AxisWindow:
    """How one spatial axis is tiled by a window: the numbers behind the output-size formula.

    ``pad_before``/``pad_after`` are the resolved padding (asymmetric for "same" with an even
    total, the odd pixel going after, i.e. bottom/right). ``remainder`` is
    ``(n + pad_total - f) % s``: when it is not 0 the window does not tile the input and the last
    ``remainder`` rows/columns of the padded input are never covered.
    """

    n: int
    f: int
    s: int
    pad_before: int
    pad_after: int
    out: int
    same: bool

    @property
    def pad_total(self) -> int:
        return self.pad_before + self.pad_after

    @property
    def span(self) -> int:
        """``n + pad_total - f``: how far the window can travel."""
        return self.n + self.pad_total - self.f

    @property
    def remainder(self) -> int:
        """Trailing padded rows/columns no window reaches: ``span % s`` when the output is
        floored; 0 with ``ceil_mode``, whose last window may hang over the edge instead."""
        if self.span < 0 or self.out < 1:
            return 0
        return max(self.n + self.pad_total - ((self.out - 1) * self.s + self.f), 0)

    @property
    def uncovered(self) -> tuple[int, ...]:
        """Indices (in input coordinates, may be padding: <0 or >=n) never covered: the trailing
        ``remainder`` ones, plus the gaps between windows when the stride exceeds the window."""
        r = self.remainder
        last = self.n + self.pad_after  # one past the last padded index
        trailing = tuple(range(last - r, last))
        if self.s <= self.f or self.out <= 0:
            return trailing
        gaps = tuple(i - self.pad_before for o in range(self.out - 1)
                     for i in range(o * self.s + self.f, (o + 1) * self.s))
        return gaps + trailing

    @property
    def floored_away(self) -> tuple[int, ...]:
        """Real rows/columns lost because the output is floored: those the dropped last window
        would have reached. Trailing padding is not lost, and neither are rows a stride larger
        than the window skips anyway (ResNet's 1x1 stride-2 projections read every other row by
        design, so on an even input their last row is one of those)."""
        if not self.remainder:
            return ()
        last_covered = (self.out - 1) * self.s + self.f - 1 - self.pad_before
        dropped_start = self.out * self.s - self.pad_before
        return tuple(range(max(dropped_start, last_covered + 1, 0), self.n))

    @property
    def uncovered_real(self) -> tuple[int, ...]:
        """Real input rows/columns (not padding) that no window position covers."""
        return tuple(i for i in self.uncovered if 0 <= i < self.n)


def pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``[3, 5]`` -> ``(3, 5)``: kernel, stride and pool sizes per axis."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def same_padding(n: int, f: int, s: int) -> tuple[int, int]:
    """TensorFlow/Keras "same": output ``ceil(n / s)``; odd pixel of padding at the bottom/right."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + f - n, 0)
    return total // 2, total - total // 2


def axis_padding(padding: Padding, axis: int, n: int, f: int, s: int) -> tuple[int, int, bool]:
    """Resolve one axis (0 = height, 1 = width) of a padding param to ``(before, after, same)``."""
    if isinstance(padding, str):
        if padding == "same":
            return (*same_padding(n, f, s), True)
        if padding == "valid":
            return 0, 0, False
        raise ValueError(f"unknown padding {padding!r}")
    p = pair(padding)[axis]
    return p, p, False


def window_axis(n: int, f: int, s: int, padding: Padding, axis: int,
                ceil_mode: bool = False) -> AxisWindow:
    """Tile one axis: ``out = floor((n + 2p - f) / s) + 1`` (may be < 1: the caller reports it).

    ``ceil_mode`` (pooling, as PyTorch): ``out = ceil((n + 2p - f) / s) + 1``, the last window
    hanging over the edge, except that a last window starting in the right padding is dropped.
    ``f`` is the extent of the window: ``d*(F-1)+1`` for a kernel of F taps dilated by d.
    """
    before, after, same = axis_padding(padding, axis, n, f, s)
    span = n + before + after - f
    out = span // s + 1 if span >= 0 else 0
    if ceil_mode and span >= 0:
        out = -(-span // s) + 1
        if (out - 1) * s >= n + before:
            out -= 1
    return AxisWindow(n=n, f=f, s=s, pad_before=before, pad_after=after, out=out, same=same)


def window_2d(
    hw: tuple[int, int],
    kernel: int | tuple[int, int] | list[int],
    stride: int | tuple[int, int] | list[int],
    padding: Padding,
    ceil_mode: bool = False,
) -> tuple[AxisWindow, AxisWindow]:
    """Both spatial axes of a convolution or pooling window over an ``(H, W)`` input;
    ``kernel`` is the window's extent (a dilated kernel's span)."""
    fh, fw = pair(kernel)
    sh, sw = pair(stride)
    return (
        window_axis(hw[0], fh, sh, padding, 0, ceil_mode),
        window_axis(hw[1], fw, sw, padding, 1, ceil_mode),
    )


def dilated_extent(kernel: int | tuple[int, int] | list[int],
                   dilation: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``D*(F-1)+1`` per axis: the pixels a kernel of F taps spaced D apart spans."""
    if dilation == 1:
        return kernel  # type: ignore[return-value]
    return tuple(d * (f - 1) + 1 for f, d in zip(pair(kernel), pair(dilation), strict=True))  # type: ignore[return-value]


def pad_sides(value: int | tuple[int, ...] | list[int]) -> tuple[int, int, int, int]:
    """A ZeroPadding2D ``padding``: ``1`` -> (1, 1, 1, 1); ``[h, w]`` -> (h, h, w, w);
    ``[top, bottom, left, right]`` as is."""
    if not isinstance(value, (tuple, list)):
        return (int(value),) * 4  # type: ignore[return-value]
    if len(value) == 2:
        return int(value[0]), int(value[0]), int(value[1]), int(value[1])
    t, b, l, r = (int(v) for v in value)
    return t, b, l, r
