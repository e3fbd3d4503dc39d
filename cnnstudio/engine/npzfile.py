"""The one reader of ``.npy`` and ``.npz`` files, which come from anyone: weights, datasets,
checkpoints and prediction inputs all go through here.

``np.load`` trusts the file: a 4 MB archive of a deflated 4 GiB zero array is inflated whole, a
member that is not an ``.npy`` comes back as raw bytes, a header may declare 10**12 elements,
and a file that is not a zip is reported as "pickled data". This module reads the headers
first (the zip directory and each member's ``.npy`` header, a few hundred bytes), checks every
declared shape against the member's real size, the compression ratio and the memory budget,
and only then reads the arrays it was asked for. Every problem becomes one line naming the
file, raised as the caller's own error type (WeightsError, DatasetError, ...).
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

import numpy as np

from cnnstudio.core.files import FileRefused, open_regular, regular_size
from cnnstudio.engine.memory import memory_refusal

__all__ = ["MAX_RATIO", "Member", "inflation_refusal", "read_npy", "read_npz", "scan_npz"]

#: A member that inflates more than this many times over is refused once it is bigger than
#: RATIO_FLOOR bytes: real image and weight data compress 2-20x, a zip bomb ~1000x.
MAX_RATIO = 200
RATIO_FLOOR = 64 << 20
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
_MAX_MEMBERS = 100_000

ErrorType = Callable[[str], Exception]
#: What zipfile, zlib and NumPy's header parser raise on damaged input (zipfile alone raises
#: BadZipFile, but also IndexError, struct.error, KeyError, NotImplementedError, ...).
_DAMAGED = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, IndexError, KeyError,
            struct.error, NotImplementedError, RuntimeError, OverflowError, LookupError,
            SyntaxError, TypeError, tokenize.TokenError)


@dataclass(frozen=True, slots=True)
class Member:
    """One array of an archive as its header declares it (nothing is read yet)."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    info: zipfile.ZipInfo | None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _header(fh: IO[bytes], where: str, error: ErrorType) -> tuple[tuple[int, ...], np.dtype,
                                                                     bool, int]:
    """``(shape, dtype, fortran order, header length)`` from an ``.npy`` stream's header."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unknown .npy format version {version}")
        length = fh.tell()
    except _DAMAGED as exc:
        raise error(f"{where}: not a readable NumPy array ({_reason(exc)})") from None
    if dtype.hasobject:
        raise error(f"{where}: holds Python objects (pickled data), which cnnstudio never "
                    "loads because they can run code; save plain numeric arrays")
    return tuple(int(d) for d in shape), dtype, bool(fortran), length


def scan_npz(path: str | os.PathLike[str], error: ErrorType, what: str) -> dict[str, Member]:
    """Every member of an ``.npz`` as its header declares it, after checking that each is an
    ``.npy`` whose declared size matches the bytes it holds. Reads only headers."""
    name = str(path)
    try:
        regular_size(path, what)
        with open_regular(path, what) as fh:
            magic = fh.read(6)
            if magic.startswith(_NPY_MAGIC):
                raise error(f"{name}: holds a single array (.npy), not a {what} of named arrays "
                            "(.npz)")
            if magic[:4] not in _ZIP_MAGIC:
                raise error(f"{name}: not a readable .npz {what}: it is not a zip archive of "
                            "NumPy arrays")
            fh.seek(0)
            with zipfile.ZipFile(fh) as archive:
                return _scan(archive, name, error)
    except FileRefused as exc:
        raise error(str(exc)) from None
    except _DAMAGED as exc:
        raise error(f"{name}: damaged .npz archive ({_reason(exc)})") from None


def _scan(archive: zipfile.ZipFile, name: str, error: ErrorType) -> dict[str, Member]:
    infos = archive.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise error(f"{name}: holds {len(infos):,} members, more than the {_MAX_MEMBERS:,} "
                    "an .npz may have")
    members: dict[str, Member] = {}
    for info in infos:
        if info.is_dir():
            continue
        if not info.filename.endswith(".npy"):
            raise error(f"{name}: member {info.filename!r} is not a NumPy array (.npy); an "
                        ".npz holds only arrays")
        key = info.filename[: -len(".npy")]
        where = f"{name}: array {key!r}"
        if key in members:
            raise error(f"{where} appears twice in the archive")
        with archive.open(info) as fh:
            shape, dtype, fortran, length = _header(fh, where, error)
        member = Member(key, shape, dtype, fortran, info)
        if length + member.nbytes != info.file_size:
            raise error(f"{where}: its header declares shape {list(shape)} of {dtype} "
                        f"({length + member.nbytes:,} bytes) but the archive holds "
                        f"{info.file_size:,} bytes: the file is damaged")
        bomb = inflation_refusal(info.compress_size, info.file_size)
        if bomb:
            raise error(f"{where}: {bomb}")
        members[key] = member
    return members


def inflation_refusal(stored: int, declared: int) -> str | None:
    """The reason to refuse compressed data of ``stored`` bytes that says it inflates to
    ``declared`` bytes, or None: real data compresses a few times, a bomb a thousand."""
    ratio = declared / max(stored, 1)
    if declared <= RATIO_FLOOR or ratio <= MAX_RATIO:
        return None
    return (f"{stored:,} compressed bytes would inflate to {declared:,} ({ratio:.0f} times): "
            "refused as a decompression bomb")


def read_npz(path: str | os.PathLike[str], error: ErrorType, what: str,
             wanted: Callable[[Member], bool] | None = None,
             cost: Callable[[Mapping[str, Member]], int] | None = None
             ) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, never unpickling, within the memory budget.

    ``wanted(member)`` picks the members to read (default: all); the others come back as
    zero-size stand-ins of their declared shape (``np.broadcast_to``), so a caller comparing
    shapes (a weights file against a model) reports a misfit without reading megabytes it would
    refuse anyway. ``cost(members)`` estimates the bytes the caller will need once it has the
    arrays (a dataset converted to float32); by default the arrays' own size.
    """
    name = str(path)
    members = scan_npz(path, error, what)
    chosen = {k: m for k, m in members.items() if wanted is None or wanted(m)}
    need = cost(chosen) if cost is not None else sum(m.nbytes for m in chosen.values())
    refusal = memory_refusal(need, f"{name}: reading this {what}", "of memory")
    if refusal:
        raise error(refusal)
    out: dict[str, np.ndarray] = {}
    try:
        with open_regular(path, what) as fh, zipfile.ZipFile(fh) as archive:
            for key, member in members.items():
                if key not in chosen:
                    out[key] = np.broadcast_to(np.zeros((), member.dtype), member.shape)
                    continue
                with archive.open(member.info) as stream:
                    out[key] = _read_data(stream, member, f"{name}: array {key!r}", error)
    except FileRefused as exc:
        raise error(str(exc)) from None
    except _DAMAGED as exc:
        raise error(f"{name}: damaged .npz archive ({_reason(exc)})") from None
    return out


