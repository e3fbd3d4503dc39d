"""Training off the GUI thread: a worker that iterates a run and reports through signals.

The window must stay responsive while NumPy trains, so the run's generator is iterated in a
QThread and the GUI only ever hears about it through queued signals. Batch points are gathered
and sent at most ~20 times a second (one signal carrying every batch since the last one), so
curves keep every point while the event loop never floods. Stop and pause do not go through
this object at all: a queued signal would wait until training ends, so the GUI calls the run's
thread-safe control token directly.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from cnnstudio.gui.training.progress import BatchPoint, EpochPoint, RunOutcome

__all__ = ["BackgroundJob", "TrainingWorker", "WorkerThread", "describe_failure"]

#: Seconds between two batch signals (about 20 per second).
BATCH_SIGNAL_INTERVAL = 0.05

Event = BatchPoint | EpochPoint | RunOutcome


class TrainingWorker(QObject):
    """Iterates ``make_events()`` in its thread; each yielded record becomes a signal.

    ``batches`` carries a tuple of BatchPoint; ``epochEnded`` an EpochPoint; ``finished`` the
    RunOutcome; ``failed`` a user-readable message. ``done`` follows either, exactly once.
    """

    batches = Signal(object)
    epochEnded = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    done = Signal()

    def __init__(self, make_events: Callable[[], Iterator[Event]],
                 interval: float = BATCH_SIGNAL_INTERVAL) -> None:
        super().__init__()
        self._make_events = make_events
        self._interval = interval

    @Slot()
    def run(self) -> None:
        lower_priority()
        with short_gil_switch():
            self._iterate()

    def _iterate(self) -> None:
        pending: list[BatchPoint] = []
        last_emit = 0.0

        def flush() -> None:
            nonlocal last_emit
            if pending:
                self.batches.emit(tuple(pending))
                pending.clear()
            last_emit = time.monotonic()

        try:
            for event in self._make_events():
                if isinstance(event, BatchPoint):
                    pending.append(event)
                    # An alert goes out at once: the run may now be paused on it.
                    if event.alerts or time.monotonic() - last_emit >= self._interval:
                        flush()
                elif isinstance(event, EpochPoint):
                    flush()
                    self.epochEnded.emit(event)
                elif isinstance(event, RunOutcome):
                    flush()
                    self.finished.emit(event)
            flush()
        except Exception as exc:  # noqa: BLE001 - every failure must reach the user, not kill the thread
            flush()
            self.failed.emit(describe_failure(exc))
        finally:
            self.done.emit()


#: Seconds the training thread may hold the GIL while the window waits for it. Python's default
#: (5 ms) is paid again on every Qt call the window makes while painting (PySide releases the
#: GIL around them), which adds up to visible pauses; 1 ms keeps repaints smooth while a run
#: goes on and costs the run almost nothing.
GIL_SWITCH_INTERVAL = 0.001
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def short_gil_switch() -> Iterator[None]:
    """The process-wide GIL switch interval at GIL_SWITCH_INTERVAL while any run is inside.

    Entered and left by the training thread itself, so the interval is restored when the last
    run's thread ends, even when the window (or a test) that started it is gone before it could
    hear that the thread finished.
    """
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, GIL_SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


#: How much nicer than the window the training thread runs (Linux/Unix thread niceness).
TRAINING_NICENESS = 5
#: Name prefix of the engine's kernel helper threads (cnnstudio.engine.kernels._parallel), which
#: do part of every large training step.
KERNEL_THREAD_PREFIX = "cnnstudio-kernel"


def lower_priority() -> None:
    """Let the window's thread win the CPU when both want it: training throughput hardly
    changes on an idle machine, but on a busy one the GUI keeps answering. Best effort: where
    per-thread priorities are not available nothing changes.

    Called in the training thread, which starts at the window's priority. The engine's kernel
    helpers are lowered too: a helper started by the window's thread (drawing feature maps
    before any run, or an earlier engine user in the process) would otherwise compete with the
    window at full priority for half of every step. Absolute, so repeated runs never stack up.
    """
    try:
        me = threading.get_native_id()
        target = os.getpriority(os.PRIO_PROCESS, me) + TRAINING_NICENESS
        helpers = [t.native_id for t in threading.enumerate()
                   if t.name.startswith(KERNEL_THREAD_PREFIX) and t.native_id is not None]
        for tid in (me, *helpers):
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
    except (AttributeError, OSError):
        pass


def describe_failure(exc: BaseException) -> str:
    """The one-line message a failed run shows: the engine's own words for problems the user can
    fix, a memory hint for MemoryError, and the exception type for anything unexpected (whose
    traceback also goes to stderr, because that is a bug to report)."""
    from cnnstudio.engine.datasets.base import DatasetError
    from cnnstudio.engine.errors import EngineError

    if isinstance(exc, EngineError | DatasetError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "ran out of memory; try a smaller batch size or a smaller model"
    traceback.print_exception(exc, file=sys.stderr)
    return f"training failed unexpectedly ({type(exc).__name__}: {exc})"


class WorkerThread(QObject):
    """A QThread with one TrainingWorker moved into it, started and shut down together.

    The thread is a child of this object and ``finished`` is relayed from the thread's own
    signal, so a listener that cleans up on ``finished`` never destroys a running thread.
    """

    finished = Signal()

    def __init__(self, worker: TrainingWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.thread = QThread(self)
        self.thread.setObjectName("cnnstudio-training")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # Direct: quit() is thread-safe, and a queued call would never run while the GUI thread
        # blocks in wait() on close.
        worker.done.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self.finished)

    def start(self) -> None:
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread has finished (after its run was told to stop)."""
        if not self.thread.isRunning():
            return True
        return self.thread.wait(timeout_ms)


class BackgroundJob(QObject):
    """Runs one callable in its own QThread: ``succeeded(result)`` or ``failed(message)``.

    For work that would freeze the window for a second or more but is not a training run, such
    as generating or decoding a dataset. Keep a reference until ``done``.
    """

    succeeded = Signal(object)
    failed = Signal(str)
    #: (done, total) reported by the callable through :meth:`report`, from its thread.
    progress = Signal(int, int)
    done = Signal()

    def __init__(self, fn: Callable[[], object], parent: QObject | None = None) -> None:
        super().__init__()
        self._fn = fn
        self.thread = QThread(parent)
        self.thread.setObjectName("cnnstudio-job")
        self.moveToThread(self.thread)
        self.thread.started.connect(self._run)
        self.done.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.finished = self.thread.finished  # the thread has ended: safe to drop both

    def start(self) -> None:
        self.thread.start()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        return self.thread.wait(timeout_ms) if self.thread.isRunning() else True

    def report(self, done: int, total: int) -> None:
        """Called by the callable in the job's thread; ``progress`` reaches listeners queued."""
        self.progress.emit(done, total)

    @Slot()
    def _run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - reported to the user as a message
            self.failed.emit(describe_failure(exc))
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()
