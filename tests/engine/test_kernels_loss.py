"""Softmax cross-entropy: gradient, stability, the fused path, and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.kernels import softmax_backward, softmax_cross_entropy, softmax_forward


def test_gradient_matches_finite_differences(rng, gradcheck):
    logits = rng.standard_normal((5, 7)) * 3
    labels = rng.integers(0, 5, 7)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    gradcheck.check(dlogits, lambda: softmax_cross_entropy(logits, labels)[0], logits)


def test_value_against_the_definition(rng):
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 3, 1])
    probs = np.exp(logits) / np.exp(logits).sum(axis=0)
    expected = -np.mean(np.log(probs[labels, np.arange(3)]))
    assert softmax_cross_entropy(logits, labels)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4], [0.0, 1e4]], dtype=dtype)  # [N=2, B=2]
    labels = np.array([1, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dlogits = softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(1e4 / 2)  # sample 0 is wrong by 1e4, sample 1 is right
    assert dlogits.dtype == dtype and np.all(np.isfinite(dlogits))
    np.testing.assert_allclose(dlogits, [[0.5, 0.0], [-0.5, 0.0]], atol=1e-6)


def test_fused_path_equals_softmax_then_log_loss(rng):
    """Feeding the Softmax's input here gives the gradient the unfused chain would."""
    logits = rng.standard_normal((6, 4))
    labels = rng.integers(0, 6, 4)
    _, fused = softmax_cross_entropy(logits, labels)
    probs, cache = softmax_forward(logits)
    dprobs = np.zeros_like(probs)
    dprobs[labels, np.arange(4)] = -1 / (4 * probs[labels, np.arange(4)])
    np.testing.assert_allclose(fused, softmax_backward(dprobs, cache), atol=1e-12)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0, 1]), "expected 3 labels"),
        (np.array([0.0, 1.0, 2.0]), "integer"),
        (np.array([0, 1, 5]), r"in \[0, 4\)"),
        (np.array([-1, 1, 2]), r"in \[0, 4\)"),
    ],
)
def test_bad_labels_are_refused(labels, message):
    with pytest.raises(ValueError, match=message):
        softmax_cross_entropy(np.zeros((4, 3)), labels)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    logits = (rng.standard_normal((10, 16)) * 4).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    lt = torch.tensor(logits.T.copy(), requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt, torch.tensor(labels))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-4
    assert np.abs(dlogits.T - lt.grad.numpy()).max() < 1e-4