def _read_data(fh: IO[bytes], member: Member, where: str, error: ErrorType) -> np.ndarray:
    """The array after the header (already checked): read straight into its own buffer."""
    _header(fh, where, error)
    arr = np.empty(member.shape, dtype=member.dtype, order="F" if member.fortran else "C")
    view = memoryview(arr.reshape(-1, order="A").view(np.uint8)) if arr.size else None
    done = 0
    while view is not None and done < member.nbytes:
        n = fh.readinto(view[done:])  # type: ignore[attr-defined]
        if not n:
            raise error(f"{where}: the file ends before the array does (damaged)")
        done += n
    return arr


def read_npy(path: str | os.PathLike[str], error: ErrorType, what: str = "NumPy array"
             ) -> np.ndarray:
    """One ``.npy`` file, its header checked against its size and the budget first."""
    name = str(path)
    try:
        size = regular_size(path, what)
        with open_regular(path, what) as fh:
            shape, dtype, fortran, length = _header(fh, name, error)
            member = Member("", shape, dtype, fortran, None)
            if length + member.nbytes != size:
                raise error(f"{name}: its header declares shape {list(shape)} of {dtype} "
                            f"({length + member.nbytes:,} bytes) but the file has {size:,} "
                            "bytes: the file is damaged")
            refusal = memory_refusal(member.nbytes, f"{name}: reading this array", "of memory")
            if refusal:
                raise error(refusal)
            fh.seek(0)
            return _read_data(fh, member, name, error)
    except FileRefused as exc:
        raise error(str(exc)) from None
    except OSError as exc:
        raise error(f"{name}: cannot read file ({exc.strerror or exc})") from None
