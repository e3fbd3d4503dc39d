"""Exports take what ``cnnstudio predict`` takes: image files, through the export's own helpers,
give the same classes and logits as ``cnnstudio predict`` on the same files (issue 13, point 5).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _exportgraphs import import_file, random_state

from cnnstudio.cli import main
from cnnstudio.core import modelfile
from cnnstudio.core.templates import load_template
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.weights import save_weights

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

CLASSES = ("circle", "square", "triangle", "cross", "ring", "dot", "bar", "arc", "star", "moon")


def _images(folder: Path) -> list[str]:
    """Pictures a user would have: other sizes than the model's, RGB, grey, with alpha, JPEG."""
    rng = np.random.default_rng(5)
    folder.mkdir()
    specs = [("a.png", "RGB", (40, 37)), ("b.png", "L", (32, 32)), ("c.png", "RGBA", (19, 25)),
             ("d.jpg", "RGB", (64, 48))]
    paths = []
    for name, mode, (w, h) in specs:
        depth = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
        pixels = rng.integers(0, 256, (h, w, depth), dtype=np.uint8)
        Image.fromarray(pixels[..., 0] if depth == 1 else pixels, mode).save(folder / name)
        paths.append(str(folder / name))
    return paths


@pytest.fixture()
def trained(tmp_path: Path):
    """A colour model with weights, a training normalisation and class names, as a user has
    them after `cnnstudio train`."""
    graph = load_template("mini_resnet")
    model = tmp_path / "model.json"
    modelfile.save(graph, model)
    state = random_state(graph, np.random.default_rng(3))
    norm = Normalizer(mean=np.array([0.49, 0.48, 0.45]), std=np.array([0.25, 0.24, 0.26]))
    weights = tmp_path / "w.npz"
    units = graph.layer(graph.topological_order()[-1]).params["units"]
    save_weights(weights, state, norm, CLASSES[:units])
    return model, weights, _images(tmp_path / "pictures"), units


def _cnnstudio_predict(model: Path, weights: Path, images: list[str], tmp_path: Path, capsys
                       ) -> tuple[np.ndarray, list[str]]:
    out = tmp_path / "logits.npy"
    assert main(["predict", str(model), "--weights", str(weights), *images, "--output",
                 str(out)]) == 0
    return np.load(out), capsys.readouterr().out.splitlines()


def _export(model: Path, weights: Path, fmt: str, out: Path, *extra: str) -> Path:
    assert main(["export", str(model), "--to", fmt, "-o", str(out), "--weights", str(weights),
                 *extra]) == 0
    return out


def _names(lines: list[str]) -> list[list[str]]:
    """``path: name 12.3%, name 4.5%`` -> the class names in order, per line."""
    return [[part.rsplit(" ", 1)[0] for part in line.split(": ", 1)[1].split(", ")]
            for line in lines]


def test_predict_prints_class_names_from_the_weights(trained, tmp_path, capsys) -> None:
    model, weights, images, units = trained
    _, lines = _cnnstudio_predict(model, weights, images, tmp_path, capsys)
    assert len(lines) == len(images)
    assert all(name in CLASSES[:units] for names in _names(lines) for name in names)
    assert "class 0" not in "\n".join(lines)


def test_pytorch_export_predicts_image_files_as_cnnstudio_does(trained, tmp_path, capsys
                                                               ) -> None:
    model, weights, images, units = trained
    expected, lines = _cnnstudio_predict(model, weights, images, tmp_path, capsys)
    py = _export(model, weights, "pytorch", tmp_path / "exported.py")
    module = import_file(py)
    assert module.CLASS_NAMES == CLASSES[:units]
    assert np.allclose(module.NORMALIZATION[0], [0.49, 0.48, 0.45])
    assert module.NORMALIZE_IN_MODEL is True
    logits = module.predict(images)  # load_image + the model, normalisation inside
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
    assert (logits.argmax(1) == expected.argmax(1)).all()
    # The same through the model a user builds by hand: build_model() and load_image().
    net = module.build_model()
    with torch.no_grad():
        by_hand = net(torch.from_numpy(np.stack([module.load_image(p) for p in images])))
    np.testing.assert_allclose(by_hand.numpy(), expected, atol=1e-4, rtol=0)
    # `python model.py --predict ...` prints the same classes, by name.
    done = subprocess.run([sys.executable, str(py), "--predict", *images], capture_output=True,
                          text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _names(done.stdout.splitlines()) == _names(lines)


def test_onnx_export_takes_images_and_records_names_and_normalisation(trained, tmp_path, capsys
                                                                      ) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, weights, images, units = trained
    expected, _ = _cnnstudio_predict(model, weights, images, tmp_path, capsys)
    path = _export(model, weights, "onnx", tmp_path / "m.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["class_names"]) == list(CLASSES[:units])
    assert json.loads(props["norm_mean"]) == pytest.approx([0.49, 0.48, 0.45])
    assert json.loads(props["norm_std"]) == pytest.approx([0.25, 0.24, 0.26])
    assert "[0, 1]" in props["input"]
    # The PyTorch file's load_image is the documented way to read a picture for either export.
    py = _export(model, weights, "pytorch", tmp_path / "exported.py")
    load_image = import_file(py).load_image
    x = np.stack([load_image(p) for p in images])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
    assert (logits.argmax(1) == expected.argmax(1)).all()


def test_without_normalization_the_exports_take_standardised_inputs(trained, tmp_path, capsys
                                                                    ) -> None:
    model, weights, images, units = trained
    expected, _ = _cnnstudio_predict(model, weights, images, tmp_path, capsys)
    py = _export(model, weights, "pytorch", tmp_path / "exported.py", "--without-normalization")
    module = import_file(py)
    assert module.NORMALIZE_IN_MODEL is False and module.CLASS_NAMES == CLASSES[:units]
    x = np.stack([module.load_image(p) for p in images])
    mean, std = (np.asarray(a, np.float32).reshape(1, -1, 1, 1) for a in module.NORMALIZATION)
    with torch.no_grad():
        raw = module.build_model()(torch.from_numpy(x)).numpy()
        standardised = module.build_model()(torch.from_numpy((x - mean) / std)).numpy()
    np.testing.assert_allclose(standardised, expected, atol=1e-4, rtol=0)
    assert not np.allclose(raw, expected, atol=1e-2)  # the option really leaves it out
    np.testing.assert_allclose(module.predict(images), expected, atol=1e-4, rtol=0)
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = _export(model, weights, "onnx", tmp_path / "m.onnx", "--without-normalization")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["normalization_inside"] == "false" and "standardised" in props["input"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": (x - mean) / std})[0], expected,
                               atol=1e-4, rtol=0)
