"""Kernel work split over threads behaves like work done on the calling thread."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from cnnstudio.engine.kernels._parallel import WORKERS, run_chunks


def _overflow_on_every_thread(count: int) -> set[int]:
    """Overflow a float32 product in ``count`` chunks, each waiting until another thread has
    joined in (when there are several), and return the ids of the threads that ran them."""
    threads: set[int] = set()
    both = threading.Barrier(min(2, WORKERS))
    big = np.full(4, 3e38, dtype=np.float32)

    def work(i: int) -> None:
        threads.add(threading.get_ident())
        if i < 2:
            both.wait(timeout=10)
        big * big  # noqa: B018  (the overflow is the point)

    run_chunks(work, count)
    return threads


@pytest.mark.skipif(WORKERS < 2, reason="needs two cores to run a chunk on a helper thread")
def test_helper_threads_follow_the_callers_floating_point_settings():
    """A training step silences overflow (it checks the loss itself) and a test may make it an
    error: chunks run on the pool's threads must do the same as the calling thread."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="ignore"):
            assert len(_overflow_on_every_thread(4)) == 2
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        _overflow_on_every_thread(4)
