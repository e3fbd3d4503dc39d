"""Parts of a training step in helper processes give exactly what parts on threads give.

Inside :func:`~cnnstudio.engine.data_parallel.part_processes` (what every training run wraps
itself in) a step cut into parts runs its second part in a helper process, whose BatchNorm
layers meet this process's over the pipes and the shared file. These tests force two parts on
any machine, wait until the helper is ready, and hold the helper's steps to the threads' to the
bit: the same split, kernels, dropout masks and batch statistics. They also end helpers that
die or fail, and check that nothing is left running or on disk.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

from cnnstudio.engine import data_parallel as dp
from cnnstudio.engine import part_process as pp
from cnnstudio.engine.kernels import _parallel
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer
from cnnstudio.engine.trainer import train_step
from tests.engine._netbuild import branching_graph, chain

pytestmark = pytest.mark.skipif(os.name != "posix", reason="helper processes need POSIX")

DROPOUT_CHAIN = (("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}), ("ReLU", {}),
                 ("MaxPool2D", {"pool_size": 2}), ("SpatialDropout2D", {"rate": 0.3}),
                 ("Conv2D", {"filters": 5, "kernel_size": 2}), ("ReLU", {}),
                 ("Flatten", {}), ("Dropout", {"rate": 0.5}), ("Dense", {"units": 7}),
                 ("ReLU", {}), ("Dense", {"units": 3}))


def _batches(net, n, count, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, *net.input_shape)).astype(net.dtype),
             rng.integers(0, net.output_shape[0], n)) for _ in range(count)]


def _train(net, batches, helpers: bool, frozen=()):
    """Momentum SGD over ``batches``; with ``helpers``, inside a run's helper block, the
    helper ready before the first step. Returns the losses and the helper's part count."""
    net.set_frozen(frozen)
    optimizer = make_optimizer(OptimizerConfig("sgd", 0.05, momentum=0.9))
    losses = []
    with (dp.part_processes(net) if helpers else contextlib.nullcontext()) as session:
        if helpers:
            assert dp.helpers_ready(net, len(batches[0][0]))
            processes = list(session.processes)
        for x, y in batches:
            losses.append(train_step(net, optimizer, x, y))
        if helpers:
            assert session.failure is None
            parts = sum(p.parts_run for p in processes)
    return losses, (parts if helpers else 0)


def _weights(net):
    return {(lid, name): p.copy() for lid, impl in net.layers.items()
            for name, p in impl.params.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_helper_process_trains_exactly_as_a_thread_part(two_parts, dtype):
    """Several steps with dropout and a frozen layer: the same losses, counts and weights to
    the bit, every step's second part run by the helper, the frozen layer untouched."""
    graph = chain(*DROPOUT_CHAIN, input_shape=(2, 8, 8))
    nets = [Network(graph, np.random.default_rng(5), dtype) for _ in range(2)]
    batches = _batches(nets[0], 10, 4)
    frozen = "l4_conv2d"
    start = nets[0].layers[frozen].params["weight"].copy()
    on_threads, _ = _train(nets[0], batches, helpers=False, frozen=[frozen])
    in_helper, helper_parts = _train(nets[1], batches, helpers=True, frozen=[frozen])
    assert helper_parts == len(batches)
    assert in_helper == on_threads
    a, b = _weights(nets[0]), _weights(nets[1])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))
    np.testing.assert_array_equal(nets[1].layers[frozen].params["weight"], start)


def test_helper_steps_match_the_whole_batch_step(two_parts):
    """The helper's part and this process's add up to the whole batch's gradient."""
    graph = chain(*DROPOUT_CHAIN[:3], *DROPOUT_CHAIN[4:7], *DROPOUT_CHAIN[8:],
                  input_shape=(2, 8, 8))
    parted, whole = (Network(graph, np.random.default_rng(2), np.float64) for _ in range(2))
    (x, y), = _batches(parted, 9, 1)
    with dp.part_processes(parted):
        assert dp.helpers_ready(parted, len(x))
        loss, correct = dp.forward_backward(parted, x, y)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dp, "MIN_SAMPLES_PER_PART", 10**9)
        loss_w, correct_w = dp.forward_backward(whole, x, y)
    assert loss == pytest.approx(loss_w, rel=1e-12) and correct == correct_w
    for lid, name, _, grad in whole.trainable_params():
        np.testing.assert_allclose(parted.layers[lid].grads[name], grad, rtol=1e-10,
                                   atol=1e-13)


