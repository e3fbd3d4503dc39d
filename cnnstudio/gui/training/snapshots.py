"""The weights of a run at the end of each epoch, kept within a memory budget.

The epoch scrubber replays feature maps, filters and the confusion matrix as they were after
any epoch, so it needs the weights of every epoch, and the initial ones (epoch 0). A small CNN's
weights take a megabyte; a ResNet's take tens, so the store has a budget: when the snapshots
would exceed it, it keeps only every 2nd epoch, then every 4th, and so on (always the initial
and the latest), and says so, so the user knows why some epochs cannot be chosen.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["DEFAULT_BUDGET_BYTES", "EpochSnapshots"]

#: Memory the snapshots of one run may take.
DEFAULT_BUDGET_BYTES = 256 * 2**20

Weights = Mapping[str, np.ndarray]


def _size(weights: Weights) -> int:
    return sum(int(np.asarray(a).nbytes) for a in weights.values())


class EpochSnapshots:
    """Epoch number -> weights (dicts of arrays that are never changed in place)."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._kept: dict[int, Weights] = {}
        #: Only epochs divisible by it are kept (besides epoch 0 and the latest).
        self.stride = 1

    def clear(self) -> None:
        self._kept.clear()
        self.stride = 1

    def add(self, epoch: int, weights: Weights) -> None:
        """Keep ``weights`` as the state after ``epoch`` (0 = before training), thinning the
        older ones when the budget would be exceeded."""
        if not weights:
            return
        previous = self.latest()
        if previous is not None and previous != 0 and previous % self.stride:
            del self._kept[previous]  # it was kept only for being the latest
        self._kept[int(epoch)] = weights
        self._thin()

    def _thin(self) -> None:
        while self.nbytes() > self.budget_bytes and len(self._kept) > 2:
            self.stride *= 2
            latest = max(self._kept)
            self._kept = {e: w for e, w in self._kept.items()
                          if e == 0 or e == latest or e % self.stride == 0}

    def epochs(self) -> list[int]:
        return sorted(self._kept)

    def weights(self, epoch: int) -> Weights:
        return self._kept[epoch]

    def latest(self) -> int | None:
        return max(self._kept) if self._kept else None

    def nbytes(self) -> int:
        return sum(_size(w) for w in self._kept.values())

    def __len__(self) -> int:
        return len(self._kept)

    def note(self) -> str:
        """What the user should know about the thinning ("" when every epoch is kept)."""
        if self.stride == 1:
            return ""
        mb = self.budget_bytes / 2**20
        nth = f"{self.stride}{'nd' if self.stride == 2 else 'th'}"
        return (f"To stay within {mb:,.0f} MB, only every {nth} epoch is kept (and the first "
                "and the latest).")
