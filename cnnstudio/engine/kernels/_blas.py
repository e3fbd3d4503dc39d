"""Running OpenBLAS single-threaded while the engine works.

OpenBLAS splits every matmul over all cores with threads that busy-wait for work between calls.
On an idle machine that is fine; on a busy one (a GUI repainting, other programs, a test run) a
waiting thread spins on a core the working thread needs, and measured here small matmuls became
10-90x slower and a whole CIFAR-sized training step 2-4x slower. The engine therefore asks
OpenBLAS for one thread while a forward or backward pass runs and splits the large matmuls
itself over its kernel threads (:mod:`._parallel`), which block instead of spinning and share
out their chunks dynamically. The previous setting is restored when the last pass ends, so
other NumPy users in the process are unaffected outside the engine's calls.

threadpoolctl finds the OpenBLAS that NumPy has loaded (on Linux, macOS and Windows alike), and
the switch calls that library's own ``*_set_num_threads`` entry point through ctypes. Not
threadpoolctl's ``set_num_threads``: for OpenBLAS (3.8) it obeys only the first thread that ever
used it and silently ignores the others, so after a feature-map pass on the GUI thread the
training thread's passes would keep OpenBLAS's spinning threads. (Per pass the switch costs
about 2 microseconds this way; threadpoolctl's ``limit()`` takes about 7, ``threadpool_limits()``
160-270, as it looks for the libraries again on every call.) Where no OpenBLAS can be controlled
(another BLAS, threadpoolctl missing) nothing changes: the engine is still correct, only more
exposed to a busy machine.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["blas_controllable", "blas_is_single_threaded", "single_threaded_blas"]

_SUFFIXES = ("", "64_", "_64")
_PREFIXES = ("openblas", "scipy_openblas")


def _find_controls() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS NumPy uses, or None."""
    import numpy  # noqa: F401  (loads the BLAS library whose functions are looked up)

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    paths = sorted({info["filepath"] for info in threadpool_info()
                    if info.get("internal_api") == "openblas" and info.get("filepath")})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype = ctypes.c_int
                    get.argtypes = []
                    set_.restype = None
                    set_.argtypes = [ctypes.c_int]
                    return get, set_
    return None


_controls: tuple[Callable[[], int], Callable[[int], None]] | None = None
_searched = False
_lock = threading.Lock()
_depth = 0
_saved = 0


def _get_controls() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    global _controls, _searched
    if not _searched:
        _controls = _find_controls()
        _searched = True
    return _controls


def blas_controllable() -> bool:
    """Whether the engine can switch OpenBLAS's thread count in this process."""
    with _lock:
        return _get_controls() is not None


def blas_is_single_threaded() -> bool:
    """Whether some thread is inside :func:`single_threaded_blas` with the switch working: the
    kernels may then run matmuls on their own threads without oversubscribing the cores."""
    return _depth > 0 and _controls is not None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OpenBLAS runs on one thread inside the block (see the module docstring).

    Re-entrant and safe from several threads: the first entrant saves the thread count and the
    last one to leave restores it.
    """
    global _depth, _saved
    with _lock:
        controls = _get_controls()
        if controls is not None:
            if _depth == 0:
                _saved = controls[0]()
                if _saved != 1:
                    controls[1](1)
            _depth += 1
    try:
        yield
    finally:
        if controls is not None:
            with _lock:
                _depth -= 1
                if _depth == 0 and _saved != 1:
                    controls[1](_saved)
