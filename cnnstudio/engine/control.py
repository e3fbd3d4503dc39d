"""The thread-safe token another thread uses to stop, pause and resume a training run.

The GUI calls these methods directly from its own thread (a queued signal would wait until
training ended); the training generator checks the token between batches. Pausing blocks inside
the generator, so a paused run holds its exact state and simply continues on resume.
"""

from __future__ import annotations

import threading

__all__ = ["TrainingControl"]


class TrainingControl:
    """Stop / pause / resume flags built on :class:`threading.Event`."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        """Ask the run to end after the current batch (also ends a pause)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set() and not self._stop.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True when the run may go on, False when it was stopped (or the
        ``timeout`` ran out while still paused)."""
        self._running.wait(timeout)
        return self._running.is_set() and not self._stop.is_set()
