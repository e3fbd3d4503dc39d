"""Max and average pooling (windowed and global) on channel-major [C, B, H, W] activations.

Windowed pooling loops over the Fh*Fw kernel offsets (a handful), each step a vectorised
operation on whole strided slices; the slices are clipped to real pixels, so padding is never
materialised: max pooling ignores padded cells (as if they were -inf) and average pooling divides
by the number of real pixels in each window (PyTorch's ``count_include_pad=False``), which is
what the model format promises. The same clipping serves ``ceil_mode``: its windows are resolved
by ``window_2d`` (one more output where the last window would hang over the padded edge), and
the part of a window past the edge is simply never read, as in PyTorch. The common
non-overlapping case (2x2 windows, stride 2) runs in channel chunks on all cores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from cnnstudio.engine.kernels import _parallel
from cnnstudio.engine.kernels._parallel import parallel_chunks
from cnnstudio.engine.kernels._windows import (
    Windows,
    check_windows,
    offset_ranges,
    real_counts,
    strided_view,
)


class MaxPoolCache(NamedTuple):
    """What :func:`maxpool2d_backward` needs.

    x: the input [C, B, H, W] (general path), or None. planes: [Fh*Fw, C, B, H', W'] contiguous
    copy of each window offset's elements when the windows tile without overlap or padding (the
    common 2x2/2 case), or None. out: a private copy of the output [C, B, H', W'] (the caller may
    modify the returned output in place, e.g. with an in-place ReLU). x_shape: (C, B, H, W).
    windows: the AxisWindow pair.

    The winners are found again in the backward pass by comparing the window elements with
    ``out``: cheaper than tracking an argmax in the forward pass, which needs masked (branchy)
    writes per offset.
    """

    x: np.ndarray | None
    planes: np.ndarray | None
    out: np.ndarray
    x_shape: tuple[int, int, int, int]
    windows: Windows


class AvgPoolCache(NamedTuple):
    """scale: [H', W'] reciprocal of the real-pixel count of each window (0 for a window that
    covers only padding). x_shape: (C, B, H, W). windows: the AxisWindow pair used."""

    scale: np.ndarray
    x_shape: tuple[int, int, int, int]
    windows: Windows


def _offsets(windows: Windows):
    """Yield ``(k, out_rows, out_cols, in_rows, in_cols)`` for every kernel offset ``k``."""
    wh, ww = windows
    rows, cols = offset_ranges(wh), offset_ranges(ww)
    for i, (oy, iy) in enumerate(rows):
        for j, (ox, ix) in enumerate(cols):
            yield i * ww.f + j, oy, ox, iy, ix


def _real_counts_2d(windows: Windows) -> np.ndarray:
    """[H', W'] number of real pixels under each window (the two axes are independent)."""
    return np.outer(real_counts(windows[0]), real_counts(windows[1]))


def _tiling(windows: Windows) -> bool:
    """Whether the windows tile the unpadded input without overlap (see :func:`_tile_view`)."""
    wh, ww = windows
    if wh.pad_total or ww.pad_total or wh.s != wh.f or ww.s != ww.f:
        return False
    return wh.out * wh.f <= wh.n and ww.out * ww.f <= ww.n


def _tile_view(a: np.ndarray, windows: Windows) -> np.ndarray | None:
    """[C, B, H'*Fh, H'*Fw] part of ``a`` as a [C, B, H', Fh, W', Fw] view, when the windows tile
    the unpadded input without overlap (stride == pool size, no padding, and -- with
    ``ceil_mode`` -- no last window hanging over the edge); else None."""
    if not _tiling(windows):
        return None
    wh, ww = windows
    s0, s1, s2, s3 = a.strides
    return strided_view(a, (a.shape[0], a.shape[1], wh.out, wh.f, ww.out, ww.f),
                        (s0, s1, s2 * wh.f, s2, s3 * ww.f, s3), writeable=True)


def maxpool2d_forward(x: np.ndarray, windows: Windows, keep_cache: bool = True
                      ) -> tuple[np.ndarray, MaxPoolCache | None]:
    """Max over each window's real pixels.

    x: [C, B, H, W]; windows: ``window_2d((H, W), pool_size, stride, padding)``.
    Returns out [C, B, H', W'] and the cache (which may keep a reference to ``x``: do not modify
    ``x`` before the backward pass), or None when ``keep_cache`` is false (inference: tiling
    windows then take the running maximum of the offsets' slices, with nothing kept).
    A window covering only padding outputs 0.

    When windows tile without overlap or padding, the window elements are first gathered into
    contiguous planes (one strided copy per offset); every later step, here and in the backward
    pass, then runs on contiguous memory, several times faster than on stride-2 views of small
    rows.
    """
    wh, ww = windows
    check_windows(x.shape, windows, (wh.f, ww.f))
    if not keep_cache and _tiling(windows):
        return _tiled_max(x, windows), None
    tiles = _tile_view(x, windows)
    if tiles is not None:
        c, b = x.shape[0], x.shape[1]
        planes = np.empty((wh.f * ww.f, c, b, wh.out, ww.out), dtype=x.dtype)
        out = np.empty((c, b, wh.out, ww.out), dtype=x.dtype)
        kept = np.empty_like(out)

        def gather(s: slice) -> None:
            # One strided copy per window offset: far faster than one 6-D transposing copy.
            for k in range(planes.shape[0]):
                i, j = divmod(k, ww.f)
                np.copyto(planes[k, s], tiles[s, :, :, i, :, j])
            np.max(planes[:, s], axis=0, out=out[s])
            np.copyto(kept[s], out[s])

        parallel_chunks(gather, c, x.size)
        return out, MaxPoolCache(None, planes, kept, x.shape, windows)
    out = np.full((x.shape[0], x.shape[1], wh.out, ww.out), -np.inf, dtype=x.dtype)
    for _, oy, ox, iy, ix in _offsets(windows):
        region = out[:, :, oy, ox]
        np.maximum(region, x[:, :, iy, ix], out=region)
    counts = _real_counts_2d(windows)
    if not counts.all():
        out[:, :, counts == 0] = 0
    return out, (MaxPoolCache(x, None, out.copy(), x.shape, windows) if keep_cache else None)


def _tile_offsets(windows: Windows) -> list[tuple[slice, slice]]:
    """(rows, columns) of each window offset of tiling windows, in row-major window order:
    ``x[:, :, rows, columns]`` is that offset's element of every window."""
    wh, ww = windows
    return [(slice(i, wh.out * wh.f, wh.f), slice(j, ww.out * ww.f, ww.f))
            for i in range(wh.f) for j in range(ww.f)]


def _running_max(x: np.ndarray, offsets: list[tuple[slice, slice]], out: np.ndarray) -> None:
    """``out`` = the maximum over the window offsets of ``x``, taken offset by offset."""
    (rows, columns), *rest = offsets
    np.copyto(out, x[:, :, rows, columns])
    for rows, columns in rest:
        np.maximum(out, x[:, :, rows, columns], out=out)


def _tiled_max(x: np.ndarray, windows: Windows) -> np.ndarray:
    """[C, B, H', W'] maximum of tiling windows over ``x``, the channels over the cores."""
    wh, ww = windows
    out = np.empty((x.shape[0], x.shape[1], wh.out, ww.out), dtype=x.dtype)
    offsets = _tile_offsets(windows)
    parallel_chunks(lambda s: _running_max(x[s], offsets, out[s]), x.shape[0],
                    out.size * wh.f * ww.f)
    return out


def prepare_maxpool2d(x_shape: tuple[int, int, int, int], windows: Windows
                      ) -> Callable[[np.ndarray], np.ndarray] | None:
    """``maxpool2d_forward(x, windows, keep_cache=False)[0]`` for inputs of ``x_shape``,
    planned once: the same running maximum over the same offsets, for a small batch's inference
    pass. None unless the windows tile the input and the input is small enough to stay on one
    core (``_parallel.MIN_PARALLEL_ELEMENTS``)."""
    wh, ww = windows
    check_windows(x_shape, windows, (wh.f, ww.f))
    if not _tiling(windows) or math.prod(x_shape) >= _parallel.MIN_PARALLEL_ELEMENTS:
        return None
    offsets = _tile_offsets(windows)
    shape = (x_shape[0], x_shape[1], wh.out, ww.out)

    def run(x: np.ndarray) -> np.ndarray:
        out = np.empty(shape, dtype=x.dtype)
        _running_max(x, offsets, out)
        return out

    return run


def maxpool2d_backward(dout: np.ndarray, cache: MaxPoolCache, rectified: bool = False
                       ) -> np.ndarray:
    """dout [C, B, H', W'] -> dx [C, B, H, W]: each window's gradient goes to its maximum.

    Ties have one winner, the first in row-major window order (as in PyTorch): offsets are
    visited in that order and a window stops taking winners once it has one.

    ``rectified``: the pool's input is a ReLU's output, and this also applies that ReLU's
    gradient (dx where its output was positive, else 0). A window's winner holds the window's
    maximum, so the ReLU's mask there is ``out > 0``: masking the pooled gradient gives the same
    numbers as masking the scattered one, on a quarter of the elements (2x2 windows), and the
    ReLU's own backward pass is skipped (:class:`cnnstudio.engine.network.Network`).
    """
    x, planes, out, x_shape, windows = cache
    wh, ww = windows
    if rectified:
        dout = dout * (out > 0)
    if planes is not None:
        exact = (wh.out * wh.f, ww.out * ww.f) == x_shape[2:]
        dx = (np.empty if exact else np.zeros)(x_shape, dtype=dout.dtype)
        dx_tiles = _tile_view(dx, windows)

        def scatter(s: slice) -> None:
            pending = np.ones(out[s].shape, dtype=bool)
            for k in range(planes.shape[0]):
                i, j = divmod(k, ww.f)
                hit = planes[k, s] == out[s]
                hit &= pending
                pending ^= hit
                np.multiply(dout[s], hit, out=dx_tiles[s, :, :, i, :, j])

        parallel_chunks(scatter, x_shape[0], dx.size)
        return dx
    pending = np.ones(out.shape, dtype=bool)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    disjoint = wh.s >= wh.f and ww.s >= ww.f  # each input pixel in at most one window
    for _, oy, ox, iy, ix in _offsets(windows):
        open_ = pending[:, :, oy, ox]
        hit = x[:, :, iy, ix] == out[:, :, oy, ox]
        hit &= open_
        open_ ^= hit
        if disjoint:
            np.multiply(dout[:, :, oy, ox], hit, out=dx[:, :, iy, ix])
        else:
            dx[:, :, iy, ix] += dout[:, :, oy, ox] * hit
    return dx


def avgpool2d_forward(x: np.ndarray, windows: Windows) -> tuple[np.ndarray, AvgPoolCache]:
    """Mean over each window's real pixels (padding is not counted).

    x: [C, B, H, W]; windows: ``window_2d((H, W), pool_size, stride, padding)``.
    Returns out [C, B, H', W'] and the cache. A window covering only padding outputs 0.
    """
    wh, ww = windows
    check_windows(x.shape, windows, (wh.f, ww.f))
    out = np.zeros((x.shape[0], x.shape[1], wh.out, ww.out), dtype=x.dtype)
    for _, oy, ox, iy, ix in _offsets(windows):
        out[:, :, oy, ox] += x[:, :, iy, ix]
    counts = _real_counts_2d(windows)
    scale = np.divide(1.0, counts, out=np.zeros(counts.shape), where=counts > 0).astype(x.dtype)
    out *= scale
    return out, AvgPoolCache(scale, x.shape, windows)


def avgpool2d_backward(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """dout [C, B, H', W'] -> dx [C, B, H, W]: each window's gradient shared by its real pixels."""
    scale, x_shape, windows = cache
    g = dout * scale.astype(dout.dtype, copy=False)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for _, oy, ox, iy, ix in _offsets(windows):
        dx[:, :, iy, ix] += g[:, :, oy, ox]
    return dx


def global_avgpool_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """x [C, B, H, W] -> out [C, B] (mean over H and W); the cache is ``x.shape``."""
    c, b, h, w = x.shape
    return x.reshape(c, b, h * w).mean(axis=2, dtype=x.dtype), x.shape


def global_avgpool_backward(dout: np.ndarray, cache: tuple[int, int, int, int]) -> np.ndarray:
    """dout [C, B] -> dx [C, B, H, W]: every pixel gets ``dout / (H*W)``."""
    c, b, h, w = cache
    dx = np.empty(cache, dtype=dout.dtype)
    dx[...] = (dout / dout.dtype.type(h * w))[:, :, None, None]
    return dx


class GlobalMaxPoolCache(NamedTuple):
    """argmax: [C, B] flat index ``y*W + x`` of each map's maximum. x_shape: (C, B, H, W)."""

    argmax: np.ndarray
    x_shape: tuple[int, int, int, int]


def global_maxpool_forward(x: np.ndarray) -> tuple[np.ndarray, GlobalMaxPoolCache]:
    """x [C, B, H, W] -> out [C, B] (max over H and W; ties: the first in row-major order)."""
    c, b, h, w = x.shape
    flat = x.reshape(c, b, h * w)
    argmax = flat.argmax(axis=2)
    out = np.take_along_axis(flat, argmax[:, :, None], axis=2)[:, :, 0]
    return out, GlobalMaxPoolCache(argmax, x.shape)


def global_maxpool_backward(dout: np.ndarray, cache: GlobalMaxPoolCache) -> np.ndarray:
    """dout [C, B] -> dx [C, B, H, W]: each map's gradient goes to its maximum."""
    argmax, (c, b, h, w) = cache
    dx = np.zeros((c, b, h * w), dtype=dout.dtype)
    np.put_along_axis(dx, argmax[:, :, None], dout[:, :, None], axis=2)
    return dx.reshape(c, b, h, w)
