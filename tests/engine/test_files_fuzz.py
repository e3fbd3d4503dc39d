"""Property tests: whatever bytes a weights file or a dataset file holds, reading it gives
arrays or raises the reader's one-line error (WeightsError, DatasetError), never anything else,
as tests/core/test_modelfile_fuzz.py does for the model file.

Two kinds of mutation: raw byte edits of the whole file (the zip or gzip container breaks), and
edits of one member's bytes re-packed into a valid zip (the .npy header and data break while
every CRC is right, which is what reaches the header checks).
"""

from __future__ import annotations

import gzip
import io
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio.core.graph import Graph, Layer
from cnnstudio.engine.datasets import DatasetError
from cnnstudio.engine.datasets.mnist import read_idx
from cnnstudio.engine.datasets.npz import load_npz
from cnnstudio.engine.errors import NetworkError, WeightsError
from cnnstudio.engine.network import Network
from cnnstudio.engine.npzfile import read_npy
from cnnstudio.engine.weights import load_weights, normalizer_from_meta, save_weights

#: 2,500 cases over the module, under 20 s on a quiet machine.
FUZZ = settings(max_examples=500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])


def _graph() -> Graph:
    from cnnstudio.core.catalogue import LAYERS

    layers = [Layer("in", "Input", {"channels": 1, "height": 4, "width": 4}, []),
              Layer("flat", "Flatten", {}, ["in"]),
              Layer("d", "Dense", {"units": 3}, ["flat"])]
    for layer in layers:
        layer.params = LAYERS[layer.type].resolve(layer.params)
    return Graph.unchecked("fuzz", "", layers)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _weights_bytes() -> bytes:
    from cnnstudio.engine.datasets import Normalizer

    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "w.npz"
        net = Network(_graph(), np.random.default_rng(0))
        save_weights(path, net.state_dict(), Normalizer.identity(1), ["a", "b", "c"])
        return path.read_bytes()


def _dataset_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x_train=np.arange(4 * 16, dtype=np.uint8).reshape(4, 4, 4),
             y_train=np.array([0, 1, 2, 1]), x_test=np.zeros((2, 4, 4), np.float32),
             y_test=np.array([1, 0]), class_names=np.array(["a", "b", "c"]))
    return buf.getvalue()


WEIGHTS = _weights_bytes()
DATASET = _dataset_bytes()
IDX = struct.pack(">HBBIII", 0, 8, 3, 2, 3, 3) + bytes(range(18))

edits = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("number"), st.integers(0, 10**6),
              st.sampled_from([0, 1, 255, 2**31 - 1, 2**32 - 1, 2**63 - 1])),
), min_size=1, max_size=4)


def _mutate(data: bytes, ops: list) -> bytes:
    out = bytearray(data)
    for op, pos, value in ops:
        if not out:
            break
        pos %= len(out) + (op == "insert")
        if op == "set":
            out[pos] = value
        elif op == "cut":
            del out[pos:]
        elif op == "insert":
            out[pos:pos] = value
        else:
            out[pos:pos + 4] = struct.pack("<I", value & 0xFFFFFFFF)
    return bytes(out)


def _mutate_member(archive: bytes, index: int, ops: list) -> bytes:
    """Re-pack the archive with one member's bytes mutated (valid zip, valid CRCs)."""
    src = zipfile.ZipFile(io.BytesIO(archive))
    infos = src.infolist()
    target = infos[index % len(infos)].filename
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for info in infos:
            data = src.read(info.filename)
            dst.writestr(info.filename, _mutate(data, ops) if info.filename == target else data)
    return buf.getvalue()


def _read_weights(path: Path) -> None:
    try:
        state = load_weights(path)
        normalizer_from_meta(state, str(path))
        net = Network(_graph(), np.random.default_rng(0))
        net.load_state_dict(load_weights(path, net.expected_shapes()), strict=False)
    except (WeightsError, NetworkError) as exc:
        _one_line(exc)


def _read_dataset(path: Path) -> None:
    try:
        data = load_npz(path)
        assert data.x_train.dtype == np.float32
    except DatasetError as exc:
        _one_line(exc)


def _one_line(exc: Exception) -> None:
    text = str(exc)
    assert text and "\n" not in text, text


@FUZZ
@given(ops=edits)
def test_weights_file_bytes(folder, ops):
    path = folder / "w.npz"
    path.write_bytes(_mutate(WEIGHTS, ops))
    _read_weights(path)


@FUZZ
@given(index=st.integers(0, 10), ops=edits)
def test_weights_file_members(folder, index, ops):
    path = folder / "wm.npz"
    path.write_bytes(_mutate_member(WEIGHTS, index, ops))
    _read_weights(path)


@FUZZ
@given(ops=edits)
def test_dataset_file_bytes(folder, ops):
    path = folder / "d.npz"
    path.write_bytes(_mutate(DATASET, ops))
    _read_dataset(path)


@FUZZ
@given(index=st.integers(0, 10), ops=edits)
def test_dataset_file_members(folder, index, ops):
    path = folder / "dm.npz"
    path.write_bytes(_mutate_member(DATASET, index, ops))
    _read_dataset(path)


@FUZZ
@given(ops=edits, compressed=st.booleans())
def test_idx_and_npy_files(folder, ops, compressed):
    data = _mutate(IDX, ops)
    path = folder / ("t.gz" if compressed else "t")
    path.write_bytes(gzip.compress(data) if compressed else data)
    try:
        assert read_idx(path).dtype == np.uint8
    except DatasetError as exc:
        _one_line(exc)
    npy = folder / "x.npy"
    buf = io.BytesIO()
    np.save(buf, np.arange(6, dtype=np.float32).reshape(2, 3))
    npy.write_bytes(_mutate(buf.getvalue(), ops))
    try:
        read_npy(npy, DatasetError)
    except DatasetError as exc:
        _one_line(exc)
