"""``cnnstudio bench``: validator latency, and engine training throughput against PyTorch.

PyTorch is optional: when it is importable, the identical network is built from the model
graph through the PyTorch exporter, given the engine's initial weights, and trained on the same
random batch with the same optimizer, so the ratio compares like with like. The two take turns
in rounds within one run, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path
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
    import numpy as np

    from cnnstudio.core.templates import load_template
    from cnnstudio.engine.bench import (
        big_graph,
        engine_step,
        machine_line,
        random_batch,
        time_edit_validation,
        time_interleaved,
        time_validator,
    )
    from cnnstudio.engine.network import Network

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
    torch = None if args.no_torch else _import_torch()
    if torch is None and not args.no_torch:
        print("torch is not installed: engine numbers only")
    elif torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for key, batch in BENCH_MODELS:
        g = load_template(key)
        net = Network(g, np.random.default_rng(0))
        x, y = random_batch(net.input_shape, net.output_shape[0], batch)
        contenders = {"engine": engine_step(net, x, y)}
        if torch is not None:
            contenders["torch"] = _torch_step(torch, g, net.state_dict(), x, y)
        timings = time_interleaved(contenders, args.steps, args.warmup, batch)
        engine = timings["engine"]
        line = (f"{key:10s} batch {batch}: engine {engine.images_per_s:7.0f} images/s "
                f"({engine.seconds_per_step * 1000:6.1f} ms/step)")
        if torch is not None:
            ref = timings["torch"]
            line += (f" | torch {ref.images_per_s:7.0f} images/s "
                     f"({ref.seconds_per_step * 1000:6.1f} ms/step) | "
                     f"ratio {engine.images_per_s / ref.images_per_s:.2f}x")
        print(line, flush=True)
    return 0


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
        median, worst = edit_latency_ms(load_template(key))
        print(f"edit latency, {key}: median {median:.1f} ms, worst {worst:.1f} ms "
              f"(goal: median < {EDIT_GOAL_TEMPLATE:.0f} ms)")
    runs = cold_start_seconds(5)
    print(f"cold start to window shown: median {statistics.median(runs):.2f} s of "
          f"{len(runs)} runs ({min(runs):.2f}-{max(runs):.2f} s; goal < {COLD_START_GOAL:.1f} s)",
          flush=True)


def _import_torch() -> Any:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch


def torch_model(graph: Any, state: dict, torch: Any) -> tuple[Any, dict[str, str]]:
    """The graph as a torch module (through the PyTorch exporter) holding ``state``, and the
    exporter's map from weights-file keys to the module's state-dict names."""
    from cnnstudio.core.atomic import atomic_write_text
    from cnnstudio.engine.weights import atomic_save_npz
    from cnnstudio.export.pytorch import pytorch_source

    folder = Path(tempfile.mkdtemp(prefix="cnnstudio-bench-"))
    source = folder / "bench_model.py"
    atomic_write_text(source, pytorch_source(graph))
    weights = folder / "weights.npz"
    atomic_save_npz(weights, state)
    spec = importlib.util.spec_from_file_location("cnnstudio_bench_model", source)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.build_model(str(weights)), dict(module.WEIGHT_KEYS)


def _torch_step(torch: Any, graph: Any, state: dict, x: Any, y: Any) -> Any:
    """One training step of the same network in torch, same weights, data and optimizer."""
    from cnnstudio.engine.bench import BENCH_OPTIMIZER

    model = torch_model(graph, state, torch)[0].train()
    opt = torch.optim.SGD(model.parameters(), lr=BENCH_OPTIMIZER.lr,
                          momentum=BENCH_OPTIMIZER.momentum)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()

    return step


if __name__ == "__main__":
    sys.exit(run(argparse.Namespace(steps=20, warmup=3, no_torch=False, no_gui=False)))
