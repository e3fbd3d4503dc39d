"""Measuring the engine: validator latency on a large graph and training throughput.

The numbers are what a user compares with PyTorch on the same machine, so the measurement is
plain: a few warm-up steps (first-call allocations, BLAS thread start-up), then the median
time of fixed-size training steps on random data, reported as images per second. When two
contenders are compared they take turns in rounds (:func:`time_interleaved`), so a change in
the machine's load during the run weighs on both alike instead of on whichever ran second.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import tracemalloc
import weakref
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from cnnstudio.core.graph import Graph
from cnnstudio.core.incremental import IncrementalValidator
from cnnstudio.core.validator import validate
from cnnstudio.engine.bench_process import Runner, timed_calls
from cnnstudio.engine.data_parallel import helpers_ready, part_processes
from cnnstudio.engine.kernels._blas import blas_controllable
from cnnstudio.engine.kernels._parallel import WORKERS
from cnnstudio.engine.memory import estimate_training_bytes
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer
from cnnstudio.engine.trainer import train_step

__all__ = ["BENCH_OPTIMIZER", "EDITS", "Runner", "StepTiming", "big_graph", "engine_step",
           "machine_line", "random_batch", "time_edit_validation", "time_interleaved",
           "time_rounds", "time_validator", "timed_calls", "training_memory"]

#: The update rule both engines use in the bench (plain SGD with momentum: cheap and identical).
BENCH_OPTIMIZER = OptimizerConfig("momentum", lr=0.01, momentum=0.9)


@dataclass(frozen=True, slots=True)
class StepTiming:
    """Per-step seconds (median of the measured steps) and the throughput it implies."""

    batch_size: int
    seconds_per_step: float

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.seconds_per_step


def big_graph(n_layers: int = 300) -> Graph:
    """A plain chain of ``n_layers`` layers (conv/BN/ReLU blocks, then a head): the validator's
    worst realistic case, one linear pass."""
    g = Graph(f"{n_layers} layers")
    prev = g.add_layer("Input", {"channels": 3, "height": 64, "width": 64}, layer_id="in")
    kinds = [("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"}),
             ("BatchNorm", {}), ("ReLU", {})]
    i = 0
    while len(g) < n_layers - 3:
        kind, params = kinds[i % 3]
        prev = g.add_layer(kind, params, layer_id=f"l{i}", inputs=[prev])
        i += 1
    prev = g.add_layer("GlobalAvgPool2D", layer_id="gap", inputs=[prev])
    prev = g.add_layer("Dense", {"units": 10}, layer_id="fc", inputs=[prev])
    g.add_layer("Softmax", layer_id="out", inputs=[prev])
    return g


def time_validator(graph: Graph, repeats: int = 21) -> float:
    """Median milliseconds of one ``validate(graph)``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        validate(graph)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


#: Edits of ``big_graph`` timed by :func:`time_edit_validation`, each toggling between two
#: states: (label, the edit given which of the two states to reach).
EDITS: tuple[tuple[str, Callable[[Graph, int], None]], ...] = (
    # The worst case: a new input size changes every layer's shape.
    ("input size", lambda g, i: g.set_param("in", "height", 64 + i % 2)),
    ("first conv", lambda g, i: g.set_param("l0", "filters", 16 + i % 2)),
    ("last layer", lambda g, i: g.set_param("fc", "units", 10 + i % 2)),
    ("rename", lambda g, i: g.rename(*(("fc", "head") if i % 2 == 0 else ("head", "fc")))),
    ("move", lambda g, i: g.move("l0", 40.0 * (i % 2), 0.0)),
)


def time_edit_validation(graph: Graph, repeats: int = 11) -> dict[str, tuple[float, float]]:
    """Median milliseconds to validate ``big_graph`` after each kind of edit in :data:`EDITS`,
    in full and incrementally (as the window does), taking turns after every edit. The graph
    given is left as it is (a copy is edited)."""
    graph = graph.copy()
    incremental = IncrementalValidator()
    incremental.validate(graph)
    out = {}
    for label, edit in EDITS:
        full_ms, incr_ms = [], []
        for i in range(repeats * 2):
            edit(graph, i)
            t0 = time.perf_counter()
            validate(graph)
            t1 = time.perf_counter()
            incremental.validate(graph)
            t2 = time.perf_counter()
            full_ms.append(t1 - t0)
            incr_ms.append(t2 - t1)
        out[label] = (statistics.median(full_ms) * 1000, statistics.median(incr_ms) * 1000)
    return out


