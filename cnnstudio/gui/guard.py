"""Nothing a view does while redrawing may reach Qt's event loop.

An exception escaping a slot or an event handler is, at best, printed while the view stays
half-drawn; a MemoryError escaping a C++ event handler has crashed the whole window. Views
decorate their ``refresh`` with :func:`shows_errors_in_place`: a failure is shown where the
picture would have been (``show_refresh_error``), the traceback goes to stderr for a bug
report, and the window stays usable. With ``CNNSTUDIO_DEBUG`` set (the test suite sets it) the
exception propagates instead, so a bug fails its test.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from cnnstudio import DEBUG_ENV

__all__ = ["describe_failure", "shows_errors_in_place"]

F = TypeVar("F", bound=Callable[..., Any])


def describe_failure(exc: BaseException) -> str:
    """One sentence for a failure nobody anticipated."""
    if isinstance(exc, MemoryError):
        return ("Not enough memory to draw this: the model or the data is too large for this "
                "machine.")
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
    return f"This view could not be drawn ({detail}). This is a bug in cnnstudio."


def shows_errors_in_place(method: F) -> F:
    """Decorate a view's redraw: exceptions become ``self.show_refresh_error(message)``."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (the point: nothing escapes into Qt)
            if os.environ.get(DEBUG_ENV) and not isinstance(exc, MemoryError):
                raise
            traceback.print_exc()
            try:
                self.show_refresh_error(describe_failure(exc))
            except Exception:  # noqa: BLE001 (showing the error must not fail either)
                traceback.print_exc()
            return None

    return guarded  # type: ignore[return-value]
