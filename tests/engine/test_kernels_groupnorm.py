"""GroupNorm kernel: gradients, independence from the batch, and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.kernels import groupnorm_backward, groupnorm_forward, to_public

# (C, B, H, W, groups): layer norm, two groups, instance norm, a 1x1 map
CASES = [(4, 2, 3, 3, 1), (6, 3, 2, 4, 2), (3, 2, 3, 2, 3), (6, 3, 1, 1, 2)]
IDS = ["layer", "groups2", "instance", "pixel"]


def make(case, rng, dtype=np.float64):
    c, b, h, w, groups = case
    x = (rng.standard_normal((c, b, h, w)) * 3 + 1).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    return x, gamma, beta, groups


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_finite_differences(case, rng, gradcheck):
    x, gamma, beta, groups = make(case, rng)
    out, cache = groupnorm_forward(x, gamma, beta, groups, 1e-5)
    assert out.shape == x.shape and out.dtype == x.dtype
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = groupnorm_backward(dout, cache)

    def loss() -> float:
        return float(np.sum(groupnorm_forward(x, gamma, beta, groups, 1e-5)[0] * dout))

    gradcheck.check(dx, loss, x)
    gradcheck.check(dgamma, loss, gamma)
    gradcheck.check(dbeta, loss, beta)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch(case, dtype, rng):
    torch = pytest.importorskip("torch")
    x, gamma, beta, groups = make(case, rng, dtype)
    eps = 1e-3
    out, cache = groupnorm_forward(x, gamma, beta, groups, eps)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dgamma, dbeta = groupnorm_backward(dout, cache)
    assert dx.dtype == dtype and dgamma.dtype == dtype

    xt = torch.tensor(to_public(x), requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    ot = torch.nn.functional.group_norm(xt, groups, gt, bt, eps)
    ot.backward(torch.tensor(to_public(dout)))
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(to_public(out), ot.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_public(dx), xt.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=tol, atol=tol)


def test_each_sample_is_normalised_on_its_own(rng):
    """The batch size does not matter: a sample gives the same output alone or in a batch."""
    x, gamma, beta, groups = make((6, 4, 3, 3, 2), rng)
    batch, _ = groupnorm_forward(x, gamma, beta, groups, 1e-5)
    alone, _ = groupnorm_forward(x[:, 2:3].copy(), gamma, beta, groups, 1e-5)
    np.testing.assert_allclose(batch[:, 2:3], alone, rtol=1e-12, atol=1e-12)


def test_refuses_groups_that_do_not_divide_the_channels(rng):
    x, gamma, beta, _ = make((6, 2, 2, 2, 1), rng)
    with pytest.raises(ValueError, match="divide"):
        groupnorm_forward(x, gamma, beta, 4, 1e-5)
    with pytest.raises(ValueError, match="images"):
        groupnorm_forward(x.reshape(6, 8), gamma, beta, 2, 1e-5)