def test_the_helper_sees_weights_that_were_replaced_between_steps(two_parts):
    """A load or reset between steps reaches the helper: it computes with the new weights."""
    graph = chain(*DROPOUT_CHAIN[:3], *DROPOUT_CHAIN[4:7], *DROPOUT_CHAIN[8:],
                  input_shape=(2, 8, 8))
    parted, whole = (Network(graph, np.random.default_rng(2), np.float64) for _ in range(2))
    other = Network(graph, np.random.default_rng(9), np.float64)
    (x, y), = _batches(parted, 8, 1)
    with dp.part_processes(parted) as session:
        assert dp.helpers_ready(parted, len(x))
        dp.forward_backward(parted, x, y)
        parted.load_state_dict(other.state_dict())
        whole.load_state_dict(other.state_dict())
        dp.forward_backward(parted, x, y)
        assert session.processes[0].parts_run == 2
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dp, "MIN_SAMPLES_PER_PART", 10**9)
        dp.forward_backward(whole, x, y)
    for lid, name, _, grad in whole.trainable_params():
        np.testing.assert_allclose(parted.layers[lid].grads[name], grad, rtol=1e-10,
                                   atol=1e-13)


def test_a_helper_that_dies_costs_speed_not_the_step(two_parts):
    """The helper killed between steps: the next step runs on threads with the right result,
    the run goes on without a helper, and the failure is recorded."""
    graph = chain(*DROPOUT_CHAIN[:3], *DROPOUT_CHAIN[4:7], *DROPOUT_CHAIN[8:],
                  input_shape=(2, 8, 8))
    parted, reference = (Network(graph, np.random.default_rng(4)) for _ in range(2))
    batches = _batches(parted, 8, 3)
    on_threads, _ = _train(reference, batches, helpers=False)
    optimizer = make_optimizer(OptimizerConfig("sgd", 0.05, momentum=0.9))
    with dp.part_processes(parted) as session:
        assert dp.helpers_ready(parted, 8)
        helper = session.processes[0]
        losses = [train_step(parted, optimizer, *batches[0])]
        helper._proc.kill()
        helper._proc.wait()
        losses += [train_step(parted, optimizer, x, y) for x, y in batches[1:]]
        assert session.failure is not None and "exited" in session.failure
        assert session.processes == []
    assert losses == on_threads
    for key, value in _weights(reference).items():
        np.testing.assert_array_equal(parted.layers[key[0]].params[key[1]], value)


def test_a_helper_whose_part_fails_hands_the_step_back(two_parts):
    """A part the helper cannot run (here: a label out of range, which the loss rejects) is
    run again on threads, where the caller gets the engine's own error."""
    graph = chain(*DROPOUT_CHAIN[:3], *DROPOUT_CHAIN[4:7], *DROPOUT_CHAIN[8:],
                  input_shape=(2, 8, 8))
    net = Network(graph, np.random.default_rng(4))
    (x, y), = _batches(net, 8, 1)
    y = y.copy()
    y[-1] = 99  # in the helper's half
    with dp.part_processes(net) as session:
        assert dp.helpers_ready(net, 8)
        with pytest.raises(ValueError, match="labels must be in"):
            dp.forward_backward(net, x, y)
        assert session.failure is not None
        assert session.failure.startswith("the helper process: ValueError: labels must be")


def test_a_bigger_batch_restarts_the_helper_with_room_for_it(two_parts):
    graph = chain(*DROPOUT_CHAIN[:3], *DROPOUT_CHAIN[4:7], *DROPOUT_CHAIN[8:],
                  input_shape=(2, 8, 8))
    net = Network(graph, np.random.default_rng(4))
    with dp.part_processes(net) as session:
        assert dp.helpers_ready(net, 8)
        first = session.processes[0]
        assert dp.helpers_ready(net, 20)
        assert session.processes[0] is not first and session.processes[0].capacity >= 10
        assert first._proc.poll() is not None  # the old one has ended
        (x, y), = _batches(net, 20, 1)
        dp.forward_backward(net, x, y)
        assert session.processes[0].parts_run == 1


def _moving(net):
    return {(lid, name): b.copy() for lid, impl in net.layers.items()
            for name, b in impl.buffers.items()}


