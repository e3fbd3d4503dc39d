"""Atomic file writes: write a temporary file beside the target, flush it to disk, rename it over.

Every file cnnstudio saves (models, weights, exports, checkpoints) goes through here, so a crash or
a full disk mid-save never leaves a half-written file where the user's work was.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose contents replace ``path`` only when the block succeeds."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                               dir=target.parent if str(target.parent) else ".")
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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """UTF-8 with ``\\n`` line ends on every platform, so model files diff cleanly."""
    atomic_write_bytes(path, text.encode("utf-8"))


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
