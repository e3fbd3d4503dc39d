"""Receptive-field geometry: which input pixels a unit of a layer can see.

Per axis a layer's field is three numbers: its size ``r``, its jump ``j`` (input pixels between
neighbouring units) and its origin ``o`` (the input index, possibly negative, where unit 0's field
starts), so unit ``i`` covers input indices ``o + i*j .. o + i*j + r - 1``. Parts below 0 or past
the image lie in padding. The validator carries one ``Field`` from the Input to every layer (the
rules grow it); the GUI draws ``box()`` on the sample image and tests compare it with the support
of an input gradient. Standard library only, like all of core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnstudio.core.shapes import AxisWindow

Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Box:
    """Input rows ``top..bottom`` and columns ``left..right``, inclusive; may reach into padding
    (negative, or past the image)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    def clipped(self, height: int, width: int) -> Box | None:
        """The part inside a ``height`` x ``width`` image; None when it lies wholly in padding."""
        top, left = max(self.top, 0), max(self.left, 0)
        bottom, right = min(self.bottom, height - 1), min(self.right, width - 1)
        if top > bottom or left > right:
            return None
        return Box(top, left, bottom, right)

    def reaches_padding(self, height: int, width: int) -> bool:
        return self.clipped(height, width) != self


@dataclass(frozen=True, slots=True)
class Field:
    """Size, jump and origin per axis ``(h, w)``; the Input's field is one pixel, jump 1, at 0."""

    size: Pair = (1, 1)
    jump: Pair = (1, 1)
    origin: Pair = (0, 0)

    def grow(self, axes: tuple[AxisWindow, AxisWindow]) -> Field:
        """Through a sliding window (conv or pool): ``r_out = r_in + (F - 1)*j_in``,
        ``j_out = j_in*S``, ``o_out = o_in - P_before*j_in``."""
        return Field(
            size=_pair(r + (ax.f - 1) * j for r, j, ax in zip(self.size, self.jump, axes,
                                                               strict=True)),
            jump=_pair(j * ax.s for j, ax in zip(self.jump, axes, strict=True)),
            origin=_pair(o - ax.pad_before * j for o, j, ax in zip(self.origin, self.jump, axes,
                                                                  strict=True)),
        )

    def whole_map(self, hw: Pair) -> Field:
        """A unit that sees the whole ``hw`` map (Flatten, global pooling): as if a window the
        size of the map slid once, unpadded."""
        return Field(size=_pair(r + (n - 1) * j for r, j, n in zip(self.size, self.jump, hw,
                                                                   strict=True)),
                     jump=self.jump, origin=self.origin)

    def box(self, row: int, col: int) -> Box:
        """The input pixels unit ``(row, col)`` sees, padding included."""
        top = self.origin[0] + row * self.jump[0]
        left = self.origin[1] + col * self.jump[1]
        return Box(top, left, top + self.size[0] - 1, left + self.size[1] - 1)


def union(fields: Sequence[Field], out_hw: Pair = (1, 1)) -> Field:
    """A merge (Add, Concatenate) sees what any of its inputs sees: per unit, the union of the
    inputs' boxes, so the size of a merge of misaligned branches can exceed every input's.

    With a common jump (the normal case, and the spec's) this is exact: the origin is the
    smallest and the far edge the largest of the inputs'. Inputs of one shape can still differ in
    jump (a 5x5 valid conv and a 2x2 pool both take 8x8 to 4x4); then the jump is the largest and
    the box is the smallest one, sliding by that jump, that holds every unit's union over the
    ``out_hw`` units.
    """
    size, jump, origin = [], [], []
    for axis in range(2):
        n = out_hw[axis]
        j = max(f.jump[axis] for f in fields)
        lo = min(f.origin[axis] + (n - 1) * (f.jump[axis] - j) if n > 1 else f.origin[axis]
                 for f in fields)
        hi = max(f.origin[axis] + f.size[axis] - 1 for f in fields)
        size.append(hi - lo + 1)
        jump.append(j)
        origin.append(lo)
    return Field(_pair(size), _pair(jump), _pair(origin))


def _pair(values: object) -> Pair:
    a, b = values  # type: ignore[misc]
    return int(a), int(b)
