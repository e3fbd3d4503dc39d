"""Recovery copies: unsaved work written aside within a second of each change, offered again
after a crash.

Each running window owns one copy, ``recovery-<pid>.json``, guarded by a ``QLockFile``. The lock
is what tells a crashed session's copy (its lock is stale: the process is gone) from the copy
of another window still running, on every platform, without sending signals to processes.
A copy is the model document plus the file it belonged to, so a restore re-attaches to it, and
the current weights (trained or loaded, with their normalisation) in ``recovery-<pid>.npz``
beside it: after a crash the user gets back the model *and* what training made of it.

Writing happens in one background thread (:class:`BackgroundWriter`): the GUI thread only hands
over the model's text and references to the weight arrays, so a 40 MB weights file or a slow disk
never stalls typing. Jobs are coalesced: while one write runs, a burst of edits leaves only its
latest state to write next.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QLockFile

from cnnstudio.core import modelfile
from cnnstudio.core.atomic import atomic_write_text
from cnnstudio.core.graph import Graph
from cnnstudio.engine.errors import EngineError, WeightsError
from cnnstudio.engine.network import Network
from cnnstudio.engine.weights import atomic_save_npz, load_weights

RECOVERY_FORMAT = "cnnstudio.recovery"
#: A copy is one model document in a small envelope: never larger than a model file may be.
MAX_COPY_BYTES = modelfile.MAX_FILE_BYTES + 64 * 1024
#: What the restore question shows of the weights' description at most.
MAX_NOTE_CHARS = 200
#: Added to the name of a copy that cannot be read: kept for a person, never offered again.
UNREADABLE_SUFFIX = ".unreadable"


@dataclass(frozen=True, slots=True)
class Recovered:
    copy_path: Path  # the recovery file itself
    graph: Graph
    original: Path | None  # the model file it was unsaved work on, if any
    saved_at: float  # when the copy was written (seconds since the epoch)
    model_unsaved: bool = True  # False: the model equals its file; only the weights were unsaved
    weights: dict[str, np.ndarray] | None = None  # the weights kept beside it, if readable
    weights_note: str = ""  # what they are ("trained 5 epochs on shapes")
    weights_problem: str = ""  # why weights that were kept cannot be restored

    def describe(self, now: float | None = None) -> str:
        """What a restore brings back and how old it is, for the restore prompt."""
        when = datetime.fromtimestamp(self.saved_at).strftime("%H:%M:%S")
        age = format_age((time.time() if now is None else now) - self.saved_at)
        name = f"\u201c{self.graph.name or 'Untitled'}\u201d"
        n = len(self.graph)
        if self.original is None:
            model = f"the model {name} ({n} layers), never saved to a file"
        elif self.model_unsaved:
            model = (f"the model {name} ({n} layers) with its unsaved changes to "
                     f"{self.original.name}")
        else:
            model = f"the model {name} ({n} layers) as saved in {self.original.name}"
        if self.weights:
            weights = f"its weights: {self.weights_note or 'trained or loaded weights'}"
        elif self.weights_problem:
            weights = f"not its weights ({self.weights_problem})"
        else:
            weights = "no trained weights (the next run starts from fresh ones)"
        return (f"A recovery copy from {when} ({age}) holds:\n\u2022 {model}\n\u2022 {weights}"
                "\n\nCurves and the confusion matrix are not kept; train or press Evaluate now "
                "to see them again.")


def format_age(seconds: float) -> str:
    """``"12 seconds ago"``, ``"3 minutes ago"``, ``"2 hours ago"``, ``"4 days ago"``."""
    s = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= size:
            n = s // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return f"{s} second{'s' if s != 1 else ''} ago"


class BackgroundWriter:
    """One daemon thread running the latest job of each key, in the order keys were submitted.

    ``submit`` replaces a job of the same key that has not started yet, so a burst of edits costs
    one write; ``flush`` waits until everything submitted is on disk (tests, shutdown)."""

    def __init__(self) -> None:
        self._jobs: dict[str, Callable[[], None]] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="recovery-writer", daemon=True)
        self._thread.start()

    def submit(self, key: str, job: Callable[[], None]) -> None:
        with self._cond:
            if not self._closed:
                self._jobs.pop(key, None)
                self._jobs[key] = job
                self._cond.notify_all()
                return
        _run_quietly(job)  # after close (a second shutdown): done here and now


    def flush(self, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is pending, then end the thread; later jobs run in the caller's thread."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._jobs or self._closed)
                if not self._jobs:
                    return
                key = next(iter(self._jobs))
                job = self._jobs.pop(key)
                self._busy = True
            try:
                _run_quietly(job)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _run_quietly(job: Callable[[], None]) -> None:
    try:
        job()
    except (OSError, ValueError):
        pass  # a recovery copy is a courtesy; never interrupt work over it


class RecoveryStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"recovery-{os.getpid()}.json"
        self._lock = QLockFile(str(self.path.with_suffix(".lock")))
        self._lock.setStaleLockTime(0)  # only a dead owner makes a lock stale
        self._lock.tryLock(0)
        self._writer = BackgroundWriter()

    @property
    def weights_path(self) -> Path:
        return self.path.with_suffix(".npz")

    def write(self, model_text: str, original: Path | None, *,
              weights: Mapping[str, np.ndarray] | None = None, weights_changed: bool = False,
              weights_note: str = "", model_unsaved: bool = True, wait: bool = True) -> None:
        """Keep this state as the recovery copy. ``weights`` (when ``weights_changed``) are
        written first, so the copy never names a weights file that is not there yet. With
        ``wait=False`` the writing happens in the background thread."""
        envelope = {"format": RECOVERY_FORMAT, "original": str(original) if original else None,
                    "saved_at": time.time(), "model_unsaved": model_unsaved,
                    "weights": self.weights_path.name if weights else None,
                    "weights_note": weights_note if weights else "",
                    "model": json.loads(model_text)}
        if weights_changed:
            target = self.weights_path
            if weights:
                arrays = dict(weights)
                self._writer.submit("weights", lambda: atomic_save_npz(target, arrays))
            else:
                self._writer.submit("weights", lambda: target.unlink(missing_ok=True))
        text = json.dumps(envelope, ensure_ascii=False)
        self._writer.submit("copy", lambda: atomic_write_text(self.path, text))
        if wait:
            self.flush()

    def flush(self) -> bool:
        """Wait until everything handed to the background writer is on disk."""
        return self._writer.flush()

    def clear(self, wait: bool = False) -> None:
        """No copy any more (saved, or nothing unsaved): later than any write asked before."""
        path, weights = self.path, self.weights_path
        self._writer.submit("weights", lambda: weights.unlink(missing_ok=True))
        self._writer.submit("copy", lambda: path.unlink(missing_ok=True))
        if wait:
            self.flush()

    def close(self) -> None:
        """Normal exit: nothing to recover, and the lock goes."""
        self.clear(wait=True)
        self._writer.close()
        self._lock.unlock()

    def orphans(self) -> tuple[list[Recovered], list[str]]:
        """Copies left by sessions that ended without cleaning up, newest first, and one line
        (naming the file and the problem) for each copy that cannot be read. Those are set
        aside (see :meth:`set_aside`) so the next start neither offers nor reports them again;
        they are never a reason to fail start-up."""
        found, problems = [], []
        for path in sorted(self.folder.glob("recovery-*.json")):
            if path == self.path:
                continue
            lock = QLockFile(str(path.with_suffix(".lock")))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                continue  # its window is still open
            lock.unlock()
            try:
                found.append(self.read(path))
            except (OSError, ValueError, modelfile.ModelFileError) as exc:
                problems.append(_one_line(exc, path))
                self.set_aside(path)
        return sorted(found, key=lambda r: r.saved_at, reverse=True), problems

    @staticmethod
    def read(path: Path) -> Recovered:
        """A copy and the weights beside it, read with the limits of a model file; a
        ModelFileError naming the copy when it cannot be read. Unreadable weights, or weights
        that fit none of the model's layers, do not lose the model: the copy is returned
        without them, saying why."""
        data = modelfile.read_json(path, MAX_COPY_BYTES, "recovery copy")
        if not isinstance(data, dict) or data.get("format") != RECOVERY_FORMAT:
            raise modelfile.ModelFileError(f"{path}: not a cnnstudio recovery copy")
        graph = modelfile.from_document(data.get("model"), str(path))
        original = data.get("original")
        weights, problem, note = None, "", data.get("weights_note")
        note = _shortened(note) if isinstance(note, str) else ""
        name = data.get("weights")
        if isinstance(name, str) and name:
            weights, problem, note = _fitting_weights(path.with_name(Path(name).name), graph,
                                                      note)
        return Recovered(path, graph, Path(original) if isinstance(original, str) else None,
                         _timestamp(data.get("saved_at"), path),
                         data.get("model_unsaved") is not False, weights, note, problem)

    @staticmethod
    def set_aside(path: Path) -> None:
        """Rename a copy that cannot be read (and its weights) to ``*.unreadable``: out of the
        way of every later start, still there for a person to look at."""
        for part in (path, path.with_suffix(".npz")):
            try:
                if part.exists():
                    part.replace(part.with_name(part.name + UNREADABLE_SUFFIX))
            except OSError:
                part.unlink(missing_ok=True)
        path.with_suffix(".lock").unlink(missing_ok=True)

    @staticmethod
    def discard(item: Recovered) -> None:
        item.copy_path.unlink(missing_ok=True)
        item.copy_path.with_suffix(".npz").unlink(missing_ok=True)
        item.copy_path.with_suffix(".lock").unlink(missing_ok=True)


def _one_line(exc: BaseException, path: Path) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if text.startswith(str(path)) else f"{path}: {text}"


def _shortened(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_NOTE_CHARS else text[:MAX_NOTE_CHARS - 1] + "\u2026"


def _timestamp(value: object, path: Path) -> float:
    """When the copy was written: its own record when that is a time, else the file's date."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            if math.isfinite(value):
                datetime.fromtimestamp(value)
                return float(value)
        except (OverflowError, OSError, ValueError):
            pass
    return path.stat().st_mtime


def _fitting_weights(path: Path, graph: Graph, note: str
                     ) -> tuple[dict[str, np.ndarray] | None, str, str]:
    """(weights, why there are none, their description) for the weights file of a copy, read
    with the limits of any weights file. They come back as they were (arrays for an earlier
    version of a layer included, as the session kept them) when they fit at least one layer
    of the copy's model, and the description says how many layers start fresh; weights that
    fit none are not restored. A model with errors cannot say what fits: its weights come back
    as they are."""
    try:
        arrays = load_weights(path)
    except WeightsError as exc:
        return None, str(exc), note
    try:
        net = Network(graph.copy(), np.random.default_rng(0))
    except (EngineError, MemoryError):
        return arrays, "", note
    report = net.load_where_fits(arrays)
    if not report.loaded:
        return None, f"{path}: the weights fit none of the model's layers", note
    if report.skipped:
        note = (f"{note or 'weights'}; {len(report.skipped)} layer(s) they do not fit start "
                "from fresh weights")
    return arrays, "", note
