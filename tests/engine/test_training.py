"""The training loop: learning, repeatability, stop/pause/resume, checkpoints, refusals."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _netbuild import chain

from cnnstudio.engine.control import TrainingControl
from cnnstudio.engine.datasets.base import Dataset
from cnnstudio.engine.errors import TrainingError
from cnnstudio.engine.introspect import confusion_matrix, evaluate
from cnnstudio.engine.memory import estimate_training_bytes
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer
from cnnstudio.engine.progress import BatchProgress, EpochProgress, Failed, Finished, Stopped
from cnnstudio.engine.trainer import TrainConfig, Trainer, fit, train_step

SHAPE = (1, 6, 6)


def small_cnn(classes: int = 3):
    return chain(("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}), ("ReLU", {}),
                 ("BatchNorm", {}), ("MaxPool2D", {}), ("Flatten", {}), ("Dropout", {"rate": 0.1}),
                 ("Dense", {"units": classes}), input_shape=SHAPE)


def dataset(n: int = 60, classes: int = 3, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.random((n, *SHAPE), dtype=np.float32) * 0.3
    x[np.arange(n), 0, y, y] += 1.0  # a learnable cue: a bright pixel on the diagonal
    return Dataset(x, y.astype(np.int64), x[:0], y[:0].astype(np.int64),
                   tuple(f"c{i}" for i in range(classes)), "toy", "built-in")


def config(**kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=8, optimizer=OptimizerConfig("adam", lr=0.01),
                val_split=0.2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def weights(net: Network) -> dict[str, np.ndarray]:
    return net.state_dict()


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def run_all(net: Network, data: Dataset, cfg: TrainConfig, control=None) -> list:
    return list(fit(net, data, cfg, control))


def test_overfits_16_samples():
    data = dataset(16, classes=4, seed=1)
    net = Network(small_cnn(4), np.random.default_rng(0))
    records = run_all(net, data, config(epochs=60, batch_size=16, val_split=0.0))
    epochs = [r for r in records if isinstance(r, EpochProgress)]
    assert isinstance(records[-1], Finished)
    assert epochs[-1].loss < 0.1 < epochs[0].loss
    assert epochs[-1].accuracy == 1.0
    assert epochs[0].val_loss is None


def test_records_and_metrics():
    data = dataset(50)
    net = Network(small_cnn(), np.random.default_rng(0))
    records = run_all(net, data, config(epochs=2))
    batches = [r for r in records if isinstance(r, BatchProgress)]
    epochs = [r for r in records if isinstance(r, EpochProgress)]
    assert len(batches) == 2 * 5 and batches[0].batches_per_epoch == 5  # 40 train images / 8
    assert [(b.epoch, b.batch) for b in batches[:2]] == [(1, 1), (1, 2)]
    assert all(0 <= b.accuracy <= 1 and b.images_per_s > 0 for b in batches)
    assert batches[-1].seconds_left == 0
    assert [e.epoch for e in epochs] == [1, 2]
    assert epochs[1].val_accuracy is not None and epochs[1].val_loss is not None
    assert set(epochs[0].to_json()) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                                        "images_per_s"}


def test_validation_uses_the_training_normaliser():
    data = dataset(50)
    net = Network(small_cnn(), np.random.default_rng(0))
    trainer = Trainer(net, data, config(epochs=1))
    records = list(trainer.run())
    last = [r for r in records if isinstance(r, EpochProgress)][-1]
    raw_val = trainer.normalizer.invert(trainer.x_val)
    ev = evaluate(net, raw_val, trainer.y_val, normalizer=trainer.normalizer)
    assert ev.loss == pytest.approx(last.val_loss, rel=1e-5)
    assert ev.accuracy == last.val_accuracy


def test_same_seed_repeats_exactly_and_another_seed_differs():
    data = dataset()
    nets = [Network(small_cnn(), np.random.default_rng(0)) for _ in range(3)]
    run_all(nets[0], data, config())
    run_all(nets[1], data, config())
    run_all(nets[2], data, config(seed=4))
    assert same_weights(weights(nets[0]), weights(nets[1]))
    assert not same_weights(weights(nets[0]), weights(nets[2]))


def test_stop_between_batches():
    data = dataset()
    net = Network(small_cnn(), np.random.default_rng(0))
    control = TrainingControl()
    records = []
    for r in fit(net, data, config(), control):
        records.append(r)
        if isinstance(r, BatchProgress) and r.batch == 3:
            control.stop()
    assert isinstance(records[-1], Stopped)
    assert (records[-1].epoch, records[-1].batch) == (1, 3)
    assert sum(isinstance(r, BatchProgress) for r in records) == 3


def test_pause_blocks_and_resume_continues_exactly():
    data = dataset()
    reference = Network(small_cnn(), np.random.default_rng(0))
    run_all(reference, data, config())

    net = Network(small_cnn(), np.random.default_rng(0))
    control = TrainingControl()
    seen: list = []
    paused_at = threading.Event()

    def worker():
        for r in fit(net, data, config(), control):
            seen.append(r)
            if isinstance(r, BatchProgress) and (r.epoch, r.batch) == (2, 2):
                control.pause()
                paused_at.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert paused_at.wait(30)
    time.sleep(0.3)
    count = len(seen)
    time.sleep(0.3)
    assert len(seen) == count, "training went on while paused"
    assert control.paused
    control.resume()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(seen[-1], Finished)
    assert same_weights(weights(net), weights(reference))


def test_stop_ends_a_pause():
    data = dataset()
    net = Network(small_cnn(), np.random.default_rng(0))
    control = TrainingControl()
    control.pause()
    done: list = []
    thread = threading.Thread(target=lambda: done.extend(fit(net, data, config(), control)))
    thread.start()
    time.sleep(0.2)
    assert not done
    control.stop()
    thread.join(10)
    assert done == [Stopped(1, 0)]


def test_checkpoint_mid_epoch_continues_exactly(tmp_path):
    data = dataset()
    reference = Network(small_cnn(), np.random.default_rng(0))
    run_all(reference, data, config())

    first = Network(small_cnn(), np.random.default_rng(0))
    trainer = Trainer(first, data, config())
    for r in trainer.run():
        if isinstance(r, BatchProgress) and (r.epoch, r.batch) == (2, 3):
            break
    path = tmp_path / "ckpt.npz"
    trainer.save_checkpoint(path)

    second = Network(small_cnn(), np.random.default_rng(123))  # other initial weights
    resumed = Trainer(second, data, config())
    resumed.load_checkpoint(path)
    records = list(resumed.run())
    assert (records[0].epoch, records[0].batch) == (2, 4)
    epochs = [r for r in records if isinstance(r, EpochProgress)]
    assert [e.epoch for e in epochs] == [2, 3]
    assert same_weights(weights(second), weights(reference))


def test_nan_loss_stops_with_advice():
    data = dataset()
    net = Network(chain(("Flatten", {}), ("Dense", {"units": 32}), ("ReLU", {}),
                        ("Dense", {"units": 3}), input_shape=SHAPE), np.random.default_rng(0))
    cfg = config(optimizer=OptimizerConfig("sgd", lr=1e12), normalize=False)
    records = run_all(net, data, cfg)
    failed = records[-1]
    assert isinstance(failed, Failed)
    assert f"epoch {failed.epoch}, batch {failed.batch}" in failed.message
    assert "lower the learning rate" in failed.message


def test_memory_estimate_refuses_a_batch_that_does_not_fit():
    net = Network(small_cnn(), np.random.default_rng(0))
    one, two = estimate_training_bytes(net, 1), estimate_training_bytes(net, 2)
    # per image: conv output (4x6x6) + ReLU + BN outputs, each with its gradient, ...
    assert two - one >= 2 * 4 * (3 * 4 * 36)
    assert estimate_training_bytes(net, 64) - estimate_training_bytes(net, 32) == 32 * (two - one)
    limit = estimate_training_bytes(net, 20)
    with pytest.raises(TrainingError, match="use a batch size of at most 20") as exc:
        Trainer(net, dataset(), config(batch_size=64, memory_limit=limit))
    assert "for a batch of 64" in str(exc.value)
    Trainer(net, dataset(), config(batch_size=20, memory_limit=limit))


def test_frozen_layers_are_not_updated():
    g = small_cnn()
    g.set_trainable("l0_conv2d", False)
    net = Network(g, np.random.default_rng(0))
    before = weights(net)
    run_all(net, dataset(), config(freeze=frozenset({"l2_batchnorm"})))
    after = weights(net)
    for key in ("l0_conv2d/weight", "l0_conv2d/bias", "l2_batchnorm/gamma",
                "l2_batchnorm/moving_mean", "l2_batchnorm/moving_var"):
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    assert not np.array_equal(before["l6_dense/weight"], after["l6_dense/weight"])


def test_unknown_freeze_id_is_refused():
    with pytest.raises(TrainingError, match="ghost"):
        Trainer(Network(small_cnn(), np.random.default_rng(0)), dataset(),
                config(freeze=frozenset({"ghost"})))


def test_class_count_mismatch_names_the_fix():
    net = Network(small_cnn(classes=10), np.random.default_rng(0))
    with pytest.raises(TrainingError,
                       match="the last Dense has 10 units but the dataset has 3 classes: "
                             "set units to 3"):
        fit(net, dataset(), config())


def test_input_shape_mismatch_names_the_fix():
    net = Network(chain(("Flatten", {}), ("Dense", {"units": 3}), input_shape=(3, 6, 6)),
                  np.random.default_rng(0))
    with pytest.raises(TrainingError, match="channels=1, height=6, width=6"):
        fit(net, dataset(), config())


def test_confusion_matrix_and_cells():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    data = dataset()
    net = Network(small_cnn(), np.random.default_rng(0))
    ev = evaluate(net, data.x_train, data.y_train)
    assert ev.confusion().sum() == len(data.y_train)
    assert ev.probabilities.shape == (60, 3)
    t, p = int(ev.labels[0]), int(ev.predictions[0])
    cell = ev.cell(t, p)
    assert 0 in cell and ev.confusion()[t, p] == len(cell)
    assert (np.diff(ev.confidences[cell]) <= 0).all()


@pytest.mark.parametrize("graph", [
    "lenet5", "cifar_vgg",
    chain(("Conv2D", {"filters": 4, "kernel_size": 3, "stride": 2, "padding": "same"}),
          ("Conv2D", {"filters": 6, "kernel_size": 1}),
          ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same", "dilation": 2}),
          ("Conv2D", {"filters": 6, "kernel_size": 2, "padding": "same", "groups": 3}),
          ("Flatten", {}), ("Dense", {"units": 3}), input_shape=(3, 9, 8)),
], ids=["lenet5", "cifar_vgg", "strided-pointwise-dilated-grouped"])
def test_memory_estimate_counts_what_the_convolutions_keep(graph):
    """The memory estimate counts each convolution's workspace as the kernels actually fill it
    in a training step (a few elements of line and row padding aside), input gradient or not,
    and the input a convolution holds on to instead of a column matrix."""
    from cnnstudio.core.templates import load_template

    g = load_template(graph) if isinstance(graph, str) else graph
    net = Network(g, np.random.default_rng(0))
    batch = 5
    x = np.random.default_rng(1).standard_normal((batch, *net.input_shape)).astype(np.float32)
    y = np.zeros(batch, dtype=np.int64)
    train_step(net, make_optimizer(OptimizerConfig("sgd", lr=0.01)), x, y)
    for lid, impl in net.layers.items():
        if impl.type_name != "Conv2D":
            continue
        kept = sum(a.size for a in impl.workspace.values())
        if impl.cache.x is not None:
            kept += impl.cache.x.size
        need_dx = net.inputs[lid] != [net.input_id]
        expected = impl.kept_elements(need_dx) * batch
        # A column matrix's rows may lie one cache line apart more than its width.
        w = impl.cache.w
        row_slack = 16 * w.shape[1] * w.shape[2] * w.shape[3] * impl.cache.groups
        assert expected <= kept <= expected + 64 + row_slack, lid
