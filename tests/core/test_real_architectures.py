"""Published architectures built from the catalogue with the Graph API: the counts must match
the figures in the papers and in torchvision, or users cannot trust any number cnnstudio shows."""

from __future__ import annotations

import pytest

from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import load_template
from cnnstudio.core.validator import validate

from .builders import chain

LENET5_PARAMS = 61_706  # LeCun et al. 1998 (with 5x5 convs on 32x32, F6 = 84)
VGG16_PARAMS = 138_357_544  # Simonyan and Zisserman, configuration D; torchvision vgg16
RESNET18_PARAMS = 11_689_512  # torchvision resnet18, BatchNorm gamma/beta included


def lenet5() -> Graph:
    return chain((1, 32, 32), [
        ("c1", "Conv2D", {"filters": 6, "kernel_size": 5}), ("a1", "Tanh", {}),
        ("s2", "AvgPool2D", {"pool_size": 2}),
        ("c3", "Conv2D", {"filters": 16, "kernel_size": 5}), ("a3", "Tanh", {}),
        ("s4", "AvgPool2D", {"pool_size": 2}),
        ("f", "Flatten", {}),
        ("c5", "Dense", {"units": 120}), ("a5", "Tanh", {}),
        ("f6", "Dense", {"units": 84}), ("a6", "Tanh", {}),
        ("out", "Dense", {"units": 10}),
    ], name="LeNet-5")


def test_lenet5_built_and_template() -> None:
    for g in (lenet5(), load_template("lenet5")):
        r = validate(g)
        assert r.valid and r.problems == []
        assert r.totals.trainable == LENET5_PARAMS
        assert r.totals.non_trainable == 0
        f = next(lay.id for lay in g if lay.type == "Flatten")
        assert r.layers[f].output_shape == (16 * 5 * 5,)


def vgg16() -> Graph:
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
           512, 512, 512, "M"]
    layers = []
    block, n = 1, 1
    for item in cfg:
        if item == "M":
            layers.append((f"pool{block}", "MaxPool2D", {"pool_size": 2}))
            block, n = block + 1, 1
        else:
            layers.append((f"conv{block}_{n}", "Conv2D",
                           {"filters": item, "kernel_size": 3, "padding": "same"}))
            layers.append((f"relu{block}_{n}", "ReLU", {}))
            n += 1
    layers += [("flatten", "Flatten", {}),
               ("fc6", "Dense", {"units": 4096}), ("relu6", "ReLU", {}), ("drop6", "Dropout", {}),
               ("fc7", "Dense", {"units": 4096}), ("relu7", "ReLU", {}), ("drop7", "Dropout", {}),
               ("fc8", "Dense", {"units": 1000}), ("softmax", "Softmax", {})]
    return chain((3, 224, 224), layers, name="VGG-16")


def test_vgg16() -> None:
    r = validate(vgg16())
    assert r.valid and r.problems == []
    assert r.totals.trainable == VGG16_PARAMS
    assert r.totals.total == VGG16_PARAMS
    assert r.layers["conv1_1"].output_shape == (64, 224, 224)
    assert r.layers["pool5"].output_shape == (512, 7, 7)
    assert r.layers["flatten"].output_shape == (25088,)
    assert r.layers["fc6"].trainable == 25088 * 4096 + 4096
    # Receptive fields (Araujo et al., Distill 2019): conv5_3 sees 196 pixels, pool5 212.
    assert r.layers["conv5_3"].receptive_field == (196, 196)
    assert r.layers["pool5"].receptive_field == (212, 212)
    # About 15.5 G multiply-accumulates per image, as usually quoted for VGG-16.
    assert 15.4e9 < r.totals.macs < 15.6e9


