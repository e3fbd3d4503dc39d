"""BatchNorm kernel: gradients, moving statistics, evaluation mode, and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.kernels import (
    batchnorm_backward,
    batchnorm_forward,
    flat_to_public,
    to_public,
)

SHAPES = {"image": (3, 4, 3, 5), "flat": (5, 6)}


def params(c, rng, dtype=np.float64):
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    mean = rng.standard_normal(c).astype(dtype)
    var = rng.uniform(0.5, 2.0, c).astype(dtype)
    return gamma, beta, mean, var


@pytest.mark.parametrize("kind", list(SHAPES))
@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_finite_differences(kind, training, rng, gradcheck):
    shape = SHAPES[kind]
    x = rng.standard_normal(shape) * 3 + 1
    gamma, beta, mean, var = params(shape[0], rng)

    def forward():
        return batchnorm_forward(x, gamma, beta, mean, var, 0.9, 1e-5, training)

    out, cache, _, _ = forward()
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    def loss() -> float:
        return float(np.sum(forward()[0] * dout))

    gradcheck.check(dx, loss, x)
    gradcheck.check(dgamma, loss, gamma)
    gradcheck.check(dbeta, loss, beta)


@pytest.mark.parametrize("kind", list(SHAPES))
def test_training_normalises_each_channel_and_updates_moving_stats(kind, rng):
    shape = SHAPES[kind]
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[0]
    ones, zeros = np.ones(c), np.zeros(c)
    mean0, var0 = np.full(c, 0.5), np.full(c, 2.0)
    out, _, mean1, var1 = batchnorm_forward(x, ones, zeros, mean0, var0, 0.9, 1e-5, True)
    per_channel = np.moveaxis(x, 0, -1).reshape(-1, c)  # [M, C]
    normed = np.moveaxis(out, 0, -1).reshape(-1, c)
    np.testing.assert_allclose(normed.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(normed.var(axis=0), 1, rtol=1e-4)  # biased variance, eps aside
    np.testing.assert_allclose(mean1, 0.9 * 0.5 + 0.1 * per_channel.mean(axis=0))
    np.testing.assert_allclose(var1, 0.9 * 2.0 + 0.1 * per_channel.var(axis=0, ddof=1))
    np.testing.assert_array_equal(mean0, 0.5)  # the inputs are not modified
    np.testing.assert_array_equal(var0, 2.0)


def test_evaluation_uses_moving_stats_and_keeps_them(rng):
    x = rng.standard_normal((2, 3, 2, 2))
    gamma, beta, mean, var = params(2, rng)
    out, _, mean1, var1 = batchnorm_forward(x, gamma, beta, mean, var, 0.9, 1e-3, False)
    expected = (x - mean[:, None, None, None]) / np.sqrt(var[:, None, None, None] + 1e-3)
    expected = expected * gamma[:, None, None, None] + beta[:, None, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert mean1 is mean and var1 is var


@pytest.mark.parametrize("kind", list(SHAPES))
def test_training_step_matches_torch(kind, rng):
    torch = pytest.importorskip("torch")
    shape = SHAPES[kind]
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    c = shape[0]
    gamma, beta, mean, var = params(c, rng, np.float32)
    out, cache, mean1, var1 = batchnorm_forward(x, gamma, beta, mean, var, 0.9, 1e-5, True)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    public = to_public if kind == "image" else flat_to_public
    bn = (torch.nn.BatchNorm2d if kind == "image" else torch.nn.BatchNorm1d)(
        c, eps=1e-5, momentum=0.1  # torch's momentum is 1 - ours
    )
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
        bn.running_mean.copy_(torch.tensor(mean))
        bn.running_var.copy_(torch.tensor(var))
    xt = torch.tensor(public(x), requires_grad=True)
    ot = bn.train()(xt)
    ot.backward(torch.tensor(public(dout)))
    assert np.abs(public(out) - ot.detach().numpy()).max() < 1e-4
    assert np.abs(public(dx) - xt.grad.numpy()).max() < 1e-4
    assert np.abs(dgamma - bn.weight.grad.numpy()).max() < 1e-4
    assert np.abs(dbeta - bn.bias.grad.numpy()).max() < 1e-4
    assert np.abs(mean1 - bn.running_mean.numpy()).max() < 1e-4
    assert np.abs(var1 - bn.running_var.numpy()).max() < 1e-4

    # evaluation with the updated statistics
    out_eval, _, _, _ = batchnorm_forward(x, gamma, beta, mean1, var1, 0.9, 1e-5, False)
    with torch.no_grad():
        ot_eval = bn.eval()(torch.tensor(public(x)))
    assert np.abs(public(out_eval) - ot_eval.numpy()).max() < 1e-4


def test_float32_stays_float32(rng):
    x = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    gamma, beta, mean, var = params(2, rng, np.float32)
    out, cache, m, v = batchnorm_forward(x, gamma, beta, mean, var, 0.9, 1e-5, True)
    grads = batchnorm_backward(np.ones_like(out), cache)
    assert out.dtype == m.dtype == v.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


def test_wrong_channel_count_is_refused(rng):
    gamma, beta, mean, var = params(3, rng)
    with pytest.raises(ValueError, match="3 channels, input has 2"):
        batchnorm_forward(np.zeros((2, 4)), gamma, beta, mean, var, 0.9, 1e-5, True)
