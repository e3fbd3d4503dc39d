"""Convolution kernels: fast vs naive, finite-difference gradients, and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core.shapes import pair, window_2d
from cnnstudio.engine.kernels import conv2d_backward, conv2d_forward, to_public
from cnnstudio.engine.kernels._blas import single_threaded_blas
from cnnstudio.engine.kernels.reference import conv2d_naive

# (C, B, H, W, K, kernel, stride, padding, use_bias)
CASES = [
    (2, 3, 7, 7, 4, 3, 1, "valid", True),
    (2, 2, 7, 7, 3, 3, 1, "same", True),
    (3, 2, 8, 8, 2, 3, 2, "same", False),  # "same" stride 2: asymmetric (0, 1) padding
    (2, 2, 6, 7, 3, 2, 1, "same", True),  # even kernel: asymmetric padding
    (2, 2, 7, 9, 3, (3, 2), (2, 1), 1, True),  # non-square kernel and stride
    (1, 2, 9, 9, 2, 5, 3, 2, True),  # does not tile: last rows never read
    (3, 2, 5, 5, 4, 1, 1, "valid", True),  # 1x1
    (2, 2, 6, 6, 2, 4, 2, (1, 2), False),  # even kernel, per-axis padding
    (2, 1, 5, 8, 2, (1, 3), (1, 3), "same", True),  # stride 3 "same" on width only
    (2, 2, 6, 7, 3, (2, 3), 1, "valid", False),  # unpadded stride 1, non-square
    (3, 2, 8, 8, 2, 5, 1, "valid", True),  # LeNet-like 5x5 valid
    # filters <= channels: both gradients through the output gradient's columns (no column
    # matrix kept by the forward pass)
    (4, 4, 6, 6, 2, 3, 1, "same", True),
    (3, 5, 5, 7, 3, (3, 5), 1, (1, 2), False),  # the same, non-square kernel and padding
]
IDS = [f"case{i}" for i in range(len(CASES))]


def make(case, dtype, rng):
    c, b, h, w, k, kernel, stride, padding, use_bias = case
    fh, fw = pair(kernel)
    x = rng.standard_normal((c, b, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, fh, fw)).astype(dtype)
    bias = rng.standard_normal(k).astype(dtype) if use_bias else None
    windows = window_2d((h, w), kernel, stride, padding)
    return x, wt, bias, windows


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_naive(case, dtype, rng):
    x, w, b, windows = make(case, dtype, rng)
    out, _ = conv2d_forward(x, w, b, windows)
    ref = conv2d_naive(x, w, b, windows)
    assert out.dtype == dtype
    assert out.shape == (w.shape[0], x.shape[1], windows[0].out, windows[1].out)
    np.testing.assert_allclose(out, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_finite_differences(case, rng, gradcheck):
    x, w, b, windows = make(case, np.float64, rng)
    out, cache = conv2d_forward(x, w, b, windows)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    def loss() -> float:
        return float(np.sum(conv2d_forward(x, w, b, windows)[0] * dout))

    gradcheck.check(dx, loss, x)
    gradcheck.check(dw, loss, w)
    if b is None:
        assert db is None
    else:
        gradcheck.check(db, loss, b)


def test_the_cases_reach_both_ways_of_keeping_what_backward_needs(rng):
    """Training forwards keep either the column matrix or, for stride-1 layers with no more
    filters than channels, only the input; every test over CASES covers both."""
    kept = set()
    for case in CASES:
        x, w, b, windows = make(case, np.float64, rng)
        cache = conv2d_forward(x, w, b, windows)[1]
        kept.add("input" if cache.cols is None else "columns")
        assert (cache.x is None) == (cache.cols is not None)
    assert kept == {"input", "columns"}


def test_need_dx_false_skips_only_the_input_gradient(rng):
    x, w, b, windows = make(CASES[2], np.float32, rng)
    out, cache = conv2d_forward(x, w, b, windows)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(dout, cache)
    dx2, dw2, db2 = conv2d_backward(dout, cache, need_dx=False)
    assert dx is not None and dx2 is None
    np.testing.assert_array_equal(dw, dw2)


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[10]], ids=["same", "stride2", "valid"])
def test_workspace_reuse_gives_the_same_results_step_after_step(case, rng):
    workspace: dict = {}
    for _step in range(2):
        x, w, b, windows = make(case, np.float32, rng)
        out, cache = conv2d_forward(x, w, b, windows)
        out_ws, cache_ws = conv2d_forward(x, w, b, windows, workspace=workspace)
        np.testing.assert_array_equal(out_ws, out)
        dout = rng.standard_normal(out.shape).astype(np.float32)
        for got, want in zip(conv2d_backward(dout, cache_ws), conv2d_backward(dout, cache),
                             strict=True):
            if want is None:
                assert got is None
            else:
                np.testing.assert_array_equal(got, want)
    # a different input size reallocates instead of misusing the old buffers
    x, w, b, windows = make((2, 5, 9, 9, 3, 3, 1, "same", True), np.float32, rng)
    out_ws, _ = conv2d_forward(x, w, b, windows, workspace=workspace)
    np.testing.assert_array_equal(out_ws, conv2d_forward(x, w, b, windows)[0])


def test_mismatched_windows_are_refused(rng):
    x, w, b, windows = make(CASES[0], np.float32, rng)
    with pytest.raises(ValueError, match="resolved for input"):
        conv2d_forward(x[:, :, :5], w, b, windows)
    with pytest.raises(ValueError, match="input channels"):
        conv2d_forward(x[:1], w, b, windows)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    x, w, b, windows = make(case, np.float32, rng)
    wh, ww = windows
    out, cache = conv2d_forward(x, w, b, windows)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(dout, cache)

    xt = torch.tensor(to_public(x), requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    padded = f.pad(xt, (ww.pad_before, ww.pad_after, wh.pad_before, wh.pad_after))
    ot = f.conv2d(padded, wt, bt, stride=(wh.s, ww.s))
    ot.backward(torch.tensor(to_public(dout)))

    assert np.abs(to_public(out) - ot.detach().numpy()).max() < 1e-4
    assert np.abs(to_public(dx) - xt.grad.numpy()).max() < 1e-4
    assert np.abs(dw - wt.grad.numpy()).max() < 1e-4
    if b is not None:
        assert np.abs(db - bt.grad.numpy()).max() < 1e-4


# (C, B, H, W, K, kernel, stride, padding, use_bias, dilation, groups)
GENERAL = [
    (2, 2, 9, 9, 3, 3, 1, "valid", True, 2, 1),  # atrous, valid
    (2, 2, 8, 9, 2, 3, 1, "same", False, 2, 1),  # atrous "same": pads d*(f-1) = 4
    (2, 2, 9, 8, 3, (3, 2), (2, 1), "same", True, (2, 3), 1),  # asymmetric padding, per-axis d
    (3, 2, 10, 10, 2, 3, 2, 1, True, 3, 1),  # dilation larger than the stride
    (4, 2, 7, 7, 4, 3, 1, "same", True, 1, 4),  # depthwise
    (4, 2, 8, 8, 8, 3, 2, "same", False, 1, 4),  # depthwise, 2 filters per channel, stride 2
    (6, 2, 7, 6, 4, 3, 1, 1, True, 1, 2),  # 2 groups of 3 channels -> 2 filters each
    (4, 3, 9, 9, 4, 3, 2, "same", True, 2, 2),  # grouped and dilated
    (4, 2, 5, 5, 4, 1, 1, "valid", True, 1, 4),  # 1x1 depthwise: the column matrix is x itself
    (2, 2, 4, 4, 2, 2, 1, "valid", True, 3, 1),  # dilated extent equals the input
]
GENERAL_IDS = [f"general{i}" for i in range(len(GENERAL))]


def make_general(case, dtype, rng):
    c, b, h, w, k, kernel, stride, padding, use_bias, dilation, groups = case
    (fh, fw), (dh, dw) = pair(kernel), pair(dilation)
    x = rng.standard_normal((c, b, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c // groups, fh, fw)).astype(dtype)
    bias = rng.standard_normal(k).astype(dtype) if use_bias else None
    windows = window_2d((h, w), (dh * (fh - 1) + 1, dw * (fw - 1) + 1), stride, padding)
    return x, wt, bias, windows, (dh, dw), groups


@pytest.mark.parametrize("case", GENERAL, ids=GENERAL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dilated_and_grouped_forward_matches_naive(case, dtype, rng):
    x, w, b, windows, dilation, groups = make_general(case, dtype, rng)
    out, cache = conv2d_forward(x, w, b, windows, dilation=dilation, groups=groups)
    ref = conv2d_naive(x, w, b, windows, dilation, groups)
    assert out.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
    assert all(g is None or g.dtype == dtype for g in conv2d_backward(out, cache))


@pytest.mark.parametrize("case", GENERAL, ids=GENERAL_IDS)
def test_dilated_and_grouped_gradients_match_finite_differences(case, rng, gradcheck):
    x, w, b, windows, dilation, groups = make_general(case, np.float64, rng)
    out, cache = conv2d_forward(x, w, b, windows, dilation=dilation, groups=groups)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    def loss() -> float:
        return float(np.sum(conv2d_forward(x, w, b, windows, dilation=dilation,
                                           groups=groups)[0] * dout))

    gradcheck.check(dx, loss, x)
    gradcheck.check(dw, loss, w)
    if b is not None:
        gradcheck.check(db, loss, b)
    no_dx, dw2, _ = conv2d_backward(dout, cache, need_dx=False)
    assert no_dx is None
    np.testing.assert_array_equal(dw2, dw)


@pytest.mark.parametrize("case", GENERAL, ids=GENERAL_IDS)
def test_dilated_and_grouped_match_torch(case, rng):
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    x, w, b, windows, dilation, groups = make_general(case, np.float64, rng)
    wh, ww = windows
    workspace: dict = {}
    out, cache = conv2d_forward(x, w, b, windows, workspace, dilation, groups)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    xt = torch.tensor(to_public(x), requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    padded = f.pad(xt, (ww.pad_before, ww.pad_after, wh.pad_before, wh.pad_after))
    ot = f.conv2d(padded, wt, bt, stride=(wh.s, ww.s), dilation=dilation, groups=groups)
    ot.backward(torch.tensor(to_public(dout)))
    np.testing.assert_allclose(to_public(out), ot.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_public(dx), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-12, atol=1e-12)
    if b is not None:
        np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_groups_and_dilation_that_do_not_fit_are_refused(rng):
    x, w, b, windows, _, _ = make_general(GENERAL[4], np.float64, rng)
    with pytest.raises(ValueError, match="groups 3 must divide"):
        conv2d_forward(x, w, b, windows, groups=3)
    with pytest.raises(ValueError, match="input channels"):
        conv2d_forward(x, w, b, windows, groups=2)  # weights are for 4 groups of 1
    with pytest.raises(ValueError, match="resolved for kernel"):
        conv2d_forward(x, w, b, windows, dilation=2, groups=4)  # windows span 3, not 5
    with pytest.raises(ValueError, match="dilation"):
        conv2d_forward(x, w, b, windows, dilation=0, groups=4)


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Blocked convolutions cut into many chunks: bands of a few output rows of one image."""
    from cnnstudio.engine.kernels import conv

    monkeypatch.setattr(conv, "CHUNK_BYTES", 64)
    monkeypatch.setattr(conv, "MIN_SPLIT_BYTES", 0)
    with single_threaded_blas():  # as in a network pass: the chunks run on all cores
        yield


