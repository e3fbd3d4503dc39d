"""Recovery copies: unsaved work written aside every minute, offered again after a crash.

Each running window owns one copy, ``recovery-<pid>.json``, guarded by a ``QLockFile``. The lock
is what tells a crashed session's copy (its lock is stale: the process is gone) from the copy
of another window still running, on every platform, without sending signals to processes.
A copy is the model document plus the file it belonged to, so a restore re-attaches to it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile

from cnnstudio.core import modelfile
from cnnstudio.core.graph import Graph
from cnnstudio.gui.document import write_atomically

RECOVERY_FORMAT = "cnnstudio.recovery"


@dataclass(frozen=True, slots=True)
class Recovered:
    copy_path: Path  # the recovery file itself
    graph: Graph
    original: Path | None  # the model file it was unsaved work on, if any
    saved_at: float  # modification time of the copy (for "from 10:42")


class RecoveryStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"recovery-{os.getpid()}.json"
        self._lock = QLockFile(str(self.path.with_suffix(".lock")))
        self._lock.setStaleLockTime(0)  # only a dead owner makes a lock stale
        self._lock.tryLock(0)

    def write(self, model_text: str, original: Path | None) -> None:
        envelope = {"format": RECOVERY_FORMAT, "original": str(original) if original else None,
                    "model": json.loads(model_text)}
        write_atomically(self.path, json.dumps(envelope, ensure_ascii=False))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Normal exit: nothing to recover, and the lock goes."""
        self.clear()
        self._lock.unlock()

    def orphans(self) -> list[Recovered]:
        """Copies left by sessions that ended without cleaning up, newest first. Unreadable
        copies are skipped (and left for a person to look at), never a reason to fail start-up."""
        found = []
        for path in self.folder.glob("recovery-*.json"):
            if path == self.path:
                continue
            lock = QLockFile(str(path.with_suffix(".lock")))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                continue  # its window is still open
            lock.unlock()
            try:
                found.append(self.read(path))
            except (OSError, ValueError, modelfile.ModelFileError):
                continue
        return sorted(found, key=lambda r: r.saved_at, reverse=True)

    @staticmethod
    def read(path: Path) -> Recovered:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != RECOVERY_FORMAT:
            raise ValueError(f"{path}: not a cnnstudio recovery file")
        graph = modelfile.from_document(data.get("model"), str(path))
        original = data.get("original")
        return Recovered(path, graph, Path(original) if isinstance(original, str) else None,
                         path.stat().st_mtime)

    @staticmethod
    def discard(item: Recovered) -> None:
        item.copy_path.unlink(missing_ok=True)
        item.copy_path.with_suffix(".lock").unlink(missing_ok=True)
