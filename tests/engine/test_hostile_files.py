"""Issue 9: hostile files cost nothing. Each numbered case of the issue, with a small generated
file, ends in one line of error (or the right output), and the memory cases stay under a
stated peak, measured with ``resource.getrusage`` in a fresh ``cnnstudio`` process.

Memory limits are pinned with CNNSTUDIO_MEMORY_LIMIT where a case depends on how much memory
the machine has free, so the tests say the same thing on every machine.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hostile import (  # noqa: E402
    dense_model,
    gzip_idx_bomb,
    npy_header,
    run_measured,
    write_model,
    zero_bomb_npz,
)

from cnnstudio.core.templates import templates_dir  # noqa: E402

DIGITS = str(templates_dir() / "digits_tiny.json")
#: A refusal's peak: the interpreter, NumPy and cnnstudio, and nothing the file asked for.
REFUSAL_PEAK_MB = 300
GiB = 1 << 30


def _one_line(proc, code: int | None = None) -> str:
    err = proc.stderr.strip()
    assert err.startswith("error: "), err
    assert "\n" not in err and "Traceback" not in err, err
    if code is not None:
        assert proc.returncode == code, (proc.returncode, err)
    else:
        assert proc.returncode != 0
    return err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def model8(files) -> Path:
    return dense_model(files / "m8.json", 10, size=8)


def _weights(path: Path, **extra: np.ndarray) -> Path:
    """Zero weights that fit ``model8``, plus ``extra`` arrays (``_meta/...``)."""
    np.savez(path, **{"d/weight": np.zeros((10, 64), np.float32),
                      "d/bias": np.zeros(10, np.float32)}, **extra)
    return path


# --- case 1: a 4 GiB zero array in a 4 MB archive ----------------------------------------------

@pytest.fixture(scope="module")
def weights_bomb(files) -> Path:
    return zero_bomb_npz(files / "wbomb.npz", {"d/weight": ((GiB,), "<f4")},
                         {"d/bias": np.zeros(10, np.float32)})


@pytest.fixture(scope="module")
def dataset_bomb(files) -> Path:
    return zero_bomb_npz(files / "dbomb.npz", {"x_train": ((65536, 1, 256, 256), "|u1")},
                         {"y_train": np.zeros(65536, np.int64)})


@pytest.mark.slow
def test_case1_weights_bomb_is_refused_from_its_header(files, model8, weights_bomb):
    assert weights_bomb.stat().st_size < 8 << 20
    img = files / "img.npy"
    np.save(img, np.zeros((1, 1, 8, 8), np.float32))
    proc, peak = run_measured(["predict", str(model8), "--weights", str(weights_bomb),
                               str(img)])
    err = _one_line(proc, 2)
    assert "array 'd/weight'" in err and "decompression bomb" in err
    assert peak < REFUSAL_PEAK_MB, peak


@pytest.mark.slow
def test_case1_dataset_bomb_is_refused_from_its_header(model8, dataset_bomb):
    proc, peak = run_measured(["train", str(model8), "--dataset", f"npz:{dataset_bomb}",
                               "--epochs", "1", "--no-progress"])
    err = _one_line(proc, 2)
    assert "x_train" in err and "decompression bomb" in err
    assert peak < REFUSAL_PEAK_MB, peak


def test_case1_member_bigger_than_the_budget_is_refused_before_reading(tmp_path, monkeypatch):
    from cnnstudio.engine.datasets import DatasetError
    from cnnstudio.engine.datasets.npz import load_npz

    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.random.default_rng(0).random((64, 32, 32)),
             y_train=np.zeros(64, np.int64))
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "256KB")
    with pytest.raises(DatasetError, match=r"needs 768\.5 KB of memory; the limit is 256\.0 KB"):
        load_npz(path)
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "64MB")
    assert load_npz(path).x_train.shape == (64, 1, 32, 32)


# --- case 2: one label of 2**62 -----------------------------------------------------------------

def test_case2_huge_label_is_refused(tmp_path, model8):
    path = tmp_path / "labels.npz"
    np.savez(path, x_train=np.zeros((2, 8, 8), np.uint8), y_train=np.array([0, 2**62]))
    proc, peak = run_measured(["train", str(model8), "--dataset", f"npz:{path}", "--epochs", "1",
                               "--no-progress"])
    err = _one_line(proc, 2)
    assert "label 4611686018427387904 is too large" in err and "100,000 classes" in err
    assert peak < REFUSAL_PEAK_MB, peak


# --- case 3: /dev/zero behind a symlink, FIFOs ------------------------------------------------

needs_posix = pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(),
                                 reason="needs FIFOs and /dev/zero")


@needs_posix
@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_case3_model_file_that_never_ends(tmp_path, kind):
    path = tmp_path / "model.json"
    if kind == "zero":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    for argv in (["summary", str(path)], ["train", str(path), "--dataset", "digits"],
                 ["gui", str(path), "--screenshot", str(tmp_path / "x.png")],
                 ["export", str(path), "--to", "svg", "-o", str(tmp_path / "x.svg")]):
        proc, _ = run_measured(argv, timeout=60)
        err = _one_line(proc, 2)
        assert str(path) in err and ("a device" if kind == "zero" else "a pipe (FIFO)") in err


@needs_posix
@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_case3_cifar_batch_that_never_ends(tmp_path, model8, kind):
    folder = tmp_path / "cifar"
    folder.mkdir()
    batch = folder / "data_batch_1.bin"
    if kind == "zero":
        batch.symlink_to("/dev/zero")
    else:
        os.mkfifo(batch)
    proc, _ = run_measured(["train", str(model8), "--dataset", f"cifar10:{folder}"], timeout=60)
    assert "not a regular file" in _one_line(proc, 2)


@needs_posix
def test_case3_weights_and_inputs_that_never_end(tmp_path, model8):
    fifo = tmp_path / "w.npz"
    os.mkfifo(fifo)
    img = tmp_path / "x.npy"
    img.symlink_to("/dev/zero")
    proc, _ = run_measured(["predict", str(model8), "--weights", str(fifo), str(img)],
                           timeout=60)
    assert "a pipe (FIFO)" in _one_line(proc, 2)
    weights = tmp_path / "real.npz"
    _weights(weights)
    proc, _ = run_measured(["predict", str(model8), "--weights", str(weights), str(img)],
                           timeout=60)
    assert "a device" in _one_line(proc, 2)


# --- case 4: gzip IDX declaring a 40000x40000 image -----------------------------------------

def test_case4_gzip_idx_bomb_is_refused_from_its_header(tmp_path, model8):
    folder = tmp_path / "mnist"
    folder.mkdir()
    gzip_idx_bomb(folder / "train-images-idx3-ubyte.gz", (1, 40000, 40000))
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">HBBI", 0, 8, 1, 1) + b"\0")
    assert (folder / "train-images-idx3-ubyte.gz").stat().st_size < 2 << 20
    proc, peak = run_measured(["train", str(model8), "--dataset", f"mnist:{folder}"])
    err = _one_line(proc, 2)
    assert "[1, 40000, 40000]" in err and "decompression bomb" in err
    assert peak < REFUSAL_PEAK_MB, peak


def test_case4_idx_header_beyond_the_budget(tmp_path, monkeypatch):
    from cnnstudio.engine.datasets import DatasetError
    from cnnstudio.engine.datasets.mnist import read_idx

    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">HBBIII", 0, 8, 3, 100, 28, 28) + bytes(100 * 28 * 28))
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "100KB")
    with pytest.raises(DatasetError, match=r"header says \[100, 28, 28\], which needs"):
        read_idx(path)
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "1MB")
    assert read_idx(path).shape == (100, 28, 28)


# --- case 5: a 1 KB model asking for gigabytes ------------------------------------------------

@pytest.fixture(scope="module")
def dense_2_20(files) -> Path:
    return dense_model(files / "big.json", 1 << 20, size=16)  # 256 x 2^20: 269M parameters


@pytest.mark.parametrize("argv", [
    ["train", "{model}", "--dataset", "digits", "--epochs", "1", "--no-progress"],
    ["export", "{model}", "--to", "onnx", "-o", "{dir}/big.onnx"],
    ["predict", "{model}", "--weights", "{dir}/none.npz", "{dir}/none.npy"],
], ids=["train", "onnx", "predict"])
def test_case5_weights_are_checked_before_they_are_allocated(files, dense_2_20, argv):
    argv = [a.format(model=dense_2_20, dir=files) for a in argv]
    proc, peak = run_measured(argv, env={"CNNSTUDIO_MEMORY_LIMIT": "512MB"})
    err = _one_line(proc)
    if argv[0] == "train":
        assert ("training this model needs 4.3 GB for its weights, their gradients, the "
                "optimizer's state and a batch of 32; the limit is 512.0 MB") in err
    else:
        assert "this model needs 1.0 GB for its weights; the limit is 512.0 MB" in err
    assert peak < REFUSAL_PEAK_MB, peak
    assert not (files / "big.onnx").exists()


def test_case5_training_is_checked_before_the_weights_are_built(dense_2_20):
    """Weights that fit (1 GB of 2 GB) but a training run that does not (4.3 GB with gradients,
    Adam's slots and the batch): refused before one weight is allocated."""
    proc, peak = run_measured(["train", str(dense_2_20), "--dataset", "digits"],
                              env={"CNNSTUDIO_MEMORY_LIMIT": "2GB"})
    err = _one_line(proc, 1)
    assert "training this model needs 4.3 GB" in err
    assert "too large for this machine even with one image per batch" in err
    assert peak < REFUSAL_PEAK_MB, peak


def test_case5_resizing_the_dataset_is_checked_before_it_is_done(tmp_path):
    model = write_model(tmp_path / "in2048.json", [
        {"id": "in", "type": "Input", "params": {"channels": 1, "height": 2048, "width": 2048}},
        {"id": "g", "type": "GlobalAvgPool2D"},
        {"id": "d", "type": "Dense", "params": {"units": 10}}])
    proc, peak = run_measured(["train", str(model), "--dataset", "digits", "--epochs", "1",
                               "--no-progress"], env={"CNNSTUDIO_MEMORY_LIMIT": "2GB"})
    err = _one_line(proc, 2)
    assert "resizing to 1x2048x2048 needs 28.1 GB for 1,797 images" in err
    assert "the limit is 2.0 GB" in err
    assert peak < REFUSAL_PEAK_MB, peak


def test_case5_training_fits_when_the_budget_allows(tmp_path, capsys):
    """The same checks let an ordinary run through (no false alarm)."""
    from cnnstudio.cli import main

    assert main(["train", DIGITS, "--dataset", "digits", "--epochs", "1", "--no-progress"]) == 0


def test_weight_init_in_slices_draws_the_same_numbers_as_one_draw():
    from cnnstudio.engine.layers import _INIT_SLICE, _weight_init

    for he in (True, False):
        out = np.zeros((3, _INIT_SLICE // 2 + 7), np.float32)
        _weight_init(np.random.default_rng(5), out, 100, 30, he)
        rng = np.random.default_rng(5)
        whole = (rng.standard_normal(out.shape) * np.sqrt(2.0 / 100) if he
                 else rng.uniform(-np.sqrt(6 / 130), np.sqrt(6 / 130), out.shape))
        np.testing.assert_array_equal(out, whole.astype(np.float32))


# --- case 8: outputs never clobber inputs ------------------------------------------------------

@pytest.mark.parametrize("option", ["--weights-out", "--log-json"])
def test_case8_output_naming_the_model_is_refused(tmp_path, option):
    model = tmp_path / "model.json"
    model.write_bytes(Path(DIGITS).read_bytes())
    before = model.read_bytes()
    alias = tmp_path / "sub" / ".." / "model.json"
    (tmp_path / "sub").mkdir()
    proc, _ = run_measured(["train", str(model), "--dataset", "digits", "--epochs", "1",
                            "--no-progress", option, str(alias)])
    err = _one_line(proc, 2)
    assert option in err and "input file" in err
    assert model.read_bytes() == before


def test_case8_other_commands_refuse_to_overwrite_their_inputs(tmp_path, model8):
    weights = tmp_path / "w.npz"
    _weights(weights)
    img = tmp_path / "x.npy"
    np.save(img, np.zeros((1, 1, 8, 8), np.float32))
    link = tmp_path / "link.json"
    link.symlink_to(model8)
    for argv in (["predict", str(model8), "--weights", str(weights), str(img), "--output",
                  str(img)],
                 ["export", str(model8), "--to", "json", "-o", str(link)],
                 ["export", str(model8), "--to", "onnx", "--weights", str(weights), "-o",
                  str(weights)],
                 ["gui", str(model8), "--screenshot", str(model8)]):
        proc, _ = run_measured(argv)
        assert "input file" in _one_line(proc, 2)
    assert np.load(img).shape == (1, 1, 8, 8)


# --- case 9: tracebacks become one line ---------------------------------------------------------

def test_case9_npz_member_that_is_not_an_npy(tmp_path, model8):
    import zipfile

    weights = tmp_path / "w.npz"
    with zipfile.ZipFile(weights, "w") as zf:
        zf.writestr("d/weight", b"not an array")
    proc, _ = run_measured(["predict", str(model8), "--weights", str(weights), DIGITS])
    assert "member 'd/weight' is not a NumPy array (.npy)" in _one_line(proc, 2)


def test_case9_npy_header_declaring_10_12_elements(tmp_path, model8):
    import zipfile

    data = npy_header((10**12,), "<f4") + bytes(64)
    weights = tmp_path / "w.npz"
    with zipfile.ZipFile(weights, "w") as zf:
        zf.writestr("d/weight.npy", data)
    img = tmp_path / "x.npy"
    img.write_bytes(data)
    proc, peak = run_measured(["predict", str(model8), "--weights", str(weights), str(img)])
    assert "declares shape [1000000000000]" in _one_line(proc, 2)
    weights.unlink()
    _weights(weights)
    proc, peak = run_measured(["predict", str(model8), "--weights", str(weights), str(img)])
    assert "declares shape [1000000000000]" in _one_line(proc, 2)
    assert peak < REFUSAL_PEAK_MB


def test_case9_norm_std_of_zero_in_weights_in(tmp_path, model8):
    weights = tmp_path / "w.npz"
    _weights(weights, **{"_meta/norm_mean": np.zeros(1, np.float32),
                         "_meta/norm_std": np.zeros(1, np.float32)})
    proc, _ = run_measured(["train", str(model8), "--dataset", "digits", "--weights-in",
                            str(weights), "--epochs", "1", "--no-progress"])
    assert "stored input normalisation is unusable" in _one_line(proc, 2)


def test_case9_npz_dataset_with_no_images(tmp_path, model8):
    path = tmp_path / "empty.npz"
    np.savez(path, x_train=np.zeros((0, 8, 8), np.uint8), y_train=np.zeros(0, np.int64))
    proc, _ = run_measured(["train", str(model8), "--dataset", f"npz:{path}"])
    assert "holds no images" in _one_line(proc, 2)


def test_case9_predict_on_an_empty_batch(tmp_path, model8):
    weights = tmp_path / "w.npz"
    _weights(weights)
    img = tmp_path / "x.npy"
    np.save(img, np.zeros((0, 1, 8, 8), np.float32))
    proc, _ = run_measured(["predict", str(model8), "--weights", str(weights), str(img)])
    assert "holds no images" in _one_line(proc, 2)


@pytest.mark.parametrize("argv", [
    ["train", DIGITS, "--dataset", "digits", "--seed", "-1"],
    ["export", DIGITS, "--to", "onnx", "--seed", "-1", "-o", "x.onnx"],
], ids=["train", "export"])
def test_case9_negative_seed(tmp_path, argv):
    proc, _ = run_measured(argv, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "-1 is negative; a seed is 0 or more" in proc.stderr


def test_case9_shapes_with_10_12_training_images(model8):
    proc, peak = run_measured(["train", str(model8), "--dataset", "shapes:train=1000000000000"])
    err = _one_line(proc, 2)
    assert "generating 1x16x16 needs" in err and "for 1,000,000,000,600 images" in err
    assert peak < REFUSAL_PEAK_MB


def test_case9_lone_surrogate_in_an_id_or_name(tmp_path):
    for layers, name in (([{"id": "in\ud800", "type": "Input"}], "ok"),
                         ([{"id": "in", "type": "Input"}], "bad\ud800")):
        path = tmp_path / "s.json"
        doc = {"format": "cnnstudio.model", "version": 1, "name": name, "layers": layers}
        path.write_text(json.dumps(doc), encoding="utf-8")  # ASCII escapes: "\ud800"
        proc, _ = run_measured(["summary", str(path)])
        assert "not valid Unicode" in _one_line(proc, 2)


# --- case 10: the smaller ones ----------------------------------------------------------------

def test_case10_non_finite_hyperparameters_are_refused(tmp_path):
    out = tmp_path / "m.py"
    proc, _ = run_measured(["export", DIGITS, "--to", "pytorch", "--lr", "inf", "-o", str(out)])
    assert "lr must be a finite number, got inf" in proc.stderr and proc.returncode != 0
    assert not out.exists()
    proc, _ = run_measured(["train", DIGITS, "--dataset", "digits", "--lr", "nan"])
    assert "lr must be a finite number, got nan" in _one_line(proc)


def test_case10_scale_zero_is_refused(tmp_path):
    out = tmp_path / "d.png"
    proc, _ = run_measured(["export", DIGITS, "--to", "png", "--scale", "0", "-o", str(out)])
    assert proc.returncode == 2 and "0 is not a positive number" in proc.stderr
    assert not out.exists()


def test_case10_nan_weights_and_complex_input(tmp_path, model8):
    weights = tmp_path / "w.npz"
    np.savez(weights, **{"d/weight": np.full((10, 64), np.nan, np.float32),
                         "d/bias": np.zeros(10, np.float32)})
    img = tmp_path / "x.npy"
    np.save(img, np.zeros((1, 1, 8, 8), np.float32))
    proc, _ = run_measured(["predict", str(model8), "--weights", str(weights), str(img)])
    assert "holds NaN or infinite values" in _one_line(proc, 2)
    assert "nan%" not in proc.stdout
    _weights(weights)
    np.save(img, np.full((1, 1, 8, 8), 1 + 2j))
    proc, _ = run_measured(["predict", str(model8), "--weights", str(weights), str(img)])
    assert "holds complex numbers" in _one_line(proc, 2)


def test_case10_class_names_are_printed_escaped(tmp_path, model8):
    weights = tmp_path / "w.npz"
    names = np.array(["\x1b[31mred", "two\nlines"] + [str(i) for i in range(2, 10)])
    bias = np.zeros(10, np.float32)
    bias[0] = 5.0
    np.savez(weights, **{"d/weight": np.zeros((10, 64), np.float32), "d/bias": bias,
                         "_meta/class_names": names})
    img = tmp_path / "x.npy"
    np.save(img, np.zeros((1, 1, 8, 8), np.float32))
    proc, _ = run_measured(["predict", str(model8), "--weights", str(weights), str(img),
                            "--top", "2"])
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and proc.stdout.count("\n") == 1
    assert "\\x1b[31mred" in proc.stdout and "two\\nlines" in proc.stdout


def test_case10_non_zip_npz_is_not_called_pickled(tmp_path, model8):
    path = tmp_path / "w.npz"
    path.write_bytes(b"\x80\x04this is not a zip")
    proc, _ = run_measured(["predict", str(model8), "--weights", str(path), DIGITS])
    err = _one_line(proc, 2)
    assert "not a zip archive" in err and "pickle" not in err
    proc, _ = run_measured(["train", str(model8), "--dataset", f"npz:{path}"])
    err = _one_line(proc, 2)
    assert "not a zip archive" in err and "pickle" not in err


def test_predict_output_is_written_atomically(tmp_path, model8):
    weights = tmp_path / "w.npz"
    _weights(weights)
    img = tmp_path / "x.npy"
    np.save(img, np.zeros((2, 1, 8, 8), np.float32))
    out = tmp_path / "logits.npy"
    (tmp_path / ".logits.npy.999999999.dead.tmp").write_bytes(b"left by a killed save")
    proc, _ = run_measured(["predict", str(model8), "--weights", str(weights), str(img),
                            "--output", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert np.load(out).shape == (2, 10)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --- the last resort ----------------------------------------------------------------------------

def test_cli_last_resort_prints_one_line_and_a_hint(monkeypatch, capsys):
    from cnnstudio import DEBUG_ENV
    from cnnstudio.cli import main
    from cnnstudio.commands import summary

    def boom(_args):
        raise RuntimeError("an unforeseen failure\nwith a second line")

    monkeypatch.setattr(summary, "run", boom)
    monkeypatch.delenv(DEBUG_ENV)
    assert main(["summary", DIGITS]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unexpected failure (RuntimeError: an unforeseen failure)")
    assert "\n" not in err and "CNNSTUDIO_DEBUG=1" in err
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        main(["summary", DIGITS])


@pytest.mark.parametrize("field", ["lr", "momentum", "weight_decay", "beta1", "beta2", "eps"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_optimizer_refuses_non_finite_values_everywhere(field, value):
    """One check serves the CLI, the PyTorch export and the window's run settings."""
    from cnnstudio.engine.optimizers import OptimizerConfig

    with pytest.raises(ValueError, match="must be a finite number"):
        OptimizerConfig(**{field: value})


def test_onnx_export_of_weights_beyond_protobufs_2_gb_is_refused_before_building(files):
    pytest.importorskip("onnx")
    model = dense_model(files / "onnx_big.json", 1 << 20, size=23)  # 529 x 2^20: 2.07 GiB
    proc, peak = run_measured(["export", str(model), "--to", "onnx", "-o",
                               str(files / "big.onnx")])
    err = _one_line(proc, 2)
    assert "the model's weights take 2,120 MB; an ONNX file holds at most 1,984 MB" in err
    assert peak < REFUSAL_PEAK_MB and not (files / "big.onnx").exists()


def test_training_refusal_says_which_batch_size_fits():
    proc, _ = run_measured(["train", DIGITS, "--dataset", "digits", "--batch-size", "1000000"],
                           env={"CNNSTUDIO_MEMORY_LIMIT": "64MB"})
    err = _one_line(proc, 1)
    assert "a batch of 1000000; the limit is 64.0 MB" in err
    fits = int(err.rsplit("use a batch size of at most ", 1)[1].split()[0])
    assert 1 <= fits < 1000000
