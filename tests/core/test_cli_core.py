"""`cnnstudio summary`, `templates` and `new`, as a user runs them: output and exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.core import modelfile
from cnnstudio.core.templates import list_templates, load_template

from .builders import chain

TEMPLATES = list_templates()
KEYS = [t.key for t in TEMPLATES]


def write(tmp_path: Path, graph, name: str = "m.json") -> Path:
    path = tmp_path / name
    modelfile.save(graph, path)
    return path


@pytest.mark.parametrize("info", TEMPLATES, ids=KEYS)
def test_summary_of_each_template(info, capsys) -> None:
    assert main(["summary", str(info.path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    graph = load_template(info.key)
    for layer in graph:
        assert any(line.startswith(layer.id + " ") for line in lines), layer.id
    assert any(line.startswith("Total params: ") for line in lines)
    assert any(line.startswith("Trainable params: ") for line in lines)
    assert "No problems" in out


def test_summary_json_matches_the_spec(capsys) -> None:
    path = next(t.path for t in TEMPLATES if t.key == "lenet5")
    assert main(["summary", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"valid", "errors", "warnings", "layers", "totals"}
    assert doc["valid"] is True and doc["errors"] == [] and doc["warnings"] == []
    assert set(doc["totals"]) == {"trainable", "non_trainable", "total", "macs"}
    assert doc["totals"]["trainable"] == doc["totals"]["total"] == 61706
    for row in doc["layers"]:
        spatial = row["output_shape"] is not None and len(row["output_shape"]) == 3
        assert set(row) == {"id", "type", "inputs", "output_shape", "params",
                            "receptive_field", "macs"} | ({"rf_jump", "rf_origin"} if spatial
                                                          else set())
        assert set(row["params"]) == {"trainable", "non_trainable"}
    assert [row["id"] for row in doc["layers"]][:2] == ["in", "c1"]


def fractional_model():
    return chain((1, 10, 10), [("c", "Conv2D", {"stride": 2}), ("r", "ReLU", {}),
                               ("f", "Flatten", {}), ("d", "Dense", {})])


def test_strict_fails_on_fractional_tiling(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, fractional_model())
    assert main(["summary", str(path)]) == 0
    assert "warning [fractional_tiling]" in capsys.readouterr().out
    assert main(["summary", str(path), "--strict"]) == 1
    assert "error [fractional_tiling]" in capsys.readouterr().out
    assert main(["summary", str(path), "--strict", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and {e["code"] for e in doc["errors"]} == {"fractional_tiling"}


def test_broken_model_exits_1_and_lists_the_error(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, chain((1, 10, 10), [("c3", "Conv2D", {"kernel_size": 12})]))
    assert main(["summary", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error [kernel_too_large] Conv2D c3: output height (10 + 2*0 - 12)/1 + 1 = -1 < 1" in out
    assert main(["summary", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"][0]["layer"] == "c3"
    c3 = next(row for row in doc["layers"] if row["id"] == "c3")
    assert c3["output_shape"] is None


@pytest.mark.parametrize("content", [b"{not json", b'{"format": "keras"}', b"\xff\xfe\x00",
                                     None])
def test_unreadable_file_exits_2_with_one_line(tmp_path: Path, capsys, content) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_bytes(content)
    assert main(["summary", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and str(path) in err
    assert "Traceback" not in err


def test_summary_without_file_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["summary"])
    assert exc.value.code == 2


def test_templates_lists_every_template(capsys) -> None:
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    for info in TEMPLATES:
        assert any(line.startswith(info.key + " ") and info.title in line
                   for line in out.splitlines()), info.key
    assert "61,706 params" in out


def test_new_writes_a_loadable_file_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.json"
    assert main(["new", "--template", "lenet5", "-o", str(out)]) == 0
    assert modelfile.load(out) == load_template("lenet5")
    out.write_text("my work", encoding="utf-8")
    capsys.readouterr()
    assert main(["new", "--template", "lenet5", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "my work"
    assert main(["new", "--template", "mini_resnet", "-o", str(out), "--force"]) == 0
    assert modelfile.load(out) == load_template("mini_resnet")


def test_new_with_unknown_template(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.json"
    assert main(["new", "--template", "alexnet", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "alexnet" in err and "lenet5" in err and "Traceback" not in err
    assert not out.exists()


def test_new_into_a_missing_folder(tmp_path: Path, capsys) -> None:
    assert main(["new", "-t", "lenet5", "-o", str(tmp_path / "no" / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cannot write" in err


def test_console_script_runs(tmp_path: Path) -> None:
    script = shutil.which("cnnstudio") or str(Path(sys.executable).parent / "cnnstudio")
    assert Path(script).exists(), "the cnnstudio console script is not installed (pip install -e .)"
    out = tmp_path / "lenet.json"
    subprocess.run([script, "new", "-t", "lenet5", "-o", str(out)], check=True,
                   capture_output=True, timeout=60)
    done = subprocess.run([script, "summary", str(out), "--json"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["total"] == 61706
    bad = subprocess.run([script, "summary", str(tmp_path / "missing.json")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
