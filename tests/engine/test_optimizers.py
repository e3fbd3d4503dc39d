"""Optimizer updates against values computed by hand from the documented formulas."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer


def run(name: str, grads: list[float], **kw) -> list[float]:
    """Apply successive scalar gradients to a weight starting at 1.0; return its values."""
    opt = make_optimizer(OptimizerConfig(name, **kw))
    p = np.array([1.0])
    values = []
    for g in grads:
        opt.step([("layer", "weight", p, np.array([g]))])
        values.append(float(p[0]))
    return values


def test_sgd():
    # p = 1 - 0.1*0.5 = 0.95; then 0.95 - 0.1*(-1) = 1.05
    assert run("sgd", [0.5, -1.0], lr=0.1) == pytest.approx([0.95, 1.05])


def test_momentum():
    # v1 = 0.5 -> p = 1 - 0.05 = 0.95; v2 = 0.9*0.5 + 0.5 = 0.95 -> p = 0.95 - 0.095 = 0.855
    assert run("momentum", [0.5, 0.5], lr=0.1, momentum=0.9) == pytest.approx([0.95, 0.855])


def test_nesterov():
    # v1 = 0.5; p = 1 - 0.1*(0.5 + 0.9*0.5) = 0.905
    # v2 = 0.95; p = 0.905 - 0.1*(0.5 + 0.9*0.95) = 0.905 - 0.1355 = 0.7695
    assert run("nesterov", [0.5, 0.5], lr=0.1, momentum=0.9) == pytest.approx([0.905, 0.7695])


def test_adam():
    # t=1: m = 0.1*g, v = 0.001*g^2, m_hat = g, v_hat = g^2 -> step = lr * g/(|g| + eps) ~ lr
    # t=2 with g2 = -g: m = 0.09g - 0.1g = -0.01g; m_hat = -0.01g/0.19;
    # v = 0.999*0.001 g^2 + 0.001 g^2 = 0.001999 g^2; v_hat = 0.001999 g^2 / 0.001999 = g^2
    g = 2.0
    lr, eps = 0.01, 1e-8
    p1 = 1 - lr * g / (g + eps)
    p2 = p1 - lr * (-0.01 * g / 0.19) / (g + eps)
    assert run("adam", [g, -g], lr=lr) == pytest.approx([p1, p2], rel=1e-12)


def test_weight_decay_applies_to_weights_only():
    opt = make_optimizer(OptimizerConfig("sgd", lr=0.1, weight_decay=0.5))
    w, b = np.array([2.0]), np.array([2.0])
    opt.step([("l", "weight", w, np.array([0.0])), ("l", "bias", b, np.array([0.0]))])
    assert w[0] == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)
    assert b[0] == 2.0


def test_state_is_keyed_by_layer_and_name_and_round_trips():
    opt = make_optimizer(OptimizerConfig("adam", lr=0.01))
    a, b = np.ones(3), np.ones(2)
    opt.step([("conv/1", "weight", a, np.full(3, 0.5)), ("d", "bias", b, np.full(2, -1.0))])
    state = opt.state_dict()
    assert set(state) == {"steps", "conv/1/weight/m", "conv/1/weight/v", "d/bias/m", "d/bias/v"}
    clone = make_optimizer(OptimizerConfig("adam", lr=0.01))
    clone.load_state_dict(state)
    a2, b2 = a.copy(), b.copy()
    opt.step([("conv/1", "weight", a, np.full(3, 0.2)), ("d", "bias", b, np.full(2, 0.3))])
    clone.step([("conv/1", "weight", a2, np.full(3, 0.2)), ("d", "bias", b2, np.full(2, 0.3))])
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)


def test_float32_params_stay_float32():
    opt = make_optimizer(OptimizerConfig("adam"))
    p = np.ones(4, np.float32)
    opt.step([("l", "weight", p, np.ones(4, np.float32))])
    assert p.dtype == np.float32


@pytest.mark.parametrize("bad", [{"name": "rmsprop"}, {"lr": 0}, {"momentum": 1.0},
                                 {"weight_decay": -1}])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        OptimizerConfig(**bad)


def test_matches_torch_optimizers():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(4)]
    cases = [("sgd", lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01), {}),
             ("momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
              {}),
             ("nesterov", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                                    weight_decay=0.01), {}),
             ("adam", lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01), {"lr": 0.01})]
    for name, make_torch, kw in cases:
        tp = torch.nn.Parameter(torch.tensor(w0.copy()))
        topt = make_torch([tp])
        opt = make_optimizer(OptimizerConfig(name, **{"lr": 0.1, **kw}, weight_decay=0.01))
        p = w0.copy()
        for g in grads:
            tp.grad = torch.tensor(g.copy())
            topt.step()
            opt.step([("l", "weight", p, g)])
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, err_msg=name)
