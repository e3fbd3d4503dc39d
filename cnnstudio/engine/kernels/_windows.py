"""Index bookkeeping shared by convolution and pooling: padding, strided views, offset slices.

The sizes all come from :class:`cnnstudio.core.shapes.AxisWindow` (computed once by the caller with
``window_2d``); nothing here derives an output size of its own. What this module adds is the
per-kernel-offset index ranges that let the kernels loop over the ``Fh*Fw`` window offsets (a
handful) instead of over pixels or samples.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnstudio.core.shapes import AxisWindow, pair

Windows = tuple[AxisWindow, AxisWindow]


def strided_view(a: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...],
                 writeable: bool = False) -> np.ndarray:
    """``as_strided(a, shape, strides)``, about eight times cheaper for a C-contiguous ``a``
    (a new array header over ``a``'s buffer): at batch 1 a convolution or pooling layer does
    little else, so NumPy's general helper was a visible share of a prediction."""
    if not a.flags.c_contiguous:
        return as_strided(a, shape=shape, strides=strides, writeable=writeable)
    view = np.ndarray(shape, a.dtype, a, 0, strides)
    if not writeable:
        view.flags.writeable = False
    return view


def check_windows(x_shape: tuple[int, ...], windows: Windows, kernel: tuple[int, int]) -> None:
    """Refuse an array or kernel that does not match the windows it is run with.

    A mismatch means the caller resolved the windows for another layer or input size; running
    anyway would silently produce an array of the wrong shape far from the cause.
    """
    wh, ww = windows
    if len(x_shape) != 4:
        raise ValueError(f"expected an image batch [C, B, H, W], got shape {tuple(x_shape)}")
    h, w = x_shape[2], x_shape[3]
    if (wh.n, ww.n) != (h, w):
        raise ValueError(f"windows were resolved for input {wh.n}x{ww.n}, got {h}x{w}")
    if (wh.f, ww.f) != kernel:
        raise ValueError(
            f"windows were resolved for kernel {wh.f}x{ww.f}, got {kernel[0]}x{kernel[1]}"
        )
    if wh.out < 1 or ww.out < 1:
        raise ValueError(
            f"window {wh.f}x{ww.f} stride {wh.s}x{ww.s} does not fit the padded input "
            f"{wh.n + wh.pad_total}x{ww.n + ww.pad_total} (output {wh.out}x{ww.out})"
        )


def used_extent(win: AxisWindow) -> int:
    """Padded length the windows actually read: ``(out - 1) * s + f`` (trailing rows of a
    non-tiling window are never read, so they need not be padded or copied)."""
    return (win.out - 1) * win.s + win.f


def pad(x: np.ndarray, windows: Windows, fill: float) -> np.ndarray:
    """``x`` [C, B, H, W] padded with ``fill`` and cropped to exactly the extent the windows read.

    Returns ``x`` itself (or a view of it) when no padding is needed, so the valid-padding case
    costs no copy.
    """
    wh, ww = windows
    uh, uw = used_extent(wh), used_extent(ww)
    h, w = x.shape[2], x.shape[3]
    if wh.pad_before == 0 and ww.pad_before == 0 and uh <= h and uw <= w:
        return x if (uh, uw) == (h, w) else x[:, :, :uh, :uw]
    xp = np.full((x.shape[0], x.shape[1], uh, uw), fill, dtype=x.dtype)
    inner, source = padded_interior(xp, x.shape, windows)
    inner[...] = x[source]
    return xp


def padded_interior(padded: np.ndarray, x_shape: tuple[int, ...], windows: Windows
                    ) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Where an input of ``x_shape`` goes in a buffer of the extent the windows read (as
    :func:`pad` makes it): ``(the buffer's part, the index of the input's part)``. Rows and
    columns beyond the extent are never read, so they are left out."""
    wh, ww = windows
    rows = min(x_shape[2], padded.shape[2] - wh.pad_before)
    cols = min(x_shape[3], padded.shape[3] - ww.pad_before)
    inner = padded[:, :, wh.pad_before : wh.pad_before + rows,
                   ww.pad_before : ww.pad_before + cols]
    return inner, (slice(None), slice(None), slice(0, rows), slice(0, cols))


Dilation = tuple[int, int]


def checked_pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    """``pair(value)`` (an int for both axes, or ``[h, w]``), refusing anything but integers of
    at least ``minimum`` with a message naming the param: a kernel given a float dilation or
    scale would otherwise truncate it silently."""
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    if len(values) not in (1, 2) or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum
        for v in values
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or [h, w] of them, got {value!r}")
    return pair(value)  # type: ignore[arg-type]


def taps(win: AxisWindow, dilation: int = 1) -> int:
    """Kernel taps along one axis of a window whose extent ``f`` is ``dilation * (taps - 1) + 1``
    (a dilated kernel's windows are resolved for the extent it spans)."""
    if (win.f - 1) % dilation:
        raise ValueError(f"window extent {win.f} is not spanned by a kernel dilated {dilation}")
    return (win.f - 1) // dilation + 1


def conv_view(xp: np.ndarray, windows: Windows, dilation: Dilation = (1, 1)) -> np.ndarray:
    """Read-only strided view [C, Fh, Fw, B, H', W'] of a padded [C, B, Hp, Wp] array, Fh and Fw
    the kernel taps (tap ``i`` reads ``i * dilation`` rows into the window).

    The axis order is chosen so that ``reshape(C*Fh*Fw, B*H'*W')`` gives the im2col matrix in the
    row order of PyTorch's weight layout [K, C, Fh, Fw] flattened, with no transpose.
    """
    wh, ww = windows
    dh, dw = dilation
    sc, sb, sy, sx = xp.strides
    c, b = xp.shape[0], xp.shape[1]
    return strided_view(xp, (c, taps(wh, dh), taps(ww, dw), b, wh.out, ww.out),
                        (sc, sy * dh, sx * dw, sb, sy * wh.s, sx * ww.s))


def offset_ranges(win: AxisWindow, dilation: int = 1) -> list[tuple[slice, slice]]:
    """For each kernel tap ``i`` along one axis: ``(out_slice, in_slice)`` in unpadded input
    coordinates.

    Output position ``o`` reads input index ``o*s + i*dilation - pad_before``; only those inside
    ``[0, n)`` are real pixels. Accumulating gradients through these clipped slices writes
    straight into an unpadded array, so no padded buffer has to be allocated and cropped.
    A tap that only ever reads padding gets empty slices.
    """
    ranges = []
    for i in range(taps(win, dilation)):
        shift = i * dilation - win.pad_before
        lo = max(0, -(shift // win.s))  # first o with o*s + shift >= 0
        hi = min(win.out - 1, (win.n - 1 - shift) // win.s)  # last o with o*s + shift <= n-1
        if hi < lo:
            ranges.append((slice(0, 0), slice(0, 0)))
            continue
        start = lo * win.s + shift
        ranges.append((slice(lo, hi + 1), slice(start, start + (hi - lo) * win.s + 1, win.s)))
    return ranges


def real_counts(win: AxisWindow) -> np.ndarray:
    """Number of real (non-padding) input pixels under each output position along one axis."""
    o = np.arange(win.out)
    start = o * win.s - win.pad_before
    return np.maximum(np.minimum(start + win.f, win.n) - np.maximum(start, 0), 0)
