"""Opening files that may come from anyone: regular files only, read up to a stated limit.

A path can name a FIFO (opening it waits for a writer that never comes), a device such as
``/dev/zero`` behind a symlink (reading it never ends), or a folder. Every reader in cnnstudio
asks here first, so each of those is one clear sentence instead of a hang or a full memory.
Standard library only: the model reader in ``core`` uses it as well as the engine's readers.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileRefused", "check_not_an_input", "open_regular", "read_limited", "regular_size"]


class FileRefused(Exception):
    """A path that is not something cnnstudio reads or writes; the message names the path,
    ``problem`` is the message without it."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.problem = problem


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "something else"


def regular_size(path: str | os.PathLike[str], what: str = "file") -> int:
    """The size of ``path`` after following links, or FileRefused when it is missing or not a
    regular file (a FIFO, a device, a folder)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileRefused(path, f"cannot read {what}: no such file") from None
    except OSError as exc:
        raise FileRefused(path, f"cannot read file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(path, f"cannot read {what}: it is {_kind(st.st_mode)}, not a "
                          "regular file")
    return st.st_size


def open_regular(path: str | os.PathLike[str], what: str = "file") -> BinaryIO:
    """Open a regular file for reading without ever blocking on a FIFO.

    The check is made on the open descriptor too (``O_NONBLOCK`` makes opening a FIFO return
    at once), so a path swapped for a pipe between the check and the open is still refused.
    """
    regular_size(path, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileRefused(path, f"cannot read file ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise FileRefused(path, f"cannot read {what}: it is {_kind(mode)}, not a regular "
                          "file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_limited(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes, else FileRefused.

    Reads at most ``limit + 1`` bytes whatever the file claims, so a file that grows while it
    is read cannot take more memory than the limit either.
    """
    size = regular_size(path, what)
    if size > limit:
        raise FileRefused(path, f"file is {size:,} bytes; a {what} is at most {limit:,}")
    try:
        with open_regular(path, what) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise FileRefused(path, f"cannot read file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise FileRefused(path, f"file is larger than {limit:,} bytes; a {what} is at most "
                          f"{limit:,}")
    return data


def check_not_an_input(outputs: Mapping[str, str | os.PathLike[str] | None],
                       inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Refuse any output path that is (through links or ``..``) one of the command's inputs.

    ``outputs`` maps the option that names each output (``--weights-out``) to its path, so the
    message says which option to change. Raises FileRefused.
    """
    existing = [Path(p) for p in inputs if p]
    for option, out in outputs.items():
        if not out:
            continue
        for src in existing:
            if _same_file(Path(out), src):
                raise FileRefused(out, f"{option} names the input file {src}; writing it "
                                  "would destroy it, choose another path")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.expanduser().resolve() == b.expanduser().resolve()
