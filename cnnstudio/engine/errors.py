"""The errors the engine raises for problems a user can fix, each with a one-line message.

They are separate from programming errors (ValueError, TypeError from kernels) so the CLI and the
GUI can show these as they are, and let anything else surface as a bug.
"""

from __future__ import annotations

__all__ = ["EngineError", "NetworkError", "TrainingError", "WeightsError"]


class EngineError(Exception):
    """Base of the engine's user-facing errors: the message is one line, shown as-is."""


class NetworkError(EngineError):
    """The model cannot be built into a network (invalid graph, wrong input shape)."""


class TrainingError(EngineError):
    """Training cannot start: data and model disagree, or the batch would not fit in memory."""


class WeightsError(EngineError):
    """A weights file cannot be read, or does not fit the model; the message names the file."""