@pytest.mark.parametrize("case", GENERAL + [c + (1, 1) for c in CASES],
                         ids=GENERAL_IDS + IDS)
def test_chunked_convolution_matches_naive_and_is_repeatable(case, rng, tiny_chunks,
                                                             gradcheck):
    """However a batch is cut into chunks (groups of images, bands of rows of one image, spread
    over threads), the forward pass and the gradients are those of the whole batch at once,
    and identical from run to run."""
    x, w, b, windows, dilation, groups = make_general(case, np.float64, rng)
    out, cache = conv2d_forward(x, w, b, windows, {}, dilation, groups)
    np.testing.assert_allclose(out, conv2d_naive(x, w, b, windows, dilation, groups),
                               rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    grads = conv2d_backward(dout, cache)

    def loss() -> float:
        return float(np.sum(conv2d_forward(x, w, b, windows, dilation=dilation,
                                           groups=groups)[0] * dout))

    for grad, arr in zip(grads, (x, w, b), strict=True):
        if arr is not None:
            gradcheck.check(grad, loss, arr)
    again = conv2d_backward(dout, conv2d_forward(x, w, b, windows, {}, dilation, groups)[1])
    for got, want in zip(again, grads, strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)


def test_inference_forward_keeps_nothing_and_gives_the_same_output(rng):
    """A pass without a backward (prediction, feature maps) builds its columns in reused
    per-thread buffers and returns no cache, with the same values as a training pass."""
    for case in (CASES[1], CASES[4], CASES[10]):
        x, w, b, windows = make(case, np.float32, rng)
        out, cache = conv2d_forward(x, w, b, windows, keep_columns=False)
        assert cache is None
        np.testing.assert_array_equal(out, conv2d_forward(x, w, b, windows)[0])
