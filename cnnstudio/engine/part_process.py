"""A part of a training step run in a helper process of its own, beside the calling thread's.

Why: a step cut into parts by samples (:mod:`cnnstudio.engine.data_parallel`) runs its parts on
threads of one process, and a small network's step is mostly short NumPy calls with Python in
between: the two threads take turns holding the GIL, so two LeNet-5 parts of 32 samples took
7.8-9.2 ms side by side against about 5 ms each alone. Two processes do not share a GIL: the
same two parts, each in a process of its own, took 4.7-5.1 ms side by side (measured here,
alternating). A big network's parts are long NumPy calls that release the GIL anyway
(cifar_vgg's took about as long in two processes as on two threads), so the gain shrinks as
the network grows; it was never a loss in what was measured.

How: the helper is ``python -m cnnstudio.engine.part_process``, asked over its pipes, one JSON
line per request and per answer. The arrays cross through one file mapped by both processes
(in ``/dev/shm`` where it exists, deleted as soon as both have it mapped): the weights and
buffers the parent copies in before each step, the part's samples and labels, and the
gradients the helper copies out after it, and the values two parts hand each other at every
BatchNorm layer that trains (:class:`_Exchange`). The helper's network is built from the same
graph and its weights *are* the mapped arrays, so it computes exactly what a thread's replica would:
the same split, the same kernels on one core, and the dropout masks of the thread replica it
stands in for (the replica's generator state goes over with each part and comes back), so a
seeded run gives the same numbers whichever way each step ran (a test pins it to the bit).

A helper is asked for explicitly, for a whole training run (:func:`cnnstudio.engine.
data_parallel.part_processes`): starting one costs a Python start-up (a few tenths of a second,
which the run waits before its first epoch), which a short run such as a sanity check would
not earn back. A helper that fails or dies is dropped and the step runs again on threads, so
it can only cost speed, never a result.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from cnnstudio.engine.worker_process import (
    answer_stream,
    exit_report,
    read_answer,
    worker_environment,
)

__all__ = ["PartProcess", "PartProcessError", "supported"]

#: The module the helper process runs.
MODULE = "cnnstudio.engine.part_process"
#: Byte alignment of every array in the mapped file (a cache line).
_ALIGN = 64


class PartProcessError(RuntimeError):
    """The helper failed, died or could not be started: the step runs on threads instead."""


#: Set to "0" to keep every part on threads (to rule helpers out when something misbehaves).
SWITCH = "CNNSTUDIO_HELPER_PROCESSES"


def supported() -> bool:
    """Whether helper processes can be used here: a POSIX system, where a mapped file may be
    deleted while both processes keep it mapped; not a frozen application (its executable is
    the application, not a Python that can run the helper module); and not switched off by
    :data:`SWITCH`."""
    return (os.name == "posix" and not getattr(sys, "frozen", False)
            and os.environ.get(SWITCH, "1").strip() != "0")


@dataclass(frozen=True, slots=True)
class _Slot:
    """One array in the mapped file."""

    key: str          # "p:<layer>:<name>", "b:<layer>:<name>", "g:<layer>:<name>", "x", "y"
    shape: tuple[int, ...]
    dtype: str
    offset: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def _layout(network: Any, capacity: int) -> tuple[list[_Slot], int]:
    """Where each array lies in the mapped file, and the file's size: every weight, its
    gradient and every buffer of ``network``, then room for ``capacity`` samples and labels."""
    slots: list[_Slot] = []
    offset = 0

    def add(key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        nonlocal offset
        slot = _Slot(key, tuple(int(s) for s in shape), np.dtype(dtype).str, offset)
        slots.append(slot)
        offset += -(-slot.nbytes // _ALIGN) * _ALIGN

    for lid in network.order:
        impl = network.layers[lid]
        for name, value in impl.params.items():
            add(f"p:{lid}:{name}", value.shape, value.dtype)
            add(f"g:{lid}:{name}", value.shape, value.dtype)
        for name, value in impl.buffers.items():
            add(f"b:{lid}:{name}", value.shape, value.dtype)
    add("x", (capacity, *network.input_shape), network.dtype)
    add("y", (capacity,), np.dtype(np.int64))
    channels = [impl.params["gamma"].size for impl in network.layers.values()
                if impl.frozen_means_inference]
    if channels:
        # What the two parts hand each other at a BatchNorm: a count and two per-channel sums
        # each, in one of two slots by the exchange's parity (see :class:`_Exchange`).
        add("e", (2, 2, 1 + 2 * max(channels)), np.dtype(np.float64))
    return slots, max(offset, _ALIGN)


def _views(memory: mmap.mmap, slots: list[_Slot]) -> dict[str, np.ndarray]:
    return {s.key: np.frombuffer(memory, dtype=s.dtype, count=int(np.prod(s.shape)),
                                 offset=s.offset).reshape(s.shape) for s in slots}


def _shared_folder() -> str | None:
    """RAM-backed ``/dev/shm`` where it exists (Linux), else the temporary folder."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _environment() -> dict[str, str]:
    """The helper imports this very cnnstudio, and its BLAS runs on one thread: the part is
    one core's work (as :func:`~cnnstudio.engine.kernels._parallel.on_one_core` makes it for a
    thread)."""
    env = worker_environment()
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


