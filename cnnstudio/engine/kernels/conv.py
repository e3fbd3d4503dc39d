"""2-D convolution (cross-correlation, like PyTorch) on channel-major [C, B, H, W] activations.

Channel-major is what makes the convolution a single matrix product with no transposes:
``W[K, C*Fh*Fw] @ cols[C*Fh*Fw, B*H'*W']`` lands directly in the [K, B, H', W'] output layout the
next layer expects. The im2col matrix is the one unavoidable copy (a strided view of the padded
input, reshaped); the backward pass scatters it back with one strided add per kernel offset.
The forward pass builds and multiplies it chunk by chunk, each chunk while it is in cache
(:func:`_blocked_conv`).

Winograd F(2x2, 3x3) (Lavin and Gray, 2016) was measured against the chunked im2col matmul at
the bench nets' 3x3 shapes: it needs 2.25x fewer multiplies, but in NumPy its tile transforms
are some 40 array passes per chunk and its 16 small matmuls per chunk run far below BLAS's best
rate, so it was 1.3-4x slower and is not used.

Dilation only changes which pixels the strided view picks (taps ``d`` apart). Groups cost
nothing extra either: the im2col rows of a channel group are one contiguous block, so a grouped
convolution is a batch of per-group matmuls over the same column matrix (a depthwise layer's
are 1-row products, split over the cores), never a Python loop over channels.

Workspace: the im2col matrix a training forward keeps for the weight gradient is the largest
array of a training step (75 MB for 32 -> 32 channels on 32x32 images, batch 64), and a fresh
array that large costs the kernel page faults on every call (about half the im2col time). (The
input gradient's columns are only ever built chunk by chunk, in small per-thread buffers.) A
caller that runs the same layer over and over passes a ``workspace`` dict it keeps per layer;
the kernels then reuse its buffers. The buffers are overwritten by the next call with the same
workspace, which invalidates the cache of the previous forward pass: run forward, backward,
forward, backward, never two forwards first.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from cnnstudio.core.shapes import window_2d
from cnnstudio.engine.kernels._blas import blas_is_single_threaded
from cnnstudio.engine.kernels._matmul import matmul, matmul_long_inner
from cnnstudio.engine.kernels._parallel import WORKERS, parallel_chunks, run_chunks, shares_cores
from cnnstudio.engine.kernels._windows import (
    Dilation,
    Windows,
    check_windows,
    checked_pair,
    conv_view,
    offset_ranges,
    pad,
    padded_interior,
    used_extent,
)

Workspace = dict[str, np.ndarray]
#: Column-matrix bytes one chunk of a blocked convolution aims at (see :func:`_blocked_conv`).
CHUNK_BYTES = 1 << 21
#: Below this many column-matrix bytes in all, a convolution runs as one chunk on the calling
#: thread: handing work to another thread costs more than it saves. (Measured alternately on a
#: shared machine, splitting every convolution of a batch-1 cifar_vgg prediction, 0.1-1.2 MB of
#: columns each, over the two cores made it about 12% slower than running each on one.)
MIN_SPLIT_BYTES = 1 << 22
#: Chunks per worker when splitting: a thread that runs ahead takes over a slower one's share.
_CHUNKS_PER_WORKER = 2

Chunk = tuple[slice, slice]  # (images, output rows); several images only with all their rows


def _row_stride(columns: int, itemsize: int) -> int:
    """Elements from one row of a column matrix to the next: ``columns``, plus one cache line
    when the rows would otherwise lie a multiple of 1 KB apart.

    The column matrix is the right-hand operand BLAS streams through, and its row count is
    mostly a power of two times the image area (2048 columns for two 32x32 images): rows a
    multiple of 4 KB apart fall on the same cache sets and evict each other while BLAS packs
    them. Measured on this machine, single-threaded, 32x288 times 288x2048: 78-87 GFLOP/s with
    rows 8 KB apart, 96-97 with one cache line more; 64x576 times 576x1024: 101 -> 122."""
    if (columns * itemsize) % 1024:
        return columns
    return columns + 64 // itemsize


def _matrix_shape(shape: tuple[int, ...], rows: int) -> tuple[int, int]:
    """(rows, columns) of a column matrix whose first ``rows`` axes multiply to its rows."""
    return math.prod(shape[:rows]), math.prod(shape[rows:])


def _strided_elements(shape: tuple[int, ...], rows: int, dtype: np.dtype) -> int:
    """Elements a column matrix of ``shape`` takes with its rows :func:`_row_stride` apart."""
    m, n = _matrix_shape(shape, rows)
    return m * _row_stride(n, np.dtype(dtype).itemsize)


def _with_row_stride(buf: np.ndarray, shape: tuple[int, ...], rows: int) -> np.ndarray:
    """The first elements of the flat ``buf`` as an array of ``shape`` whose first ``rows``
    axes are the matrix rows, laid out :func:`_row_stride` apart (a view: its 2-D reshape is
    one too, which BLAS reads with that leading dimension)."""
    m, n = _matrix_shape(shape, rows)
    stride = _row_stride(n, buf.itemsize)
    return buf[: m * stride].reshape(m, stride)[:, :n].reshape(shape)


def _scratch(
    workspace: Workspace | None, name: str, shape: tuple[int, ...], dtype: np.dtype,
    rows: int | None = None,
) -> np.ndarray:
    """An uninitialised buffer of exactly this shape: the workspace's, or a fresh one. With
    ``rows``, a column matrix laid out as :func:`_with_row_stride` says."""
    size = math.prod(shape) if rows is None else _strided_elements(shape, rows, dtype)
    if workspace is None:
        buf = np.empty(size, dtype=dtype)
    else:
        buf = workspace.get(name)
        if buf is None or buf.size != size or buf.dtype != dtype:
            buf = workspace[name] = np.empty(size, dtype=dtype)
    return buf.reshape(shape) if rows is None else _with_row_stride(buf, shape, rows)


_local = threading.local()


def _thread_buffer(name: str, shape: tuple[int, ...], dtype: np.dtype, rows: int) -> np.ndarray:
    """An uninitialised per-thread column matrix (see :func:`_with_row_stride`), kept for the
    thread's next chunk: a chunk's columns are rewritten in the same cache-warm memory instead
    of freshly allocated."""
    buffers: dict = _local.__dict__.setdefault("buffers", {})
    size = _strided_elements(shape, rows, dtype)
    buf = buffers.get((name, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = buffers[(name, np.dtype(dtype))] = np.empty(size, dtype=dtype)
    return _with_row_stride(buf, shape, rows)


def _is_pointwise(windows: Windows) -> bool:
    """A 1x1, stride-1, unpadded window: the column matrix is the input itself."""
    wh, ww = windows
    return (wh.f, ww.f, wh.s, ww.s, wh.pad_total, ww.pad_total) == (1, 1, 1, 1, 0, 0)


def _product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``a [G, M, N] @ b [G, N, L]`` into ``out`` [G, M, L]. With N == 1 (a depthwise layer's
    input gradient) it is an outer product, which a broadcast multiply computes about twice as
    fast as BLAS."""
    if a.shape[2] == 1:
        np.multiply(a, b, out=out)
    else:
        np.matmul(a, b, out=out)


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass.

    cols: im2col matrix [C*Fh*Fw, B*H'*W'] (may be a workspace buffer or a view of the input),
        or None when the backward pass gets the weight gradient from the output gradient's
        columns and ``x`` instead (:func:`_gradients_through_transposed`).
    w: weights [K, C, Fh, Fw], already in the input's dtype.
    x_shape: input shape (C, B, H, W).
    windows: the (height, width) AxisWindow pair used.
    has_bias: whether a bias was added (decides whether ``db`` is returned).
    workspace: the workspace passed to the forward pass (reused by the backward pass), or None.
    dilation: (dh, dw). groups: the number of channel groups (w is then [K, C/groups, Fh, Fw]).
    x: the input itself when ``cols`` is None (a reference, not a copy), else None.
    """

    cols: np.ndarray | None
    w: np.ndarray
    x_shape: tuple[int, int, int, int]
    windows: Windows
    has_bias: bool
    workspace: Workspace | None = None
    dilation: Dilation = (1, 1)
    groups: int = 1
    x: np.ndarray | None = None


def _zeroed_scratch(
    workspace: Workspace, name: str, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """A workspace buffer that was zero when allocated: a padded copy whose border is never
    written, so only its interior has to be refreshed on each call."""
    buf = workspace.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = workspace[name] = np.zeros(shape, dtype=dtype)
    return buf


def _padded(x: np.ndarray, windows: Windows, workspace: Workspace | None, name: str) -> np.ndarray:
    """``pad(x, windows, 0.0)``, reusing a workspace buffer whose zero border stays in place."""
    wh, ww = windows
    h, w = x.shape[2], x.shape[3]
    uh, uw = used_extent(wh), used_extent(ww)
    if workspace is None or (wh.pad_before == ww.pad_before == 0 and uh <= h and uw <= w):
        return pad(x, windows, 0.0)
    xp = _zeroed_scratch(workspace, name, (x.shape[0], x.shape[1], uh, uw), x.dtype)
    inner, source = padded_interior(xp, x.shape, windows)
    src = x[source]
    parallel_chunks(lambda s: np.copyto(inner[s], src[s]), x.shape[0], x.size)
    return xp


def col2im(
    cols: np.ndarray, x_shape: tuple[int, ...], windows: Windows, dilation: Dilation = (1, 1),
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Adjoint of the column matrix :func:`_blocked_conv` builds: [C*Fh*Fw, B*H'*W'] ->
    [C, B, H, W], summing overlaps.

    One strided add per kernel tap (Fh*Fw of them), written straight into the unpadded
    result; contributions that fell on padding are simply never added. Into a new zero array,
    channel chunks run on all cores (each writes only its own channels); into ``out`` (added to
    what it holds) everything runs on the calling thread, which is then one of several working
    on other parts of the same array.
    """
    wh, ww = windows
    c, b, h, w = x_shape
    rows = offset_ranges(wh, dilation[0])
    columns = offset_ranges(ww, dilation[1])
    cols6 = cols.reshape(c, len(rows), len(columns), b, wh.out, ww.out)
    dx = np.zeros(x_shape, dtype=cols.dtype) if out is None else out

    def scatter(s: slice) -> None:
        for i, (oy, iy) in enumerate(rows):
            for j, (ox, ix) in enumerate(columns):
                dx[s, :, iy, ix] += cols6[s, i, j, :, oy, ox]

    if out is None:
        parallel_chunks(scatter, c, cols.size)
    else:
        scatter(slice(0, c))
    return dx


