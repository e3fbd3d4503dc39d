"""NumPy layer kernels: pure forward/backward function pairs on channel-major arrays.

Layout: images are [C, B, H, W], flat vectors [N, B] (features first); convert at the network's
edges with :mod:`.layout`. Weights use PyTorch's layouts (conv [K, C, Fh, Fw], dense [units, N]).
Each ``*_forward`` returns ``(out, cache)`` (BatchNorm also returns its new moving statistics);
the matching ``*_backward(dout, cache)`` returns the gradients. Windowed kernels take the
``(AxisWindow, AxisWindow)`` pair from ``cnnstudio.core.shapes.window_2d``, the one place output
sizes and padding are computed. Kernels never modify their inputs unless a parameter explicitly
asks for it (``relu_forward(..., inplace=True)``); dtype follows the input (float32 for speed,
float64 for gradient checks). Caches may keep references to a kernel's input (never to its
returned output, except ReLU/Sigmoid/Tanh/Softmax whose cache *is* the output): do not modify
an input in place before the matching backward pass has run.
"""

from cnnstudio.engine.kernels.activations import (
    elu_backward,
    elu_forward,
    gelu_backward,
    gelu_forward,
    hardsigmoid_backward,
    hardsigmoid_forward,
    hardswish_backward,
    hardswish_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu6_backward,
    relu6_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    silu_backward,
    silu_forward,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)
from cnnstudio.engine.kernels.conv import (
    ConvCache,
    Workspace,
    col2im,
    conv2d_backward,
    conv2d_forward,
    prepare_conv2d,
    training_workspace_elements,
)
from cnnstudio.engine.kernels.dense import DenseCache, dense_backward, dense_forward
from cnnstudio.engine.kernels.dropout import (
    dropout_backward,
    dropout_forward,
    spatial_dropout2d_forward,
)
from cnnstudio.engine.kernels.layout import (
    batch_to_internal,
    batch_to_public,
    flat_to_internal,
    flat_to_public,
    to_internal,
    to_public,
)
from cnnstudio.engine.kernels.loss import softmax_cross_entropy
from cnnstudio.engine.kernels.merge import (
    MultiplyCache,
    add_backward,
    add_forward,
    concat_backward,
    concat_forward,
    multiply_backward,
    multiply_forward,
)
from cnnstudio.engine.kernels.normalization import (
    BatchNormCache,
    GroupNormCache,
    batchnorm_backward,
    batchnorm_forward,
    groupnorm_backward,
    groupnorm_forward,
)
from cnnstudio.engine.kernels.padding import (
    zero_pad2d_backward,
    zero_pad2d_forward,
)
from cnnstudio.engine.kernels.pool import (
    AvgPoolCache,
    GlobalMaxPoolCache,
    MaxPoolCache,
    avgpool2d_backward,
    avgpool2d_forward,
    global_avgpool_backward,
    global_avgpool_forward,
    global_maxpool_backward,
    global_maxpool_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from cnnstudio.engine.kernels.reshape import flatten_backward, flatten_forward
from cnnstudio.engine.kernels.upsampling import (
    UpsampleCache,
    upsample2d_backward,
    upsample2d_forward,
)

__all__ = [
    "AvgPoolCache",
    "BatchNormCache",
    "ConvCache",
    "DenseCache",
    "GlobalMaxPoolCache",
    "GroupNormCache",
    "MaxPoolCache",
    "MultiplyCache",
    "UpsampleCache",
    "Workspace",
    "add_backward",
    "add_forward",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "batch_to_internal",
    "batch_to_public",
    "batchnorm_backward",
    "batchnorm_forward",
    "col2im",
    "concat_backward",
    "concat_forward",
    "conv2d_backward",
    "conv2d_forward",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "elu_backward",
    "elu_forward",
    "flat_to_internal",
    "flat_to_public",
    "flatten_backward",
    "flatten_forward",
    "gelu_backward",
    "gelu_forward",
    "global_avgpool_backward",
    "global_avgpool_forward",
    "global_maxpool_backward",
    "global_maxpool_forward",
    "groupnorm_backward",
    "groupnorm_forward",
    "hardsigmoid_backward",
    "hardsigmoid_forward",
    "hardswish_backward",
    "hardswish_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "multiply_backward",
    "multiply_forward",
    "prepare_conv2d",
    "relu6_backward",
    "relu6_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "silu_backward",
    "silu_forward",
    "softmax_backward",
    "softmax_cross_entropy",
    "softmax_forward",
    "spatial_dropout2d_forward",
    "tanh_backward",
    "tanh_forward",
    "to_internal",
    "to_public",
    "training_workspace_elements",
    "upsample2d_backward",
    "upsample2d_forward",
    "zero_pad2d_backward",
    "zero_pad2d_forward",
]
