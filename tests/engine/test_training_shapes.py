"""The point of convolution, measured: a small CNN beats an all-Dense net of similar size on
the generated shapes."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core.templates import load_template
from cnnstudio.engine.datasets import load_dataset
from cnnstudio.engine.introspect import evaluate
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig
from cnnstudio.engine.progress import Finished
from cnnstudio.engine.trainer import TrainConfig, Trainer


def _test_accuracy(key: str, data) -> tuple[float, int]:
    net = Network(load_template(key), np.random.default_rng(0))
    trainer = Trainer(net, data, TrainConfig(epochs=6, batch_size=32, val_split=0.0,
                                             optimizer=OptimizerConfig("adam", lr=3e-3)))
    records = list(trainer.run())
    assert isinstance(records[-1], Finished)
    return evaluate(net, data.x_test, data.y_test, trainer.normalizer).accuracy, net.param_count()


@pytest.mark.slow
def test_small_cnn_beats_dense_baseline_on_shapes():
    data = load_dataset("shapes:train=800,test=400", rng=np.random.default_rng(0))
    cnn, cnn_params = _test_accuracy("shapes_cnn", data)
    dense, dense_params = _test_accuracy("dense_baseline", data)
    assert 0.5 < cnn_params / dense_params < 2  # similar size, so the layer type decides
    assert cnn > dense + 0.1, (cnn, dense)


@pytest.mark.slow
def test_mobilenet_template_with_squeeze_and_excitation_learns_shapes():
    """Depthwise-separable blocks, ReLU6, BatchNorm and a squeeze-and-excitation Multiply all
    train together: far above chance (1 in 8) after a few epochs."""
    data = load_dataset("shapes:train=800,test=400", rng=np.random.default_rng(0))
    accuracy, _ = _test_accuracy("mobilenet_se", data)
    assert accuracy > 0.5, accuracy
