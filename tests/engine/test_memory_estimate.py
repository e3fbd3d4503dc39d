"""The training memory estimate (what refuses a batch that would not fit) agrees with what a
training step really allocates, within 25%, on the bench networks at two batch sizes each. If a
kernel changes what it keeps (a new workspace, say), this fails: update the layer's
``kept_elements`` in engine/layers.py, which the estimate sums."""

from __future__ import annotations

import pytest

from cnnstudio.core.templates import load_template
from cnnstudio.engine.bench import training_memory


@pytest.mark.parametrize(("key", "batch"), [("lenet5", 64), ("lenet5", 256),
                                          ("cifar_vgg", 16), ("cifar_vgg", 64)])
def test_estimate_is_within_a_quarter_of_the_measured_peak(key, batch):
    estimate, peak = training_memory(load_template(key), batch)
    assert abs(estimate - peak) <= 0.25 * peak, (
        f"{key} batch {batch}: estimate {estimate / 2**20:.1f} MB, "
        f"measured peak {peak / 2**20:.1f} MB")
