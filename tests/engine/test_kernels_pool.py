"""Pooling kernels: fast vs naive, finite-difference gradients, ties, and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core.shapes import window_2d
from cnnstudio.engine.kernels import (
    avgpool2d_backward,
    avgpool2d_forward,
    global_avgpool_backward,
    global_avgpool_forward,
    global_maxpool_backward,
    global_maxpool_forward,
    maxpool2d_backward,
    maxpool2d_forward,
    to_public,
)
from cnnstudio.engine.kernels.reference import pool2d_naive

# (C, B, H, W, pool_size, stride, padding)
CASES = [
    (2, 3, 6, 6, 2, 2, "valid"),
    (2, 2, 7, 7, 2, 2, "valid"),  # does not tile: the last row/column is never read
    (2, 2, 7, 7, 3, 2, 1),  # overlapping, padded
    (2, 2, 7, 8, 2, 2, "same"),  # asymmetric padding on the height only
    (2, 2, 5, 9, (2, 3), (1, 2), (1, 1)),  # non-square pool and stride
    (1, 2, 8, 10, 3, 3, "same"),  # stride 3: (0, 1) and (1, 1) padding
    (2, 2, 7, 7, 3, 1, "same"),  # stride 1, heavily overlapping
]
IDS = [f"case{i}" for i in range(len(CASES))]
POOLS = {
    "max": (maxpool2d_forward, maxpool2d_backward),
    "avg": (avgpool2d_forward, avgpool2d_backward),
}


def make(case, dtype, rng):
    """Distinct, well-separated values so a finite-difference step never changes an argmax."""
    c, b, h, w, pool, stride, padding = case
    n = c * b * h * w
    x = (rng.permutation(n) * 0.05 + rng.uniform(0, 0.01, n) - n * 0.025).reshape(c, b, h, w)
    return x.astype(dtype), window_2d((h, w), pool, stride, padding)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_naive(case, mode, dtype, rng):
    x, windows = make(case, dtype, rng)
    out, _ = POOLS[mode][0](x, windows)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, pool2d_naive(x, windows, mode), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_gradient_matches_finite_differences(case, mode, rng, gradcheck):
    forward, backward = POOLS[mode]
    x, windows = make(case, np.float64, rng)
    out, cache = forward(x, windows)
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    gradcheck.check(dx, lambda: float(np.sum(forward(x, windows)[0] * dout)), x)


def test_max_pool_ties_have_one_winner_per_window():
    x = np.ones((1, 1, 4, 4))
    windows = window_2d((4, 4), 2, 2, "valid")
    out, cache = maxpool2d_forward(x, windows)
    dx = maxpool2d_backward(np.ones_like(out), cache)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1  # first cell of each window, row-major
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_max_pool_gradient_survives_in_place_edits_of_its_output(rng):
    x, windows = make(CASES[0], np.float64, rng)
    out, cache = maxpool2d_forward(x, windows)
    dout = rng.standard_normal(out.shape)
    expected = maxpool2d_backward(dout, cache)
    np.maximum(out, 0, out=out)  # what an in-place ReLU after the pool does
    np.testing.assert_array_equal(maxpool2d_backward(dout, cache), expected)


def test_max_pool_ignores_padding_even_for_negative_inputs():
    x = -np.ones((1, 1, 3, 3))
    out, _ = maxpool2d_forward(x, window_2d((3, 3), 2, 2, 1))
    np.testing.assert_array_equal(out, -1)


def test_avg_pool_counts_only_real_pixels():
    x = np.ones((1, 1, 3, 3))
    out, _ = avgpool2d_forward(x, window_2d((3, 3), 2, 2, 1))
    np.testing.assert_array_equal(out, 1)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_pool_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    x, windows = make(case, np.float32, rng)
    wh, ww = windows
    out, cache = maxpool2d_forward(x, windows)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = maxpool2d_backward(dout, cache)

    xt = torch.tensor(to_public(x), requires_grad=True)
    padded = f.pad(xt, (ww.pad_before, ww.pad_after, wh.pad_before, wh.pad_after), value=-np.inf)
    ot = f.max_pool2d(padded, (wh.f, ww.f), (wh.s, ww.s))
    ot.backward(torch.tensor(to_public(dout)))
    assert np.abs(to_public(out) - ot.detach().numpy()).max() < 1e-4
    assert np.abs(to_public(dx) - xt.grad.numpy()).max() < 1e-4


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_avg_pool_matches_torch(case, rng):
    """Torch's average of real pixels: zero-padded window sums over padded window counts."""
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    x, windows = make(case, np.float32, rng)
    wh, ww = windows
    out, cache = avgpool2d_forward(x, windows)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = avgpool2d_backward(dout, cache)

    pads = (ww.pad_before, ww.pad_after, wh.pad_before, wh.pad_after)
    xt = torch.tensor(to_public(x), requires_grad=True)
    ones = torch.ones((1, 1, wh.n, ww.n))
    kernel, stride = (wh.f, ww.f), (wh.s, ww.s)
    sums = f.avg_pool2d(f.pad(xt, pads), kernel, stride) * (wh.f * ww.f)
    counts = f.avg_pool2d(f.pad(ones, pads), kernel, stride) * (wh.f * ww.f)
    ot = sums / counts
    ot.backward(torch.tensor(to_public(dout)))
    assert np.abs(to_public(out) - ot.detach().numpy()).max() < 1e-4
    assert np.abs(to_public(dx) - xt.grad.numpy()).max() < 1e-4


