"""A training step's forward and backward, cut into parts by samples, one part per core.

Why: in a small network (LeNet-5, the default template) every layer's arrays are so small that
splitting each operation over the cores (:mod:`cnnstudio.engine.kernels._parallel`) costs about
what it saves in hand-overs between threads: LeNet-5's step ran as fast on one core. Parts of
the batch, each on its own core through its own replica of the network, need no hand-over until
their gradients are summed, and measured 20-35% faster steps. A step stays whole when the
batch is too small to cut, or when a part would be too little work to be worth a thread.

BatchNorm while it trains normalises by the statistics of the whole batch: the parts meet at
each such layer (an :class:`_Exchange`) and hand each other their per-channel sums, once in
the forward pass (mean and squared deviations) and once in the backward pass (the sums of the
output gradient), so every part computes the whole batch's figures. Those steps are cut into
two parts at most: each part must have a thread of its own while the other waits for it.

A replica shares its original's weight and buffer dicts, so an update, a load or a reset of
the weights is seen by both; it has its own gradients, caches and random generator (dropout).
Each part's loss gradient is scaled by the part's share of the batch, so the summed gradient is
the whole batch's mean gradient, summed in another order (equal to float rounding).

During a training run (:func:`part_processes`) the parts after the first run in helper
processes instead of threads (:mod:`cnnstudio.engine.part_process`): threads of one process
take turns holding the GIL between their NumPy calls, processes do not. A helper's part is
computed exactly as a thread's would be, so only the speed differs.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from cnnstudio.engine.errors import NetworkError
from cnnstudio.engine.introspect import softmax_cross_entropy
from cnnstudio.engine.kernels._parallel import WORKERS, map_on_cores, on_one_core, shares_cores
from cnnstudio.engine.kernels._parallel import split as split_range
from cnnstudio.engine.network import Network
from cnnstudio.engine.part_process import PartProcess, PartProcessError, supported

__all__ = ["forward_backward", "helpers_ready", "part_processes", "parts_of_step", "run_part",
           "step_parts"]

#: Fewest samples in a part: fewer make each layer's fixed cost dominate.
MIN_SAMPLES_PER_PART = 8
#: Fewest forward multiply-adds in a part: below this a second thread's wake-up costs about
#: what the part saves (measured on the tiny digits template, whose 32-sample step of about
#: 3 ms gained nothing from halves).
MIN_MACS_PER_PART = 8_000_000
#: The same for a part in a helper process (:mod:`cnnstudio.engine.part_process`), which
#: shares no GIL with the others and so pays for less work: measured against the whole step,
#: helpers made ``shapes_cnn`` at batch 8 (parts of 4) 2.65 -> 2.05 ms, LeNet-5 at 16 3.3 ->
#: 2.45 ms, ``mobilenet_se`` at 32 16.5 -> 10.1 ms; ``digits_tiny`` at 8 (1.2 M multiply-adds
#: a part) was even, ``dense_baseline`` at 64 (a 0.3 ms step) slower, 0.31 -> 0.58 ms.
MIN_SAMPLES_PER_HELPER_PART = 4
MIN_MACS_PER_HELPER_PART = 2_000_000
#: Seconds the first step of a run waits for its helpers to start (a Python start-up, a few
#: tenths of a second); a run whose helpers are not ready by then trains on threads.
HELPER_START_WAIT = 10.0
#: Most parts of a step whose BatchNorm layers share statistics (see :func:`step_parts`).
MAX_PARTS_SHARING_STATISTICS = 2


class _Replica:
    """A network sharing an original's weights, and the generator its own was drawn from."""

    def __init__(self, original: Network) -> None:
        self.network = Network(original.graph, np.random.default_rng(0), original.dtype,
                               result=original.result)
        self.drawn_from: np.random.Generator | None = None

    def follow(self, original: Network) -> Network:
        """The replica, sharing ``original``'s current weights, buffers and frozen layers, its
        dropout driven by a generator drawn from the original's (repeatable from one seed)."""
        net = self.network
        for lid, impl in original.layers.items():
            mine = net.layers[lid]
            mine.params = impl.params
            mine.buffers = impl.buffers
        net.frozen = original.frozen
        if self.drawn_from is not original.rng:
            net.rng = np.random.default_rng(int(original.rng.integers(2**63)))
            self.drawn_from = original.rng
        return net


_replicas: weakref.WeakKeyDictionary[Network, list[_Replica]] = weakref.WeakKeyDictionary()


