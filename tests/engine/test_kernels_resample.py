"""ZeroPadding2D and UpSampling2D: shapes, finite differences, adjointness and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core.shapes import pad_sides
from cnnstudio.engine.kernels import (
    to_public,
    upsample2d_backward,
    upsample2d_forward,
    zero_pad2d_backward,
    zero_pad2d_forward,
)

PADDINGS = [1, (2, 1), (0, 2, 1, 3), 0]


@pytest.mark.parametrize("padding", PADDINGS)
def test_zero_padding_places_the_input_and_crops_back(padding, rng, gradcheck):
    x = rng.standard_normal((2, 3, 4, 5))
    top, bottom, left, right = pad_sides(padding)
    out, cache = zero_pad2d_forward(x, padding)
    assert out.shape == (2, 3, 4 + top + bottom, 5 + left + right)
    np.testing.assert_array_equal(out[:, :, top : top + 4, left : left + 5], x)
    assert np.abs(out).sum() == pytest.approx(np.abs(x).sum())  # the border is zeros
    dout = rng.standard_normal(out.shape)
    dx = zero_pad2d_backward(dout, cache)
    gradcheck.check(dx, lambda: float(np.sum(zero_pad2d_forward(x, padding)[0] * dout)), x)


@pytest.mark.parametrize("padding", PADDINGS)
def test_zero_padding_matches_torch(padding, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    top, bottom, left, right = pad_sides(padding)
    out, _ = zero_pad2d_forward(x, padding)
    ot = torch.nn.ZeroPad2d((left, right, top, bottom))(torch.tensor(to_public(x)))
    np.testing.assert_array_equal(to_public(out), ot.numpy())


@pytest.mark.parametrize("bad", [-1, (1, 2, 3), (1, -1), 1.5])
def test_zero_padding_refuses_bad_sizes(bad):
    with pytest.raises(ValueError, match="padding"):
        zero_pad2d_forward(np.zeros((1, 1, 2, 2)), bad)


SCALES = [2, 3, (2, 3), (1, 2)]
MODES = ["nearest", "bilinear"]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("mode", MODES)
def test_upsampling_gradient(scale, mode, rng, gradcheck):
    x = rng.standard_normal((2, 2, 3, 4))
    out, cache = upsample2d_forward(x, scale, mode)
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    assert out.shape == (2, 2, 3 * sh, 4 * sw) and out.dtype == x.dtype
    dout = rng.standard_normal(out.shape)
    dx = upsample2d_backward(dout, cache)
    gradcheck.check(dx, lambda: float(np.sum(upsample2d_forward(x, scale, mode)[0] * dout)), x)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hw", [(5, 7), (1, 3)])
def test_upsampling_matches_torch(scale, mode, hw, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 2, *hw))
    out, cache = upsample2d_forward(x, scale, mode)
    dout = rng.standard_normal(out.shape)
    dx = upsample2d_backward(dout, cache)
    xt = torch.tensor(to_public(x), requires_grad=True)
    factor = tuple(float(s) for s in ((scale, scale) if isinstance(scale, int) else scale))
    extra = {"align_corners": False} if mode == "bilinear" else {}
    ot = torch.nn.functional.interpolate(xt, scale_factor=factor, mode=mode, **extra)
    ot.backward(torch.tensor(to_public(dout)))
    np.testing.assert_allclose(to_public(out), ot.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_public(dx), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_bilinear_upsampling_float32_stays_float32(rng):
    x = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    out, cache = upsample2d_forward(x, 2, "bilinear")
    assert out.dtype == np.float32
    assert upsample2d_backward(np.ones_like(out), cache).dtype == np.float32


def test_upsampling_refuses_bad_scale_and_mode():
    x = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match="scale"):
        upsample2d_forward(x, 0)
    with pytest.raises(ValueError, match="scale"):
        upsample2d_forward(x, (2, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        upsample2d_forward(x, 2, "bicubic")


def test_upsampling_refuses_fractional_scale():
    with pytest.raises(ValueError, match="scale"):
        upsample2d_forward(np.zeros((1, 1, 2, 2)), 1.5)
