"""Dropout kernels: statistics of the mask, scaling, evaluation mode, and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.kernels import dropout_backward, dropout_forward, spatial_dropout2d_forward


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_keeps_the_expected_fraction_and_scales_it(rate, dtype, rng):
    x = np.ones((200, 500), dtype=dtype)
    out, mask = dropout_forward(x, rate, rng, training=True)
    kept = out != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01  # 100k draws: std of the fraction < 0.0016
    np.testing.assert_allclose(out[kept], 1 / (1 - rate), rtol=1e-6)
    assert out.dtype == dtype and mask.dtype == dtype
    np.testing.assert_array_equal(out, x * mask)
    assert abs(out.mean() - 1) < 0.03  # inverted scaling keeps the expectation


def test_spatial_dropout_zeroes_whole_maps(rng):
    x = rng.uniform(1, 2, (16, 50, 4, 5))
    out, mask = spatial_dropout2d_forward(x, 0.3, rng, training=True)
    assert mask.shape == (16, 50, 1, 1)
    zero_maps = np.all(out == 0, axis=(2, 3))
    kept_maps = np.all(out != 0, axis=(2, 3))
    assert np.all(zero_maps | kept_maps)  # never part of a map
    assert abs(zero_maps.mean() - 0.3) < 0.05  # 800 maps: std of the fraction ~ 0.016
    np.testing.assert_allclose(out[kept_maps], x[kept_maps] / 0.7)


@pytest.mark.parametrize("forward", [dropout_forward, spatial_dropout2d_forward])
def test_identity_in_eval_mode_and_with_rate_zero(forward, rng):
    x = rng.standard_normal((3, 4, 2, 2))
    for rate, training in [(0.5, False), (0.0, True)]:
        out, cache = forward(x, rate, rng, training=training)
        np.testing.assert_array_equal(out, x)
        assert cache is None
        dout = rng.standard_normal(x.shape)
        np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("forward", [dropout_forward, spatial_dropout2d_forward])
def test_gradient_matches_finite_differences_for_a_fixed_mask(forward, rng, gradcheck):
    x = rng.standard_normal((3, 4, 2, 2))
    out, mask = forward(x, 0.5, rng, training=True)
    dout = rng.standard_normal(out.shape)
    dx = dropout_backward(dout, mask)
    gradcheck.check(dx, lambda: float(np.sum(x * mask * dout)), x)
    np.testing.assert_array_equal(dx, dout * mask)


def test_same_seed_same_mask():
    x = np.ones((10, 10))
    a = dropout_forward(x, 0.5, np.random.default_rng(7), True)[1]
    b = dropout_forward(x, 0.5, np.random.default_rng(7), True)[1]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_rate_outside_unit_interval_is_refused(rate, rng):
    with pytest.raises(ValueError, match="rate"):
        dropout_forward(np.ones((2, 2)), rate, rng, True)


def test_spatial_dropout_matches_torch_with_the_same_mask(rng):
    """Torch draws its own mask, so apply ours there: scaling and gradient routing must agree."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4, 5, 5)).astype(np.float32)
    out, mask = spatial_dropout2d_forward(x, 0.4, rng, training=True)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = dropout_backward(dout, mask)
    xt = torch.tensor(x.transpose(1, 0, 2, 3).copy(), requires_grad=True)
    keep = torch.tensor((mask != 0).transpose(1, 0, 2, 3).astype(np.float32))
    ot = xt * keep / (1 - 0.4)  # what torch's dropout2d computes for a given keep mask
    ot.backward(torch.tensor(dout.transpose(1, 0, 2, 3).copy()))
    assert np.abs(out.transpose(1, 0, 2, 3) - ot.detach().numpy()).max() < 1e-4
    assert np.abs(dx.transpose(1, 0, 2, 3) - xt.grad.numpy()).max() < 1e-4


def test_torch_dropout_uses_the_same_scaling():
    """Torch's own dropout keeps values at x / (1 - p): the convention ours must match."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    out = torch.nn.functional.dropout(torch.ones(1000), p=0.25, training=True)
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.75))
    ours, _ = dropout_forward(np.ones(1000, np.float32), 0.25, np.random.default_rng(0), True)
    np.testing.assert_allclose(ours[ours != 0], 1 / 0.75, rtol=1e-6)
