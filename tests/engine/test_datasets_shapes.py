"""The generated shapes dataset: reproducible, balanced, in range, and actually about shapes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cnnstudio.engine.datasets import SHAPE_KINDS, ShapesConfig, make_shapes


def _clean(kinds: tuple[str, ...], n: int = 80) -> np.ndarray:
    """Noise-free, clutter-free images of the given kinds (grey), for geometric checks."""
    config = ShapesConfig(kinds=kinds, train=n, test=0, noise=0.0, clutter=0, shading=0.0)
    ds = make_shapes(config, np.random.default_rng(11))
    return ds.x_train, ds.y_train


def test_same_seed_same_data_other_seed_other_data() -> None:
    config = ShapesConfig(train=64, test=16)
    a = make_shapes(config, np.random.default_rng(3))
    b = make_shapes(config, np.random.default_rng(3))
    c = make_shapes(config, np.random.default_rng(4))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


def test_defaults_shapes_balance_and_range() -> None:
    ds = make_shapes(ShapesConfig(), np.random.default_rng(0))
    assert ds.x_train.shape == (3000, 1, 32, 32) and ds.x_test.shape == (600, 1, 32, 32)
    assert ds.class_names == SHAPE_KINDS and ds.source == "built-in"
    assert np.bincount(ds.y_train).tolist() == [375] * 8
    assert np.bincount(ds.y_test).tolist() == [75] * 8
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    contrast = ds.x_train.max(axis=(1, 2, 3)) - ds.x_train.min(axis=(1, 2, 3))
    assert contrast.min() > 0.3  # every image shows something


@pytest.mark.parametrize(("channels", "height", "width"), [(3, 28, 28), (1, 20, 24), (3, 64, 48)])
def test_channels_and_size_are_parameters(channels: int, height: int, width: int) -> None:
    config = ShapesConfig(
        kinds=("circle", "cross"), train=10, test=4, channels=channels, height=height, width=width
    )
    ds = make_shapes(config, np.random.default_rng(0))
    assert ds.image_shape == (channels, height, width)
    assert ds.class_names == ("circle", "cross")
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0


def test_line_classes_differ_in_orientation() -> None:
    x, y = _clean(("horizontal", "vertical", "diagonal-down", "diagonal-up"))
    img = x[:, 0]
    d_rows = np.abs(np.diff(img, axis=1)).sum(axis=(1, 2))  # large across a horizontal line
    d_cols = np.abs(np.diff(img, axis=2)).sum(axis=(1, 2))
    assert (d_rows[y == 0] > 2 * d_cols[y == 0]).all()
    assert (d_cols[y == 1] > 2 * d_rows[y == 1]).all()
    # "\" runs top-left to bottom-right: ink at (r, c) continues at (r+1, c+1), not (r+1, c-1).
    along_down = (img[:, 1:, 1:] * img[:, :-1, :-1]).sum(axis=(1, 2))
    along_up = (img[:, 1:, :-1] * img[:, :-1, 1:]).sum(axis=(1, 2))
    assert (along_down[y == 2] > along_up[y == 2]).all()
    assert (along_up[y == 3] > along_down[y == 3]).all()


def test_circles_are_round_and_squares_are_not() -> None:
    x, y = _clean(("circle", "square"), n=60)
    spread = []
    for img in x[:, 0]:
        rows, cols = np.nonzero(img > (img.min() + img.max()) / 2)
        radius = np.hypot(rows - rows.mean(), cols - cols.mean())
        spread.append(radius.std() / radius.mean())
    spread = np.array(spread)
    assert spread[y == 0].max() < spread[y == 1].min()


def test_positions_and_sizes_vary() -> None:
    x, y = _clean(("square", "cross"), n=60)
    ink = x[:, 0] > (x.min(axis=(1, 2, 3)) + x.max(axis=(1, 2, 3)))[:, None, None] / 2
    rows = np.array([np.nonzero(i)[0].mean() for i in ink])
    area = ink.sum(axis=(1, 2))
    assert rows.std() > 2.0 and area.std() > 0.15 * area.mean()


def test_generation_is_fast() -> None:
    start = time.perf_counter()
    make_shapes(ShapesConfig(train=3000, test=0), np.random.default_rng(0))
    assert time.perf_counter() - start < 5.0  # ~0.5 s here; a per-pixel loop would take minutes


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown shape 'star'"):
        ShapesConfig(kinds=("circle", "star"))
    with pytest.raises(ValueError, match="at least two"):
        ShapesConfig(kinds=("circle",))
    with pytest.raises(ValueError, match="channels"):
        ShapesConfig(channels=2)


@pytest.mark.slow
def test_small_cnn_learns_it_and_dense_net_does_clearly_worse() -> None:
    """The reason the dataset exists: convolution's weight sharing must visibly pay off."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.set_num_threads(2)
    ds = make_shapes(ShapesConfig(), np.random.default_rng(1))
    mean, std = ds.x_train.mean(), ds.x_train.std()
    x_tr = torch.tensor((ds.x_train - mean) / std)
    y_tr = torch.tensor(ds.y_train)
    x_te = torch.tensor((ds.x_test - mean) / std)
    y_te = torch.tensor(ds.y_test)

    def accuracy(net: object, epochs: int = 5) -> float:
        torch.manual_seed(0)
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        for _ in range(epochs):
            order = torch.randperm(len(x_tr))
            for i in range(0, len(order), 32):
                batch = order[i : i + 32]
                loss = nn.functional.cross_entropy(net(x_tr[batch]), y_tr[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return float((net(x_te).argmax(1) == y_te).float().mean())

    torch.manual_seed(0)
    dense = nn.Sequential(
        nn.Flatten(),
        nn.Linear(1024, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 8),
    )
    cnn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(512, 64),
        nn.ReLU(),
        nn.Linear(64, 8),
    )
    dense_acc, cnn_acc = accuracy(dense), accuracy(cnn)
    assert cnn_acc > 0.9, cnn_acc
    assert cnn_acc - dense_acc > 0.1, (cnn_acc, dense_acc)


def test_generation_reports_every_batch_and_stops_when_asked() -> None:
    """The window shows how far a large generation is and can stop it between batches."""
    from cnnstudio.engine.datasets.base import DatasetCancelled

    config = ShapesConfig(train=600, test=100)
    seen: list[tuple[int, int]] = []
    make_shapes(config, np.random.default_rng(0), progress=lambda d, t: seen.append((d, t)))
    assert [t for _, t in seen] == [700] * len(seen) and seen[-1] == (700, 700)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 2

    seen.clear()
    with pytest.raises(DatasetCancelled, match="stopped"):
        make_shapes(config, np.random.default_rng(0), stop=lambda: len(seen) >= 2,
                    progress=lambda d, t: seen.append((d, t)))
    assert len(seen) == 2  # nothing drawn after the stop was seen


def test_large_images_are_drawn_a_few_at_a_time() -> None:
    """A batch of 256 images at 224x224 held a 200 MB temporary and ran for seconds before the
    next chance to stop; large images go in batches of a bounded number of pixels."""
    seen: list[int] = []
    config = ShapesConfig(train=130, test=0, height=128, width=128)
    make_shapes(config, np.random.default_rng(0), progress=lambda d, _t: seen.append(d))
    assert seen == [64, 128, 130]
    small: list[int] = []
    make_shapes(ShapesConfig(train=300, test=0), np.random.default_rng(0),
                progress=lambda d, _t: small.append(d))
    assert small == [256, 300]  # the templates' sizes keep their batches, so their images