class _Exchange:
    """One side of the BatchNorm meetings of a step in two parts, one part in each process:
    what a BatchNorm layer holds as ``part`` (see :class:`cnnstudio.engine.data_parallel.
    _Part`). At each meeting a side writes its values to its slot of the shared file, tells
    the other side over its pipe, waits to be told in turn, and reads the other's slot. The
    slots alternate by the meeting's parity: a side may run on to the next meeting and write
    while the other still reads this one's, but not the one after (that needs the other past
    the next meeting)."""

    def __init__(self, slots: np.ndarray, index: int, tell: Any, hear: Any) -> None:
        self.index = index
        self.first = index == 0  # the part that moves the moving statistics
        self._slots = slots
        self._tell = tell
        self._hear = hear
        self._rounds = 0

    def gather(self, values: tuple[np.ndarray, ...]) -> list[tuple[np.ndarray, ...]]:
        self._rounds += 1
        parity = self._rounds % 2
        mine = self._slots[self.index, parity]
        at = 0
        for value in values:
            mine[at:at + value.size] = value.ravel()
            at += value.size
        self._tell({"ok": True, "met": self._rounds})
        heard = self._hear()
        if heard.get("met") != self._rounds:
            raise PartProcessError(f"the parts lost step at a BatchNorm layer (meeting "
                                   f"{self._rounds}, told {heard.get('met')})")
        theirs = self._slots[1 - self.index, parity]
        other, at = [], 0
        for value in values:
            other.append(theirs[at:at + value.size].astype(value.dtype).reshape(value.shape))
            at += value.size
        pair = [tuple(values), tuple(other)]
        return pair if self.index == 0 else pair[::-1]