@pytest.mark.parametrize("template", [None, "mobilenet_se"])
def test_batchnorm_that_trains_meets_the_helper_at_every_layer(two_parts, template):
    """Parts that share batch statistics meet at every BatchNorm, one of them in the helper:
    the same losses, weights and moving statistics to the bit as on threads (a branching
    graph with BatchNorm on images and on features, in float64; a template in float32)."""
    from cnnstudio.core.templates import load_template

    graph = branching_graph() if template is None else load_template(template)
    dtype = np.float64 if template is None else np.float32
    nets = [Network(graph, np.random.default_rng(3), dtype) for _ in range(2)]
    batches = _batches(nets[0], 12, 3)
    on_threads, _ = _train(nets[0], batches, helpers=False)
    in_helper, helper_parts = _train(nets[1], batches, helpers=True)
    assert helper_parts == len(batches)
    assert in_helper == on_threads
    for mine, theirs in ((_weights(nets[0]), _weights(nets[1])),
                         (_moving(nets[0]), _moving(nets[1]))):
        for key in mine:
            np.testing.assert_array_equal(mine[key], theirs[key], err_msg=str(key))


@pytest.mark.parametrize("bad_half", ["helper", "this process"])
def test_a_part_failing_between_batchnorm_meetings_leaves_nobody_waiting(two_parts, bad_half):
    """A label out of range fails a part after the forward meetings, while the other part
    waits at the first backward one: the caller gets the engine's error (from the step run
    again on threads, or from its own part), and the helper is ended, not left waiting."""
    net = Network(branching_graph(), np.random.default_rng(1))
    (x, y), = _batches(net, 8, 1)
    y = y.copy()
    y[-1 if bad_half == "helper" else 0] = 99
    with dp.part_processes(net) as session:
        assert dp.helpers_ready(net, 8)
        helper = session.processes[0]
        with pytest.raises(ValueError, match="labels must be in"):
            dp.forward_backward(net, x, y)
        assert session.failure is not None and session.processes == []
        assert helper._proc.poll() is not None


