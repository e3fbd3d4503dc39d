"""The normal distribution's CDF, vectorised, for exact GELU (NumPy has no ``erf``).

``math.erf`` element by element costs about 100 ns a value (0.2 s for one 32-channel 32x32
activation at batch 64), so the tail function is evaluated as a polynomial instead:

    erfc(z) = exp(-z**2) * erfcx(z),   z >= 0,

where the scaled complementary error function ``erfcx`` is smooth and slowly varying on
``[0, inf)``. Mapped onto ``[-1, 1]`` by ``u = (z - L) / (z + L)`` it is analytic, so its
Chebyshev interpolant converges geometrically (Weideman's construction, 1994). The coefficients
are interpolated once, at import, from the standard library's ``math.erfc`` at Chebyshev
points: no constants to trust. Measured against ``math.erf`` over ``[0, 1e6]``: degree 20 is
within 4e-15 (float64), degree 10 within 1e-8 (below float32's resolution), and the float32
path evaluates only the short series. The evaluation runs in cache-sized blocks on all cores.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

from cnnstudio.engine.kernels._parallel import run_chunks, split

#: Centre of the map z -> u (the error is lowest for L between 2 and 3).
_L = 2.5
_DEGREE = {np.dtype(np.float64): 20, np.dtype(np.float32): 10}
_SQRT_PI = math.sqrt(math.pi)
#: Values per block: a block's work arrays stay in a core's L2 cache through the recurrence.
_BLOCK = 1 << 16


def _erfcx(z: float) -> float:
    """``exp(z**2) * erfc(z)`` for z >= 0, from ``math.erfc`` (which underflows past z ~ 26;
    beyond 20 the asymptotic series, eight terms, is exact to double precision)."""
    if z < 20:
        return math.erfc(z) * math.exp(z * z)
    t = 1 / (2 * z * z)
    total, term = 1.0, 1.0
    for k in range(1, 9):
        term *= -(2 * k - 1) * t
        total += term
    return total / (z * _SQRT_PI)


def _coefficients(degree: int) -> np.ndarray:
    """Power-series coefficients in ``u`` (lowest first) of the degree-``degree`` Chebyshev
    interpolant of ``erfcx``. They are small (their absolute values sum to about 1), so Horner's
    rule in the power basis is as accurate as Clenshaw's in the Chebyshev one, with two array
    operations a term instead of three."""

    def h(u: np.ndarray) -> np.ndarray:
        z = _L * (1 + u) / (1 - u)
        return np.array([_erfcx(float(v)) for v in z])

    return chebyshev.cheb2poly(chebyshev.chebinterpolate(h, degree))


_COEFFS = {dt: _coefficients(deg).astype(dt) for dt, deg in _DEGREE.items()}


def _erfc_block(z: np.ndarray, out: np.ndarray, coeffs: np.ndarray) -> None:
    """``out = erfc(z)`` for a 1-D block small enough to stay in cache through Horner's rule
    (every step in place)."""
    dt = z.dtype
    u = z + dt.type(_L)
    np.divide(z - dt.type(_L), u, out=u)
    out[...] = coeffs[-1]
    for c in coeffs[-2::-1]:
        out *= u
        out += c
    np.multiply(z, z, out=u)
    np.negative(u, out=u)
    with np.errstate(under="ignore"):
        np.exp(u, out=u)
    out *= u


def erfc_nonnegative(z: np.ndarray) -> np.ndarray:
    """``erfc(z)`` for z >= 0 (any shape; float32 stays float32, anything else is computed in
    float64), with full relative precision in the tail."""
    dt = z.dtype if z.dtype in _COEFFS else np.dtype(np.float64)
    flat = np.ascontiguousarray(z, dtype=dt).reshape(-1)
    out = np.empty_like(flat)
    coeffs = _COEFFS[dt]
    blocks = split(flat.size, max(1, flat.size // _BLOCK))
    run_chunks(lambda i: _erfc_block(flat[blocks[i]], out[blocks[i]], coeffs), len(blocks))
    return out.reshape(z.shape)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, in x's dtype; accurate to a few ulp in absolute terms
    and relatively in the lower tail (Phi of -30 is 5e-198, not 0)."""
    tail = erfc_nonnegative(np.abs(x) * x.dtype.type(math.sqrt(0.5)))
    tail *= x.dtype.type(0.5)
    # tail where x < 0, else 1 - tail; branch-free (np.where is slow on unpredictable masks)
    flip = 1 - 2 * tail
    flip *= x >= 0
    flip += tail
    return flip