def _networks(network: Network, parts: int) -> list[Network]:
    """``network`` and ``parts - 1`` replicas of it, made on first use."""
    replicas = _replicas.setdefault(network, [])
    while len(replicas) < parts - 1:
        replicas.append(_Replica(network))
    return [network] + [r.follow(network) for r in replicas[: parts - 1]]


def _networks_or_none(network: Network, parts: int) -> list[Network] | None:
    """:func:`_networks`, or None when a replica cannot be made (no memory left for its
    gradients): the step then runs whole, as it would on one core."""
    try:
        return _networks(network, parts)
    except (MemoryError, NetworkError):
        return None


def _batch_statistics_layers(network: Network) -> list[str]:
    """The layers that normalise by the statistics of the whole batch: BatchNorm not frozen."""
    return [lid for lid in network.order
            if network.layers[lid].frozen_means_inference and lid not in network.frozen]


def step_parts(network: Network, batch: int, helpers: bool = False) -> int:
    """How many parts a training step of ``batch`` samples is cut into (1: it stays whole),
    on threads or, with ``helpers``, with all but the first in helper processes, which are
    worth it for smaller parts (see :data:`MIN_MACS_PER_HELPER_PART`)."""
    if not shares_cores():
        return 1
    fewest_samples, fewest_macs = ((MIN_SAMPLES_PER_HELPER_PART, MIN_MACS_PER_HELPER_PART)
                                   if helpers else (MIN_SAMPLES_PER_PART, MIN_MACS_PER_PART))
    parts = min(WORKERS, batch // fewest_samples)
    if _batch_statistics_layers(network):
        # The parts wait for each other at every BatchNorm, so each needs a thread of its own
        # at once: the calling thread and one pool thread never wait for a third.
        parts = min(parts, MAX_PARTS_SHARING_STATISTICS)
    per_sample = sum(network.result.layers[lid].macs for lid in network.order)
    while parts > 1 and per_sample * batch < fewest_macs * parts:
        parts -= 1
    return max(parts, 1)


class _Exchange:
    """Where the parts of one step meet to share BatchNorm sums: every part gathers at the
    same layers in the same order, and each gets every part's values, in part order, so all
    compute the very same statistics."""

    def __init__(self, parts: int) -> None:
        self._barrier = threading.Barrier(parts)
        # Two rounds of slots: a part may write the next round's while another still reads
        # this one's, but not the round after (that needs everyone past the next barrier).
        self._slots: list[list[Any]] = [[None] * parts, [None] * parts]

    def meet(self, part: int, rounds: int, values: tuple[np.ndarray, ...]
             ) -> list[tuple[np.ndarray, ...]]:
        slots = self._slots[rounds % 2]
        slots[part] = values
        self._barrier.wait()
        return list(slots)

    def abort(self) -> None:
        """Release the parts waiting here (they raise BrokenBarrierError): one part failed."""
        self._barrier.abort()


class _Part:
    """One part's side of an :class:`_Exchange`, what its BatchNorm layers hold as ``part``."""

    def __init__(self, exchange: _Exchange, index: int) -> None:
        self.exchange = exchange
        self.index = index
        self.first = index == 0  # the part that moves the moving statistics
        self.rounds = 0

    def gather(self, values: tuple[np.ndarray, ...]) -> list[tuple[np.ndarray, ...]]:
        self.rounds += 1
        return self.exchange.meet(self.index, self.rounds, values)


def run_part(network: Network, xb: np.ndarray, yb: np.ndarray, share: float,
          shares_statistics: bool = False) -> tuple[float, int]:
    """Forward, loss and (for a finite loss) backward of one part: ``(its mean loss, correct
    count)``; its loss gradient is scaled by ``share``, its fraction of the batch. A part that
    shares statistics runs its backward even then: the other parts wait for its sums."""
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported, not warned
        logits = network.forward_logits(xb, training=True)
        loss, dlogits, correct = softmax_cross_entropy(logits, yb)
    finite = math.isfinite(loss)
    if finite or shares_statistics:
        if share != 1:
            dlogits *= dlogits.dtype.type(share)
        with np.errstate(**({} if finite else {"all": "ignore"})):
            network.backward_internal(dlogits, network.logits_id)
    return loss, correct


def forward_backward(network: Network, xb: np.ndarray, yb: np.ndarray) -> tuple[float, int]:
    """A training forward and backward over the batch ``xb``, ``yb``, leaving the batch's
    gradient in ``network``'s layers: ``(mean loss, correct count)``. Runs in parts over the
    cores where :func:`step_parts` says so, in helper processes during a training run
    (:func:`part_processes`). A non-finite loss leaves the gradients undefined."""
    session = _sessions.get(network)
    if session is not None:
        parts, in_helpers = parts_of_step(network, len(xb), True)
        if in_helpers:
            done = _with_helpers(network, session, xb, yb, parts)
            if done is not None:
                return done
    parts = step_parts(network, len(xb))
    networks = _networks_or_none(network, parts) if parts > 1 else None
    if networks is None:
        return run_part(network, xb, yb, 1.0)
    slices = split_range(len(xb), parts)
    shared = _batch_statistics_layers(network)
    errors: list[BaseException] = []
    exchange = _Exchange(parts)
    for i, net in enumerate(networks):
        part = _Part(exchange, i)  # one per part: its layers meet the others' in turn
        for lid in shared:
            net.layers[lid].part = part  # type: ignore[attr-defined]

    def run(i: int) -> tuple[float, int]:
        s = slices[i]
        try:
            return run_part(networks[i], xb[s], yb[s], (s.stop - s.start) / len(xb), bool(shared))
        except threading.BrokenBarrierError:
            pass  # another part failed: its error is the one to report
        except BaseException as error:
            errors.append(error)
            exchange.abort()
        return math.nan, 0

    try:
        results = map_on_cores(run, range(parts))
    finally:
        for net in networks:
            for lid in shared:
                net.layers[lid].part = None  # type: ignore[attr-defined]
    if errors:
        raise errors[0]
    loss, correct = _batch_figures(results, slices)
    if math.isfinite(loss):
        _sum_gradients(network, networks[1:])
    return loss, correct


def _batch_figures(results: list[tuple[float, int]], slices: list[slice]) -> tuple[float, int]:
    """The batch's mean loss and correct count from its parts' (weighted by their sizes)."""
    samples = slices[-1].stop - slices[0].start
    loss = sum(part_loss * (s.stop - s.start) for (part_loss, _), s in zip(results, slices,
                                                                            strict=True)
               ) / samples
    return loss, sum(c for _, c in results)


def _with_helpers(network: Network, session: _Session, xb: np.ndarray, yb: np.ndarray,
                  parts: int) -> tuple[float, int] | None:
    """:func:`forward_backward` in ``parts`` parts, all but the first in helper processes, or
    None when the session has none to give (they failed, or no memory was left for the
    replicas whose generators they use): the step then runs on threads. A helper that fails
    during the step gives its part back the same way; an error of the step itself (a bad
    label, say) is raised, and the helpers are ended (one may be waiting for this part)."""
    slices = split_range(len(xb), parts)
    networks = _networks_or_none(network, parts)
    if networks is None:
        return None
    processes = session.ready_processes(parts, max(s.stop - s.start for s in slices))
    if processes is None:
        return None
    try:
        return _forward_backward_in_processes(network, networks, processes, xb, yb, slices,
                                              _batch_statistics_layers(network))
    except PartProcessError as exc:
        session.fail(exc)  # this step, and the run's next ones, run on threads
    except BaseException as exc:
        session.fail(exc)  # the step's own error (the helper may wait for this part)
        raise
    return None


def _forward_backward_in_processes(network: Network, networks: list[Network],
                                   processes: list[PartProcess], xb: np.ndarray,
                                   yb: np.ndarray, slices: list[slice], shared: list[str]
                                   ) -> tuple[float, int]:
    """:func:`forward_backward` with the first part on the calling thread and each other part
    in a helper process. The helpers draw their dropout masks from the thread replicas'
    generators (handed over and back each step), so a step gives the same numbers whether a
    part ran on a thread or in a process. BatchNorm layers that train (``shared``) meet the
    helper's at each such layer, as threads' parts meet (there is one helper then: such steps
    have two parts). On any error the caller ends the helpers, so no answer is left unread."""
    shares = [(s.stop - s.start) / len(xb) for s in slices]
    if shared:
        part = processes[0].exchange()
        for lid in shared:
            network.layers[lid].part = part  # type: ignore[attr-defined]
    try:
        for proc, replica, s, share in zip(processes, networks[1:], slices[1:], shares[1:],
                                           strict=True):
            proc.start(network, xb[s], yb[s], share, replica.rng, shared)
        with on_one_core():
            first = run_part(network, xb[slices[0]], yb[slices[0]], shares[0], bool(shared))
    finally:
        for lid in shared:
            network.layers[lid].part = None  # type: ignore[attr-defined]
    results = [proc.finish(replica.rng) for proc, replica in zip(processes, networks[1:],
                                                               strict=True)]
    loss, correct = _batch_figures([first, *results], slices)
    if math.isfinite(loss):
        for proc in processes:
            proc.add_gradients(network)
    return loss, correct


class _Session:
    """A training run's helper processes for one network (see :func:`part_processes`)."""

    def __init__(self, network: Network) -> None:
        self._network = weakref.ref(network)
        self.processes: list[PartProcess] = []
        #: Why the helpers were given up in this run (None: they were not).
        self.failure: str | None = None

    def ready_processes(self, parts: int, part_samples: int, wait: float | None = None
                        ) -> list[PartProcess] | None:
        """The helpers for a step of ``parts`` parts of up to ``part_samples`` samples,
        started if they are not running yet and waited for up to ``wait`` seconds
        (:data:`HELPER_START_WAIT` by default): the run's steps then all run the same way,
        so a seeded run repeats. None when they failed, or did not start in time."""
        network = self._network()
        if self.failure is not None or network is None:
            return None
        if len(self.processes) != parts - 1 or any(p.capacity < part_samples
                                                    for p in self.processes):
            self.close()
            try:
                for _ in range(parts - 1):
                    self.processes.append(PartProcess(network, part_samples))
            except (PartProcessError, OSError, MemoryError) as exc:
                self.fail(exc)
                return None
        wait = HELPER_START_WAIT if wait is None else wait
        try:
            if all([p.ready(wait) for p in self.processes]):
                return self.processes
            if wait > 0:
                raise PartProcessError(f"the helper process was not ready within {wait:.0f} s")
        except PartProcessError as exc:
            self.fail(exc)
        return None

    def fail(self, error: BaseException) -> None:
        """Give the helpers up for the rest of the run: its steps run on threads."""
        self.failure = str(error) or type(error).__name__
        self.close()

    def close(self) -> None:
        for proc in self.processes:
            proc.close()
        self.processes = []


_sessions: weakref.WeakKeyDictionary[Network, _Session] = weakref.WeakKeyDictionary()


@contextmanager
def part_processes(network: Network) -> Iterator[_Session | None]:
    """Inside the block, the training steps of ``network`` that are cut into parts run their
    parts after the first in helper processes (:mod:`cnnstudio.engine.part_process`),
    started by :func:`helpers_ready` or else by the first such step (either waits the few
    tenths of a second until they are ready) and ended when the block ends. What a whole
    training run wraps itself in; short work (sanity checks, tests) keeps its parts on threads,
    as does a system without helpers (the block then yields None). Nested blocks share the
    outer block's helpers."""
    if not supported() or network in _sessions:
        yield _sessions.get(network)
        return
    session = _sessions[network] = _Session(network)
    try:
        yield session
    finally:
        _sessions.pop(network, None)
        session.close()


def parts_of_step(network: Network, batch: int, helpers: bool) -> tuple[int, int]:
    """``(parts, of them in helper processes)`` of a step of ``batch`` samples, with helpers
    where ``helpers`` allows and the system has them, else on threads."""
    if helpers and supported():
        parts = step_parts(network, batch, helpers=True)
        if parts > 1:
            return parts, parts - 1
    return step_parts(network, batch), 0


def helpers_ready(network: Network, batch: int, wait: bool = True) -> bool:
    """Whether steps of ``batch`` samples on ``network`` run parts in helper processes (inside
    :func:`part_processes`), starting the helpers if need be and, with ``wait``, waiting until
    they are ready, as a run does before its first epoch."""
    session = _sessions.get(network)
    parts, in_helpers = parts_of_step(network, batch, True)
    if session is None or not in_helpers:
        return False
    samples = max(s.stop - s.start for s in split_range(batch, parts))
    return session.ready_processes(parts, samples, None if wait else 0.0) is not None


def _sum_gradients(network: Network, replicas: list[Network]) -> None:
    """Add the replicas' gradients to ``network``'s, for the layers the optimizer updates."""
    for lid, name, _, grad in network.trainable_params():
        for replica in replicas:
            grad += replica.layers[lid].grads[name]
