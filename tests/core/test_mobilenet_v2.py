"""MobileNetV2, drawn in the model format, summarises to its published size.

torchvision's mobilenet_v2 (Sandler et al. 2018, width 1.0, 224x224, 1000 classes) has
3,504,872 parameters: inverted residual blocks of a 1x1 expansion, a 3x3 depthwise convolution
(groups = channels) and a 1x1 linear projection, each with BatchNorm (and ReLU6 but after the
projection), residual Adds where shapes allow. The count is the trainable parameters (BatchNorm's
moving statistics are buffers, not parameters, in PyTorch too).
"""

from __future__ import annotations

from typing import Any

from cnnstudio.core import modelfile
from cnnstudio.core.validator import validate

#: (expansion t, output channels c, repeats n, first stride s), from the paper's Table 2.
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2_document(classes: int = 1000, size: int = 224) -> dict[str, Any]:
    layers: list[dict[str, Any]] = [
        {"id": "in", "type": "Input", "params": {"channels": 3, "height": size, "width": size}},
    ]

    def conv_bn(lid: str, filters: int, kernel: int, stride: int = 1, groups: int = 1,
                act: bool = True, inputs: list[str] | None = None) -> str:
        conv = {"id": lid, "type": "Conv2D",
                "params": {"filters": filters, "kernel_size": kernel, "stride": stride,
                           "padding": (kernel - 1) // 2, "groups": groups, "use_bias": False}}
        if inputs is not None:
            conv["inputs"] = inputs
        layers.append(conv)
        layers.append({"id": f"{lid}_bn", "type": "BatchNorm"})
        if not act:
            return f"{lid}_bn"
        layers.append({"id": f"{lid}_relu6", "type": "ReLU6"})
        return f"{lid}_relu6"

    last, channels = conv_bn("stem", 32, 3, 2), 32
    for b, (t, c, n, s) in enumerate(BLOCKS):
        for r in range(n):
            stride = s if r == 0 else 1
            name, block_in = f"b{b}_{r}", last
            hidden = channels * t
            x = conv_bn(f"{name}_expand", hidden, 1, inputs=[last]) if t != 1 else last
            x = conv_bn(f"{name}_dw", hidden, 3, stride, groups=hidden, inputs=[x])
            x = conv_bn(f"{name}_project", c, 1, act=False, inputs=[x])
            if stride == 1 and channels == c:
                layers.append({"id": f"{name}_add", "type": "Add", "inputs": [block_in, x]})
                x = f"{name}_add"
            last, channels = x, c
    last = conv_bn("head", 1280, 1, inputs=[last])
    layers += [{"id": "pool", "type": "GlobalAvgPool2D", "inputs": [last]},
               {"id": "drop", "type": "Dropout", "params": {"rate": 0.2}},
               {"id": "classifier", "type": "Dense", "params": {"units": classes}}]
    return {"format": "cnnstudio.model", "version": 1, "name": "MobileNetV2",
            "layers": layers}


def test_mobilenet_v2_has_its_published_parameter_count() -> None:
    graph = modelfile.from_document(mobilenet_v2_document())
    result = validate(graph)
    assert result.valid, [p.message for p in result.errors]
    assert result.totals.trainable == 3_504_872
    assert result.layers["head_relu6"].output_shape == (1280, 7, 7)
    # the first depthwise conv: 32 filters of 3x3x1, one per channel
    assert result.layers["b0_0_dw"].trainable == 32 * 3 * 3


def test_mobilenet_v2_file_round_trip_keeps_the_groups() -> None:
    graph = modelfile.from_document(mobilenet_v2_document(classes=10, size=96))
    again = modelfile.loads(modelfile.dumps(graph))
    assert again.layer("b1_0_dw").params["groups"] == 96
    assert validate(again).totals.trainable == validate(graph).totals.trainable
