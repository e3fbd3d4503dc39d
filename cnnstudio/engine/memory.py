"""How much memory a training step needs, and refusing a batch that would not fit.

Running out of memory mid-epoch either kills the process or sends the machine into swap; a
student cannot tell why. An estimate from the validator's shapes, before the first batch, turns
that into a sentence with a smaller batch size to try.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cnnstudio.engine.errors import TrainingError

if TYPE_CHECKING:
    from cnnstudio.engine.network import Network

__all__ = ["DEFAULT_FRACTION", "available_memory", "check_memory", "estimate_training_bytes",
           "format_bytes"]

#: Share of the available memory a training run may plan to use by default.
DEFAULT_FRACTION = 0.5


def estimate_training_bytes(network: Network, batch_size: int) -> int:
    """Bytes for one training step: every layer's output and its gradient, each layer's
    workspace (im2col matrices and their gradients) for ``batch_size`` samples, plus the weights
    with their gradients and two optimizer slots. An upper-side estimate: the network frees
    outputs as soon as they are consumed, and copies NumPy makes for a moment are ignored."""
    per_sample = 0
    params = 0
    for lid in network.order:
        impl = network.layers[lid]
        out = 1
        for d in impl.out_shape:
            out *= d
        per_sample += 2 * out + 2 * impl.workspace_elements()
        params += sum(p.size for p in impl.params.values()) + sum(
            b.size for b in impl.buffers.values())
    return (per_sample * batch_size + 4 * params) * network.dtype.itemsize


def available_memory() -> int | None:
    """Bytes the OS can give without swapping (Linux ``MemAvailable``), else physical memory,
    else None when it cannot be known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def check_memory(network: Network, batch_size: int, limit: int | None = None) -> int:
    """Raise TrainingError when a step of ``batch_size`` would need more than ``limit`` bytes
    (default: DEFAULT_FRACTION of the available memory); return the estimate otherwise."""
    need = estimate_training_bytes(network, batch_size)
    where = "the limit"
    if limit is None:
        avail = available_memory()
        if avail is None:
            return need
        limit = int(avail * DEFAULT_FRACTION)
        where = f"{DEFAULT_FRACTION:.0%} of the {format_bytes(avail)} available"
    if need <= limit:
        return need
    per_sample = max(1, estimate_training_bytes(network, 2) - estimate_training_bytes(network, 1))
    fixed = estimate_training_bytes(network, 0)
    fits = max(0, (limit - fixed) // per_sample)
    hint = (f"use a batch size of at most {fits}" if fits >= 1
            else "the model is too large for this machine even with one image per batch")
    raise TrainingError(
        f"training needs about {format_bytes(need)} for a batch of {batch_size} (activations "
        f"and gradients), more than {format_bytes(limit)} ({where}): {hint}, or make the model "
        "smaller"
    )
