"""Atomic file writes: write a temporary file beside the target, flush it to disk, rename it over.

Every file cnnstudio saves (models, weights, exports, checkpoints) goes through here, so a crash or
a full disk mid-save never leaves a half-written file where the user's work was.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from cnnstudio.core.files import read_limited


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose contents replace ``path`` only when the block succeeds.

    The temporary file is ``.<name>.<pid>.<random>.tmp`` beside the target; one left behind by
    a save that was killed is removed by the next save of the same file (see
    :func:`remove_stale_temps`). A target that exists and is not a regular file (``-o
    /dev/stdout``, a FIFO) cannot be replaced, so it is written in place.
    """
    target = Path(path)
    if _is_special(target):
        with open(target, "wb") as fh:
            yield fh
        return
    folder = target.parent if str(target.parent) else Path(".")
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=_SUFFIX,
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SUFFIX = ".tmp"
#: A temporary file without a process id in its name (older versions) is stale after this.
_STALE_SECONDS = 3600


def _is_special(target: Path) -> bool:
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete the temporary files of earlier saves of ``target`` whose process is gone (a
    killed or crashed save); a save still running in another process keeps its file.
    Returns what was removed. Never raises: cleaning up must not stop a save."""
    prefix = f".{target.name}."
    folder = target.parent if str(target.parent) else Path(".")
    removed = []
    try:
        candidates = [p for p in folder.iterdir()
                      if p.name.startswith(prefix) and p.name.endswith(_SUFFIX)]
    except OSError:
        return removed
    for candidate in candidates:
        middle = candidate.name[len(prefix):-len(_SUFFIX)]
        pid_text = middle.split(".", 1)[0]
        try:
            if pid_text.isdigit() and "." in middle:
                stale = int(pid_text) != os.getpid() and not _alive(int(pid_text))
            else:
                stale = time.time() - candidate.stat().st_mtime > _STALE_SECONDS
            if stale:
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send Ctrl+C there; trust age instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """UTF-8 with ``\\n`` line ends on every platform, so model files diff cleanly."""
    atomic_write_bytes(path, text.encode("utf-8"))


#: Largest file :func:`atomic_append_text` extends (logs; anything bigger is not ours).
APPEND_LIMIT = 64 * 1024 * 1024


def atomic_append_text(path: str | os.PathLike[str], text: str) -> None:
    """Add ``text`` at the end of a (small) file, atomically: the old content and the new line
    are written together and renamed over, so a crash never leaves half a line. A target that
    is not a regular file (``/dev/stdout``) is simply appended to."""
    target = Path(path)
    if _is_special(target):
        with open(target, "ab") as fh:
            fh.write(text.encode("utf-8"))
        return
    old = read_limited(target, APPEND_LIMIT, "log file") if target.exists() else b""
    atomic_write_bytes(target, old + text.encode("utf-8"))


def file_mode(target: Path) -> int:
    """The mode the saved file should have: the old file's, else what open() would give.

    mkstemp creates its file private (0600); without this a saved model could not be read by
    the other users of a shared folder, unlike any file the user writes another way.
    """
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
