"""Model files: what a user saves comes back exactly, and every broken file gets one clear line.

A model file may come from anyone (a classmate, a forum, a corrupted disk), so each way a
document can be wrong must end as a ModelFileError naming the file and, where it applies, the
layer and the field, never as a traceback.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cnnstudio.core import modelfile
from cnnstudio.core.graph import Graph
from cnnstudio.core.modelfile import ModelFileError
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.core.validator import validate

TEMPLATE_KEYS = [t.key for t in list_templates()]


def doc(layers: list, **extra) -> dict:
    return {"format": "cnnstudio.model", "version": 1, "name": "m", "layers": layers, **extra}


IN = {"id": "in", "type": "Input", "params": {"channels": 1, "height": 8, "width": 8}}


def branched() -> Graph:
    g = Graph("branches", "two paths, a frozen layer, [h, w] params and a layout")
    g.add_layer("Input", {"channels": 3, "height": 16, "width": 12}, layer_id="in",
                position=(0, 0))
    g.add_layer("Conv2D", {"filters": 4, "kernel_size": [3, 5], "stride": [1, 2],
                           "padding": [1, 2], "use_bias": False}, layer_id="a", inputs=["in"],
                position=(10.25, 90.125), trainable=False)
    g.add_layer("BatchNorm", {"momentum": 0.99, "epsilon": 1e-3}, layer_id="bn", inputs=["a"])
    g.add_layer("MaxPool2D", {"pool_size": [2, 1]}, layer_id="p", inputs=["in"])
    g.add_layer("Conv2D", {"filters": 4, "kernel_size": 1, "stride": [2, 2]}, layer_id="b",
                inputs=["p"], position=(-3.5, 1e6 / 3))
    g.add_layer("AvgPool2D", {"pool_size": 3, "stride": 1, "padding": "same"}, layer_id="q",
                inputs=["bn"])
    g.add_layer("Concatenate", layer_id="cat", inputs=["q", "b"])
    g.add_layer("Dense", {"units": 7}, layer_id="loose", inputs=[])  # deliberately unconnected
    g.add_layer("SpatialDropout2D", {"rate": 0.0}, layer_id="sd", inputs=["cat"])
    g.add_layer("GlobalAvgPool2D", layer_id="gap", inputs=["sd"])
    g.add_layer("LeakyReLU", {"alpha": 0.2}, layer_id="lr", inputs=["gap"])
    g.add_layer("Dense", {"units": 3}, layer_id="out", inputs=["lr"], trainable=False)
    return g


# --- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_every_template_round_trips(key: str, tmp_path: Path) -> None:
    g = load_template(key)
    assert modelfile.loads(modelfile.dumps(g)) == g
    path = tmp_path / f"{key}.json"
    modelfile.save(g, path)
    assert modelfile.load(path) == g
    assert modelfile.from_document(modelfile.to_document(g)) == g


def test_branched_graph_round_trips_exactly(tmp_path: Path) -> None:
    g = branched()
    path = tmp_path / "b.json"
    modelfile.save(g, path)
    back = modelfile.load(path)
    assert back == g
    assert back.ids == g.ids
    assert back.layer("a").trainable is False and back.layer("out").trainable is False
    assert back.layer("a").params["kernel_size"] == [3, 5]
    assert back.layer("p").params["stride"] is None
    assert back.layer("loose").inputs == []
    assert back.positions == {"in": (0.0, 0.0), "a": (10.25, 90.125), "b": (-3.5, 1e6 / 3)}
    assert back.description == g.description
    # Saving what was read gives the same text: no drift over repeated saves.
    assert modelfile.dumps(back) == path.read_text(encoding="utf-8")


def test_round_trip_keeps_non_ascii_names(tmp_path: Path) -> None:
    g = Graph("Réseau — 网络", "ünïcode")
    g.add_layer("Input", layer_id="entrée")
    g.add_layer("ReLU", layer_id="ζ", inputs=["entrée"])
    modelfile.save(g, tmp_path / "u.json")
    assert modelfile.load(tmp_path / "u.json") == g


def test_chain_is_written_without_inputs() -> None:
    d = modelfile.to_document(load_template("lenet5"))
    assert all("inputs" not in entry for entry in d["layers"])
    assert d["format"] == "cnnstudio.model" and d["version"] == 1


def test_written_document_is_plain_json_in_the_spec_layout() -> None:
    text = modelfile.dumps(branched())
    parsed = json.loads(text)
    assert list(parsed)[:3] == ["format", "version", "name"]
    entry = next(e for e in parsed["layers"] if e["id"] == "a")
    assert entry["trainable"] is False and "inputs" not in entry  # "a" follows "in": implicit
    assert next(e for e in parsed["layers"] if e["id"] == "p")["inputs"] == ["in"]
    assert next(e for e in parsed["layers"] if e["id"] == "loose")["inputs"] == []
    assert parsed["layout"]["a"] == [10.25, 90.125]


# --- reading rules of the spec -------------------------------------------------------------------

def test_implicit_inputs() -> None:
    g = modelfile.from_document(doc([
        {"id": "orphan", "type": "ReLU"},  # first layer: nothing before it
        IN,  # Input never takes the previous layer
        {"id": "r", "type": "ReLU"},  # the layer just before
        {"id": "r2", "type": "ReLU", "inputs": []},  # explicitly not connected
    ]))
    assert g.layer("orphan").inputs == []
    assert g.layer("in").inputs == []
    assert g.layer("r").inputs == ["in"]
    assert g.layer("r2").inputs == []
    result = validate(g)
    assert result.layers["r2"].status == "disconnected"
    assert ("not_connected", "r2") in {(p.code, p.layer) for p in result.warnings}


def test_missing_params_take_defaults_and_unknown_top_level_keys_are_ignored() -> None:
    g = modelfile.from_document(doc([IN, {"id": "c", "type": "Conv2D"}],
                                    generator="other tool", extra={"a": [1, 2]}))
    assert g.layer("c").params == {"filters": 16, "kernel_size": 3, "stride": 1,
                                   "padding": "valid", "use_bias": True, "dilation": 1,
                                   "groups": 1}
    assert g.name == "m" and g.description == ""


def test_additions_at_their_default_are_not_written() -> None:
    """A model that uses none of the additions to version 1 saves as it always did, so a
    reader that predates them still opens it; one that uses them records them."""
    g = modelfile.from_document(doc([IN, {"id": "c", "type": "Conv2D"},
                                     {"id": "p", "type": "MaxPool2D"}]))
    text = modelfile.dumps(g)
    assert "dilation" not in text and "groups" not in text and "ceil_mode" not in text
    g.set_param("c", "groups", 1)
    g.set_param("c", "dilation", 2)
    g.set_param("p", "ceil_mode", True)
    again = modelfile.loads(modelfile.dumps(g))
    assert again.layer("c").params["dilation"] == 2 and again.layer("p").params["ceil_mode"]
    assert '"dilation": 2' in modelfile.dumps(g) and '"groups"' not in modelfile.dumps(g)


def test_an_unknown_layer_type_is_refused_naming_it() -> None:
    with pytest.raises(modelfile.ModelFileError) as exc:
        modelfile.from_document(doc([IN, {"id": "x", "type": "Upsample3D"}]), "m.json")
    assert "Upsample3D" in str(exc.value) and "m.json" in str(exc.value)


def test_layout_for_unknown_layers_is_dropped() -> None:
    g = modelfile.from_document(doc([IN], layout={"in": [1, 2], "gone": [3, 4]}))
    assert g.positions == {"in": (1.0, 2.0)}


def test_name_is_optional() -> None:
    text = json.dumps({"format": "cnnstudio.model", "version": 1, "layers": [IN]})
    assert modelfile.loads(text).name == ""


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc([IN])).encode())
    assert modelfile.load(path).ids == ["in"]


def test_cycles_and_arity_problems_still_open() -> None:
    """The validator explains these on the canvas, so the file must open."""
    g = modelfile.from_document(doc([
        IN,
        {"id": "a", "type": "Add", "inputs": ["in", "b"]},
        {"id": "b", "type": "ReLU", "inputs": ["a"]},
        {"id": "d", "type": "Dense", "inputs": ["a", "b"]},
    ]))
    assert g.layer("a").inputs == ["in", "b"]
    codes = {p.code for p in validate(g).errors}
    assert "cycle" in codes


# --- malformed documents: (document or text, words the message must contain) -------------------

BAD_DOCS = [
    ("not_json", "{\"format\": ", ["not valid JSON"]),
    ("trailing", json.dumps(doc([IN])) + "]", ["not valid JSON"]),
    ("empty", "", ["not valid JSON"]),
    ("list", "[1, 2]", ["expected a JSON object", "a list"]),
    ("string", "\"model\"", ["expected a JSON object", "text"]),
    ("no_format", {"version": 1, "layers": []}, ["\"format\"", "cnnstudio.model"]),
    ("wrong_format", {"format": "keras", "version": 1, "layers": []}, ["\"keras\""]),
    ("newer", doc([IN]) | {"version": 2}, ["version 2", "version 1", "newer"]),
    ("version_zero", doc([IN]) | {"version": 0}, ["version 0"]),
    ("version_text", doc([IN]) | {"version": "1"}, ["\"version\"", "whole number"]),
    ("version_bool", doc([IN]) | {"version": True}, ["\"version\""]),
    ("no_layers", {"format": "cnnstudio.model", "version": 1}, ["\"layers\"", "list"]),
    ("layers_object", doc({"in": IN}), ["\"layers\"", "list"]),
    ("name_number", doc([IN]) | {"name": 5}, ["\"name\"", "text"]),
    ("layer_not_object", doc([IN, 7]), ["layer 2", "object"]),
    ("no_id", doc([{"type": "ReLU"}]), ["layer 1", "\"id\""]),
    ("empty_id", doc([{"id": "", "type": "ReLU"}]), ["layer 1", "\"id\""]),
    ("id_number", doc([{"id": 3, "type": "ReLU"}]), ["layer 1", "\"id\""]),
    ("unknown_type", doc([IN, {"id": "c", "type": "Conv3D"}]),
     ["layer 'c'", "\"type\"", "Conv3D", "Conv2D"]),
    ("no_type", doc([IN, {"id": "c"}]), ["layer 'c'", "\"type\""]),
    ("unknown_param", doc([IN, {"id": "c", "type": "Conv2D", "params": {"filter": 3}}]),
     ["layer 'c'", "\"params\"", "'filter'"]),
    ("params_list", doc([IN, {"id": "c", "type": "Conv2D", "params": [3]}]),
     ["layer 'c'", "\"params\"", "object"]),
    ("wrong_kind_int", doc([IN, {"id": "c", "type": "Conv2D", "params": {"filters": "8"}}]),
     ["layer 'c'", "filters", "whole number"]),
    ("wrong_kind_bool", doc([IN, {"id": "c", "type": "Conv2D", "params": {"use_bias": 1}}]),
     ["layer 'c'", "use_bias", "true or false"]),
    ("bool_for_int", doc([IN, {"id": "c", "type": "Conv2D", "params": {"filters": True}}]),
     ["layer 'c'", "filters"]),
    ("rate_one", doc([IN, {"id": "d", "type": "Dropout", "params": {"rate": 1.0}}]),
     ["layer 'd'", "rate", "[0, 1)"]),
    ("kernel_zero", doc([IN, {"id": "c", "type": "Conv2D", "params": {"kernel_size": 0}}]),
     ["layer 'c'", "kernel_size"]),
    ("padding_word", doc([IN, {"id": "c", "type": "Conv2D", "params": {"padding": "full"}}]),
     ["layer 'c'", "padding", "full"]),
    ("huge_int", doc([IN, {"id": "c", "type": "Conv2D", "params": {"filters": 10**400}}]),
     ["layer 'c'", "filters"]),
    ("huge_float_param", doc([IN, {"id": "b", "type": "BatchNorm",
                                   "params": {"momentum": 10**400}}]),
     ["layer 'b'", "momentum"]),
    ("huge_input", doc([{"id": "in", "type": "Input", "params": {"height": 10**9}}]),
     ["layer 'in'", "height"]),
    ("float_huge", doc([IN, {"id": "c", "type": "Conv2D", "params": {"filters": 1e300}}]),
     ["layer 'c'", "filters"]),
    ("duplicate_id", doc([IN, {"id": "r", "type": "ReLU"}, {"id": "r", "type": "Tanh"}]),
     ["layer 'r'", "\"id\"", "duplicate"]),
    ("dangling", doc([IN, {"id": "r", "type": "ReLU", "inputs": ["ghost"]}]),
     ["layer 'r'", "\"inputs\"", "'ghost'"]),
    ("inputs_string", doc([IN, {"id": "r", "type": "ReLU", "inputs": "in"}]),
     ["layer 'r'", "\"inputs\""]),
    ("inputs_numbers", doc([IN, {"id": "r", "type": "ReLU", "inputs": [0]}]),
     ["layer 'r'", "\"inputs\""]),
    ("inputs_twice", doc([IN, {"id": "a", "type": "Add", "inputs": ["in", "in"]}]),
     ["layer 'a'", "\"inputs\"", "twice"]),
    ("input_with_inputs", doc([IN, {"id": "in2", "type": "Input", "inputs": ["in"]}]),
     ["layer 'in2'", "\"inputs\"", "no inputs"]),
    ("trainable_text", doc([IN, {"id": "r", "type": "ReLU", "trainable": "no"}]),
     ["layer 'r'", "\"trainable\""]),
    ("layout_list", doc([IN], layout=[[0, 0]]), ["\"layout\""]),
    ("layout_nan", "{\"format\": \"cnnstudio.model\", \"version\": 1, \"layers\": ["
     + json.dumps(IN) + "], \"layout\": {\"in\": [NaN, 0]}}", ["NaN"]),
    ("layout_huge", doc([IN], layout={"in": [10**400, 0]}), ["layer 'in'", "\"layout\""]),
    ("layout_short", doc([IN], layout={"in": [1]}), ["layer 'in'", "\"layout\""]),
    ("layout_bool", doc([IN], layout={"in": [True, 0]}), ["layer 'in'", "\"layout\""]),
    ("nan_param", "{\"format\": \"cnnstudio.model\", \"version\": 1, \"layers\": [{\"id\": \"d\", "
     "\"type\": \"Dropout\", \"params\": {\"rate\": NaN}}]}", ["NaN"]),
    ("infinity", "{\"format\": \"cnnstudio.model\", \"version\": 1, \"layers\": [{\"id\": \"d\", "
     "\"type\": \"Dropout\", \"params\": {\"rate\": -Infinity}}]}", ["Infinity"]),
    ("deep_nesting", "[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
    ("deep_in_params", json.dumps(doc([IN])).replace(
        "\"height\": 8", "\"height\": " + "[" * 5000 + "]" * 5000), ["nested too deeply"]),
    ("moderately_deep_param", json.dumps(doc([IN])).replace(
        "\"height\": 8", "\"height\": " + "[" * 500 + "]" * 500), ["layer 'in'", "height"]),
]


@pytest.mark.parametrize(("case", "bad", "words"), BAD_DOCS, ids=[c[0] for c in BAD_DOCS])
def test_malformed_document_is_one_clear_error(case, bad, words, tmp_path: Path) -> None:
    text = bad if isinstance(bad, str) else json.dumps(bad)
    path = tmp_path / f"{case}.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelFileError) as exc:
        modelfile.load(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message and len(message) < 600, message
    assert exc.value.__cause__ is None or isinstance(exc.value.__cause__, ModelFileError)


def test_loads_names_its_source() -> None:
    with pytest.raises(ModelFileError, match=r"^from-clipboard: not valid JSON"):
        modelfile.loads("nope", "from-clipboard")


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    text = json.dumps(doc([IN]) | {"name": "caf\u00e9"}, ensure_ascii=False)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ModelFileError, match="not UTF-8"):
        modelfile.load(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ModelFileError) as exc:
        modelfile.load(path)
    assert str(path) in str(exc.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as exc:
        modelfile.load(tmp_path / "nope.json")
    assert "nope.json" in str(exc.value) and "cannot read" in str(exc.value)
    with pytest.raises(ModelFileError) as exc:
        modelfile.load(tmp_path)
    assert str(tmp_path) in str(exc.value) and "cannot read" in str(exc.value)


def test_oversized_file_is_refused_without_reading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(modelfile, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc([IN] * 1)) + " " * 200, encoding="utf-8")
    with pytest.raises(ModelFileError, match="bytes"):
        modelfile.load(path)


def test_model_file_error_is_not_a_value_error() -> None:
    """Callers catch exactly this one type; it must not be confused with a param ValueError."""
    assert not issubclass(ModelFileError, ValueError)


# --- atomic save ----------------------------------------------------------------------------------

def test_save_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    modelfile.save(load_template("lenet5"), path)
    modelfile.save(load_template("cifar_vgg"), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
    assert modelfile.load(path) == load_template("cifar_vgg")


def test_failed_save_does_not_clobber_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    modelfile.save(load_template("lenet5"), path)
    before = path.read_bytes()
    broken = load_template("lenet5")
    broken.name = "lone surrogate \ud800 cannot be encoded"
    with pytest.raises(UnicodeEncodeError):
        modelfile.save(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_save_into_a_missing_folder_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        modelfile.save(load_template("lenet5"), tmp_path / "no" / "m.json")
    assert list(tmp_path.iterdir()) == []


def test_save_over_a_directory_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "dir.json"
    target.mkdir()
    with pytest.raises(OSError):
        modelfile.save(load_template("lenet5"), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_file_is_not_private_and_keeps_an_existing_mode(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    old = os.umask(0o022)
    try:
        modelfile.save(load_template("lenet5"), path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o640)
    modelfile.save(load_template("lenet5"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_atomic_write_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    modelfile.atomic_write_text(path, "one\n")
    modelfile.atomic_write_text(path, "two\n")
    assert path.read_text(encoding="utf-8") == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
