"""How much memory cnnstudio may use, and refusing work that would not fit before allocating it.

Running out of memory mid-epoch either kills the process or sends the machine into swap; a
small hostile file (a 1 KB model with a 2^20-unit Dense layer, a 4 MB archive of a 4 GiB array)
can do the same at once. So every place that is about to allocate in proportion to what a file
or a model says (building a network, reading an array, resizing a dataset, a training step)
first asks :func:`memory_refusal` with its estimate, and refuses with one sentence stating the
numbers. The budget is a share of the memory the OS reports free, or the
``CNNSTUDIO_MEMORY_LIMIT`` environment variable (``4GB``, ``512MB``) when set.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING

from cnnstudio.engine.errors import TrainingError

if TYPE_CHECKING:
    from cnnstudio.core.validator import ValidationResult
    from cnnstudio.engine.network import Network

__all__ = ["DEFAULT_FRACTION", "LIMIT_ENV", "available_memory", "check_memory",
           "estimate_training_bytes", "format_bytes", "memory_budget", "memory_refusal",
           "training_refusal", "weight_bytes"]

#: Share of the available memory one piece of work may plan to use by default.
DEFAULT_FRACTION = 0.5
#: Environment variable that sets the budget in bytes (suffixes KB, MB, GB, TB; powers of 1024).
LIMIT_ENV = "CNNSTUDIO_MEMORY_LIMIT"
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "M": 1 << 20, "MB": 1 << 20,
          "G": 1 << 30, "GB": 1 << 30, "T": 1 << 40, "TB": 1 << 40}


def _parse_size(text: str) -> int | None:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", text)
    if m is None or m.group(2).upper() not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def memory_budget() -> tuple[int | None, str]:
    """``(bytes one piece of work may use, how that number came about)``; ``(None, "")`` when
    the machine's memory cannot be known and no limit is set."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if raw:
        limit = _parse_size(raw)
        if limit is not None:
            return limit, f"the limit is {format_bytes(limit)} ({LIMIT_ENV}={raw})"
    avail = available_memory()
    if avail is None:
        return None, ""
    ignored = f"; {LIMIT_ENV}={raw!r} is not a size, ignored" if raw else ""
    return int(avail * DEFAULT_FRACTION), (
        f"{format_bytes(avail)} is free and cnnstudio uses at most {DEFAULT_FRACTION:.0%} of it "
        f"(set {LIMIT_ENV} to change){ignored}")


def memory_refusal(need: int, subject: str, purpose: str) -> str | None:
    """None when ``need`` bytes fit the budget, else the sentence that refuses:
    ``"{subject} needs 2.1 GB {purpose}; 1.2 GB is free and ..."``, e.g. subject "this model",
    purpose "for its weights"."""
    limit, why = memory_budget()
    if limit is None or need <= limit:
        return None
    return f"{subject} needs {format_bytes(need)} {purpose}; {why}"


def weight_bytes(result: ValidationResult, itemsize: int = 4) -> int:
    """Bytes of a built network's weights and buffers, from the validator's totals: what
    building it will allocate (gradients are allocated lazily, when training writes them)."""
    return (result.totals.trainable + result.totals.non_trainable) * itemsize


def training_refusal(result: ValidationResult, batch_size: int, itemsize: int = 4
                     ) -> str | None:
    """Before a network is built for training: the weights with their gradients and two
    optimizer slots, and every layer's output and gradient for the batch, from the validator's
    numbers alone. None when that fits the budget, else the sentence that refuses. (The
    trainer's :func:`check_memory` adds the im2col workspaces once the network exists.)"""
    outputs = 0
    for report in result.layers.values():
        if report.output_shape is not None:
            outputs += math.prod(report.output_shape)
    fixed, per_image = 4 * weight_bytes(result, itemsize), 2 * outputs * itemsize
    refusal = memory_refusal(fixed + per_image * batch_size, "training this model",
                             f"for its weights, their gradients, the optimizer's state and a "
                             f"batch of {batch_size}")
    if refusal is None:
        return None
    limit, _ = memory_budget()
    fits = max(0, ((limit or 0) - fixed) // max(per_image, 1))
    return refusal + (f": use a batch size of at most {fits}" if fits >= 1 else
                      ": the model is too large for this machine even with one image per batch")


#: Activations in flight besides what the layers keep, in units of the largest one: during a
#: forward, a layer's input, its output and a temporary of the same size (BatchNorm's); during
#: a backward, the gradient arriving and the one leaving.
IN_FLIGHT = 3


def estimate_training_bytes(network: Network, batch_size: int, helpers: bool = True) -> int:
    """Bytes one training step of ``batch_size`` samples holds at its peak: the contract by
    which training refuses a batch that would not fit.

    Counted per sample: the batch (as given and in the engine's layout), what each layer keeps
    from its forward until its backward (:meth:`LayerImpl.kept_elements`: masks, normalised
    values, im2col matrices and their backward counterparts), and ``IN_FLIGHT`` times the
    largest activation for what is being computed. Counted once: the weights with their
    gradients and two optimizer slots, and the buffers; and for a step cut into parts
    (:mod:`cnnstudio.engine.data_parallel`) one more set of gradients per extra part (each
    part's replica has its own; the parts' activations add up to the batch's). With
    ``helpers``, as in a training run, each part in a helper process
    (:mod:`cnnstudio.engine.part_process`) adds three more sets of weights (the file it shares
    with this process holds the weights and the part's gradients, and its network has its
    own gradients), the buffers and the part's samples. Not counted: the dataset, and the
    interpreters. Checked against what a step really allocates in this process (tracemalloc,
    parts on threads) on the bench networks: within 25%.
    """
    # data_parallel imports the network module, which imports this one
    from cnnstudio.engine.data_parallel import parts_of_step

    inputs = math.prod(network.input_shape)
    per_sample = 2 * inputs
    largest = inputs
    weights = buffers = 0
    for lid in network.order:
        impl = network.layers[lid]
        need_dx = any(src != network.input_id for src in network.inputs.get(lid, ()))
        per_sample += impl.kept_elements(need_dx)
        largest = max(largest, math.prod(impl.out_shape))
        weights += sum(p.size for p in impl.params.values())
        buffers += sum(b.size for b in impl.buffers.values())
    per_sample += IN_FLIGHT * largest
    parts, in_helpers = parts_of_step(network, batch_size, helpers)
    fixed = (4 + parts - 1) * weights + buffers
    fixed += in_helpers * (3 * weights + buffers + -(-batch_size // parts) * inputs)
    return (per_sample * batch_size + fixed) * network.dtype.itemsize


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
        limit, where = memory_budget()
        if limit is None:
            return need
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
