"""A training step cut into parts by samples gives the whole batch's step.

The step in parts (:mod:`cnnstudio.engine.data_parallel`) is what training on a multi-core
machine runs for small networks; these tests force it on any machine (two cores' worth of
parts, no minimum work) and compare it with the whole batch run in one piece, in float64 so
the only difference left is the order of summation.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest

from cnnstudio.engine import data_parallel as dp
from cnnstudio.engine.kernels import _parallel
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer
from cnnstudio.engine.trainer import train_step
from tests.engine._netbuild import branching_graph, chain

CONV_CHAIN = (("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}), ("ReLU", {}),
              ("MaxPool2D", {"pool_size": 2}), ("Conv2D", {"filters": 5, "kernel_size": 2}),
              ("ReLU", {}), ("Flatten", {}), ("Dense", {"units": 7}), ("ReLU", {}),
              ("Dense", {"units": 3}))


def _pair(graph, seed=3):
    """Two float64 networks with the same weights: one steps in parts, the other whole."""
    nets = [Network(graph, np.random.default_rng(seed), np.float64) for _ in range(2)]
    return nets


def _batch(net, n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *net.input_shape))
    y = rng.integers(0, net.output_shape[0], n)
    return x, y


def _whole(net, x, y):
    """The step in one piece (what a one-core machine runs)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dp, "MIN_SAMPLES_PER_PART", 10**9)
        assert dp.step_parts(net, len(x)) == 1
        return dp.forward_backward(net, x, y)


def _grads(net):
    return {(lid, name): g.copy() for lid, name, _, g in net.trainable_params()}


def _assert_parts_step_like_whole(parted, whole, x, y, rtol=1e-10):
    """The step in parts on ``parted`` and the whole step on ``whole`` (same weights) give the
    same loss, correct count and gradients."""
    assert dp.step_parts(parted, len(x)) == 2
    loss, correct = dp.forward_backward(parted, x, y)
    loss_w, correct_w = _whole(whole, x, y)
    assert loss == pytest.approx(loss_w, rel=1e-12)
    assert correct == correct_w
    got, want = _grads(parted), _grads(whole)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=rtol / 1000,
                                   err_msg=str(key))


@pytest.mark.parametrize("n", [2, 7, 16])
def test_parts_give_the_whole_batch_gradient_loss_and_count(two_parts, n):
    graph = chain(*CONV_CHAIN, input_shape=(2, 8, 8))
    parted, whole = _pair(graph)
    x, y = _batch(parted, n)
    _assert_parts_step_like_whole(parted, whole, x, y)


def test_a_branching_graph_with_frozen_batchnorm_is_cut_and_exact(two_parts):
    """Frozen BatchNorm runs on its moving statistics, one sample at a time in effect, so the
    step may be cut; merges and fan-out sum their gradients within each part."""
    parted, whole = _pair(branching_graph())
    for net in (parted, whole):
        net.set_frozen(["bn1", "bn2"])
        for lid in ("bn1", "bn2"):  # moving statistics that are not the start values
            for buf in net.layers[lid].buffers.values():
                buf[...] = np.linspace(0.5, 1.5, buf.size).reshape(buf.shape)
    x, y = _batch(parted, 6)
    _assert_parts_step_like_whole(parted, whole, x, y)


@pytest.mark.parametrize("n", [4, 9, 32])
def test_batchnorm_that_trains_uses_the_whole_batch_statistics_in_parts(two_parts, n):
    """Each part normalises by the mean and variance of the whole batch (the parts share their
    sums at every BatchNorm), so outputs, gradients and the moving statistics equal the whole
    step's; image BatchNorm (per channel) and flat BatchNorm (per feature) alike."""
    parted, whole = _pair(branching_graph())
    x, y = _batch(parted, n)
    _assert_parts_step_like_whole(parted, whole, x, y, rtol=1e-9)
    for lid in ("bn1", "bn2"):
        for name, buf in whole.layers[lid].buffers.items():
            assert not np.array_equal(buf, np.zeros_like(buf) + (name == "moving_var"))
            np.testing.assert_allclose(parted.layers[lid].buffers[name], buf, rtol=1e-12,
                                       err_msg=f"{lid}/{name}")  # moved once, not twice


