"""NumPy layer kernels: pure forward/backward function pairs on channel-major arrays.

Layout: images are [C, B, H, W], flat vectors [N, B] (features first); convert at the network's
edges with :mod:`.layout`. Weights use PyTorch's layouts (conv [K, C, Fh, Fw], dense [units, N]).
Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward(dout, cache)`` returns the
gradients. Kernels never modify their inputs unless a parameter explicitly asks for it.
"""

from cnnstudio.engine.kernels.conv import ConvCache, col2im, conv2d_backward, conv2d_forward, im2col
from cnnstudio.engine.kernels.layout import (
    batch_to_internal,
    batch_to_public,
    flat_to_internal,
    flat_to_public,
    to_internal,
    to_public,
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

__all__ = [
    "AvgPoolCache",
    "ConvCache",
    "GlobalMaxPoolCache",
    "MaxPoolCache",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "global_avgpool_backward",
    "global_avgpool_forward",
    "global_maxpool_backward",
    "global_maxpool_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "batch_to_internal",
    "batch_to_public",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "flat_to_internal",
    "flat_to_public",
    "im2col",
    "to_internal",
    "to_public",
]
