"""``cnnstudio bench``: validator and window latency, and the engine against PyTorch.

PyTorch is optional: when it is importable, the identical network is built from the model
graph through the PyTorch exporter, given the engine's initial weights, and trained on the same
random batch with the same optimizer, so the ratio compares like with like (see
:mod:`cnnstudio.commands.bench_contenders`). The contenders take turns in rounds within one run,
so both see the same machine load: first each in a worker process of its own, as a user's
program runs (the figures the goals are stated for), then both inside this process.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

#: (template, batch size) pairs the issue's targets are stated for.
BENCH_MODELS = (("lenet5", 64), ("cifar_vgg", 64))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure validator speed, window latency and training "
                       "images/s (vs torch)",
                       description="Time the validator on a 300-layer graph, the window's "
                       "edit latency and cold start, then train "
                       "LeNet-5 and the small VGG template on random data for a fixed number "
                       "of steps and print images/s for the engine and, where torch is "
                       "installed, for the same network in torch.")
    p.add_argument("--steps", type=int, default=20, help="timed training steps (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps (default 3)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--no-gui", action="store_true",
                   help="skip the window's edit latency and cold start")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnstudio.engine.bench import (
        big_graph,
        machine_line,
        time_edit_validation,
        time_validator,
    )
    from cnnstudio.engine.bench_process import BenchWorkerError

    if args.steps < 1 or args.warmup < 0:
        print("cnnstudio bench: --steps must be at least 1 and --warmup at least 0",
              file=sys.stderr)
        return 2
    print(machine_line())
    graph = big_graph(300)
    print(f"validator: {time_validator(graph):.1f} ms for a {len(graph)}-layer graph")
    per_edit = time_edit_validation(graph)
    print(f"validation per edit, {len(graph)} layers, full -> incremental ms: "
          + ", ".join(f"{label} {full:.1f} -> {incr:.2f}"
                      for label, (full, incr) in per_edit.items()), flush=True)
    if not args.no_gui:
        _print_window_figures(graph)
    with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    if not args.no_torch and not with_torch:
        print("torch is not installed: engine numbers only")
    status = 0
    try:
        _print_separate_processes(args, with_torch)
    except BenchWorkerError as exc:
        print(f"cnnstudio bench: {exc}", file=sys.stderr)
        status = 1
    if with_torch:
        _print_same_process(args)
    _print_memory()
    return status


#: Goals of the engine against torch, separate processes: training images/s ratio per
#: template, and how many times faster a batch-1 forward pass must be.
TRAIN_GOALS = {"lenet5": 1.0, "cifar_vgg": 0.9}
INFER_GOAL = 3.0
#: Inference figures take this many times the training steps (a batch-1 pass is short).
INFER_STEP_FACTOR = 5


def _print_separate_processes(args: argparse.Namespace, with_torch: bool) -> None:
    """Training (batch 64) and batch-1 inference, each contender in a worker process of its
    own, taking turns in rounds: the comparison the goals are stated for."""
    from contextlib import ExitStack

    from cnnstudio.commands.bench_contenders import WORKER_MODULE, contender_spec
    from cnnstudio.engine.bench import time_rounds
    from cnnstudio.engine.bench_process import BenchWorker

    names = ("engine", "torch") if with_torch else ("engine",)
    with ExitStack() as stack:
        workers = {n: stack.enter_context(BenchWorker(n, WORKER_MODULE)) for n in names}
        runners = {n: w.run for n, w in workers.items()}
        print("engine and torch each in its own process, taking turns in 4 rounds:" if with_torch
              else "engine in its own process:")
        for mode in ("train", "infer"):
            for key, batch in BENCH_MODELS:
                if mode == "infer":
                    batch = 1
                facts = {n: w.setup(contender_spec(n, key, batch, mode))
                         for n, w in workers.items()}
                if mode == "train" and key == BENCH_MODELS[0][0] and "torch" in facts:
                    print(f"torch {facts['torch']['version']}: {facts['torch']['threads']} "
                          f"threads (its default in a fresh process); engine: "
                          f"{facts['engine']['threads']} kernel threads")
                if mode == "train":
                    timings = time_rounds(runners, args.steps, args.warmup, batch)
                    print(_training_line(key, batch, timings, TRAIN_GOALS.get(key),
                                         facts["engine"]), flush=True)
                else:
                    timings = time_rounds(runners, INFER_STEP_FACTOR * args.steps,
                                          INFER_STEP_FACTOR * args.warmup, batch)
                    print(_inference_line(key, timings), flush=True)


def _print_same_process(args: argparse.Namespace) -> None:
    """Training with the engine and torch alternating inside this process (torch shares it
    with NumPy's BLAS and the engine's threads): the figure the bench used to report."""
    import torch

    from cnnstudio.commands.bench_contenders import build_contender, contender_spec
    from cnnstudio.engine.bench import time_interleaved

    print(f"both in this process, taking turns in 4 rounds (torch {torch.get_num_threads()} "
          "threads):")
    for key, batch in BENCH_MODELS:
        built = {n: build_contender(contender_spec(n, key, batch, "train"), torch)
                 for n in ("engine", "torch")}
        timings = time_interleaved({n: b[0] for n, b in built.items()}, args.steps, args.warmup,
                                   batch)
        print(_training_line(key, batch, timings, None, built["engine"][1]), flush=True)


#: How far the memory estimate may be from the measured peak, and the batches it is checked at.
MEMORY_GOAL = 0.25
MEMORY_BATCHES = (64, 256)


def _print_memory() -> None:
    """The estimate by which training refuses too-large batches against the measured peak."""
    from cnnstudio.core.templates import load_template
    from cnnstudio.engine.bench import training_memory
    from cnnstudio.engine.memory import format_bytes

    print(f"training step memory, estimate against the measured peak (tracemalloc; goal: "
          f"within {MEMORY_GOAL:.0%}):")
    for key, _ in BENCH_MODELS:
        for batch in MEMORY_BATCHES:
            estimate, peak = training_memory(load_template(key), batch)
            print(f"{key:10s} batch {batch}: estimate {format_bytes(estimate):>9s} | measured "
                  f"{format_bytes(peak):>9s} | estimate/measured {estimate / peak:.2f}",
                  flush=True)


def step_cut(parts: int, helpers: int) -> str:
    """How the engine's training step ran: whole (its operations split over the cores), or
    in ``parts``, one per core, ``helpers`` of them in helper processes."""
    if parts == 1:
        return "whole"
    if helpers == 0:
        return f"{parts} parts on threads"
    if helpers == 1:
        return f"{parts} parts, 1 in a helper process"
    return f"{parts} parts, {helpers} in helper processes"


def _training_line(key: str, batch: int, timings: dict, goal: float | None,
                   engine_facts: dict) -> str:
    """One network's training figures, with how the engine's step was cut (what its
    contender reported)."""
    engine = timings["engine"]
    cut = step_cut(engine_facts["parts"], engine_facts.get("helpers", 0))
    line = (f"{key:10s} batch {batch}: engine {engine.images_per_s:7.0f} images/s "
            f"({engine.seconds_per_step * 1000:6.1f} ms/step, {cut})")
    if "torch" in timings:
        ref = timings["torch"]
        line += (f" | torch {ref.images_per_s:7.0f} images/s "
                 f"({ref.seconds_per_step * 1000:6.1f} ms/step) | "
                 f"ratio {engine.images_per_s / ref.images_per_s:.2f}x")
        if goal is not None:
            line += f" (goal >= {goal:.1f}x)"
    return line


def _inference_line(key: str, timings: dict) -> str:
    engine = timings["engine"].seconds_per_step * 1000
    line = f"{key:10s} batch 1, eval forward: engine {engine:6.2f} ms"
    if "torch" in timings:
        ref = timings["torch"].seconds_per_step * 1000
        line += (f" | torch {ref:6.2f} ms | engine {ref / engine:.2f}x as fast "
                 f"(goal >= {INFER_GOAL:.1f}x)")
    return line


#: Goals (milliseconds, seconds) the window figures are printed against.
EDIT_GOAL_BIG = (16.0, 33.0)  # median, worst on the 300-layer graph
EDIT_GOAL_TEMPLATE = 5.0  # median on a template
COLD_START_GOAL = 1.0


def _print_window_figures(graph: Any) -> None:
    """Edit latency in an offscreen window (300-layer graph, then two templates) and the cold
    start to the window shown (median of five fresh processes), each with its goal."""
    import statistics

    from cnnstudio.core.templates import load_template
    from cnnstudio.gui.latency import cold_start_seconds, edit_latency_ms

    median, worst = edit_latency_ms(graph)
    print(f"edit latency, {len(graph)} layers: median {median:.1f} ms, worst {worst:.1f} ms "
          f"(goal: median < {EDIT_GOAL_BIG[0]:.0f} ms, worst < {EDIT_GOAL_BIG[1]:.0f} ms)")
    for key in ("lenet5", "cifar_vgg"):
        for selected in (False, True):
            median, worst = edit_latency_ms(load_template(key), selected=selected)
            where = ", edited layer selected" if selected else ""
            print(f"edit latency, {key}{where}: median {median:.1f} ms, worst {worst:.1f} ms "
                  f"(goal: median < {EDIT_GOAL_TEMPLATE:.0f} ms)")
    runs = cold_start_seconds(5)
    print(f"cold start to window shown: median {statistics.median(runs):.2f} s of "
          f"{len(runs)} runs ({min(runs):.2f}-{max(runs):.2f} s; goal < {COLD_START_GOAL:.1f} s)",
          flush=True)


if __name__ == "__main__":
    sys.exit(run(argparse.Namespace(steps=20, warmup=3, no_torch=False, no_gui=False)))
