"""Shared numerics helpers for the engine tests: finite differences and relative error."""

from __future__ import annotations

import numpy as np
import pytest
from _numerics import GradCheck, numeric_grad, rel_error

__all__ = ["GradCheck", "numeric_grad", "rel_error"]


@pytest.fixture
def gradcheck() -> GradCheck:
    return GradCheck()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
