"""Loaders for files in their real formats (IDX, CIFAR-10 binary, npz, the shipped digits),
written small into tmp_path; every bad file must give a one-line error naming that file."""

from __future__ import annotations

import gzip
import re
import struct
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.engine.datasets import DatasetError
from cnnstudio.engine.datasets.cifar10 import RECORD_BYTES, load_cifar10
from cnnstudio.engine.datasets.digits import load_digits
from cnnstudio.engine.datasets.mnist import FASHION_CLASSES, load_mnist, read_idx
from cnnstudio.engine.datasets.npz import load_npz
from cnnstudio.resources import resource_path


def _raises_naming(path: Path, match: str) -> AbstractContextManager:
    """Expect a one-line DatasetError that starts with ``path`` and mentions ``match``."""
    return pytest.raises(
        DatasetError, match=rf"^{re.escape(str(path))}( \(\w+\))?: [^\n]*{match}[^\n]*$"
    )


# --- IDX / MNIST -------------------------------------------------------------------------------


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write(path: Path, data: bytes) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


def _mnist_folder(folder: Path, n_train: int = 6, n_test: int = 3, gz: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) + 7) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        _write(folder / (stem + (".gz" if gz else "")), _idx_bytes(array))
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_folder_loads(tmp_path: Path, gz: bool) -> None:
    arrays = _mnist_folder(tmp_path, gz=gz)
    ds = load_mnist(tmp_path)
    assert ds.x_train.shape == (6, 1, 28, 28) and ds.x_test.shape == (3, 1, 28, 28)
    assert ds.x_train.dtype == np.float32
    np.testing.assert_allclose(ds.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"], atol=1e-3)
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4, 5]
    assert ds.y_test.tolist() == [7, 8, 9]
    assert ds.class_names == tuple("0123456789") and ds.name == "mnist"


def test_fashion_mnist_names_from_folder_name_and_raw_subfolder(tmp_path: Path) -> None:
    _mnist_folder(tmp_path / "FashionMNIST" / "raw")
    ds = load_mnist(tmp_path / "FashionMNIST")
    assert ds.class_names == FASHION_CLASSES and ds.name == "fashion-mnist"
    assert ds.class_names[int(ds.y_train[0])] == "T-shirt/top"


def test_mnist_without_test_files_has_empty_test_split(tmp_path: Path) -> None:
    _mnist_folder(tmp_path)
    for stem in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / stem).unlink()
    ds = load_mnist(tmp_path)
    assert ds.x_test.shape == (0, 1, 28, 28) and ds.y_test.shape == (0,)


