"""Activation kernels: finite-difference gradients, numerical stability, and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.kernels import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)

KERNELS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (lambda x: leaky_relu_forward(x, 0.1), leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "softmax": (softmax_forward, softmax_backward),
}
SHAPES = {"flat": (6, 4), "image": (3, 2, 4, 5)}


def inputs(shape, rng, dtype=np.float64):
    """Values kept away from 0, where ReLU-like kernels have a kink finite differences straddle."""
    x = rng.standard_normal(shape) * 2
    x[np.abs(x) < 0.05] += 0.2
    return x.astype(dtype)


def cases():
    for name in KERNELS:
        for kind in SHAPES:
            if name == "softmax" and kind == "image":
                continue
            yield name, kind


@pytest.mark.parametrize(("name", "kind"), list(cases()))
def test_gradient_matches_finite_differences(name, kind, rng, gradcheck):
    forward, backward = KERNELS[name]
    x = inputs(SHAPES[kind], rng)
    out, cache = forward(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    gradcheck.check(dx, lambda: float(np.sum(forward(x)[0] * dout)), x)


def torch_reference(name, xt):
    f = pytest.importorskip("torch").nn.functional
    return {
        "relu": f.relu,
        "leaky_relu": lambda t: f.leaky_relu(t, 0.1),
        "sigmoid": lambda t: t.sigmoid(),
        "tanh": lambda t: t.tanh(),
        "softmax": lambda t: f.softmax(t, dim=0),  # our flat layout is [N, B]: features first
    }[name](xt)


@pytest.mark.parametrize(("name", "kind"), list(cases()))
def test_matches_torch(name, kind, rng):
    torch = pytest.importorskip("torch")
    forward, backward = KERNELS[name]
    x = inputs(SHAPES[kind], rng, np.float32)
    out, cache = forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    ot = torch_reference(name, xt)
    ot.backward(torch.tensor(dout))
    assert out.dtype == np.float32 and dx.dtype == np.float32
    assert np.abs(out - ot.detach().numpy()).max() < 1e-4
    assert np.abs(dx - xt.grad.numpy()).max() < 1e-4


def test_relu_inplace_overwrites_and_default_does_not(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    original = x.copy()
    out, _ = relu_forward(x)
    np.testing.assert_array_equal(x, original)
    out2, _ = relu_forward(x, inplace=True)
    assert out2 is x
    np.testing.assert_array_equal(x, out)


def test_relu_gradient_at_zero_is_zero():
    out, cache = relu_forward(np.zeros((2, 2)))
    np.testing.assert_array_equal(relu_backward(np.ones((2, 2)), cache), 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softmax_are_stable_for_huge_inputs(dtype):
    x = np.array([[-1000.0, 0.0, 1000.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s, _ = sigmoid_forward(x)
        p, _ = softmax_forward(np.array([[1000.0], [-1000.0], [999.0]], dtype=dtype))
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(p[:, 0], [1 / (1 + np.exp(-1.0)), 0.0, 1 / (1 + np.e)], rtol=1e-6)
    assert s.dtype == dtype and p.dtype == dtype


def test_sigmoid_keeps_relative_precision_in_the_tail():
    s, _ = sigmoid_forward(np.array([-30.0]))
    np.testing.assert_allclose(s, np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-12)


def test_softmax_refuses_images(rng):
    with pytest.raises(ValueError, match="flat"):
        softmax_forward(rng.standard_normal((2, 2, 3, 3)))
