"""The shipped templates: present, valid, described, and each teaching what the issue promises."""

from __future__ import annotations

import pytest

from cnnstudio.core.templates import DEFAULT_TEMPLATE, list_templates, load_template
from cnnstudio.core.validator import validate

EXPECTED = {"lenet5", "cifar_vgg", "mini_resnet", "dense_baseline", "shapes_cnn", "digits_tiny",
            "mobilenet_se", "dilated_context"}
KEYS = sorted(t.key for t in list_templates())


def types(key: str) -> set[str]:
    return {lay.type for lay in load_template(key)}


def test_every_promised_template_is_listed_with_title_and_description() -> None:
    infos = list_templates()
    assert {t.key for t in infos} >= EXPECTED
    assert [t.key for t in infos] == sorted(t.key for t in infos)
    for t in infos:
        assert t.title and t.title != t.key
        assert len(t.description) > 40
        assert t.path.is_file() and t.path.stem == t.key
    assert DEFAULT_TEMPLATE in KEYS


@pytest.mark.parametrize("key", KEYS)
def test_template_is_valid_without_warnings(key: str) -> None:
    result = validate(load_template(key))
    assert result.problems == [], [p.message for p in result.problems]
    assert result.output_id is not None
    assert len(result.input_ids) == 1


@pytest.mark.parametrize("key", KEYS)
def test_load_template_gives_a_fresh_graph_each_time(key: str) -> None:
    a = load_template(key)
    b = load_template(key)
    assert a == b and a is not b
    a.set_trainable(a.ids[-1], False)
    assert load_template(key) == b


def test_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(KeyError) as exc:
        load_template("alexnet")
    assert "alexnet" in str(exc.value) and "lenet5" in str(exc.value)


def test_lenet5_matches_the_classic() -> None:
    g = load_template("lenet5")
    r = validate(g)
    assert r.layers["in"].output_shape == (1, 32, 32)
    assert r.totals.trainable == 61_706


def test_vgg_template_has_batchnorm_dropout_and_spatial_batchnorm_stats() -> None:
    assert {"BatchNorm", "Dropout", "Conv2D", "MaxPool2D"} <= types("cifar_vgg")
    r = validate(load_template("cifar_vgg"))
    assert r.layers["in"].output_shape == (3, 32, 32)
    assert r.totals.non_trainable > 0


def test_mini_resnet_has_add_skips() -> None:
    g = load_template("mini_resnet")
    adds = [lay for lay in g if lay.type == "Add"]
    assert len(adds) >= 2 and all(len(a.inputs) == 2 for a in adds)
    assert "GlobalAvgPool2D" in types("mini_resnet")


def test_dense_baseline_has_no_convolution_and_more_weights_than_the_cnn() -> None:
    """The point of the pair: same input, and the all-Dense net needs more weights."""
    assert not types("dense_baseline") & {"Conv2D", "MaxPool2D", "AvgPool2D"}
    dense, cnn = validate(load_template("dense_baseline")), validate(load_template("shapes_cnn"))
    assert dense.layers["in"].output_shape == cnn.layers["in"].output_shape
    assert dense.layers[dense.output_id].output_shape == cnn.layers[cnn.output_id].output_shape
    assert dense.totals.trainable > cnn.totals.trainable


def test_digits_template_fits_8x8_digits() -> None:
    r = validate(load_template("digits_tiny"))
    assert r.layers["in"].output_shape == (1, 8, 8)
    assert r.layers[r.output_id].output_shape == (10,)


def test_mobilenet_template_is_depthwise_separable_with_a_squeeze_and_excitation_block() -> None:
    g = load_template("mobilenet_se")
    r = validate(g)
    convs = [lay for lay in g if lay.type == "Conv2D"]
    depthwise = [lay for lay in convs
                 if lay.params["groups"] == r.layers[lay.id].input_shapes[0][0] > 1]
    pointwise = [lay for lay in convs if lay.params["kernel_size"] == 1]
    assert len(depthwise) == 2 and len(pointwise) == 2
    assert {"ReLU6", "BatchNorm", "Multiply", "Sigmoid", "GlobalAvgPool2D"} <= types(
        "mobilenet_se")
    (mul,) = [lay for lay in g if lay.type == "Multiply"]
    shapes = sorted(r.layers[mul.id].input_shapes, key=len)
    assert len(shapes[0]) == 1 and shapes[0][0] == shapes[1][0]  # a [C] weight per channel
    assert r.layers[mul.id].output_shape == shapes[1]


def test_dilated_template_grows_its_receptive_field_without_shrinking_the_maps() -> None:
    g = load_template("dilated_context")
    r = validate(g)
    convs = [lay for lay in g if lay.type == "Conv2D"]
    assert [lay.params["dilation"] for lay in convs] == [1, 2, 4, 8]
    assert [r.layers[lay.id].receptive_field for lay in convs] == [(3, 3), (7, 7), (15, 15),
                                                                   (31, 31)]
    assert all(r.layers[lay.id].output_shape[1:] == (32, 32) for lay in convs)
