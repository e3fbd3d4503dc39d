"""Finite differences and relative error: the numerics every gradient test shares (the engine
tests through their ``gradcheck`` fixture, the conformance harness directly)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numeric_grad(f: Callable[[], float], arr: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to ``arr`` (edited in place
    and restored), one element at a time."""
    grad = np.zeros_like(arr)
    flat = arr.reshape(-1)  # a view: arrays under test are contiguous
    assert np.shares_memory(flat, arr)
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        g[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """``|a - b| / (|a| + |b|)`` in the 2-norm: scale-free, and 0 only when they agree."""
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


class GradCheck:
    """``check(analytic, f, arr)``: assert the analytic gradient matches finite differences."""

    tol = 1e-6

    def numeric(self, f: Callable[[], float], arr: np.ndarray) -> np.ndarray:
        return numeric_grad(f, arr)

    def check(self, analytic: np.ndarray, f: Callable[[], float], arr: np.ndarray) -> None:
        assert analytic.shape == arr.shape
        numeric = numeric_grad(f, arr)
        assert np.linalg.norm(numeric) > 0, "the check is vacuous: the numeric gradient is zero"
        err = rel_error(analytic, numeric)
        assert err < self.tol, f"relative error {err:.2e}"