def resnet18(padding_style: str = "torch") -> Graph:
    """torchvision's resnet18: convs without bias before BatchNorm, 1x1 stride-2 projection
    shortcuts (conv + BN) where the shape changes, Add, then global average pooling."""

    def pad(k: int) -> int | str:
        return k // 2 if padding_style == "torch" else "same"

    g = Graph("ResNet-18")
    g.add_layer("Input", {"channels": 3, "height": 224, "width": 224}, layer_id="in")

    def conv_bn(lid: str, src: str, filters: int, k: int, stride: int, relu: bool) -> str:
        g.add_layer("Conv2D", {"filters": filters, "kernel_size": k, "stride": stride,
                               "padding": pad(k) if k > 1 else 0, "use_bias": False},
                    layer_id=lid, inputs=[src])
        g.add_layer("BatchNorm", layer_id=f"{lid}_bn", inputs=[lid])
        if not relu:
            return f"{lid}_bn"
        g.add_layer("ReLU", layer_id=f"{lid}_relu", inputs=[f"{lid}_bn"])
        return f"{lid}_relu"

    x = conv_bn("conv1", "in", 64, 7, 2, relu=True)
    g.add_layer("MaxPool2D", {"pool_size": 3, "stride": 2, "padding": pad(3)},
                layer_id="maxpool", inputs=[x])
    x, channels = "maxpool", 64
    for stage, filters in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            stride = 2 if block == 0 and stage > 1 else 1
            name = f"layer{stage}_{block}"
            y = conv_bn(f"{name}_conv1", x, filters, 3, stride, relu=True)
            y = conv_bn(f"{name}_conv2", y, filters, 3, 1, relu=False)
            shortcut = x
            if stride != 1 or channels != filters:
                shortcut = conv_bn(f"{name}_down", x, filters, 1, stride, relu=False)
            g.add_layer("Add", layer_id=f"{name}_add", inputs=[y, shortcut])
            g.add_layer("ReLU", layer_id=f"{name}_out", inputs=[f"{name}_add"])
            x, channels = f"{name}_out", filters
    g.add_layer("GlobalAvgPool2D", layer_id="avgpool", inputs=[x])
    g.add_layer("Dense", {"units": 1000}, layer_id="fc", inputs=["avgpool"])
    return g


@pytest.mark.parametrize("padding_style", ["torch", "same"])
def test_resnet18(padding_style: str) -> None:
    g = resnet18(padding_style)
    r = validate(g)
    # Valid, and no warnings: the strided layers on even sizes do not tile exactly
    # ((224 + 6 - 7)/2 = 111.5), but all they leave over is padding or rows their stride skips
    # anyway, which the spec says is not worth a warning (16 of them taught users to ignore them).
    assert r.valid, [p.message for p in r.errors][:3]
    assert r.warnings == []
    assert r.totals.trainable == RESNET18_PARAMS
    # Running mean and variance of every BatchNorm: 2 numbers per channel, not trained.
    bn_channels = 64 + 4 * 64 + (4 * 128 + 128) + (4 * 256 + 256) + (4 * 512 + 512)
    assert r.totals.non_trainable == 2 * bn_channels == 9_600
    assert r.layers["conv1"].output_shape == (64, 112, 112)
    assert r.layers["maxpool"].output_shape == (64, 56, 56)
    assert r.layers["layer2_0_down"].output_shape == (128, 28, 28)
    assert r.layers["layer2_0_down"].trainable == 64 * 128  # 1x1, no bias
    assert r.layers["layer3_0_add"].output_shape == (256, 14, 14)
    assert r.layers["layer4_1_out"].output_shape == (512, 7, 7)
    assert r.layers["avgpool"].output_shape == (512,)
    assert r.layers["fc"].trainable == 512 * 1000 + 1000
    assert r.output_id == "fc"
    # About 1.8 G multiply-accumulates per image, as torchvision documents (1.81 GFLOPS).
    assert 1.80e9 < r.totals.macs < 1.83e9
    assert sum(1 for lay in g if lay.type == "Add") == 8
    assert sum(1 for lay in g if lay.id.endswith("_down")) == 3
