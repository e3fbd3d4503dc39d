"""The bench's worker processes: the request protocol, failures reported in one line, and the
contenders built the same on both sides (same weights, same data). Nothing here is timed."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from cnnstudio.cli import main
from cnnstudio.commands.bench_contenders import WORKER_MODULE, build_contender, contender_spec
from cnnstudio.engine.bench import time_rounds
from cnnstudio.engine.bench_process import BenchWorker, BenchWorkerError, serve


def _served(requests: list[dict], build) -> list[dict]:
    answers = io.StringIO()
    serve(build, io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), answers)
    return [json.loads(line) for line in answers.getvalue().splitlines()]


def test_worker_runs_untimed_then_timed_steps_and_reports_each_time():
    calls = []

    def build(spec):
        return (lambda: calls.append(spec["tag"])), {"threads": 3}

    answers = _served([{"op": "setup", "spec": {"tag": "a"}},
                       {"op": "run", "untimed": 2, "timed": 3},
                       {"op": "quit"},
                       {"op": "run", "untimed": 0, "timed": 1}], build)
    assert answers[0] == {"ok": True, "threads": 3}
    assert answers[1]["ok"] and len(answers[1]["times"]) == 3
    assert all(t >= 0 for t in answers[1]["times"])
    assert calls == ["a"] * 5
    assert answers[2] == {"ok": True}
    assert len(answers) == 3  # nothing is served after "quit"


def test_worker_reports_failures_in_one_line_and_keeps_serving():
    def build(spec):
        if spec.get("bad"):
            raise ValueError("no such template: 'nope'\nsecond line")
        return (lambda: None), {}

    answers = _served([{"op": "run", "timed": 1},
                       {"op": "setup", "spec": {"bad": True}},
                       {"op": "frobnicate"},
                       {"op": "setup", "spec": {}},
                       {"op": "run", "timed": 2}], build)
    assert answers[0] == {"ok": False, "error": "RuntimeError: run before setup"}
    assert answers[1] == {"ok": False, "error": "ValueError: no such template: 'nope'"}
    assert answers[2]["ok"] is False and "frobnicate" in answers[2]["error"]
    assert answers[4]["ok"] and len(answers[4]["times"]) == 2


def test_time_rounds_asks_each_contender_in_turn_for_its_share():
    asked = []

    def runner(name):
        def run(untimed, timed):
            asked.append((name, untimed, timed))
            return [0.5] * timed
        return run

    timings = time_rounds({"a": runner("a"), "b": runner("b")}, steps=10, warmup=3, batch=4)
    assert asked[:2] == [("a", 3, 0), ("b", 3, 0)]
    rounds = asked[2:]
    assert [n for n, _, _ in rounds] == ["a", "b"] * 4  # alternating, never both at once
    assert sum(t for n, _, t in rounds if n == "a") == 10
    assert all(u == 1 for _, u, _ in rounds)  # one settling step after the other ran
    assert timings["a"].images_per_s == pytest.approx(8.0)


def test_engine_worker_process_builds_and_runs_a_contender():
    with BenchWorker("engine", WORKER_MODULE) as worker:
        facts = worker.setup(contender_spec("engine", "lenet5", 1, "infer"))
        assert facts["threads"] >= 1
        times = worker.run(1, 3)
        assert len(times) == 3 and all(t > 0 for t in times)


def test_the_engine_training_contender_says_how_its_step_is_cut(capsys):
    """The bench line shows whether the engine's step ran whole or in parts (one per core),
    and how many parts ran in helper processes: the worker reports what the engine decides for
    that network and batch on this machine (LeNet-5 has no BatchNorm, so a step in parts has
    its helpers ready before it is timed)."""
    import numpy as np

    from cnnstudio.commands.bench import step_cut
    from cnnstudio.core.templates import load_template
    from cnnstudio.engine.data_parallel import step_parts
    from cnnstudio.engine.network import Network
    from cnnstudio.engine.part_process import supported

    expected = step_parts(Network(load_template("lenet5"), np.random.default_rng(0)), 64)
    helpers = expected - 1 if supported() else 0
    with BenchWorker("engine", WORKER_MODULE) as worker:
        facts = worker.setup(contender_spec("engine", "lenet5", 64, "train"))
    assert (facts["parts"], facts["helpers"]) == (expected, helpers)
    assert main(["bench", "--steps", "1", "--warmup", "0", "--no-torch", "--no-gui"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith("lenet5     batch 64: engine"))
    assert line.endswith(f"ms/step, {step_cut(expected, helpers)})")


def test_the_step_cut_reads_as_a_user_would_say_it():
    from cnnstudio.commands.bench import step_cut

    assert step_cut(1, 0) == "whole"
    assert step_cut(2, 0) == "2 parts on threads"
    assert step_cut(2, 1) == "2 parts, 1 in a helper process"
    assert step_cut(4, 3) == "4 parts, 3 in helper processes"


def test_a_failing_worker_request_names_the_worker_in_one_line():
    with BenchWorker("engine", WORKER_MODULE) as worker:
        with pytest.raises(BenchWorkerError) as info:
            worker.setup(contender_spec("engine", "no-such-template", 1, "infer"))
    message = str(info.value)
    assert message.startswith("engine worker: ") and "no-such-template" in message
    assert "\n" not in message


def test_a_worker_that_cannot_start_says_so_with_its_exit_code():
    worker = BenchWorker("torch", "cnnstudio.no_such_module")
    try:
        with pytest.raises(BenchWorkerError) as info:
            worker.setup({})
    finally:
        worker.close()
    message = str(info.value)
    assert message.startswith("torch worker exited with code 1: ")
    assert "no_such_module" in message and "\n" not in message


def test_bench_without_torch_reports_engine_figures_only(capsys):
    assert main(["bench", "--steps", "1", "--warmup", "0", "--no-torch", "--no-gui"]) == 0
    out = capsys.readouterr().out
    assert "torch" not in out and "edit latency" not in out
    assert "validator:" in out
    assert "validation per edit, 300 layers, full -> incremental ms: input size" in out
    assert "lenet5     batch 64: engine" in out and "cifar_vgg  batch 1, eval forward" in out


def test_bench_with_torch_missing_says_so(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    assert main(["bench", "--steps", "1", "--warmup", "0", "--no-gui"]) == 0
    out = capsys.readouterr().out
    assert "torch is not installed: engine numbers only" in out
    assert "| torch" not in out and "lenet5     batch 64: engine" in out


def test_bench_reports_a_dead_worker_in_one_line_and_fails(capsys, monkeypatch):
    monkeypatch.setattr("cnnstudio.commands.bench_contenders.WORKER_MODULE",
                        "cnnstudio.no_such_module")
    assert main(["bench", "--steps", "1", "--warmup", "0", "--no-torch", "--no-gui"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnstudio bench: engine worker exited")


def test_torch_and_engine_contenders_compute_the_same_network_on_the_same_data():
    torch = pytest.importorskip("torch")
    for key in ("lenet5", "cifar_vgg"):
        engine, _ = build_contender(contender_spec("engine", key, 2, "infer"), torch)
        ref, facts = build_contender(contender_spec("torch", key, 2, "infer"), torch)
        assert facts["threads"] == torch.get_num_threads()
        np.testing.assert_allclose(engine(), ref().numpy(), atol=1e-4, rtol=0)


def test_torch_worker_process_runs_training_steps():
    pytest.importorskip("torch")
    with BenchWorker("torch", WORKER_MODULE) as worker:
        facts = worker.setup(contender_spec("torch", "lenet5", 4, "train"))
        assert facts["threads"] >= 1 and facts["version"]
        assert len(worker.run(1, 2)) == 2
