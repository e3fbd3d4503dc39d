"""Dense kernel: finite-difference gradients and PyTorch's ``linear``."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.kernels import dense_backward, dense_forward


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize(("n", "units", "batch"), [(5, 3, 4), (1, 7, 1), (12, 10, 6)])
def test_gradients_match_finite_differences(n, units, batch, use_bias, rng, gradcheck):
    x = rng.standard_normal((n, batch))
    w = rng.standard_normal((units, n))
    b = rng.standard_normal(units) if use_bias else None
    out, cache = dense_forward(x, w, b)
    assert out.shape == (units, batch)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = dense_backward(dout, cache)

    def loss() -> float:
        return float(np.sum(dense_forward(x, w, b)[0] * dout))

    gradcheck.check(dx, loss, x)
    gradcheck.check(dw, loss, w)
    if use_bias:
        gradcheck.check(db, loss, b)
    else:
        assert db is None
    assert dense_backward(dout, cache, need_dx=False)[0] is None


def test_wrong_input_size_is_refused(rng):
    with pytest.raises(ValueError, match="expect 4 input features, got 3"):
        dense_forward(rng.standard_normal((3, 2)), rng.standard_normal((5, 4)), None)


@pytest.mark.parametrize("use_bias", [True, False])
def test_matches_torch(use_bias, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((30, 8)).astype(np.float32)
    w = rng.standard_normal((10, 30)).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32) if use_bias else None
    out, cache = dense_forward(x, w, b)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dw, db = dense_backward(dout, cache)

    xt = torch.tensor(x.T.copy(), requires_grad=True)  # public layout [B, N]
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if use_bias else None
    ot = torch.nn.functional.linear(xt, wt, bt)
    ot.backward(torch.tensor(dout.T.copy()))
    assert out.dtype == np.float32
    assert np.abs(out.T - ot.detach().numpy()).max() < 1e-4
    assert np.abs(dx.T - xt.grad.numpy()).max() < 1e-4
    assert np.abs(dw - wt.grad.numpy()).max() < 1e-4
    if use_bias:
        assert np.abs(db - bt.grad.numpy()).max() < 1e-4
