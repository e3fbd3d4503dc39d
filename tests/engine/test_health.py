"""Training health and alerts: figures checked by hand, alerts raised where they belong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import load_template
from cnnstudio.engine.alerts import (
    DEAD_UNITS,
    DIVERGING,
    EXPLODING,
    MIN_STEPS_TO_JUDGE,
    NOT_LEARNING,
    OVERFITTING,
    VANISHING,
    AlertMonitor,
)
from cnnstudio.engine.datasets import load_dataset
from cnnstudio.engine.health import ArrayHealth, HealthSnapshot, LayerHealth, measured_step
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer
from cnnstudio.engine.progress import BatchProgress, EpochProgress, Failed
from cnnstudio.engine.trainer import TrainConfig, Trainer


def tiny_net() -> Network:
    g = Graph("tiny")
    g.add_layer("Input", {"channels": 1, "height": 2, "width": 2}, layer_id="in")
    g.add_layer("Flatten", layer_id="f", inputs=["in"])
    g.add_layer("Dense", {"units": 3}, layer_id="d1", inputs=["f"])
    g.add_layer("ReLU", layer_id="r", inputs=["d1"])
    g.add_layer("Dense", {"units": 2}, layer_id="d2", inputs=["r"])
    net = Network(g, np.random.default_rng(0), dtype=np.float64)
    d1, d2 = net.layers["d1"].params, net.layers["d2"].params
    d1["weight"][...] = [[1.0, -2.0, 0.5, 0.0], [0.3, 0.3, 0.3, 0.3], [-1.0, 1.0, 2.0, -0.5]]
    d1["bias"][...] = [0.1, -100.0, 0.0]  # unit 1 can never fire: dead by construction
    d2["weight"][...] = [[0.5, 1.0, -1.0], [-0.25, 2.0, 1.5]]
    d2["bias"][...] = [0.0, 0.2]
    return net


def test_health_figures_match_a_hand_computation() -> None:
    net = tiny_net()
    x = np.array([[[[1.0, 2.0], [0.0, -1.0]]], [[[0.5, -0.5], [2.0, 1.0]]]])
    y = np.array([0, 1])
    w1 = net.layers["d1"].params["weight"].copy()
    b1 = net.layers["d1"].params["bias"].copy()
    w2 = net.layers["d2"].params["weight"].copy()
    b2 = net.layers["d2"].params["bias"].copy()
    lr = 0.1
    opt = make_optimizer(OptimizerConfig("sgd", lr=lr))
    loss, correct, snap = measured_step(net, opt, x, y, sample=2)

    # By hand: forward, softmax cross-entropy, backward.
    xf = x.reshape(2, 4)
    z1 = xf @ w1.T + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ w2.T + b2
    p = np.exp(z2 - z2.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want_loss = -np.mean(np.log(p[[0, 1], y]))
    dz2 = p.copy()
    dz2[[0, 1], y] -= 1
    dz2 /= 2
    dw2, db2 = dz2.T @ a1, dz2.sum(0)
    dz1 = (dz2 @ w2) * (z1 > 0)
    dw1, db1 = dz1.T @ xf, dz1.sum(0)

    assert loss == pytest.approx(want_loss)
    relu = snap.layer("r")
    assert relu.mean == pytest.approx(a1.mean()) and relu.std == pytest.approx(a1.std())
    assert relu.dead == pytest.approx(1 / 3) and relu.units == 3
    d1 = snap.layer("d1")
    assert d1.mean == pytest.approx(z1.mean()) and d1.dead is None
    arrays = {a.name: a for a in d1.arrays}
    assert arrays["weight"].grad_norm == pytest.approx(np.linalg.norm(dw1))
    assert arrays["bias"].grad_norm == pytest.approx(np.linalg.norm(db1))
    # Plain SGD: the step is lr * g, so the ratio is lr * |g| / |w|.
    assert arrays["weight"].update_ratio == pytest.approx(
        lr * np.linalg.norm(dw1) / np.linalg.norm(w1))
    d2 = {a.name: a for a in snap.layer("d2").arrays}
    assert d2["weight"].grad_norm == pytest.approx(np.linalg.norm(dw2))
    assert d2["bias"].update_ratio == pytest.approx(
        lr * np.linalg.norm(db2) / np.linalg.norm(b2))
    assert snap.layer("f").arrays == () and snap.nonfinite is None
    # The update is the one a plain step makes.
    np.testing.assert_allclose(net.layers["d1"].params["weight"], w1 - lr * dw1)


def test_saturation_counts_outputs_on_the_flat_ends() -> None:
    g = Graph("sig")
    g.add_layer("Input", {"channels": 1, "height": 1, "width": 4}, layer_id="in")
    g.add_layer("Flatten", layer_id="f", inputs=["in"])
    g.add_layer("Sigmoid", layer_id="s", inputs=["f"])
    g.add_layer("Dense", {"units": 2}, layer_id="d", inputs=["s"])
    net = Network(g, np.random.default_rng(0), dtype=np.float64)
    x = np.array([[[[-10.0, 0.0, 10.0, 1.0]]]])  # sigmoid: 4.5e-5, 0.5, 0.99995, 0.73
    _, _, snap = measured_step(net, make_optimizer(OptimizerConfig()), x, np.array([1]), 4)
    assert snap.layer("s").saturated == pytest.approx(0.5)


def _digits(seed: int = 0):
    return load_dataset("digits", rng=np.random.default_rng(seed))


def _run(net: Network, config: TrainConfig):
    return list(Trainer(net, _digits(), config).run())


def _alerts(records) -> list:
    return [a for r in records for a in getattr(r, "alerts", ())]


def test_health_rides_on_every_nth_batch_record() -> None:
    net = Network(load_template("digits_tiny"), np.random.default_rng(0))
    records = _run(net, TrainConfig(epochs=1, health_every=16))
    batches = [r for r in records if isinstance(r, BatchProgress)]
    measured = [r.batch for r in batches if r.health is not None]
    assert measured == [1, 17, 33]
    snap = batches[0].health
    assert [h.layer for h in snap.layers] == ["c1", "r1", "c2", "r2", "p1", "f", "drop", "out"]
    assert all(math.isfinite(a.grad_norm) for h in snap.trained() for a in h.arrays)


def test_lr_1e6_is_caught_as_diverging_in_the_first_epoch() -> None:
    net = Network(load_template("digits_tiny"), np.random.default_rng(0))
    config = TrainConfig(epochs=3, optimizer=OptimizerConfig("adam", lr=1e6))
    for record in Trainer(net, _digits(), config).run():
        stop = next((a for a in getattr(record, "alerts", ()) if a.stops), None)
        if stop is not None:
            break
    else:
        pytest.fail("no alert stopped the run")
    assert stop.kind == DIVERGING and stop.epoch == 1
    assert "learning rate 1e+06" in stop.message and "0.001" in stop.message
    assert stop.suggested_lr == pytest.approx(1e-3)
    assert stop.fix_label == "Lower the learning rate to 0.001 and restart"


def test_a_sound_run_raises_no_alert() -> None:
    net = Network(load_template("digits_tiny"), np.random.default_rng(0))
    records = _run(net, TrainConfig(epochs=3))
    assert _alerts(records) == []


def test_dead_relus_are_named_on_their_layer() -> None:
    net = Network(load_template("digits_tiny"), np.random.default_rng(0))
    net.layers["c2"].params["bias"][...] = -100.0  # every unit of r2 is dead from the start
    records = _run(net, TrainConfig(epochs=1))
    dead = [a for a in _alerts(records) if a.kind == DEAD_UNITS]
    assert [a.layer for a in dead] == ["r2"]
    assert "32 of its 32 units (100%)" in dead[0].message


def test_every_layer_frozen_is_not_learning() -> None:
    graph = load_template("digits_tiny")
    net = Network(graph, np.random.default_rng(0))
    frozen = frozenset(lid for lid in net.order if net.layers[lid].params)
    records = _run(net, TrainConfig(epochs=1, freeze=frozen))
    kinds = [a.kind for a in _alerts(records)]
    assert NOT_LEARNING in kinds


def test_failure_names_the_first_layer_that_went_bad() -> None:
    net = Network(load_template("digits_tiny"), np.random.default_rng(0))
    net.layers["c1"].params["weight"][...] *= 1e20
    net.layers["c2"].params["weight"][...] *= 1e20  # c2's output overflows to inf
    records = _run(net, TrainConfig(epochs=1))
    failed = records[-1]
    assert isinstance(failed, Failed) and failed.layer == "c2"
    assert "the first NaN/Inf is in c2" in failed.message


def _snapshot(grad_rms: list[float]) -> HealthSnapshot:
    layers = tuple(
        LayerHealth(f"l{i}", "Dense", 0.0, 1.0,
                    arrays=(ArrayHealth("weight", 100, g * 10.0, 1e-3),))
        for i, g in enumerate(grad_rms))
    return HealthSnapshot(1, 1, 16, layers)


@pytest.mark.parametrize(("rms", "kind"), [([1e-6, 1e-3, 1.0], VANISHING),
                                           ([1e4, 10.0, 1.0], EXPLODING)])
def test_gradient_flow_alerts_need_two_measurements_and_name_the_first_layer(rms, kind) -> None:
    monitor = AlertMonitor(OptimizerConfig(), 10)
    assert monitor.batch(1, 1, 2.3, 0.1, _snapshot(rms)) == ()
    (alert,) = monitor.batch(1, 17, 2.3, 0.2, _snapshot(rms))
    assert alert.kind == kind and alert.layer == "l0" and "l2" in alert.message
    assert monitor.batch(1, 33, 2.3, 0.3, _snapshot(rms)) == ()  # once per run


def test_overfitting_names_the_epoch_with_the_best_weights() -> None:
    monitor = AlertMonitor(OptimizerConfig(), 10)
    history = [(1.0, 0.9), (0.6, 0.7), (0.4, 0.75), (0.3, 0.8), (0.2, 0.9)]
    found = []
    for epoch, (loss, val) in enumerate(history, start=1):
        found += monitor.epoch(epoch, loss, 0.9, val, float(epoch))
    (alert,) = found
    assert alert.kind == OVERFITTING and alert.epoch == 5
    assert "since epoch 3" in alert.message and "epoch 2 were the best" in alert.message


def _after_steps(monitor: AlertMonitor, steps: int, loss: float) -> AlertMonitor:
    """``monitor`` told of ``steps`` training steps at ``loss``, as a first epoch would."""
    for i in range(steps):
        monitor.batch(1, i + 1, loss, 0.01 * i)
    return monitor


def _not_learning(alerts) -> list:
    return [a for a in alerts if a.kind == NOT_LEARNING]


def test_a_first_epoch_well_above_chance_is_not_called_not_learning() -> None:
    """Seen in the window on the default template: loss 1.985 (ln 8 = 2.079) at 24.3% accuracy
    after epoch 1, twice chance, falsely alerted."""
    monitor = _after_steps(AlertMonitor(OptimizerConfig(), 8), 85, 2.0)
    assert not _not_learning(monitor.epoch(1, 1.985, 0.243, 1.8, 1.0))
    at_chance = _after_steps(AlertMonitor(OptimizerConfig(), 8), 85, 2.07)
    assert _not_learning(at_chance.epoch(1, 2.07, 0.13, 2.07, 1.0))


def test_a_few_steps_are_not_enough_to_call_a_run_not_learning() -> None:
    """Seen in the window: a 144-image folder (3 classes, 5 steps an epoch) was called "not
    learning" after its first epoch, on a run that went on to 78%. A loss that hardly fell is
    evidence only after MIN_STEPS_TO_JUDGE steps -- or at once when no weight moves at all."""
    few = _after_steps(AlertMonitor(OptimizerConfig(), 3), 5, 1.286)
    assert not _not_learning(few.epoch(1, 1.263, 0.354, 1.25, 1.0))
    enough = _after_steps(AlertMonitor(OptimizerConfig(), 3), MIN_STEPS_TO_JUDGE, 1.286)
    assert _not_learning(enough.epoch(1, 1.263, 0.354, 1.25, 1.0))
    frozen = AlertMonitor(OptimizerConfig(), 3)
    layers = (LayerHealth("l0", "Dense", 0.0, 1.0, arrays=(ArrayHealth("weight", 100, 0.5, 0.0),)),)
    frozen.batch(1, 1, 1.286, 0.0, HealthSnapshot(1, 1, 16, layers))  # nothing moved
    _after_steps(frozen, 4, 1.286)
    assert _not_learning(frozen.epoch(1, 1.263, 0.354, 1.25, 1.0))


def test_epoch_records_and_json_carry_alerts() -> None:
    monitor = _after_steps(AlertMonitor(OptimizerConfig(), 10), MIN_STEPS_TO_JUDGE, 2.3)
    (alert,) = monitor.epoch(1, math.log(10), 0.1, None, 1.0)
    record = EpochProgress(1, 1, 2.3, 0.1, None, None, 100.0, 1.0, (alert,))
    assert record.alerts[0].to_json()["kind"] == NOT_LEARNING


def test_a_tiny_learning_rate_is_called_too_low_with_a_better_one() -> None:
    net = Network(load_template("digits_tiny"), np.random.default_rng(0))
    records = _run(net, TrainConfig(epochs=1, optimizer=OptimizerConfig("sgd", lr=1e-7)))
    low = [a for a in _alerts(records) if a.kind == "learning rate too low"]
    assert len(low) == 1 and low[0].suggested_lr == pytest.approx(1e-2)
    assert "learning rate 1e-07" in low[0].message
    assert low[0].fix_label == "Set the learning rate to 0.01 and restart"
