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
from cnnstudio.gui.training.worker import BackgroundJob

__all__ = ["LatestOnly", "network_builder"]

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
        job = BackgroundJob(request[0], self)
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
