"""Large matmuls split over the kernel threads while OpenBLAS runs single-threaded.

Inside :func:`._blas.single_threaded_blas` (which the network enters for every pass) a big
product is cut into column blocks (or, for a long inner dimension, into partial products that
are then summed) and the blocks are multiplied on all cores by :func:`._parallel.run_chunks`.
Outside it, or for small products, this is plain ``np.matmul`` (BLAS's own threads).

The split depends only on the shapes and the machine's core count, never on timing, so results
are exactly repeatable run after run.
"""

from __future__ import annotations

import numpy as np

from cnnstudio.engine.kernels._blas import blas_is_single_threaded
from cnnstudio.engine.kernels._parallel import WORKERS, run_chunks, shares_cores, split

__all__ = ["matmul", "matmul_long_inner"]

#: Multiply-adds below which a product is not worth splitting.
MIN_SPLIT_MACS = 1 << 22
#: Blocks per worker: dynamic claiming balances them when a core is busy with something else.
_BLOCKS_PER_WORKER = 2
#: Narrowest column block: thinner blocks make BLAS's packing overhead dominate.
_MIN_BLOCK = 512


def _blocks(a: np.ndarray, b: np.ndarray, length: int) -> list[slice] | None:
    """Slices of the split axis (of size ``length``), or None when not splitting."""
    if not shares_cores() or not blas_is_single_threaded():
        return None
    if a.shape[0] * a.shape[1] * b.shape[1] < MIN_SPLIT_MACS:
        return None
    parts = min(WORKERS * _BLOCKS_PER_WORKER, length // _MIN_BLOCK)
    return split(length, parts) if parts > 1 else None


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a [M, N] @ b [N, L]`` into ``out`` (new when None), split along L."""
    blocks = _blocks(a, b, b.shape[1])
    if blocks is None:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    run_chunks(lambda i: np.matmul(a, b[:, blocks[i]], out=out[:, blocks[i]]), len(blocks))
    return out


def matmul_long_inner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a [M, L] @ b [L, N]`` for a long inner axis L (a weight gradient: summed over every
    output pixel of the batch), as a sum of partial products over blocks of L."""
    blocks = _blocks(a, b, a.shape[1])
    if blocks is None:
        return np.matmul(a, b)
    partial = np.empty((len(blocks), a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    run_chunks(lambda i: np.matmul(a[:, blocks[i]], b[blocks[i]], out=partial[i]), len(blocks))
    return partial.sum(axis=0)