def test_the_helper_ends_with_the_run_and_leaves_no_file(two_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(pp, "_shared_folder", lambda: str(tmp_path))
    net = Network(chain(*DROPOUT_CHAIN, input_shape=(2, 8, 8)), np.random.default_rng(4))
    with dp.part_processes(net) as session:
        assert dp.helpers_ready(net, 8)
        helper = session.processes[0]
        assert list(tmp_path.iterdir()) == []  # deleted once both sides had it mapped
        assert helper._proc.poll() is None
    assert helper._proc.poll() == 0
    assert net not in dp._sessions


def _recorded_helpers(monkeypatch) -> list[pp.PartProcess]:
    """Every helper started from now on, in order."""
    started: list[pp.PartProcess] = []
    real = pp.PartProcess.__init__

    def recording(self, *args, **kwargs):
        real(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(pp.PartProcess, "__init__", recording)
    return started


def _digits_run(net, batch_size: int, seed: int = 0):
    from cnnstudio.engine.datasets import load_dataset
    from cnnstudio.engine.trainer import TrainConfig, Trainer

    trainer = Trainer(net, load_dataset("digits", rng=np.random.default_rng(0)),
                      TrainConfig(epochs=1, batch_size=batch_size, health_every=0, seed=seed))
    return trainer, list(trainer.run())


def test_a_training_run_uses_a_helper_from_its_first_step_and_ends_it(two_parts, monkeypatch):
    """:meth:`Trainer.run` (the window's and the CLI's training) runs inside a helper block:
    the helper is ready before the first step, every step's second part runs there, and the
    helper has ended when the run is over."""
    from cnnstudio.core.templates import load_template
    from cnnstudio.engine.progress import BatchProgress, Finished

    started = _recorded_helpers(monkeypatch)
    net = Network(load_template("digits_tiny"), np.random.default_rng(0))
    trainer, events = _digits_run(net, 32)
    assert isinstance(events[-1], Finished)
    steps = sum(isinstance(e, BatchProgress) for e in events)
    assert len(started) == 1 and started[0].parts_run == steps == trainer.batches_per_epoch
    assert started[0]._proc.poll() is not None
    assert net not in dp._sessions


def test_a_seeded_run_with_helpers_repeats_to_the_bit(monkeypatch):
    """At the machine's own thresholds, a batch small enough to stay whole on threads but cut
    into parts with a helper: two runs from one seed end with the same weights, and (on a
    machine with more than one core) every step ran its second part in the helper."""
    from cnnstudio.core.templates import load_template

    started = _recorded_helpers(monkeypatch)
    graph = load_template("digits_tiny")
    batch = 16
    probe = Network(graph, np.random.default_rng(0))
    helpers = dp.parts_of_step(probe, batch, True)[1]
    if _parallel.WORKERS > 1:
        assert dp.step_parts(probe, batch) == 1 and helpers == 1
    weights = []
    for _ in range(2):
        net = Network(graph, np.random.default_rng(0))
        trainer, _ = _digits_run(net, batch, seed=4)
        weights.append(_weights(net))
    for key in weights[0]:
        np.testing.assert_array_equal(weights[0][key], weights[1][key], err_msg=str(key))
    assert [p.parts_run for p in started] == [trainer.batches_per_epoch] * 2 * helpers


def test_helpers_are_not_started_outside_a_run(two_parts):
    """Short work (a sanity check, a single step) keeps its parts on threads."""
    net = Network(chain(*DROPOUT_CHAIN, input_shape=(2, 8, 8)), np.random.default_rng(4))
    (x, y), = _batches(net, 8, 1)
    dp.forward_backward(net, x, y)
    assert net not in dp._sessions


def test_the_memory_estimate_counts_what_a_helper_holds(two_parts):
    """A run's estimate (by which training refuses too-large batches) counts the helper's
    mapped file and its network's gradients; the same step on threads does not have them."""
    from cnnstudio.engine.memory import estimate_training_bytes

    net = Network(chain(*DROPOUT_CHAIN, input_shape=(2, 8, 8)), np.random.default_rng(0))
    with_helper = estimate_training_bytes(net, 16)
    on_threads = estimate_training_bytes(net, 16, helpers=False)
    _, mapped = pp._layout(net, 8)
    gradients = sum(p.nbytes for impl in net.layers.values() for p in impl.params.values())
    held = mapped + gradients
    assert 0.9 * held <= with_helper - on_threads <= 1.25 * held
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dp, "MIN_SAMPLES_PER_HELPER_PART", 10**9)  # a whole step has no helper
        assert estimate_training_bytes(net, 16) == estimate_training_bytes(net, 16,
                                                                          helpers=False)


def test_a_helper_that_cannot_start_leaves_the_run_on_threads(two_parts, monkeypatch):
    """A helper whose module cannot be run (as in an install that lacks it) exits at once:
    the run says why and goes on with its parts on threads, with the same results."""
    monkeypatch.setattr(pp, "MODULE", "cnnstudio.engine.no_such_helper")
    graph = chain(*DROPOUT_CHAIN, input_shape=(2, 8, 8))
    nets = [Network(graph, np.random.default_rng(5)) for _ in range(2)]
    batches = _batches(nets[0], 10, 3)
    on_threads, _ = _train(nets[0], batches, helpers=False)
    optimizer = make_optimizer(OptimizerConfig("sgd", 0.05, momentum=0.9))
    with dp.part_processes(nets[1]) as session:
        assert not dp.helpers_ready(nets[1], 10)
        assert session.failure is not None and "exited with code" in session.failure
        assert "no_such_helper" in session.failure
        losses = [train_step(nets[1], optimizer, x, y) for x, y in batches]
    assert losses == on_threads


def test_helpers_can_be_switched_off(two_parts, monkeypatch):
    """``CNNSTUDIO_HELPER_PROCESSES=0`` keeps a run's parts on threads (the README names it for
    when something misbehaves), as does a frozen application."""
    net = Network(chain(*DROPOUT_CHAIN, input_shape=(2, 8, 8)), np.random.default_rng(4))
    monkeypatch.setenv(pp.SWITCH, "0")
    assert not pp.supported() and dp.parts_of_step(net, 8, True) == (dp.step_parts(net, 8), 0)
    with dp.part_processes(net) as session:
        assert session is None and not dp.helpers_ready(net, 8)
    monkeypatch.delenv(pp.SWITCH)
    monkeypatch.setattr(pp.sys, "frozen", True, raising=False)
    assert not pp.supported()