def test_keras_mnist_npz(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    x = np.full((5, 28, 28), 255, np.uint8)
    np.savez(
        path,
        x_train=x,
        y_train=np.arange(5, dtype=np.uint8),
        x_test=x[:2],
        y_test=np.array([9, 8], np.uint8),
    )
    ds = load_mnist(path)
    assert ds.x_train.shape == (5, 1, 28, 28) and ds.x_train.max() == 1.0
    assert ds.y_test.tolist() == [9, 8] and ds.class_names == tuple("0123456789")


def test_idx_truncated(tmp_path: Path) -> None:
    data = _idx_bytes(np.zeros((4, 28, 28), np.uint8))
    path = _write(tmp_path / "train-images-idx3-ubyte.gz", data[:-100])
    with _raises_naming(path, "truncated: header says \\[4, 28, 28\\]"):
        read_idx(path)


def test_idx_wrong_magic(tmp_path: Path) -> None:
    path = _write(tmp_path / "x-idx3-ubyte", b"\x89PNG\r\n\x1a\n" + bytes(100))
    with _raises_naming(path, "not an IDX file"):
        read_idx(path)


def test_idx_unsupported_type_and_damaged_gzip(tmp_path: Path) -> None:
    floats = struct.pack(">BBBBI", 0, 0, 0x0D, 1, 2) + bytes(8)
    path = _write(tmp_path / "f-idx1-ubyte", floats)
    with _raises_naming(path, "float32 is not supported"):
        read_idx(path)
    broken = tmp_path / "train-images-idx3-ubyte.gz"
    broken.write_bytes(gzip.compress(_idx_bytes(np.zeros((2, 3, 3))))[:-12])
    with _raises_naming(broken, "damaged gzip"):
        read_idx(broken)


def test_mnist_label_count_mismatch(tmp_path: Path) -> None:
    _mnist_folder(tmp_path)
    labels = _write(tmp_path / "train-labels-idx1-ubyte.gz", _idx_bytes(np.zeros(5, np.uint8)))
    with _raises_naming(labels, "5 labels but train-images-idx3-ubyte.gz has 6 images"):
        load_mnist(tmp_path)


def test_mnist_label_out_of_range(tmp_path: Path) -> None:
    _mnist_folder(tmp_path)
    bad = np.array([0, 1, 12, 3, 4, 5], np.uint8)
    labels = _write(tmp_path / "train-labels-idx1-ubyte.gz", _idx_bytes(bad))
    with _raises_naming(labels, "label 12 is out of range for 10 classes"):
        load_mnist(tmp_path)


def test_mnist_missing_files(tmp_path: Path) -> None:
    with _raises_naming(tmp_path, "no MNIST files found"):
        load_mnist(tmp_path)
    _mnist_folder(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with _raises_naming(tmp_path, "train-labels-idx1-ubyte\\[.gz\\] is missing"):
        load_mnist(tmp_path)
    with _raises_naming(tmp_path / "nope", "no such file or folder"):
        load_mnist(tmp_path / "nope")


# --- CIFAR-10 binary ---------------------------------------------------------------------------


def _cifar_records(labels: list[int], seed: int = 0) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate(
        [np.array(labels, np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1
    )
    return records.tobytes(), pixels


def _cifar_folder(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = {}
    for i, labels in ((1, [0, 1, 2]), (2, [3, 4]), (10, [9])):  # 10 must sort after 2
        data, pixels[f"b{i}"] = _cifar_records(labels, seed=i)
        (folder / f"data_batch_{i}.bin").write_bytes(data)
    data, pixels["test"] = _cifar_records([5, 9], seed=99)
    (folder / "test_batch.bin").write_bytes(data)
    return pixels


def test_cifar10_binary_loads(tmp_path: Path) -> None:
    pixels = _cifar_folder(tmp_path)
    ds = load_cifar10(tmp_path)
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32)
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4, 9] and ds.y_test.tolist() == [5, 9]
    np.testing.assert_allclose(ds.x_train[3] * 255, pixels["b2"][0], atol=1e-3)  # red plane first
    np.testing.assert_allclose(ds.x_test[1] * 255, pixels["test"][1], atol=1e-3)
    assert ds.class_names[0] == "airplane" and ds.num_classes == 10


def test_cifar10_parent_folder_and_meta_names(tmp_path: Path) -> None:
    inner = tmp_path / "cifar-10-batches-bin"
    _cifar_folder(inner)
    names = [f"c{i}" for i in range(10)]
    (inner / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    ds = load_cifar10(tmp_path)
    assert ds.class_names == tuple(names) and ds.source == str(inner)


def test_cifar10_truncated_batch(tmp_path: Path) -> None:
    _cifar_folder(tmp_path)
    batch = tmp_path / "data_batch_2.bin"
    batch.write_bytes(batch.read_bytes()[:-10])
    with _raises_naming(batch, f"truncated .*6136 bytes is not a whole number of {RECORD_BYTES}"):
        load_cifar10(tmp_path)


def test_cifar10_label_out_of_range(tmp_path: Path) -> None:
    _cifar_folder(tmp_path)
    data, _ = _cifar_records([0, 10])
    batch = tmp_path / "data_batch_1.bin"
    batch.write_bytes(data)
    with _raises_naming(batch, "label 10 is out of range"):
        load_cifar10(tmp_path)


def test_cifar10_python_version_is_refused_clearly(tmp_path: Path) -> None:
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    (py / "data_batch_1").write_bytes(b"\x80\x04pickle")
    with _raises_naming(py, "Python \\(pickled\\) version .* binary version"):
        load_cifar10(tmp_path)
    with _raises_naming(tmp_path / "none", "no such folder"):
        load_cifar10(tmp_path / "none")


# --- npz ---------------------------------------------------------------------------------------


def test_npz_channels_last_uint8_and_class_names(tmp_path: Path) -> None:
    path = tmp_path / "mine.npz"
    x = np.zeros((4, 6, 5, 3), np.uint8)
    x[..., 1] = 255
    np.savez(
        path,
        x_train=x,
        y_train=np.array([0, 1, 2, 1]),
        x_test=x[:1],
        y_test=[2],
        class_names=np.array(["cat", "dog", "emu"]),
    )
    ds = load_npz(path)
    assert ds.x_train.shape == (4, 3, 6, 5) and ds.image_shape == (3, 6, 5)
    assert ds.x_train[:, 1].min() == 1.0 and ds.x_train[:, 0].max() == 0.0
    assert ds.class_names == ("cat", "dog", "emu") and ds.name == "mine"
    assert ds.y_test.tolist() == [2]


def test_npz_grey_floats_without_test_or_names(tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    np.savez(path, x_train=np.full((3, 4, 4), 0.5, np.float32), y_train=np.array([0, 3, 1]))
    ds = load_npz(path)
    assert ds.x_train.shape == (3, 1, 4, 4) and ds.x_train.max() == 0.5
    assert ds.x_test.shape == (0, 1, 4, 4)
    assert ds.class_names == ("0", "1", "2", "3")


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"x_train": np.zeros((2, 4, 4))}, "missing key 'y_train'"),
        ({"x_train": np.zeros((2, 4, 4)), "y_train": [0, 1, 1]}, "2 images but y_train has 3"),
        ({"x_train": np.zeros((2, 4, 4)), "y_train": [0, -1]}, "must not be negative"),
        (
            {"x_train": np.zeros((2, 4, 4)), "y_train": [0, 1], "x_test": np.zeros((1, 4, 4))},
            "has 'x_test' but no 'y_test'",
        ),
        (
            {
                "x_train": np.zeros((2, 4, 4)),
                "y_train": [0, 2],
                "class_names": np.array(["a", "b"]),
            },
            "labels must be in 0..1",
        ),
        ({"x_train": np.zeros(5), "y_train": [0]}, "images must be"),
        (
            {
                "x_train": np.zeros((2, 4, 4)),
                "y_train": [0, 1],
                "x_test": np.zeros((1, 5, 5)),
                "y_test": [0],
            },
            "test images are",
        ),
    ],
)
def test_npz_bad_contents(tmp_path: Path, arrays: dict, problem: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with _raises_naming(path, problem):
        load_npz(path)


def test_npz_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, x_train=np.array([np.zeros(3), None], dtype=object), y_train=[0, 1])
    with _raises_naming(path, "Python objects \\(pickled data\\), which cnnstudio never loads"):
        load_npz(path)


def test_npz_not_an_archive_or_damaged(tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with _raises_naming(text, "not a zip archive"):
        load_npz(text)
    good = tmp_path / "good.npz"
    np.savez(good, x_train=np.zeros((50, 8, 8)), y_train=np.zeros(50, int))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:-200])
    with _raises_naming(cut, "damaged .npz archive"):
        load_npz(cut)
    with _raises_naming(tmp_path / "missing.npz", "no such file"):
        load_npz(tmp_path / "missing.npz")


