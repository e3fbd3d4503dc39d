"""ELU, GELU, SiLU, ReLU6, Hardsigmoid, Hardswish: finite differences, kinks and PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnstudio.engine.kernels import (
    elu_backward,
    elu_forward,
    gelu_backward,
    gelu_forward,
    hardsigmoid_backward,
    hardsigmoid_forward,
    hardswish_backward,
    hardswish_forward,
    relu6_backward,
    relu6_forward,
    silu_backward,
    silu_forward,
)
from cnnstudio.engine.kernels._erf import normal_cdf

KERNELS = {
    "elu": (elu_forward, elu_backward),
    "elu_alpha": (lambda x: elu_forward(x, 0.3), elu_backward),
    "gelu": (gelu_forward, gelu_backward),
    "gelu_tanh": (lambda x: gelu_forward(x, "tanh"), gelu_backward),
    "silu": (silu_forward, silu_backward),
    "relu6": (relu6_forward, relu6_backward),
    "hardsigmoid": (hardsigmoid_forward, hardsigmoid_backward),
    "hardswish": (hardswish_forward, hardswish_backward),
}
KINKS = (-3.0, 0.0, 3.0, 6.0)
#: Float64 tolerance against torch: torch's Hardsigmoid backward multiplies by 1/6 rounded to
#: float32 (a 3e-8 relative error on its side), everything else agrees to rounding.
TORCH_F64_TOL = {"hardsigmoid": 5e-8}


def torch_reference(name, xt):
    f = pytest.importorskip("torch").nn.functional
    return {
        "elu": f.elu,
        "elu_alpha": lambda t: f.elu(t, alpha=0.3),
        "gelu": f.gelu,
        "gelu_tanh": lambda t: f.gelu(t, approximate="tanh"),
        "silu": f.silu,
        "relu6": f.relu6,
        "hardsigmoid": f.hardsigmoid,
        "hardswish": f.hardswish,
    }[name](xt)


def inputs(shape, rng):
    """Spread over [-8, 8] and kept 0.02 away from every kink, where finite differences would
    straddle two slopes."""
    x = rng.uniform(-8, 8, shape)
    for k in KINKS:
        near = np.abs(x - k) < 0.02
        x[near] = k + 0.05
    return x


@pytest.mark.parametrize("name", KERNELS)
def test_gradient_matches_finite_differences(name, rng, gradcheck):
    forward, backward = KERNELS[name]
    x = inputs((3, 2, 3, 4), rng)
    out, cache = forward(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    gradcheck.check(dx, lambda: float(np.sum(forward(x)[0] * dout)), x)


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch_including_kinks_and_tails(name, dtype, rng):
    """Forward and backward against torch at random points, at every kink (where each defines
    its own one-sided slope) and far in the tails."""
    torch = pytest.importorskip("torch")
    forward, backward = KERNELS[name]
    special = np.array([*KINKS, -0.0, -30.0, -12.0, 12.0, 30.0, 1e-8, -1e-8])
    x = np.concatenate([rng.uniform(-10, 10, 500), special]).astype(dtype)
    out, cache = forward(x)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = backward(dout, cache)
    assert out.dtype == dtype and dx.dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    ot = torch_reference(name, xt)
    ot.backward(torch.tensor(dout))
    # float32: tanh rounds to 1 a little early, so GELU-tanh's 1 - t**2 is off by a few ulp
    tol = TORCH_F64_TOL.get(name, 1e-12) if dtype == np.float64 else 3e-6
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tol, atol=tol)


def test_normal_cdf_is_accurate_everywhere():
    """Against math.erfc over [-40, 40]: absolute error at double precision, and the lower tail
    relatively exact (GELU of a very negative input is a tiny negative number, not 0)."""
    x = np.linspace(-40, 40, 4001)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    got = normal_cdf(x)
    assert np.abs(got - exact).max() < 1e-14
    tail = (x < 0) & (exact > 1e-300)
    assert np.max(np.abs(got[tail] - exact[tail]) / exact[tail]) < 1e-12
    got32 = normal_cdf(x.astype(np.float32))
    assert got32.dtype == np.float32 and np.abs(got32 - exact).max() < 2e-7


def test_elu_does_not_overflow_on_large_inputs():
    with np.errstate(over="raise", invalid="raise"):
        out, cache = elu_forward(np.array([1000.0, -1000.0], dtype=np.float32))
        dx = elu_backward(np.ones(2, dtype=np.float32), cache)
    np.testing.assert_array_equal(out, [1000.0, -1.0])
    np.testing.assert_array_equal(dx, [1.0, 0.0])


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(ValueError, match="tanh"):
        gelu_forward(np.zeros(2), "fast")
