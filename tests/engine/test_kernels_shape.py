"""Flatten, Add, Multiply, Concatenate and the layout conversions."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.kernels import (
    add_backward,
    add_forward,
    batch_to_internal,
    batch_to_public,
    concat_backward,
    concat_forward,
    flat_to_internal,
    flat_to_public,
    flatten_backward,
    flatten_forward,
    multiply_backward,
    multiply_forward,
    to_internal,
    to_public,
)


def test_layout_round_trips_and_is_contiguous(rng):
    x = rng.standard_normal((4, 3, 5, 6))  # [B, C, H, W]
    xi = to_internal(x)
    assert xi.shape == (3, 4, 5, 6) and xi.flags.c_contiguous
    assert xi[2, 1, 3, 4] == x[1, 2, 3, 4]
    np.testing.assert_array_equal(to_public(xi), x)
    f = rng.standard_normal((4, 7))  # [B, N]
    fi = flat_to_internal(f)
    assert fi.shape == (7, 4) and fi.flags.c_contiguous
    np.testing.assert_array_equal(flat_to_public(fi), f)
    np.testing.assert_array_equal(batch_to_public(batch_to_internal(x)), x)
    np.testing.assert_array_equal(batch_to_public(batch_to_internal(f)), f)


def test_flatten_uses_c_h_w_order_per_sample(rng):
    x = rng.standard_normal((3, 2, 4, 5))
    out, cache = flatten_forward(x)
    assert out.shape == (60, 2)
    # sample b's features are x[:, b] in C, H, W order, exactly what torch's flatten(1) gives
    np.testing.assert_array_equal(out[:, 1], x[:, 1].reshape(-1))
    np.testing.assert_array_equal(flatten_backward(out, cache), x)


def test_flatten_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 2, 4, 5)).astype(np.float32)
    out, _ = flatten_forward(x)
    ot = torch.tensor(to_public(x)).flatten(1)
    np.testing.assert_array_equal(flat_to_public(out), ot.numpy())


def test_flatten_gradient(rng, gradcheck):
    x = rng.standard_normal((2, 3, 2, 3))
    out, cache = flatten_forward(x)
    dout = rng.standard_normal(out.shape)
    dx = flatten_backward(dout, cache)
    gradcheck.check(dx, lambda: float(np.sum(flatten_forward(x)[0] * dout)), x)


@pytest.mark.parametrize("n", [2, 3])
def test_add_gradients_and_independence(n, rng, gradcheck):
    xs = [rng.standard_normal((2, 3, 2, 2)) for _ in range(n)]
    out, cache = add_forward(xs)
    np.testing.assert_allclose(out, sum(xs))
    dout = rng.standard_normal(out.shape)
    expected = dout.copy()
    grads = add_backward(dout, cache)
    assert len(grads) == n
    for x, g in zip(xs, grads, strict=True):
        gradcheck.check(g, lambda: float(np.sum(add_forward(xs)[0] * dout)), x)
    grads[0] += 1  # accumulating into one branch's gradient ...
    np.testing.assert_allclose(grads[1], expected)  # ... leaves the others alone


def test_add_refuses_mismatched_shapes(rng):
    with pytest.raises(ValueError, match="one shape"):
        add_forward([np.zeros((2, 3)), np.zeros((3, 3))])


@pytest.mark.parametrize("shapes", [[(2, 3, 4, 4), (3, 3, 4, 4)], [(4, 5), (1, 5), (2, 5)]])
def test_concat_gradients(shapes, rng, gradcheck):
    xs = [rng.standard_normal(s) for s in shapes]
    out, cache = concat_forward(xs)
    assert out.shape[0] == sum(s[0] for s in shapes)
    dout = rng.standard_normal(out.shape)
    grads = concat_backward(dout, cache)
    for x, g in zip(xs, grads, strict=True):
        gradcheck.check(g, lambda: float(np.sum(concat_forward(xs)[0] * dout)), x)


def test_concat_matches_torch_channel_concat(rng):
    torch = pytest.importorskip("torch")
    xs = [rng.standard_normal((c, 2, 3, 3)).astype(np.float32) for c in (2, 5)]
    out, _ = concat_forward(xs)
    ot = torch.cat([torch.tensor(to_public(x)) for x in xs], dim=1)
    np.testing.assert_array_equal(to_public(out), ot.numpy())


def test_concat_refuses_spatial_mismatch():
    with pytest.raises(ValueError, match="channel axis"):
        concat_forward([np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 3, 4))])


MULTIPLY_SHAPES = {
    "elementwise_image": ((3, 2, 4, 5), (3, 2, 4, 5)),
    "elementwise_flat": ((6, 3), (6, 3)),
    "scale_second": ((3, 2, 4, 5), (3, 2)),
    "scale_first": ((3, 2), (3, 2, 4, 5)),
}


@pytest.mark.parametrize("kind", MULTIPLY_SHAPES)
def test_multiply_gradients(kind, rng, gradcheck):
    xs = [rng.standard_normal(shape) for shape in MULTIPLY_SHAPES[kind]]
    out, cache = multiply_forward(xs)
    assert out.shape == max((x.shape for x in xs), key=len)
    dout = rng.standard_normal(out.shape)
    grads = multiply_backward(dout, cache)
    assert [g.shape for g in grads] == [x.shape for x in xs]
    for x, g in zip(xs, grads, strict=True):
        gradcheck.check(g, lambda: float(np.sum(multiply_forward(xs)[0] * dout)), x)


@pytest.mark.parametrize("kind", MULTIPLY_SHAPES)
def test_multiply_matches_torch(kind, rng):
    """A squeeze-and-excitation scale is torch's ``x * s[:, :, None, None]`` in [B, C, H, W]."""
    torch = pytest.importorskip("torch")
    xs = [rng.standard_normal(shape).astype(np.float32) for shape in MULTIPLY_SHAPES[kind]]
    out, cache = multiply_forward(xs)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    grads = multiply_backward(dout, cache)
    public = [batch_to_public(x) for x in xs]  # [B, C, H, W] and [B, C]
    ts = [torch.tensor(p, requires_grad=True) for p in public]
    a, b = (t if t.dim() == 4 or ts[0].dim() == ts[1].dim() else t[:, :, None, None] for t in ts)
    ot = a * b
    ot.backward(torch.tensor(batch_to_public(dout)))
    np.testing.assert_allclose(batch_to_public(out), ot.detach().numpy(), rtol=1e-6)
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(batch_to_public(g), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_multiply_refuses_other_shapes_and_counts():
    with pytest.raises(ValueError, match="per-channel"):
        multiply_forward([np.zeros((3, 2, 4, 4)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="exactly 2"):
        multiply_forward([np.zeros((3, 2))] * 3)
