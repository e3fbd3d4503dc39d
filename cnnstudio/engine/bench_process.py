"""Timing a contender in a process of its own, on request, over a pipe.

Two compute libraries in one process disturb each other: their thread pools compete for the
cores, and a pool that spins while it waits steals time from the other's work. A user's program
runs one of them alone in a fresh process, so ``cnnstudio bench`` also measures each contender
that way: a persistent worker process (:func:`serve`) builds its step once, then, each time the
parent asks, runs a few untimed and a number of timed steps and answers with the times. The
parent (:class:`BenchWorker`) asks the workers in turn, so exactly one of them computes at any
moment while the others block reading their pipe, and a change of the machine's load during the
run weighs on all of them alike (see :func:`cnnstudio.engine.bench.time_rounds`).

The protocol is one JSON object per line. Requests: ``{"op": "setup", "spec": {...}}`` (answered
with what the builder reports, e.g. its thread count), ``{"op": "run", "untimed": u, "timed":
t}`` (answered with ``{"times": [seconds, ...]}``), ``{"op": "quit"}``. Every answer carries
``"ok"``; a failure answers ``{"ok": false, "error": "one line"}`` and the worker goes on serving.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from cnnstudio.engine.worker_process import (
    answer_stream,
    exit_report,
    read_answer,
    worker_environment,
)

__all__ = ["BenchWorker", "BenchWorkerError", "Builder", "Runner", "one_line", "serve",
           "timed_calls"]

#: Builds a contender from its spec: ``(step callable, facts to report to the parent)``.
Builder = Callable[[dict[str, Any]], tuple[Callable[[], object], dict[str, Any]]]

#: Seconds the parent waits for one answer before it gives up on the worker.
DEFAULT_TIMEOUT = 600.0


#: Runs ``untimed`` steps, then ``timed`` ones, and returns the seconds of each timed one: a
#: contender in this process (:func:`timed_calls`) or in a worker process
#: (:meth:`BenchWorker.run`).
Runner = Callable[[int, int], list[float]]


def timed_calls(step: Callable[[], object]) -> Runner:
    """``step`` as a :data:`Runner` in this process."""
    def run(untimed: int, timed: int) -> list[float]:
        for _ in range(untimed):
            step()
        times = []
        for _ in range(timed):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return times

    return run


class BenchWorkerError(RuntimeError):
    """A worker failed, died or stopped answering; the message is one line naming it."""


def one_line(error: BaseException) -> str:
    """``"TypeName: first line of the message"``: what a bench line can quote."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def serve(build: Builder, requests: IO[str], answers: IO[str]) -> None:
    """The worker's loop: answer each request line on ``requests`` until "quit" or end of input.

    Nothing is timed but the steps themselves, one ``perf_counter`` pair around each call.
    """
    step: Callable[[], object] | None = None

    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    for line in requests:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
            op = message.get("op")
            if op == "quit":
                answer({"ok": True})
                return
            if op == "setup":
                step, facts = build(message["spec"])
                answer({"ok": True, **facts})
            elif op == "run":
                if step is None:
                    raise RuntimeError("run before setup")
                times = timed_calls(step)(int(message.get("untimed", 0)), int(message["timed"]))
                answer({"ok": True, "times": times})
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # reported to the parent, which names the worker
            answer({"ok": False, "error": one_line(exc)})


def serve_stdio(build: Builder) -> None:
    """:func:`serve` on this process's stdin/stdout, as a worker's ``__main__`` does. Anything
    a library prints goes to stderr instead, so it cannot corrupt the answers."""
    serve(build, sys.stdin, answer_stream())


class BenchWorker:
    """A worker process (``python -m module``), asked over its pipe; close it when done.

    ``name`` ("torch", "engine") names it in every error. The worker imports the same
    cnnstudio as this process (its package folder goes first on ``PYTHONPATH``).
    """

    def __init__(self, name: str, module: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        env = worker_environment()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env, text=True, encoding="utf-8", bufsize=1)
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name=f"bench-{name}").start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output: the worker has exited

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its answer; BenchWorkerError when the worker reports
        a failure, exits, or does not answer within the timeout."""
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except OSError:
            raise self._died() from None
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise BenchWorkerError(f"{self.name} worker gave no answer within "
                                   f"{self.timeout:.0f} s and was stopped") from None
        if not line:
            raise self._died()
        answer, why = read_answer(line, f"{self.name} worker")
        if answer is None:
            raise BenchWorkerError(why)
        return answer

    def setup(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Build the contender; the builder's facts (thread count, version)."""
        answer = self.request({"op": "setup", "spec": spec})
        answer.pop("ok")
        return answer

    def run(self, untimed: int, timed: int) -> list[float]:
        """``untimed`` steps, then the seconds of each of ``timed`` steps."""
        return [float(t) for t in self.request({"op": "run", "untimed": untimed,
                                                "timed": timed})["times"]]

    def _died(self) -> BenchWorkerError:
        return BenchWorkerError(exit_report(self._proc, self._stderr, f"{self.name} worker"))

    def close(self) -> None:
        """Ask the worker to quit, and end it if it does not."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()

    def __enter__(self) -> BenchWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
