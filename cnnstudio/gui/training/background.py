"""Work for the training views that must not block the window: latest request wins.

Pointing at units, picking a class or scrubbing epochs can ask for a new gradient or a replay
many times a second. One job runs at a time in its own thread; while it runs only the newest
request is remembered, and a result that has been superseded is dropped, so the view always
ends on what the user asked for last and never queues up stale work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Slot

from cnnstudio.core.graph import Graph
from cnnstudio.engine.network import Network
from cnnstudio.gui.training.worker import BackgroundJob, lower_priority, short_gil_switch

__all__ = ["LatestOnly", "NetworkCache", "network_builder"]

Request = tuple[Callable[[], object], Callable[[object], None], Callable[[str], None] | None]


def network_builder(graph: Graph, weights: dict[str, np.ndarray] | None
                    ) -> Callable[[], Network]:
    """A callable that builds, in any thread, a private network for ``graph`` with ``weights``
    where they fit (the rest as the inspection network initialises them), so background work
    never shares a network, its caches or its flags with the window's thread. Pass a copy of
    the graph; weight dicts are replaced, never changed in place, so holding one is safe."""
    def build() -> Network:
        net = Network(graph, np.random.default_rng(0))
        if weights:
            net.load_where_fits(weights)
        return net
    return build


class NetworkCache:
    """One view's private network, built again only when the model changes.

    Building a network is mostly Python (validation, layer set-up); done for every request it
    keeps a background thread holding the GIL, which the window pays for on every Qt call while
    it paints. Weights that change (every epoch, a replayed epoch) are only loaded. Used by one
    LatestOnly, so by one thread at a time.
    """

    def __init__(self) -> None:
        self._net: Network | None = None
        self._key = ""
        self._weights: dict[str, np.ndarray] | None = None

    def builder(self, graph: Graph, weights: dict[str, np.ndarray] | None
                ) -> Callable[[], Network]:
        """Call in the window's thread; the returned callable runs in the job's thread."""
        from cnnstudio.gui.training.controller import model_signature

        key = model_signature(graph)
        rebuild = key != self._key or self._net is None or weights is None
        copy = graph.copy() if rebuild else None

        def build() -> Network:
            fresh = weights is None and self._weights is not None  # back to the initial ones
            if self._net is None or key != self._key or fresh:
                self._net = network_builder(copy or graph.copy(), weights)()
                self._key, self._weights = key, weights
            elif weights is not self._weights:
                if weights:
                    self._net.load_where_fits(weights)
                self._weights = weights
            return self._net
        return build


class LatestOnly(QObject):
    """Runs one request at a time; a request made meanwhile replaces any waiting one."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job: BackgroundJob | None = None
        self._running: Request | None = None
        self._waiting: Request | None = None
        self._generation = 0
        self._closed = False

    def submit(self, fn: Callable[[], object], done: Callable[[object], None],
               failed: Callable[[str], None] | None = None) -> None:
        """Compute ``fn()`` in the background, then ``done(result)`` (or ``failed(message)``)
        in this object's thread, unless another request came in meanwhile."""
        self._generation += 1
        self._waiting = (fn, done, failed)
        if self._job is None:
            self._start_waiting()

    def cancel(self) -> None:
        """Forget the waiting request and drop the result of the running one."""
        self._generation += 1
        self._waiting = None

    def busy(self) -> bool:
        return self._job is not None or self._waiting is not None

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the running job's thread ends (tests, shutdown)."""
        return self._job.wait(timeout_ms) if self._job is not None else True

    def shutdown(self) -> None:
        self._closed = True
        self.cancel()
        self.wait()

    def _start_waiting(self) -> None:
        if self._waiting is None or self._closed:
            return
        request, self._waiting = self._waiting, None
        fn = request[0]

        def run() -> object:
            lower_priority()  # like training: the window's thread wins the CPU when both want it
            with short_gil_switch():  # and gets the interpreter back quickly between Qt calls
                return fn()

        job = BackgroundJob(run, self)
        generation = self._generation
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.finished.connect(self._finished)
        self._job, self._running, self._job_generation = job, request, generation
        job.start()

    @Slot(object)
    def _succeeded(self, result: object) -> None:
        if self._current():
            assert self._running is not None
            self._running[1](result)

    @Slot(str)
    def _failed(self, message: str) -> None:
        if self._current() and self._running is not None and self._running[2] is not None:
            self._running[2](message)

    def _current(self) -> bool:
        return (not self._closed and self.sender() is self._job
                and self._job_generation == self._generation)

    @Slot()
    def _finished(self) -> None:
        thread = self.sender()
        if self._job is not None and self._job.thread is thread:
            self._job, self._running = None, None
        if isinstance(thread, QObject):
            thread.deleteLater()
        self._start_waiting()