def test_avg_pool_matches_torch_count_include_pad_false(rng):
    torch = pytest.importorskip("torch")
    x, windows = make((2, 3, 7, 7, 3, 2, 1), np.float32, rng)
    out, _ = avgpool2d_forward(x, windows)
    ot = torch.nn.functional.avg_pool2d(
        torch.tensor(to_public(x)), 3, 2, padding=1, count_include_pad=False
    )
    assert np.abs(to_public(out) - ot.numpy()).max() < 1e-4


GLOBAL = {
    "max": (global_maxpool_forward, global_maxpool_backward),
    "avg": (global_avgpool_forward, global_avgpool_backward),
}


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_global_pool_gradients(mode, rng, gradcheck):
    forward, backward = GLOBAL[mode]
    x, _ = make((3, 2, 4, 5, 1, 1, "valid"), np.float64, rng)
    out, cache = forward(x)
    assert out.shape == (3, 2)
    dout = rng.standard_normal(out.shape)
    gradcheck.check(backward(dout, cache), lambda: float(np.sum(forward(x)[0] * dout)), x)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_global_pool_matches_torch(mode, rng):
    torch = pytest.importorskip("torch")
    forward, backward = GLOBAL[mode]
    x, _ = make((3, 4, 5, 6, 1, 1, "valid"), np.float32, rng)
    out, cache = forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = backward(dout, cache)
    xt = torch.tensor(to_public(x), requires_grad=True)
    pool = torch.nn.functional.adaptive_max_pool2d if mode == "max" else (
        torch.nn.functional.adaptive_avg_pool2d
    )
    ot = pool(xt, 1)[:, :, 0, 0]  # [B, C]
    ot.backward(torch.tensor(dout.T.copy()))
    assert np.abs(out.T - ot.detach().numpy()).max() < 1e-4
    assert np.abs(to_public(dx) - xt.grad.numpy()).max() < 1e-4


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_window_over_padding_only_outputs_zero_and_passes_no_gradient(mode):
    forward, backward = POOLS[mode]
    x = np.full((1, 1, 2, 2), -3.0)
    windows = window_2d((2, 2), 2, 2, 2)  # 3x3 windows; the border ones see only padding
    out, cache = forward(x, windows)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = -3.0
    np.testing.assert_array_equal(out, expected)
    dx = backward(np.ones((1, 1, 3, 3)), cache)
    assert np.all(np.isfinite(dx)) and dx.sum() == 1.0


# ceil_mode: (C, B, H, W, pool_size, stride, padding), padding symmetric as PyTorch's
CEIL_CASES = [
    (2, 2, 7, 7, 2, 2, 0),  # 2x2/2 on odd maps: a last half window (the tiled fast path)
    (2, 2, 6, 6, 3, 2, 1),  # a last window that would start in the padding is dropped
    (2, 2, 8, 7, 3, 2, 0),  # overlapping, last window half outside
    (1, 2, 9, 10, (2, 3), (3, 2), (1, 1)),  # non-square, gaps between windows
    (2, 1, 5, 5, 3, 3, 1),  # stride = pool with padding: a last window of one real column
    (2, 2, 6, 6, 2, 2, 0),  # tiles exactly: ceil_mode changes nothing
]
CEIL_IDS = [f"ceil{i}" for i in range(len(CEIL_CASES))]


def ceil_windows(case):
    _, _, h, w, pool, stride, padding = case
    return window_2d((h, w), pool, stride, padding, ceil_mode=True)


@pytest.mark.parametrize("case", CEIL_CASES, ids=CEIL_IDS)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_ceil_mode_matches_naive_and_finite_differences(case, mode, rng, gradcheck):
    forward, backward = POOLS[mode]
    x, _ = make(case, np.float64, rng)
    windows = ceil_windows(case)
    out, cache = forward(x, windows)
    assert out.shape[2:] == (windows[0].out, windows[1].out)
    np.testing.assert_allclose(out, pool2d_naive(x, windows, mode), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    gradcheck.check(dx, lambda: float(np.sum(forward(x, windows)[0] * dout)), x)


@pytest.mark.parametrize("case", CEIL_CASES, ids=CEIL_IDS)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_ceil_mode_matches_torch(case, mode, rng):
    """Torch's ceil_mode, with count_include_pad=False for the average (real pixels only)."""
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    forward, backward = POOLS[mode]
    x, _ = make(case, np.float64, rng)
    windows = ceil_windows(case)
    out, cache = forward(x, windows)
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    wh, ww = windows
    xt = torch.tensor(to_public(x), requires_grad=True)
    args = dict(kernel_size=(wh.f, ww.f), stride=(wh.s, ww.s),
                padding=(wh.pad_before, ww.pad_before), ceil_mode=True)
    if mode == "max":
        ot = f.max_pool2d(xt, **args)
    else:
        ot = f.avg_pool2d(xt, count_include_pad=False, **args)
    assert tuple(ot.shape) == to_public(out).shape
    ot.backward(torch.tensor(to_public(dout)))
    np.testing.assert_allclose(to_public(out), ot.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_public(dx), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_pool_without_a_cache_gives_the_same_output(case, rng):
    """Inference keeps nothing for backward (tiling windows then take a running maximum of
    strided views) and outputs exactly what training does, NaN included."""
    x, windows = make(case, np.float32, rng)
    x[0, 0, 0, 0] = np.nan
    out, cache = maxpool2d_forward(x, windows, keep_cache=False)
    want, _ = maxpool2d_forward(x, windows)
    assert cache is None
    np.testing.assert_array_equal(out, want)