def _grouped_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a [G, M, N] @ b [G, N, L]`` -> [G, M, L] (into ``out`` when given), the groups split
    over the cores. With N == 1 (a depthwise layer's input gradient) the product is an outer
    product, which a broadcast multiply computes about twice as fast as BLAS."""
    if out is None:
        out = np.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=np.result_type(a, b))
    parallel_chunks(lambda s: _product(a[s], b[s], out[s]), a.shape[0], b.size + out.size)
    return out


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    windows: Windows,
    workspace: Workspace | None = None,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    keep_columns: bool = True,
) -> tuple[np.ndarray, ConvCache | None]:
    """Convolve a batch.

    x: [C, B, H, W]; w: [K, C/groups, Fh, Fw] (PyTorch layout); b: [K] or None (``use_bias``
    false).
    windows: ``cnnstudio.core.shapes.window_2d((H, W), extent, stride, padding)`` with
    ``extent = (dh*(Fh-1)+1, dw*(Fw-1)+1)``, the span of the (dilated) kernel -- it carries
    stride, the resolved (possibly asymmetric, "same") padding and the output size.
    dilation: int or (dh, dw): the kernel's taps are that many pixels apart (atrous).
    groups: input channels and filters are split into this many groups, filter group ``g``
    seeing only input group ``g`` (depthwise when groups == C); C and K divisible by it.
    workspace: optional dict the caller keeps per layer to reuse the big buffers (see the
    module docstring for the one rule that comes with it).
    keep_columns: False when no backward pass will follow (inference): the column matrix is
    then built chunk by chunk in small reused buffers and the cache returned is None.
    Returns out [K, B, H', W'] (a new C-contiguous array in ``x``'s dtype, safe to apply ReLU to
    in place) and the cache for :func:`conv2d_backward`.
    """
    k, cg, fh, fw = w.shape
    d = checked_pair(dilation, "dilation", 1)
    check_windows(x.shape, windows, (d[0] * (fh - 1) + 1, d[1] * (fw - 1) + 1))
    c = x.shape[0]
    if groups < 1 or c % groups or k % groups:
        raise ValueError(
            f"groups {groups} must divide the input channels ({c}) and the filters ({k})"
        )
    if c != cg * groups:
        raise ValueError(
            f"conv weights expect {cg * groups} input channels ({groups} group(s) of {cg}), "
            f"got {c}"
        )
    w = w.astype(x.dtype, copy=False)
    bias = None if b is None else b.astype(x.dtype, copy=False)
    if _is_pointwise(windows):
        cols = x.reshape(c, -1)
        out = _multiply_columns(w, cols, bias, groups).reshape(k, *x.shape[1:])
    else:
        through = keep_columns and _weight_gradient_transposes(c, k, windows, groups)
        out, cols = _blocked_conv(x, w, bias, windows, d, groups, keep_columns and not through,
                                  workspace)
        if through:
            return out, ConvCache(None, w, x.shape, windows, b is not None, workspace, d,
                                  groups, x)
    if not keep_columns:
        return out, None
    return out, ConvCache(cols, w, x.shape, windows, b is not None, workspace, d, groups)


def _multiply_columns(w: np.ndarray, cols: np.ndarray, bias: np.ndarray | None,
                      groups: int) -> np.ndarray:
    """``w`` (as [K, C/groups*Fh*Fw]) times the whole column matrix, group by group, plus the
    bias: the convolution whose column matrix needs no copy (a pointwise window)."""
    k = w.shape[0]
    if groups == 1:
        out = matmul(w.reshape(k, -1), cols)
    else:
        out = _grouped_matmul(w.reshape(groups, k // groups, -1),
                              cols.reshape(groups, -1, cols.shape[1])).reshape(k, -1)
    if bias is not None:
        out += bias[:, None]
    return out


def _plan(batch: int, out_rows: int, row_bytes: int, whole_images: bool = False
          ) -> list[Chunk]:
    """The chunks a convolution is cut into (see :func:`_blocked_conv`): groups of whole images
    whose column matrix is about :data:`CHUNK_BYTES`, or bands of output rows of one image when
    an image alone is larger (or too few images are left to keep every core busy), unless
    ``whole_images``. ``row_bytes`` is the column-matrix bytes of one output row of one
    image."""
    total = batch * out_rows * row_bytes
    if total < MIN_SPLIT_BYTES:
        return [(slice(0, batch), slice(0, out_rows))]
    parallel = shares_cores() and blas_is_single_threaded()
    wanted = max(-(-total // CHUNK_BYTES), WORKERS * _CHUNKS_PER_WORKER if parallel else 1)
    if wanted <= batch or whole_images:
        per = -(-batch // min(wanted, batch))
        return [(slice(b, min(b + per, batch)), slice(0, out_rows))
                for b in range(0, batch, per)]
    bands = min(out_rows, -(-wanted // batch))
    rows = -(-out_rows // bands)
    return [(slice(b, b + 1), slice(y, min(y + rows, out_rows)))
            for b in range(batch) for y in range(0, out_rows, rows)]


def _run_chunks(work, count: int) -> None:
    """``work(i)`` for every chunk: on all cores while the engine runs BLAS single-threaded
    (a network pass), else one after the other, each matmul then using BLAS's own threads."""
    if blas_is_single_threaded():
        run_chunks(work, count)
    else:
        for i in range(count):
            work(i)


def _blocked_conv(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, windows: Windows, dilation: Dilation,
    groups: int, keep: bool, workspace: Workspace | None = None, pad_name: str = "cols_pad",
) -> tuple[np.ndarray, np.ndarray | None]:
    """The convolution of ``x`` [C, B, H, W] -> ``(out [K, B, H', W'], cols)``, chunk by chunk.

    The whole batch's column matrix is 9x the input for a 3x3 kernel (75 MB for 32 -> 32
    channels on 32x32 images, batch 64); built in one pass and then multiplied in another it
    travels through memory twice, and that, not the arithmetic, is what limits a convolution on
    two cores. So each chunk -- a few images, or a band of output rows of one image, about
    :data:`CHUNK_BYTES` of columns -- is copied and at once multiplied while still in cache,
    and the chunks are shared out over the cores. With ``keep`` the columns go to the whole
    column matrix (a workspace buffer, returned as ``cols`` for the weight gradient), else to a
    per-thread buffer reused for the next chunk (``cols`` is then None).
    """
    k, cg, fh, fw = w.shape
    wh, ww = windows
    batch = x.shape[1]
    out = np.empty((k, batch, wh.out, ww.out), dtype=x.dtype)
    wg = w.reshape(groups, k // groups, cg * fh * fw)
    view = conv_view(_padded(x, windows, workspace, pad_name), windows, dilation)
    kept = _scratch(workspace, "cols", view.shape, x.dtype, rows=3) if keep else None

    def work(chunk: Chunk) -> None:
        images, rows = chunk
        part = view[:, :, :, images, rows]
        cols = (kept[:, :, :, images, rows] if kept is not None
                else _thread_buffer("cols", part.shape, x.dtype, rows=3))
        np.copyto(cols, part)
        cols2 = cols.reshape(-1, part.shape[3] * part.shape[4] * part.shape[5])
        dest = out[:, images, rows].reshape(k, -1)
        assert np.may_share_memory(cols2, cols) and np.may_share_memory(dest, out)
        _multiply_chunk(wg, cols2, bias, dest)

    chunks = _plan(batch, wh.out, x.shape[0] * fh * fw * ww.out * x.dtype.itemsize)
    _run_chunks(lambda i: work(chunks[i]), len(chunks))
    if kept is None:
        return out, None
    return out, kept.reshape(x.shape[0] * fh * fw, batch * wh.out * ww.out)


def _multiply_chunk(wg: np.ndarray, cols2: np.ndarray, bias: np.ndarray | None,
                    dest: np.ndarray) -> None:
    """``dest`` [K, L] = the weights ``wg`` [G, K/G, rows/G] times a chunk's columns ``cols2``
    [rows, L], group by group, plus the bias."""
    groups = wg.shape[0]
    if groups == 1:
        np.matmul(wg[0], cols2, out=dest)
    else:
        _product(wg, cols2.reshape(groups, -1, cols2.shape[1]),
                 dest.reshape(groups, wg.shape[1], -1))
    if bias is not None:
        dest += bias[:, None]


PreparedConv = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


def prepare_conv2d(x_shape: tuple[int, int, int, int], w_shape: tuple[int, ...],
                   windows: Windows, dilation: int | tuple[int, int], groups: int,
                   dtype: np.dtype) -> PreparedConv | None:
    """:func:`conv2d_forward` for inference on inputs of ``x_shape``, planned once: a function
    ``(x, w, b) -> out`` computing exactly what ``conv2d_forward(x, w, b, windows, None,
    dilation, groups, keep_columns=False)`` computes, with the same products in the same order.

    For a small batch (a prediction, a feature-map view) a convolution's arithmetic takes a few
    microseconds, and checking the arguments, padding into a new array, making the strided view
    and planning chunks took several times that. Here the padded input is a buffer kept with its
    zero border, the strided view of it and the column buffer are made once, and a call is two
    copies and one product. Not thread-safe: each thread needs its own (the buffers are
    shared by every call). None for a batch whose columns are worth sharing over the cores
    (:data:`MIN_SPLIT_BYTES`) and for pointwise windows (no columns to build): use
    :func:`conv2d_forward` then.
    """
    k, cg, fh, fw = w_shape
    d = checked_pair(dilation, "dilation", 1)
    check_windows(x_shape, windows, (d[0] * (fh - 1) + 1, d[1] * (fw - 1) + 1))
    c, batch = x_shape[0], x_shape[1]
    wh, ww = windows
    itemsize = np.dtype(dtype).itemsize
    if (_is_pointwise(windows) or c != cg * groups
            or len(_plan(batch, wh.out, c * fh * fw * ww.out * itemsize)) > 1):
        return None
    padded = np.zeros((c, batch, used_extent(wh), used_extent(ww)), dtype=dtype)
    inner, source = padded_interior(padded, x_shape, windows)
    view = conv_view(padded, windows, d)
    cols = _scratch(None, "cols", view.shape, dtype, rows=3)
    cols2 = cols.reshape(c * fh * fw, -1)
    assert np.may_share_memory(cols2, cols)

    def run(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        np.copyto(inner, x[source])
        np.copyto(cols, view)
        out = np.empty((k, batch, wh.out, ww.out), dtype=dtype)
        wg = w.astype(dtype, copy=False).reshape(groups, k // groups, -1)
        _multiply_chunk(wg, cols2, None if b is None else b.astype(dtype, copy=False),
                        out.reshape(k, -1))
        return out

    return run


def conv2d_backward(
    dout: np.ndarray, cache: ConvCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv2d_forward`.

    dout: [K, B, H', W']. Returns (dx [C, B, H, W] or None when ``need_dx`` is false -- the
    first layer's input needs no gradient and skipping it saves a matmul and the col2im --,
    dw [K, C/groups, Fh, Fw], db [K] or None when the forward had no bias).
    """
    cols, w, x_shape, windows, has_bias, workspace, dilation, groups, x = cache
    k = w.shape[0]
    d2 = dout.reshape(k, -1)
    db = d2.sum(axis=1) if has_bias else None
    if cols is None:
        dx, dw = _gradients_through_transposed(dout, cache, need_dx)
        return dx, dw, db
    dw = _weight_gradient(cols, d2, w.shape, groups)
    dx = None
    if need_dx:
        if _input_gradient_transposes(x_shape[0], k, windows):
            dx = _input_gradient_transposed(dout, w, x_shape, _transposed_windows(windows),
                                            workspace, dilation, groups)
        else:
            dx = _input_gradient_scattered(dout, w, x_shape, windows, dilation, groups)
    return dx, dw, db


def _input_gradient_transposes(channels: int, k: int, windows: Windows) -> bool:
    """Whether the input gradient is computed as a transposed convolution
    (:func:`_transposed_windows`, when the layer has no more filters than input channels) rather
    than scattered back (:func:`_input_gradient_scattered`).

    (A third way, for unpadded stride-1 layers, added each kernel tap's share along whole image
    lines; once the scattered path ran in cache-sized chunks on all cores it lost at every shape
    measured, 1.2-2x, for example 2.0 against 2.4 ms on LeNet-5's second convolution.)"""
    return _transposed_windows(windows) is not None and k <= channels


def _weight_gradient_transposes(channels: int, k: int, windows: Windows, groups: int) -> bool:
    """Whether a training forward keeps no column matrix, because the backward pass builds the
    output gradient's columns for the input gradient anyway (:func:`_input_gradient_transposes`)
    and takes the weight gradient from them and the input as well
    (:func:`_gradients_through_transposed`). Measured at batch 64 against keeping the columns,
    forward and backward together: 43 -> 34 ms for 32 -> 32 channels on 32x32 maps, 30 -> 26 ms
    for 64 -> 64 on 16x16, even for 128 -> 128 on 8x8."""
    return (groups == 1 and not _is_pointwise(windows)
            and _input_gradient_transposes(channels, k, windows))


def _gradients_through_transposed(dout: np.ndarray, cache: ConvCache, need_dx: bool
                                  ) -> tuple[np.ndarray | None, np.ndarray]:
    """(dx or None, dw) from the output gradient's columns, without the forward's.

    The input gradient is the convolution of the padded output gradient with the flipped,
    transposed kernel (:func:`_transposed_windows`): columns ``dcols[(k, i, j), (b, y, x)]``, one
    per input pixel. The same columns give the weight gradient, ``dw[k, c, Fh-1-i, Fw-1-j] =
    sum over (b, y, x) of dcols[(k, i, j), (b, y, x)] * x[c, b, y, x]``: one more small matmul
    per chunk while the chunk is in cache, against the input as it is. The forward pass then
    writes no column matrix at all (9x the input for a 3x3 kernel), which costs more than the
    extra matmul. Each chunk of whole images sums into its own partial weight gradient, and the
    partials are added in chunk order, so the result does not depend on thread timing."""
    _, w, x_shape, windows, _, workspace, dilation, _, x = cache
    assert x is not None
    k, c, fh, fw = w.shape
    transposed = _transposed_windows(windows)
    assert transposed is not None
    view = conv_view(_padded(dout, transposed, workspace, "dout_pad"), transposed, dilation)
    rows = k * fh * fw
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(c, rows)
    batch, height, width = x_shape[1], x_shape[2], x_shape[3]
    chunks = _plan(batch, height, rows * width * dout.dtype.itemsize, whole_images=True)
    partial = np.empty((len(chunks), rows, c), dtype=dout.dtype)
    dx = np.empty(x_shape, dtype=dout.dtype) if need_dx else None

    def work(i: int) -> None:
        images = chunks[i][0]
        part = view[:, :, :, images]
        cols = _thread_buffer("dcols", part.shape, dout.dtype, rows=3)
        np.copyto(cols, part)
        cols2 = cols.reshape(rows, -1)
        if dx is not None:
            dest = dx[:, images].reshape(c, -1)
            assert np.may_share_memory(dest, dx)
            np.matmul(flipped, cols2, out=dest)
        np.matmul(cols2, x[:, images].reshape(c, -1).T, out=partial[i])

    _run_chunks(work, len(chunks))
    dw = partial.sum(axis=0).reshape(k, fh, fw, c)[:, ::-1, ::-1].transpose(0, 3, 1, 2)
    return dx, np.ascontiguousarray(dw)


def _input_gradient_scattered(
    dout: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], windows: Windows,
    dilation: Dilation, groups: int,
) -> np.ndarray:
    """dx as the column gradient ``W.T @ dout`` scattered back onto the input (:func:`col2im`),
    in chunks of whole images: each chunk's column gradient is made and scattered while in
    cache, and adds only into its own images, so the chunks run on all cores."""
    k, cg, fh, fw = w.shape
    wh, ww = windows
    rows = x_shape[0] * fh * fw
    dx = np.zeros(x_shape, dtype=dout.dtype)
    wt = w.reshape(groups, k // groups, cg * fh * fw).transpose(0, 2, 1)
    chunks = _plan(x_shape[1], wh.out, rows * ww.out * dout.dtype.itemsize, whole_images=True)

    def work(i: int) -> None:
        images = chunks[i][0]
        d = dout[:, images].reshape(groups, k // groups, -1)
        dcols = _thread_buffer("dcols", (groups, cg * fh * fw, d.shape[2]), dout.dtype, rows=2)
        _product(wt, d, dcols)
        part = dx[:, images]
        col2im(dcols.reshape(rows, -1), part.shape, windows, dilation, out=part)

    _run_chunks(work, len(chunks))
    return dx


def training_workspace_elements(channels: int, w_shape: tuple[int, ...], windows: Windows,
                                need_dx: bool = True, groups: int = 1) -> int:
    """Elements per image a training step of this convolution keeps: the column matrix or,
    when the backward pass works through the output gradient's columns instead, the input it
    holds on to (which may be kept anyway by the layer before: counted, to err on the safe
    side); the padded input; the backward pass's padded output gradient. The per-thread chunk
    buffers are a few MB in all, whatever the batch, and are not counted."""
    k, _, fh, fw = w_shape
    elements = _padded_elements(channels, windows)
    if _is_pointwise(windows):
        return elements
    through = _weight_gradient_transposes(channels, k, windows, groups)
    if through:
        elements += channels * windows[0].n * windows[1].n
    else:
        elements += channels * fh * fw * windows[0].out * windows[1].out
    if through or (need_dx and _input_gradient_transposes(channels, k, windows)):
        transposed = _transposed_windows(windows)
        if not _is_pointwise(transposed):  # type: ignore[arg-type]
            elements += _padded_elements(k, transposed)  # type: ignore[arg-type]
    return elements


def _padded_elements(channels: int, windows: Windows) -> int:
    """Elements per image of the padded copy of a convolution's input in the workspace (none
    when the input is read as it is)."""
    wh, ww = windows
    if _is_pointwise(windows):
        return 0
    uh, uw = used_extent(wh), used_extent(ww)
    if wh.pad_before == ww.pad_before == 0 and uh <= wh.n and uw <= ww.n:
        return 0
    return channels * uh * uw


def _weight_gradient(
    cols: np.ndarray, d2: np.ndarray, w_shape: tuple[int, ...], groups: int
) -> np.ndarray:
    """dw [K, C/groups, Fh, Fw] from the column matrix and dout as [K, B*H'*W'], group by
    group."""
    if groups == 1:
        # cols @ d2.T, transposed back, rather than d2 @ cols.T: the same product, but BLAS
        # runs it up to twice as fast with the long B*H'*W' axis as the inner dimension here.
        return matmul_long_inner(cols, d2.T).T.reshape(w_shape)
    k = d2.shape[0]
    d3 = d2.reshape(groups, k // groups, -1)
    dw = _grouped_matmul(d3, cols.reshape(groups, cols.shape[0] // groups, -1).transpose(0, 2, 1))
    return dw.reshape(w_shape)


def _transposed_windows(windows: Windows) -> Windows | None:
    """Windows of the convolution that maps the output gradient back onto the input, for a
    stride-1 convolution padded the same on both sides of each axis by at most ``f - 1``
    (every "same" convolution with an odd kernel); None otherwise.

    That input gradient is a convolution of the output gradient with the flipped, transposed
    kernel, padded by ``f - 1 - p``: one im2col copy of the output gradient and one matmul
    with a small result, where the general path writes a column matrix of the input's size and
    then scatters it back with Fh*Fw read-modify-write passes. Measured, it is the faster one
    when the layer has no more filters than input channels (its im2col is then no larger).
    """
    wh, ww = windows
    if not all(a.s == 1 and a.pad_before == a.pad_after <= a.f - 1 for a in windows):
        return None
    transposed = window_2d((wh.out, ww.out), (wh.f, ww.f), 1,
                           (wh.f - 1 - wh.pad_before, ww.f - 1 - ww.pad_before))
    if (transposed[0].out, transposed[1].out) != (wh.n, ww.n):
        return None
    return transposed


def _input_gradient_transposed(
    dout: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], transposed: Windows,
    workspace: Workspace | None, dilation: Dilation = (1, 1), groups: int = 1,
) -> np.ndarray:
    """dx as the convolution of ``dout`` with ``w`` flipped and transposed to [C, K/groups, Fh,
    Fw] -- group by group, with the same dilation (see :func:`_transposed_windows`); its im2col
    buffers are kept apart from the forward's."""
    k, cg, fh, fw = w.shape
    c, kg = x_shape[0], k // groups
    flipped = np.ascontiguousarray(
        w[:, :, ::-1, ::-1].reshape(groups, kg, cg, fh, fw).transpose(0, 2, 1, 3, 4)
    )
    return _blocked_conv(dout, flipped.reshape(c, kg, fh, fw), None, transposed, dilation, groups,
                         False, workspace, "dout_pad")[0]
