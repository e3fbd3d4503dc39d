"""What the engine's worker processes have in common: how they are started and how their
answers are read. Two kinds use it: the bench's contender workers
(:mod:`cnnstudio.engine.bench_process`) and a training step's helper processes
(:mod:`cnnstudio.engine.part_process`). Both speak one JSON object per line, every answer
carrying ``"ok"``, and both must name the worker in a one-line error when it fails or dies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

__all__ = ["answer_stream", "exit_report", "read_answer", "worker_environment"]


def worker_environment() -> dict[str, str]:
    """This process's environment, with this cnnstudio's package folder first on
    ``PYTHONPATH``: a worker process (``python -m cnnstudio...``) imports the same code."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def answer_stream(binary: bool = False) -> IO[Any]:
    """In a worker: a stream to this process's stdout for its answers alone. Anything a
    library prints from now on goes to stderr instead, so it cannot corrupt the answers."""
    answers = (os.fdopen(os.dup(sys.stdout.fileno()), "wb") if binary
               else os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8"))
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return answers


def read_answer(line: str | bytes, who: str) -> tuple[dict[str, Any] | None, str]:
    """One answer line as ``(answer, "")``, or ``(None, why)`` when it is not JSON or says
    it failed; ``why`` starts with ``who`` ("engine worker", "the helper process"), then
    the worker's own error."""
    try:
        answer = json.loads(line)
    except ValueError:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        return None, f"{who} answered nonsense: {text.strip()[:80]!r}"
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error", "failed") if isinstance(answer, dict) else "failed"
        return None, f"{who}: {error}"
    return answer, ""


def exit_report(proc: subprocess.Popen, stderr: IO[str], who: str) -> str:
    """One line on a worker that stopped answering: its exit code (after waiting up to five
    seconds for it) and the last line it wrote to ``stderr``."""
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    stderr.seek(0)
    lines = [ln.strip() for ln in stderr.read().splitlines() if ln.strip()]
    status = "stopped answering" if code is None else f"exited with code {code}"
    return f"{who} {status}" + (f": {lines[-1]}" if lines else "")
