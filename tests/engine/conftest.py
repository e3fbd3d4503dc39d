"""Shared helpers for the engine tests: finite differences, relative error, and steps cut
into parts on any machine."""

from __future__ import annotations

import numpy as np
import pytest
from _numerics import GradCheck, numeric_grad, rel_error

from cnnstudio.engine import data_parallel as dp
from cnnstudio.engine.kernels import _parallel

__all__ = ["GradCheck", "numeric_grad", "rel_error"]


@pytest.fixture
def gradcheck() -> GradCheck:
    return GradCheck()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def two_parts(monkeypatch):
    """Steps of at least two samples are cut into two parts, on any machine."""
    monkeypatch.setattr(_parallel, "WORKERS", 2)
    monkeypatch.setattr(dp, "WORKERS", 2)
    monkeypatch.setattr(dp, "MIN_SAMPLES_PER_PART", 1)
    monkeypatch.setattr(dp, "MIN_MACS_PER_PART", 0)
    monkeypatch.setattr(dp, "MIN_SAMPLES_PER_HELPER_PART", 1)
    monkeypatch.setattr(dp, "MIN_MACS_PER_HELPER_PART", 0)