def machine_line() -> str:
    """Cores, the engine's kernel threads and the load average: what the numbers depend on most
    (on a busy machine every contender slows down, and some far more than others)."""
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    blas = "single-threaded BLAS + own threads" if blas_controllable() else "BLAS threads"
    return (f"machine: {platform.machine()} {os.cpu_count()} cores{load}; engine: {WORKERS} "
            f"kernel threads ({blas})")


def random_batch(shape: tuple[int, ...], classes: int, batch: int, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal float32 images ``[batch, *shape]`` and random labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape), dtype=np.float32)
    y = rng.integers(0, classes, batch).astype(np.int64)
    return x, y


def engine_step(network: Network, x: np.ndarray, y: np.ndarray, helpers: bool = True
                ) -> Callable[[], object]:
    """One training step (forward, loss, backward, momentum update) of the engine on one batch,
    as a callable for :func:`time_interleaved` or a bench worker. With ``helpers``, the step
    runs as in a training run, its parts in helper processes where a run's would be (see
    :func:`~cnnstudio.engine.data_parallel.part_processes`); they are started and ready before
    this returns, and end when the callable is dropped."""
    optimizer = make_optimizer(BENCH_OPTIMIZER)

    def step() -> object:
        return train_step(network, optimizer, x, y)

    if helpers:
        session = ExitStack()
        session.enter_context(part_processes(network))
        weakref.finalize(step, session.close)
        helpers_ready(network, len(x))
    return step


def training_memory(graph: Graph, batch: int, seed: int = 0) -> tuple[int, int]:
    """``(estimated, measured)`` bytes of a training step of ``batch`` random samples in this
    process, its parts on threads: the estimate that refuses too-large batches (without what
    helper processes add, which this process cannot trace), and the peak traced memory of a
    steady (the second)
    step, counting everything allocated since before the network was built -- its weights,
    the batch, the optimizer's state, what the layers keep and what is in flight. One step at
    batch 1 runs untraced first, so what the process allocates once (lazy imports, the kernel
    threads) is not counted."""
    warm = Network(graph, np.random.default_rng(seed))
    engine_step(warm, *random_batch(warm.input_shape, warm.output_shape[0], 1, seed),
                helpers=False)()
    del warm
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        network = Network(graph, np.random.default_rng(seed))
        x, y = random_batch(network.input_shape, network.output_shape[0], batch, seed)
        step = engine_step(network, x, y, helpers=False)  # what this process holds
        step()
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    return estimate_training_bytes(network, batch, helpers=False), peak


def time_rounds(runners: dict[str, Runner], steps: int, warmup: int, batch: int,
                rounds: int = 4) -> dict[str, StepTiming]:
    """Median step time of each contender, taking turns: ``rounds`` rounds in which each runs
    one untimed step (to settle back in after the other) and then its share of ``steps`` timed
    ones. ``warmup`` untimed steps each come first. Only one contender computes at a time."""
    for run in runners.values():
        run(warmup, 0)
    rounds = max(1, min(rounds, steps))
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(rounds):
        share = steps * (r + 1) // rounds - steps * r // rounds
        for name, run in runners.items():
            times[name] += run(1, share)
    return {name: StepTiming(batch, statistics.median(ts)) for name, ts in times.items()}


def time_interleaved(contenders: dict[str, Callable[[], object]], steps: int, warmup: int,
                     batch: int, rounds: int = 4) -> dict[str, StepTiming]:
    """:func:`time_rounds` for step callables sharing this process."""
    return time_rounds({name: timed_calls(step) for name, step in contenders.items()},
                       steps, warmup, batch, rounds)
