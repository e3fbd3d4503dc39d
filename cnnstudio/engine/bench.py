"""Measuring the engine: validator latency on a large graph and training throughput.

The numbers are what a user compares with PyTorch on the same machine, so the measurement is
plain: a few warm-up steps (first-call allocations, BLAS thread start-up), then the median
time of fixed-size training steps on random data, reported as images per second.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import validate
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer
from cnnstudio.engine.trainer import train_step

__all__ = ["BENCH_OPTIMIZER", "StepTiming", "big_graph", "random_batch", "time_steps",
           "time_engine_training", "time_validator"]

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


def time_validator(graph: Graph, repeats: int = 5) -> float:
    """Median milliseconds of one ``validate(graph)``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        validate(graph)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def random_batch(shape: tuple[int, ...], classes: int, batch: int, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal float32 images ``[batch, *shape]`` and random labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape), dtype=np.float32)
    y = rng.integers(0, classes, batch).astype(np.int64)
    return x, y


def time_steps(step: Callable[[], object], steps: int, warmup: int, batch: int) -> StepTiming:
    """Run ``warmup`` untimed then ``steps`` timed calls of ``step``; median step time."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return StepTiming(batch, statistics.median(times))


def time_engine_training(network: Network, x: np.ndarray, y: np.ndarray, steps: int,
                         warmup: int = 3) -> StepTiming:
    """Training steps (forward, loss, backward, momentum update) of the engine on one batch."""
    optimizer = make_optimizer(BENCH_OPTIMIZER)
    return time_steps(lambda: train_step(network, optimizer, x, y), steps, warmup, len(x))
