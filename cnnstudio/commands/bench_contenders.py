"""What ``cnnstudio bench`` times: the engine and PyTorch on the same network and data.

A contender is described by a spec, ``{"contender": "engine" | "torch", "template": key,
"batch": n, "mode": "train" | "infer", "seed": s}``, and built into one step callable: a training
step (forward, cross-entropy, backward, momentum SGD) or an eval-mode forward pass. Both sides
build the engine's network from the template with the same seed, so they start from identical
weights; the torch side turns it into a module through the PyTorch exporter, as a user's export
does. The same builder serves the bench's own process and its worker processes
(``python -m cnnstudio.commands.bench_contenders`` serves :func:`build_contender` over a pipe,
see :mod:`cnnstudio.engine.bench_process`).
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["WORKER_MODULE", "build_contender", "contender_spec", "torch_model"]

#: The module a bench worker process runs.
WORKER_MODULE = "cnnstudio.commands.bench_contenders"
CONTENDERS = ("engine", "torch")
MODES = ("train", "infer")


def contender_spec(contender: str, template: str, batch: int, mode: str, seed: int = 0
                   ) -> dict[str, Any]:
    """The spec :func:`build_contender` takes (plain JSON, to cross a pipe)."""
    return {"contender": contender, "template": template, "batch": batch, "mode": mode,
            "seed": seed}


def build_contender(spec: dict[str, Any], torch: Any = None
                    ) -> tuple[Callable[[], object], dict[str, Any]]:
    """``(step, facts)`` for ``spec``; facts name the thread count (and torch's version; for
    an engine training step, the parts it is cut into, see :mod:`cnnstudio.engine.data_parallel`).

    ``torch`` is the module when the caller has it imported already; otherwise it is imported
    here (in a worker process: torch at its defaults, as in a user's fresh program).
    """
    import numpy as np

    from cnnstudio.core.templates import load_template
    from cnnstudio.engine.bench import engine_step, random_batch
    from cnnstudio.engine.kernels._parallel import WORKERS
    from cnnstudio.engine.network import Network

    contender, mode = spec["contender"], spec["mode"]
    if contender not in CONTENDERS or mode not in MODES:
        raise ValueError(f"no such contender or mode: {contender!r}, {mode!r}")
    graph = load_template(spec["template"])
    net = Network(graph, np.random.default_rng(spec["seed"]))
    x, y = random_batch(net.input_shape, net.output_shape[0], int(spec["batch"]), spec["seed"])
    if contender == "engine":
        if mode == "train":
            from cnnstudio.engine.data_parallel import helpers_ready, parts_of_step

            step = engine_step(net, x, y)
            parts, helpers = parts_of_step(net, len(x), helpers_ready(net, len(x), wait=False))
            return step, {"threads": WORKERS, "parts": parts, "helpers": helpers}
        return (lambda: net.forward(x, training=False)), {"threads": WORKERS}
    if torch is None:
        import torch
    model = torch_model(graph, net.state_dict(), torch)[0]
    facts = {"threads": torch.get_num_threads(), "version": torch.__version__}
    if mode == "train":
        return _torch_train_step(torch, model, x, y), facts
    return _torch_forward(torch, model, x), facts


def torch_model(graph: Any, state: dict, torch: Any) -> tuple[Any, dict[str, str]]:
    """The graph as a torch module (through the PyTorch exporter) holding ``state``, and the
    exporter's map from weights-file keys to the module's state-dict names."""
    from cnnstudio.core.atomic import atomic_write_text
    from cnnstudio.engine.weights import atomic_save_npz
    from cnnstudio.export.pytorch import pytorch_source

    with tempfile.TemporaryDirectory(prefix="cnnstudio-bench-") as name:
        folder = Path(name)
        source = folder / "bench_model.py"
        atomic_write_text(source, pytorch_source(graph))
        weights = folder / "weights.npz"
        atomic_save_npz(weights, state)
        spec = importlib.util.spec_from_file_location("cnnstudio_bench_model", source)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module.build_model(str(weights)), dict(module.WEIGHT_KEYS)


def _torch_train_step(torch: Any, model: Any, x: Any, y: Any) -> Callable[[], None]:
    """One training step in torch with the bench's optimizer (see ``BENCH_OPTIMIZER``)."""
    from cnnstudio.engine.bench import BENCH_OPTIMIZER

    model.train()
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


def _torch_forward(torch: Any, model: Any, x: Any) -> Callable[[], object]:
    """An eval-mode forward pass without autograd (``inference_mode``, torch's fastest)."""
    model.eval()
    xt = torch.from_numpy(x)

    def step() -> object:
        with torch.inference_mode():
            return model(xt)

    return step


if __name__ == "__main__":
    from cnnstudio.engine.bench_process import serve_stdio

    serve_stdio(build_contender)