# --- digits ------------------------------------------------------------------------------------


def test_digits_shipped_file() -> None:
    ds = load_digits()
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    assert ds.image_shape == (1, 8, 8)
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    levels = np.unique(np.concatenate([ds.x_train.ravel(), ds.x_test.ravel()]) * 16)
    np.testing.assert_allclose(levels, np.arange(17), atol=1e-5)  # 16 grey levels + zero
    assert len(ds.x_test) == 359
    assert set(np.unique(ds.y_test)) == set(range(10))


def test_digits_split_is_fixed() -> None:
    a, b = load_digits(), load_digits()
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)


def test_digits_look_like_digits() -> None:
    """Class means differ where digits differ: a 0 has a hole in the middle, a 1 does not."""
    ds = load_digits()
    zero = ds.x_train[ds.y_train == 0, 0].mean(axis=0)
    one = ds.x_train[ds.y_train == 1, 0].mean(axis=0)
    assert zero[3:5, 3:5].mean() < 0.3 and one[3:5, 3:5].mean() > 0.5


def test_digits_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "digits.npz"
    np.savez(path, x=np.full((3, 8, 8), 17, np.uint8), y=np.zeros(3, np.uint8))
    with _raises_naming(path, "pixel values must be 0..16"):
        load_digits(path)


def test_resource_path_finds_and_fails_loudly() -> None:
    assert resource_path("datasets", "digits.npz").is_file()
    with pytest.raises(FileNotFoundError, match="'datasets/nope.npz' is missing"):
        resource_path("datasets", "nope.npz")
