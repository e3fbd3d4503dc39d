"""Weights files: round trip, normaliser meta, and a one-line error for every bad file."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from _netbuild import branching_graph

from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.errors import NetworkError
from cnnstudio.engine.network import Network
from cnnstudio.engine.weights import (
    WeightsError,
    load_weights,
    normalizer_from_meta,
    save_weights,
    split_meta,
)


def test_round_trip_restores_outputs_exactly(tmp_path, rng):
    a = Network(branching_graph(), np.random.default_rng(1))
    x = rng.standard_normal((2, *a.input_shape)).astype(np.float32)
    a.forward(x, training=True)  # non-trivial BatchNorm statistics
    path = tmp_path / "w.npz"
    save_weights(path, a.state_dict())
    b = Network(branching_graph(), np.random.default_rng(2))
    b.load_state_dict(load_weights(path))
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temp file left behind


def test_normaliser_travels_with_the_weights(tmp_path, rng):
    net = Network(branching_graph(), rng)
    norm = Normalizer(mean=np.array([0.1, 0.2]), std=np.array([0.5, 2.0]))
    path = tmp_path / "w.npz"
    save_weights(path, net.state_dict(), normalizer=norm)
    state = load_weights(path)
    weights, meta = split_meta(state)
    assert set(meta) == {"_meta/norm_mean", "_meta/norm_std"}
    restored = normalizer_from_meta(state)
    np.testing.assert_array_equal(restored.mean, norm.mean)
    np.testing.assert_array_equal(restored.std, norm.std)
    net.load_state_dict(state)  # strict load skips meta keys
    assert normalizer_from_meta(weights) is None


def test_saving_over_an_existing_file_is_atomic(tmp_path, rng, monkeypatch):
    net = Network(branching_graph(), rng)
    path = tmp_path / "w.npz"
    save_weights(path, net.state_dict())
    good = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(WeightsError, match="disk full"):
        save_weights(path, net.state_dict())
    assert path.read_bytes() == good
    assert len(list(tmp_path.iterdir())) == 1


def test_unwritable_folder(tmp_path, rng):
    net = Network(branching_graph(), rng)
    with pytest.raises(WeightsError, match="cannot write"):
        save_weights(tmp_path / "missing" / "w.npz", net.state_dict())


def _one_line(exc: pytest.ExceptionInfo, path) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(WeightsError, match="no such file") as exc:
        load_weights(path)
    _one_line(exc, path)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(WeightsError, match="folder") as exc:
        load_weights(tmp_path)
    _one_line(exc, tmp_path)


def test_not_an_npz(tmp_path):
    path = tmp_path / "w.npz"
    path.write_text("hello, I am text")
    with pytest.raises(WeightsError, match="not a readable .npz") as exc:
        load_weights(path)
    _one_line(exc, path)


def test_single_npy_array(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(WeightsError, match="single array") as exc:
        load_weights(path)
    _one_line(exc, path)


def test_truncated_file(tmp_path, rng):
    path = tmp_path / "w.npz"
    save_weights(path, Network(branching_graph(), rng).state_dict())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError) as exc:
        load_weights(path)
    _one_line(exc, path)


def test_pickled_arrays_are_never_loaded(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"c1/weight": np.array([{"evil": 1}], dtype=object)})
    with pytest.raises(WeightsError, match="pickled") as exc:
        load_weights(path)
    _one_line(exc, path)


def test_keys_must_name_a_layer(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, arr_0=np.zeros(2))
    with pytest.raises(WeightsError, match="'<layer id>/<name>'") as exc:
        load_weights(path)
    _one_line(exc, path)


def test_integer_arrays_are_refused(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"c1/weight": np.zeros(2, dtype=np.int64)})
    with pytest.raises(WeightsError, match="expected floats"):
        load_weights(path)


def test_corrupt_member(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("c1/weight.npy", b"\x93NUMPY garbage")
    with pytest.raises(WeightsError, match="c1/weight") as exc:
        load_weights(path)
    _one_line(exc, path)


def test_file_for_another_model_lists_mismatches(tmp_path, rng):
    g = branching_graph()
    g.set_param("c1", "kernel_size", 5)
    path = tmp_path / "other.npz"
    save_weights(path, Network(g, rng).state_dict())
    net = Network(branching_graph(), rng)
    with pytest.raises(NetworkError, match="c1/weight has shape"):
        net.load_state_dict(load_weights(path))
    report = net.load_where_fits(load_weights(path))
    assert [lid for lid, _ in report.skipped] == ["c1"]
    assert "out" in report.loaded and "bn1" in report.loaded