def test_batchnorm_in_parts_is_capped_at_two_parts(monkeypatch, two_parts):
    """Parts that share statistics wait for each other: never more than the calling thread and
    one pool thread, so two trainings at once cannot wait on each other's parts."""
    monkeypatch.setattr(_parallel, "WORKERS", 4)
    monkeypatch.setattr(dp, "WORKERS", 4)
    net = Network(branching_graph(), np.random.default_rng(0))
    assert dp.step_parts(net, 64) == 2
    net.set_frozen(["bn1", "bn2"])
    assert dp.step_parts(net, 64) == 4


def test_a_failing_part_does_not_leave_the_other_waiting(two_parts, monkeypatch):
    """An error in one part (here: out of memory in a layer) releases the part waiting for its
    BatchNorm sums and reaches the caller; the next step runs normally."""
    net = Network(branching_graph(), np.random.default_rng(0), np.float64)
    x, y = _batch(net, 8)
    replica = dp._networks(net, 2)[1]
    failing = replica.layers["c2"]
    real = failing.forward

    def out_of_memory(*args, **kwargs):
        raise MemoryError("no room for c2")

    monkeypatch.setattr(failing, "forward", out_of_memory)
    with pytest.raises(MemoryError, match="no room"):
        dp.forward_backward(net, x, y)
    assert all(impl.part is None for n in (net, replica) for impl in n.layers.values()
               if hasattr(impl, "part"))
    monkeypatch.setattr(failing, "forward", real)
    loss, _ = dp.forward_backward(net, x, y)
    assert np.isfinite(loss)


def test_small_steps_and_one_core_stay_whole(monkeypatch):
    net = Network(chain(*CONV_CHAIN, input_shape=(2, 8, 8)), np.random.default_rng(0))
    monkeypatch.setattr(_parallel, "WORKERS", 2)
    monkeypatch.setattr(dp, "WORKERS", 2)
    assert dp.step_parts(net, 2 * dp.MIN_SAMPLES_PER_PART - 1) == 1  # too few samples
    assert dp.step_parts(net, 64) == 1  # too little work: this net is tiny
    monkeypatch.setattr(dp, "MIN_MACS_PER_PART", 0)
    assert dp.step_parts(net, 64) == 2
    monkeypatch.setattr(_parallel, "WORKERS", 1)
    assert dp.step_parts(net, 64) == 1


def test_training_in_parts_follows_the_whole_run_step_by_step(two_parts):
    """Momentum SGD over several steps, with a frozen layer: the same weights as whole steps,
    and the frozen layer untouched (its gradient is neither summed nor applied)."""
    graph = chain(*CONV_CHAIN, input_shape=(2, 8, 8))
    parted, whole = _pair(graph)
    frozen = "l0_conv2d"
    for net in (parted, whole):
        net.set_frozen([frozen])
    start = parted.layers[frozen].params["weight"].copy()
    config = OptimizerConfig(name="momentum", lr=0.05, momentum=0.9)
    opt_p, opt_w = make_optimizer(config), make_optimizer(config)
    for i in range(4):
        x, y = _batch(parted, 10, seed=i)
        train_step(parted, opt_p, x, y)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(dp, "MIN_SAMPLES_PER_PART", 10**9)
            train_step(whole, opt_w, x, y)
    for lid, impl in whole.layers.items():
        for name, w in impl.params.items():
            np.testing.assert_allclose(parted.layers[lid].params[name], w, rtol=1e-9,
                                       atol=1e-12, err_msg=f"{lid}/{name}")
    np.testing.assert_array_equal(parted.layers[frozen].params["weight"], start)


def test_replicas_see_weights_that_were_replaced_or_loaded(two_parts):
    """After a load (new arrays in the layers' dicts) the parts use the new weights."""
    graph = chain(*CONV_CHAIN, input_shape=(2, 8, 8))
    parted, whole = _pair(graph)
    x, y = _batch(parted, 8)
    dp.forward_backward(parted, x, y)  # the replica exists from here on
    fresh = Network(graph, np.random.default_rng(42), np.float64).state_dict()
    for net in (parted, whole):
        net.load_state_dict(fresh)
    parted.layers["l6_dense"].params["weight"] = parted.layers["l6_dense"].params["weight"] * 2
    whole.layers["l6_dense"].params["weight"] = whole.layers["l6_dense"].params["weight"] * 2
    loss, _ = dp.forward_backward(parted, x, y)
    assert loss == pytest.approx(_whole(whole, x, y)[0], rel=1e-12)
    for key, g in _grads(whole).items():
        np.testing.assert_allclose(_grads(parted)[key], g, rtol=1e-10, atol=1e-13)


