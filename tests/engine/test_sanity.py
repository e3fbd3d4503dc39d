"""Sanity checks: sound models pass, broken ones fail with their numbers, and the learning-rate
range test suggests a rate that trains."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.cli import main
from cnnstudio.core.modelfile import save
from cnnstudio.core.templates import list_templates, load_template, templates_dir
from cnnstudio.core.validator import validate
from cnnstudio.engine.control import TrainingControl
from cnnstudio.engine.datasets import load_dataset
from cnnstudio.engine.errors import TrainingError
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig
from cnnstudio.engine.progress import EpochProgress
from cnnstudio.engine.sanity import (
    CHECK_NAMES,
    GRADIENTS,
    INITIAL_LOSS,
    LR_RANGE,
    OVERFIT,
    CheckProgress,
    SanityReport,
    run_checks,
)
from cnnstudio.engine.trainer import TrainConfig, Trainer


def _spec_for(key: str) -> str:
    """Data each template fits: the digits (resized) for ten classes, generated shapes else."""
    result = validate(load_template(key))
    (classes,) = result.layers[result.output_id].output_shape
    return "digits" if classes == 10 else f"shapes:classes={classes}"


#: Every built-in template, with data it fits.
TEMPLATE_DATA = {t.key: _spec_for(t.key) for t in list_templates()}
SLOW = {"cifar_vgg", "mini_resnet"}


def _data_for(graph, spec: str = ""):
    p = graph.layer("in").params
    return load_dataset(spec or "digits", image_size=(p["height"], p["width"]),
                        channels=p["channels"], rng=np.random.default_rng(0))


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k
                                 for k in TEMPLATE_DATA])
def test_every_template_passes_every_check(key: str) -> None:
    """The two large templates skip the range test here (a minute and more on two busy cores;
    its logic is the same for every model)."""
    graph = load_template(key)
    checks = CHECK_NAMES[:3] if key in SLOW else CHECK_NAMES
    report = SanityReport.collect(run_checks(graph, _data_for(graph, TEMPLATE_DATA[key]),
                                             OptimizerConfig(), checks=checks))
    assert [c.name for c in report.checks] == list(checks)
    assert report.passed, report.to_json()
    if key not in SLOW:
        assert report.sweep is not None and report.sweep.suggested is not None


def test_a_frozen_layer_with_random_weights_fails_the_gradient_check() -> None:
    graph = load_template("digits_tiny")
    graph.set_trainable("c2", False)
    report = SanityReport.collect(run_checks(graph, _data_for(graph), OptimizerConfig(),
                                             checks=(GRADIENTS,)))
    (check,) = report.checks
    assert not check.passed and check.layers == ("c2",)
    assert "c2: frozen but still holding random initial weights" in check.detail
    # The same layer loaded with trained weights is transfer learning: it passes.
    report = SanityReport.collect(run_checks(graph, _data_for(graph), OptimizerConfig(),
                                             pretrained=frozenset({"c2"}), checks=(GRADIENTS,)))
    assert report.passed


def test_every_layer_frozen_cannot_overfit_one_batch() -> None:
    graph = load_template("digits_tiny")
    for lid in ("c1", "c2", "out"):
        graph.set_trainable(lid, False)
    report = SanityReport.collect(run_checks(graph, _data_for(graph), OptimizerConfig()))
    verdicts = {c.name: c for c in report.checks}
    assert not verdicts[OVERFIT].passed
    assert "after 300 steps only" in verdicts[OVERFIT].detail and "of 8 images" in \
        verdicts[OVERFIT].detail
    assert not verdicts["learning-rate range test"].passed  # no rate trains a frozen model
    assert report.sweep.suggested is None and not report.passed


def test_dead_units_by_construction_fail_the_gradient_check() -> None:
    graph = load_template("digits_tiny")
    net = Network(graph, np.random.default_rng(0))
    weights = net.state_dict()
    weights["c2/bias"][...] = -100.0  # r2 never fires: nothing reaches c1 or c2
    report = SanityReport.collect(run_checks(graph, _data_for(graph), OptimizerConfig(),
                                             weights=weights, checks=(GRADIENTS,)))
    (check,) = report.checks
    assert not check.passed and set(check.layers) == {"c1", "c2"}
    assert "zero gradient" in check.detail


def test_data_that_do_not_fit_give_the_training_message() -> None:
    graph = load_template("lenet5")  # 10 classes
    data = load_dataset("shapes:classes=4", image_size=(32, 32), channels=1,
                        rng=np.random.default_rng(0))
    with pytest.raises(TrainingError) as from_training:
        Trainer(Network(graph, np.random.default_rng(0)), data, TrainConfig())
    with pytest.raises(TrainingError) as from_checks:
        run_checks(graph, data, OptimizerConfig())
    assert str(from_checks.value) == str(from_training.value)


def test_stopping_midway_leaves_the_weights_alone() -> None:
    graph = load_template("digits_tiny")
    weights = Network(graph, np.random.default_rng(3)).state_dict()
    before = {k: v.copy() for k, v in weights.items()}
    control = TrainingControl()
    events = []
    for event in run_checks(graph, _data_for(graph), OptimizerConfig(), control=control,
                            weights=weights):
        events.append(event)
        if isinstance(event, CheckProgress):
            control.stop()
    assert isinstance(events[-1], CheckProgress)  # nothing after the stop
    assert all(np.array_equal(weights[k], before[k]) for k in before)


def test_lr_range_suggestion_for_digits_on_adam_trains_well() -> None:
    graph = load_template("digits_tiny")
    data = _data_for(graph)
    report = SanityReport.collect(run_checks(graph, data, OptimizerConfig("adam")))
    lr = report.sweep.suggested
    assert 1e-4 <= lr <= 3e-2
    losses = report.sweep.losses
    assert min(losses) < losses[0] and list(report.sweep.rates) == sorted(report.sweep.rates)
    net = Network(graph, np.random.default_rng(0))
    config = TrainConfig(epochs=10, optimizer=OptimizerConfig("adam", lr=lr))
    last = [r for r in Trainer(net, data, config).run() if isinstance(r, EpochProgress)][-1]
    assert last.val_accuracy >= 0.95  # the template's usual accuracy (README: about 97%)


DIGITS = str(templates_dir() / "digits_tiny.json")


def test_check_cli_json_and_exit_codes(tmp_path, capsys) -> None:
    assert main(["check", DIGITS, "--dataset", "digits", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [set(c) for c in doc["checks"]] == [{"name", "passed", "detail"}] * 4
    assert all(c["passed"] for c in doc["checks"]) and doc["suggested_lr"] > 0
    frozen = load_template("digits_tiny")
    for lid in ("c1", "c2", "out"):
        frozen.set_trainable(lid, False)
    path = tmp_path / "frozen.json"
    save(frozen, path)
    assert main(["check", str(path), "--dataset", "digits"]) == 1
    out = capsys.readouterr()
    assert "FAIL  overfit one batch" in out.out and out.err.startswith("error: failed:")
    assert main(["check", str(tmp_path / "missing.json"), "--dataset", "digits"]) == 2
    assert main(["check", DIGITS, "--dataset", "npz:" + str(tmp_path / "none.npz")]) == 2


def test_check_cli_refuses_data_that_do_not_fit_like_train(capsys) -> None:
    lenet = str(templates_dir() / "lenet5.json")
    assert main(["train", lenet, "--dataset", "shapes:classes=4", "--epochs", "1"]) == 1
    from_train = capsys.readouterr().err
    assert main(["check", lenet, "--dataset", "shapes:classes=4"]) == 1
    assert capsys.readouterr().err == from_train


def test_range_test_suggests_the_rate_for_a_run_from_the_start_even_after_training() -> None:
    graph = load_template("digits_tiny")
    data = _data_for(graph)
    net = Network(graph, np.random.default_rng(0))
    for _ in Trainer(net, data, TrainConfig(epochs=2)).run():
        pass
    fresh = SanityReport.collect(run_checks(graph, data, OptimizerConfig(), checks=(LR_RANGE,)))
    trained = SanityReport.collect(run_checks(graph, data, OptimizerConfig(),
                                              weights=net.state_dict(),
                                              pretrained=frozenset(net.layers),
                                              checks=(INITIAL_LOSS, LR_RANGE)))
    assert trained.sweep.suggested == fresh.sweep.suggested
    assert "with the current weights" in trained.checks[0].detail