class PartProcess:
    """One helper process and the file it shares with this one, for one network's parts of at
    most ``capacity`` samples. :meth:`start` a part, run this process's own, then
    :meth:`finish` it; :meth:`close` when the run ends."""

    def __init__(self, network: Any, capacity: int) -> None:
        from cnnstudio.core.modelfile import to_document

        self.capacity = capacity
        #: Parts this helper has run (what the tests and the bench check).
        self.parts_run = 0
        self._slots, size = _layout(network, capacity)
        fd, path = tempfile.mkstemp(prefix="cnnstudio-part-", dir=_shared_folder())
        try:
            os.ftruncate(fd, size)
            self._memory = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._path: str | None = path
        self._arrays = _views(self._memory, self._slots)
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, env=_environment())
        except OSError as exc:
            self._remove_file()
            self._arrays = {}
            self._memory.close()
            raise PartProcessError(f"could not start a helper process: {exc}") from None
        self._buffer = b""
        self._ready = False
        self._frozen: frozenset[str] | None = None
        self._send({"graph": to_document(network.graph), "dtype": network.dtype.str,
                    "path": path, "size": size,
                    "slots": [[s.key, list(s.shape), s.dtype, s.offset] for s in self._slots]})

    # -- the pipe ---------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(message).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError:
            raise self._died() from None

    def _answer(self, wait: bool | float) -> dict[str, Any] | None:
        """The next answer line, or None when none has come within ``wait`` seconds (True:
        as long as it takes)."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = None if wait is True else time.monotonic() + float(wait)
        while b"\n" not in self._buffer:
            if deadline is not None and not select.select(
                    [fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._died()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer, why = read_answer(line, "the helper process")
        if answer is None:
            raise PartProcessError(why)
        return answer

    def _died(self) -> PartProcessError:
        return PartProcessError(exit_report(self._proc, self._stderr, "the helper process"))

    # -- the steps --------------------------------------------------------------------------
    def ready(self, wait: bool | float = False) -> bool:
        """Whether the helper has built its network and mapped the file, waiting up to
        ``wait`` seconds (True: until it has). The file is deleted then: both processes keep
        it mapped, and nothing is left behind if either dies."""
        if not self._ready and self._answer(wait) is not None:
            self._ready = True
            self._remove_file()
        return self._ready

    def start(self, network: Any, x: np.ndarray, y: np.ndarray, share: float,
              rng: np.random.Generator, shared: list[str]) -> None:
        """Hand the helper a part: ``network``'s current weights and buffers, the samples
        ``x`` and labels ``y``, the part's ``share`` of the batch, the state of ``rng``, the
        generator its dropout masks are to come from, and the BatchNorm layers whose statistics
        the parts share (``shared``: they meet this process's part through :meth:`exchange`)."""
        n = len(x)
        if n > self.capacity:
            raise PartProcessError(f"a part of {n} samples does not fit in {self.capacity}")
        arrays = self._arrays
        for lid in network.order:
            impl = network.layers[lid]
            for name, value in impl.params.items():
                np.copyto(arrays[f"p:{lid}:{name}"], value)
            for name, value in impl.buffers.items():
                np.copyto(arrays[f"b:{lid}:{name}"], value)
        np.copyto(arrays["x"][:n], x, casting="unsafe")
        np.copyto(arrays["y"][:n], y, casting="unsafe")
        message: dict[str, Any] = {"n": n, "share": share, "rng": rng.bit_generator.state,
                                   "shared": shared}
        frozen = frozenset(network.frozen)
        if frozen != self._frozen:
            message["frozen"] = sorted(frozen)
            self._frozen = frozen
        self._send(message)

    def finish(self, rng: np.random.Generator) -> tuple[float, int]:
        """Wait for the part handed over by :meth:`start`: ``(its mean loss, correct count)``;
        its gradients are then in :meth:`add_gradients`'s reach, and ``rng`` is where the
        helper's generator left off."""
        answer = self._answer(wait=True)
        assert answer is not None
        rng.bit_generator.state = answer["rng"]
        self.parts_run += 1
        return float(answer["loss"]), int(answer["correct"])

    def exchange(self) -> _Exchange:
        """This process's side of a step's BatchNorm meetings with the helper (part 0, the
        one that moves the moving statistics), for the layers named in :meth:`start`."""
        return _Exchange(self._arrays["e"], 0, self._send, lambda: self._answer(wait=True))

    def add_gradients(self, network: Any) -> None:
        """Add the part's gradients to ``network``'s, for the layers the optimizer updates."""
        for lid, name, _, grad in network.trainable_params():
            grad += self._arrays[f"g:{lid}:{name}"]

    def close(self) -> None:
        """End the helper (it exits at the end of its input) and release the file."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()
        self._remove_file()
        self._arrays = {}
        try:
            self._memory.close()
        except BufferError:
            pass  # a view is still referenced somewhere; the mapping goes with it

    def _remove_file(self) -> None:
        if self._path is not None:
            try:
                os.unlink(self._path)
            except OSError:
                pass
            self._path = None


# -- the helper's side ------------------------------------------------------------------------
def _serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper's loop: build the network over the mapped file, then run each part asked
    for until the end of input."""
    from cnnstudio.core.modelfile import from_document
    from cnnstudio.engine.data_parallel import run_part
    from cnnstudio.engine.kernels._parallel import on_one_core
    from cnnstudio.engine.network import Network

    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message).encode() + b"\n")
        answers.flush()

    setup = json.loads(requests.readline())
    try:
        fd = os.open(setup["path"], os.O_RDWR)
        try:
            memory = mmap.mmap(fd, setup["size"])
        finally:
            os.close(fd)
        slots = [_Slot(k, tuple(shape), dtype, offset) for k, shape, dtype, offset
                 in setup["slots"]]
        arrays = _views(memory, slots)
        net = Network(from_document(setup["graph"]), np.random.default_rng(0),
                      np.dtype(setup["dtype"]))
        for lid in net.order:
            impl = net.layers[lid]
            for name in impl.params:
                impl.params[name] = arrays[f"p:{lid}:{name}"]
            for name in impl.buffers:
                impl.buffers[name] = arrays[f"b:{lid}:{name}"]
    except Exception as exc:  # reported to the parent, which then runs its parts on threads
        answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    answer({"ok": True})

    def hear() -> dict[str, Any]:
        line = requests.readline()
        if not line:
            raise PartProcessError("the parent process ended during a step")
        return json.loads(line)

    for line in requests:
        shared: list[str] = []
        try:
            message = json.loads(line)
            if "frozen" in message:
                net.frozen = set(message["frozen"])
            net.rng.bit_generator.state = message["rng"]
            n = int(message["n"])
            shared = list(message.get("shared", ()))
            if shared:
                part = _Exchange(arrays["e"], 1, answer, hear)
                for lid in shared:
                    net.layers[lid].part = part
            with on_one_core():
                loss, correct = run_part(net, arrays["x"][:n], arrays["y"][:n],
                                         float(message["share"]), bool(shared))
            if math.isfinite(loss):
                for lid, name, _, grad in net.trainable_params():
                    np.copyto(arrays[f"g:{lid}:{name}"], grad)
            answer({"ok": True, "loss": loss, "correct": correct,
                    "rng": net.rng.bit_generator.state})
        except Exception as exc:  # the parent runs this step again on threads
            answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            for lid in shared:
                net.layers[lid].part = None


def main() -> None:
    """Serve on stdin/stdout; anything a library prints goes to stderr instead."""
    _serve(sys.stdin.buffer, answer_stream(binary=True))


if __name__ == "__main__":
    main()
