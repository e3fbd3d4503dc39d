"""Splitting large kernel work over the CPU cores.

NumPy runs one ufunc call on one core, but it releases the GIL while it loops over a large
array (and while BLAS multiplies), so the same work cut into chunks along one axis and handed to
a few threads runs on every core at once: the im2col copies, BatchNorm, pooling and ReLU masks
that sit between the matmuls, and the matmuls themselves (see :mod:`._blas` for why BLAS's own
threads are not used for them).

Chunks are claimed dynamically: the calling thread and the pool threads each take the next
unclaimed chunk until none is left, and the call returns when every chunk is done. On a busy
machine a thread that gets no CPU time simply claims fewer chunks (or none) instead of stalling
the step, which is what a fixed split -- or a BLAS thread spinning on a core it shares -- does.
Small arrays run inline: handing work to a thread costs tens of microseconds.

A thread inside :func:`on_one_core` runs every split inline: a training step cut into parts by
samples (:mod:`cnnstudio.engine.data_parallel`) already keeps each core busy with a part of its
own, and splitting each part's operations again would only add hand-overs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

__all__ = ["MIN_PARALLEL_ELEMENTS", "WORKERS", "map_on_cores", "on_one_core", "parallel_chunks",
           "run_chunks", "shares_cores", "split"]

#: Threads the kernels use: the cores this process may run on (the default thread count, as
#: for BLAS and PyTorch).
WORKERS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else (os.cpu_count() or 1))
#: Below this many elements touched, splitting costs more than it saves.
MIN_PARALLEL_ELEMENTS = 1 << 18
#: Chunks per worker: more than one lets a thread that runs ahead take over a slower one's share.
_CHUNKS_PER_WORKER = 2

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_thread = threading.local()


def shares_cores() -> bool:
    """Whether work of this thread may be split over the cores: more than one core, and the
    thread is not inside :func:`on_one_core`."""
    return WORKERS > 1 and not getattr(_thread, "one_core", False)


@contextmanager
def on_one_core() -> Iterator[None]:
    """Inside the block, this thread's kernels run their chunks one after the other."""
    before = getattr(_thread, "one_core", False)
    _thread.one_core = True
    try:
        yield
    finally:
        _thread.one_core = before


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS - 1, thread_name_prefix="cnnstudio-kernel")
        return _pool


def split(n: int, parts: int) -> list[slice]:
    """``range(n)`` cut into ``parts`` contiguous slices of near-equal length (none empty)."""
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(parts)]


class _Job:
    """Chunks being worked off by several threads; ``wait`` returns once all are done."""

    def __init__(self, work: Callable[[int], object], count: int) -> None:
        self.work = work
        self.count = count
        self.next = 0
        self.done = 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.finished = threading.Event()
        # NumPy's floating-point error handling is per thread: the helpers take the caller's
        # (a training step silences overflow while it checks the loss itself).
        self.errstate = np.geterr()

    def run_helping(self) -> None:
        """:meth:`run` on a pool thread, under the calling thread's floating-point settings."""
        with np.errstate(**self.errstate):
            self.run()

    def run(self) -> None:
        while True:
            with self.lock:
                i = self.next
                if i >= self.count:
                    return
                self.next += 1
            try:
                if self.error is None:
                    self.work(i)
            except BaseException as exc:  # handed to the calling thread
                self.error = exc
            with self.lock:
                self.done += 1
                if self.done == self.count:
                    self.finished.set()


def run_chunks(work: Callable[[int], object], count: int) -> None:
    """Call ``work(i)`` for ``i in range(count)`` on all cores (each call must write only its
    own part of the outputs); returns when all are done and re-raises the first error."""
    if count <= 1 or not shares_cores():
        for i in range(count):
            work(i)
        return
    job = _Job(work, count)
    pool = _executor()
    for _ in range(min(WORKERS - 1, count - 1)):
        pool.submit(job.run_helping)
    job.run()
    job.finished.wait()
    if job.error is not None:
        raise job.error


def parallel_chunks(work: Callable[[slice], object], n: int, elements: int) -> None:
    """Call ``work(s)`` for slices ``s`` covering ``range(n)`` (usually the channel axis), on
    all cores when ``elements`` (the size of the arrays involved) makes it worth it."""
    if elements < MIN_PARALLEL_ELEMENTS or not shares_cores():
        work(slice(0, n))
        return
    slices: Sequence[slice] = split(n, WORKERS * _CHUNKS_PER_WORKER)
    run_chunks(lambda i: work(slices[i]), len(slices))


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def map_on_cores(run: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """``[run(item) for item in items]``, the calls shared out over the cores when there are
    several, each on one core (its operations not split again, see :func:`on_one_core`);
    results in the items' order. What evaluation batches and a training step's parts use."""
    if len(items) < 2 or not shares_cores():
        return [run(item) for item in items]
    results: list[_Result] = [None] * len(items)  # type: ignore[list-item]

    def one(i: int) -> None:
        with on_one_core():
            results[i] = run(items[i])

    run_chunks(one, len(items))
    return results
