"""The engine commands end to end: train, predict, datasets, bench; bad input exits 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.cli import main
from cnnstudio.core.modelfile import save
from cnnstudio.core.templates import load_template, templates_dir

DIGITS = str(templates_dir() / "digits_tiny.json")


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.slow
def test_train_digits_reaches_95_percent_and_predicts(tmp_path, capsys):
    weights, log = tmp_path / "w.npz", tmp_path / "log.jsonl"
    code = main(["train", DIGITS, "--dataset", "digits", "--epochs", "10", "--seed", "0",
                 "--val-split", "0.2", "--weights-out", str(weights), "--log-json", str(log),
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 11))
    assert set(records[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                               "images_per_s", "alerts"}
    assert max(r["val_accuracy"] for r in records) >= 0.95
    assert "epoch 10/10: loss" in out and "images/s" in out and "val accuracy" in out

    from cnnstudio.engine.datasets import load_dataset

    data = load_dataset("digits")
    batch = tmp_path / "x.npy"
    np.save(batch, data.x_test[:20])
    logits = tmp_path / "logits.npy"
    assert main(["predict", DIGITS, "--weights", str(weights), str(batch), "--top", "1",
                 "--output", str(logits)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 20
    predicted = [int(line.split(": ")[1].split()[0]) for line in lines]
    assert np.mean(np.array(predicted) == data.y_test[:20]) >= 0.8
    assert np.load(logits).shape == (20, 10)


def test_train_short_run_prints_one_line_per_epoch(tmp_path, capsys):
    code = main(["train", DIGITS, "--dataset", "digits", "--epochs", "2", "--no-progress",
                 "--optimizer", "nesterov", "--lr", "0.05", "--freeze", "c1"])
    out = capsys.readouterr().out
    assert code == 0
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 2


@pytest.mark.parametrize("argv, needle", [
    (["train", "missing.json", "--dataset", "digits"], "missing.json"),
    (["train", DIGITS, "--dataset", "mnist:/no/such/folder"], "/no/such/folder"),
    (["train", DIGITS, "--dataset", "nonsense"], "unknown dataset"),
    (["train", DIGITS, "--dataset", "digits", "--weights-in", "/no/w.npz"], "/no/w.npz"),
    (["train", DIGITS, "--dataset", "digits", "--batch-size", "0"], "batch size"),
    (["predict", DIGITS, "--weights", "/no/w.npz", "x.npy"], "/no/w.npz"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in _one_line_error(capsys)


def test_corrupt_weights_and_inputs(tmp_path, capsys):
    bad = tmp_path / "w.npz"
    bad.write_bytes(b"not a zip")
    assert main(["predict", DIGITS, "--weights", str(bad), "x.npy"]) == 2
    assert str(bad) in _one_line_error(capsys)

    from cnnstudio.engine.network import Network
    from cnnstudio.engine.weights import save_weights

    good = tmp_path / "good.npz"
    save_weights(good, Network(load_template("digits_tiny"), np.random.default_rng(0))
                 .state_dict())
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 3, 8, 8), np.float32))
    assert main(["predict", DIGITS, "--weights", str(good), str(wrong)]) == 2
    assert "does not fit the model's Input 1x8x8" in _one_line_error(capsys)
    picture = tmp_path / "p.png"
    picture.write_text("not an image")
    assert main(["predict", DIGITS, "--weights", str(good), str(picture)]) == 2
    assert str(picture) in _one_line_error(capsys)
    assert main(["predict", str(templates_dir() / "lenet5.json"), "--weights", str(good),
                 str(wrong)]) == 2
    assert "weights do not fit the model" in _one_line_error(capsys)


def test_invalid_model_exits_1(tmp_path, capsys):
    g = load_template("digits_tiny")
    g.set_param("c1", "kernel_size", 9)
    g.set_param("c1", "padding", "valid")
    path = tmp_path / "bad.json"
    save(g, path)
    assert main(["train", str(path), "--dataset", "digits"]) == 1
    assert "filter is larger than the 8x8 input" in _one_line_error(capsys)


def test_class_mismatch_exits_1_with_the_fix(capsys):
    lenet = str(templates_dir() / "shapes_cnn.json")
    assert main(["train", lenet, "--dataset", "shapes:classes=4", "--epochs", "1"]) == 1
    assert "set units to 4" in _one_line_error(capsys)


def test_datasets_lists_the_spec_forms(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for form in ("shapes", "digits", "mnist:PATH", "cifar10:PATH", "folder:PATH", "npz:PATH"):
        assert form in out


def test_train_stops_a_diverging_run_with_an_alert(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    code = main(["train", DIGITS, "--dataset", "digits", "--epochs", "3", "--lr", "1e6",
                 "--no-progress", "--log-json", str(log)])
    assert code == 1
    captured = capsys.readouterr()
    alerts = [line for line in captured.err.splitlines() if line.startswith("alert: ")]
    assert len(alerts) == 1 and alerts[0].startswith("alert: diverging (epoch 1, batch 1)")
    assert "learning rate 1e+06" in alerts[0]
    assert "epoch 1/3" not in captured.out  # stopped within the first epoch
    (row,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert row["stopped"] is True and row["alerts"][0]["kind"] == "diverging"


def test_log_json_rows_carry_an_alerts_list(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    assert main(["train", DIGITS, "--dataset", "digits", "--epochs", "2", "--no-progress",
                 "--log-json", str(log)]) == 0
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["alerts"] for r in rows] == [[], []]
    assert "alert:" not in capsys.readouterr().err