def test_dropout_in_parts_is_repeatable_from_a_seed_and_differs_between_parts(two_parts):
    """Each part draws its own dropout masks (two identical halves get different gradients),
    and the same seed gives the same run."""
    graph = chain(("Conv2D", {"filters": 4, "kernel_size": 3}), ("ReLU", {}),
                  ("Flatten", {}), ("Dropout", {"rate": 0.5}), ("Dense", {"units": 3}),
                  input_shape=(2, 6, 6))
    runs = []
    for _ in range(2):
        net = Network(graph, np.random.default_rng(5), np.float64)
        net.rng = np.random.default_rng(11)
        x, y = _batch(net, 4)
        x[2:], y[2:] = x[:2], y[:2]  # the second half repeats the first
        opt = make_optimizer(OptimizerConfig(name="sgd", lr=0.1))
        for _ in range(3):
            train_step(net, opt, x, y)
        replica = dp._replicas[net][0].network
        runs.append(net.state_dict())
        halves_differ = not np.allclose(net.layers["l4_dense"].grads["weight"],
                                        2 * replica.layers["l4_dense"].grads["weight"])
        assert halves_differ
    for key, value in runs[0].items():
        np.testing.assert_array_equal(runs[1][key], value, err_msg=key)


def test_a_non_finite_loss_leaves_the_weights_alone(two_parts):
    graph = chain(*CONV_CHAIN, input_shape=(2, 8, 8))
    net = Network(graph, np.random.default_rng(0), np.float64)
    before = net.state_dict()
    x, y = _batch(net, 8)
    x[5] = np.inf  # only the second part sees it
    loss, _ = train_step(net, make_optimizer(OptimizerConfig(name="sgd", lr=0.1)), x, y)
    assert not np.isfinite(loss)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_inside_on_one_core_chunks_run_on_the_calling_thread(monkeypatch):
    monkeypatch.setattr(_parallel, "WORKERS", 2)
    threads = set()
    with _parallel.on_one_core():
        assert not _parallel.shares_cores()
        _parallel.run_chunks(lambda i: threads.add(threading.get_ident()), 8)
        _parallel.parallel_chunks(lambda s: threads.add(threading.get_ident()), 8, 1 << 30)
    assert threads == {threading.get_ident()}
    assert _parallel.shares_cores()


@pytest.mark.parametrize("template", ["lenet5", "mini_resnet"])
def test_templates_trained_in_parts_match_torch(two_parts, template):
    """Three momentum-SGD steps in float32, cut into parts, against the same steps in PyTorch
    (through the exporter a user gets): equal weights and BatchNorm moving statistics to
    float32 rounding (mini_resnet: BatchNorm sharing statistics between parts, and merges)."""
    torch = pytest.importorskip("torch")
    from cnnstudio.commands.bench_contenders import torch_model
    from cnnstudio.core.templates import load_template

    graph = load_template(template)
    net = Network(graph, np.random.default_rng(0))
    model, weight_keys = torch_model(graph, net.state_dict(), torch)
    model.train()
    config = OptimizerConfig(name="momentum", lr=0.05, momentum=0.9)
    opt = make_optimizer(config)
    topt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    assert dp.step_parts(net, 32) == 2
    for i in range(3):
        x, y = _batch(net, 32, seed=i)
        x = x.astype(np.float32)
        loss, _ = train_step(net, opt, x, y)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)),
                                                  torch.from_numpy(y))
        tloss.backward()
        topt.step()
        assert loss == pytest.approx(tloss.item(), abs=1e-5)
    arrays = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    for key, target in weight_keys.items():
        lid, name = key.rsplit("/", 1)
        impl = net.layers[lid]
        mine = impl.params[name] if name in impl.params else impl.buffers[name]
        np.testing.assert_allclose(mine, arrays[target].detach().numpy(), atol=1e-4, rtol=0,
                                   err_msg=key)


def test_evaluation_batches_shared_out_over_the_cores_give_the_same_outputs(two_parts,
                                                                          monkeypatch):
    """Prediction over several batches runs them on the cores at once, each on one core; the
    outputs equal those of the batches one after the other, to the bit (normaliser included)."""
    from cnnstudio.core.templates import load_template
    from cnnstudio.engine import introspect
    from cnnstudio.engine.datasets.normalize import Normalizer

    net = Network(load_template("lenet5"), np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((300, *net.input_shape), dtype=np.float32)
    norm = Normalizer.fit(x[:50])
    counts = []
    real = _parallel.run_chunks
    monkeypatch.setattr(_parallel, "run_chunks",
                        lambda work, count: (counts.append(count), real(work, count)))
    got = introspect.predict_logits(net, x, norm, batch_size=128)
    assert counts == [3]  # three batches, shared out
    with _parallel.on_one_core():  # nothing shared out: the batches one after the other
        want = np.concatenate([
            introspect.flat_to_public(net.forward_logits(norm.apply(x[i:i + 128]))) for i in
            range(0, 300, 128)])
    np.testing.assert_array_equal(got, want)
    assert got.shape == (300, 10)
    assert introspect.predict_logits(net, x[:0]).shape == (0, 10)


def test_without_memory_for_a_replica_the_step_runs_whole(two_parts, monkeypatch):
    """A replica's gradients need memory of their own; where there is none the step runs whole
    (as on one core) instead of failing the run."""
    graph = chain(*CONV_CHAIN, input_shape=(2, 8, 8))
    parted, whole = _pair(graph)

    def no_memory(self, original):
        raise MemoryError("no room for a replica")

    monkeypatch.setattr(dp._Replica, "__init__", no_memory)
    x, y = _batch(parted, 8)
    assert dp.step_parts(parted, 8) == 2
    loss, correct = dp.forward_backward(parted, x, y)
    assert (loss, correct) == _whole(whole, x, y)  # whole: the very same numbers
    for key, g in _grads(whole).items():
        np.testing.assert_array_equal(_grads(parted)[key], g)
    assert parted not in dp._replicas or not dp._replicas[parted]


def test_the_memory_estimate_counts_a_replicas_gradients(two_parts):
    """A step in parts holds one more set of gradients (the replica's): the estimate that
    refuses too-large batches counts them, and nothing else changes."""
    from cnnstudio.engine.memory import estimate_training_bytes

    net = Network(chain(*CONV_CHAIN, input_shape=(2, 8, 8)), np.random.default_rng(0))
    parted = estimate_training_bytes(net, 16, helpers=False)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dp, "MIN_SAMPLES_PER_PART", 10**9)
        whole = estimate_training_bytes(net, 16, helpers=False)
    weights = sum(p.size for impl in net.layers.values() for p in impl.params.values())
    assert parted - whole == weights * 4


def test_top_patches_scanned_a_batch_per_core_are_those_of_one_batch_after_another(
        two_parts, monkeypatch):
    """The Top patches scan runs a batch per core at a time and merges them in order: the
    patches, the progress reports and a stop between batches are those of a scan on one
    core."""
    from cnnstudio.core.templates import load_template
    from cnnstudio.engine import introspect

    monkeypatch.setattr(introspect, "WORKERS", 2)
    net = Network(load_template("lenet5"), np.random.default_rng(0))
    images = np.random.default_rng(3).random((70, *net.input_shape), dtype=np.float32)
    runs = []
    for one_core in (False, True):
        seen: list[tuple[int, int]] = []
        with _parallel.on_one_core() if one_core else contextlib.nullcontext():
            top = introspect.top_activations(net, images, "c1", 3, k=12, batch_size=16,
                                             progress=lambda d, t, s=seen: s.append((d, t)))
        runs.append((top, seen))
    assert runs[0] == runs[1]
    assert runs[0][1] == [(16, 70), (32, 70), (48, 70), (64, 70), (70, 70)]
    asked = []
    stopped = introspect.top_activations(net, images, "c1", 3, k=12, batch_size=16,
                                         stop=lambda: len(asked) > 0 or asked.append(1))
    assert len(stopped) == 12  # one round of two batches ran before the stop was seen
