"""Layer objects: one class per catalogue type, binding its params to the kernels.

``LAYER_TYPES`` maps every catalogue type name to its class (a conformance test fails when a
catalogue type has none). A layer object holds ``params``/``grads``/``buffers`` dicts keyed by the
names the weights file uses, knows its input and output shapes from the validator, and turns the
graph's canonical params into kernel arguments. What a layer owns comes from the catalogue: the
base class creates every array ``LayerSpec.arrays`` lists (a bias only where the spec says so)
and initialises them, and sliding windows come from the spec's ``windows`` (the validator's own
computation), so the engine never restates a default or computes a size its own way.

All arrays here are in the kernels' channel-major layout (``[C, B, H, W]``, ``[N, B]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from cnnstudio.core.catalogue import INIT_FAN, INIT_ONES
from cnnstudio.core.graph import Layer
from cnnstudio.engine import kernels as K
from cnnstudio.engine.kernels import activations as A
from cnnstudio.engine.kernels import dense as D
from cnnstudio.engine.kernels import dropout as R
from cnnstudio.engine.kernels import merge as M
from cnnstudio.engine.kernels import normalization as N
from cnnstudio.engine.kernels import padding as Z
from cnnstudio.engine.kernels import pool as P
from cnnstudio.engine.kernels import reshape as S
from cnnstudio.engine.kernels import upsampling as U

__all__ = ["LAYER_TYPES", "LayerImpl"]

Shape = tuple[int, ...]
#: One layer's inference forward as a function of its input (see :meth:`LayerImpl.prepare`).
Step = Callable[[np.ndarray], np.ndarray]

LAYER_TYPES: dict[str, type[LayerImpl]] = {}


def register(cls: type[LayerImpl]) -> type[LayerImpl]:
    LAYER_TYPES[cls.type_name] = cls
    return cls


class LayerImpl:
    """Base class: shapes, the param/grad/buffer dicts and the default no-op initialisation.

    ``forward(xs, training, rng, inplace)`` takes the list of input arrays (one per graph input)
    and returns the output; ``inplace`` says the network allows overwriting ``xs[0]``.
    ``backward(dout, need)`` fills ``grads`` and returns one input gradient per input (None where
    ``need`` is false). ``output_reusable`` is True when the forward's output is always a fresh
    array that neither this layer's cache nor anything else reads, so its only consumer may
    overwrite it in place (ReLU after Conv2D).
    """

    type_name: ClassVar[str] = ""
    output_reusable: ClassVar[bool] = False

    def __init__(self, layer: Layer, in_shapes: Sequence[Shape], out_shape: Shape,
                 dtype: np.dtype) -> None:
        spec = layer.spec
        self.id = layer.id
        #: The params with defaulted ones filled in (a pool's stride), as the validator saw them.
        self.config: dict[str, Any] = dict(spec.effective(layer.params))
        self.in_shapes = list(in_shapes)
        self.out_shape = out_shape
        self.dtype = dtype
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.cache: Any = None
        #: A layer with moving statistics (BatchNorm) runs in inference mode while frozen, even
        #: in training (as Keras does).
        self.frozen_means_inference = spec.has_moving_statistics
        self._arrays = spec.arrays(self.config, self.in_shapes)
        for array in self._arrays:
            fill = np.ones if array.init == INIT_ONES else np.zeros
            if array.trainable:
                self._add_param(array.name, fill(array.shape, dtype=dtype))
            else:
                self.buffers[array.name] = fill(array.shape, dtype=dtype)
        if spec.windows is not None:
            self.windows = spec.windows(self.config, tuple(self.in_shapes[0][1:]))

    #: Set by Network.inference_gradients: keep what backward needs in an inference-mode pass
    #: too (saliency, Grad-CAM and effective receptive fields differentiate the network as it
    #: predicts, with moving statistics and without dropout).
    recording = False

    def _keeps(self, training: bool) -> bool:
        """Whether a forward keeps what backward needs: always in training, else only while
        recording."""
        return training or self.recording

    def _kept(self, cache: Any, training: bool) -> Any:
        """What a forward keeps for backward (see :meth:`_keeps`)."""
        return cache if self._keeps(training) else None

    def init_params(self, rng: np.random.Generator, he: bool) -> None:
        """Draw the weights that start from their fan-in/out; ``he`` is True when a ReLU-family
        activation follows. Other arrays keep their catalogue start (zeros or ones)."""
        for array in self._arrays:
            if array.init == INIT_FAN:
                shape = array.shape
                receptive = int(np.prod(shape[2:]))
                _weight_init(rng, self.params[array.name], int(np.prod(shape[1:])),
                             shape[0] * receptive, he)

    #: Output-sized arrays per sample a training forward keeps until backward (its cache):
    #: one for most layers (a mask, the output, normalised values), none for those that keep
    #: only shapes. See :func:`cnnstudio.engine.memory.estimate_training_bytes`.
    kept_outputs: ClassVar[int] = 1

    def kept_elements(self, need_dx: bool) -> int:
        """Elements per sample this layer holds from a training forward until its backward,
        workspace buffers included; ``need_dx`` says the backward computes an input gradient
        (not for a layer fed only by the Input layer). The memory estimate sums these."""
        return self.kept_outputs * math.prod(self.out_shape)

    def _add_param(self, name: str, value: np.ndarray) -> None:
        self.params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        # np.zeros, not zeros_like: its pages stay unmapped until training writes a gradient,
        # so a network built only to look at (the window's views, export) costs its weights.
        self.grads[name] = np.zeros(value.shape, self.dtype)

    def forward(self, xs: list[np.ndarray], training: bool, rng: np.random.Generator,
                inplace: bool = False) -> np.ndarray:
        raise NotImplementedError

    def prepare(self, batch: int, inplace: bool, rng: np.random.Generator) -> Step:
        """This layer's inference forward for a batch of ``batch`` (one input), as a function of
        the input: what :class:`cnnstudio.engine.prepared.PreparedPass` runs. Layers whose
        forward spends on a small batch mostly what can be worked out once override it; the
        result must equal :meth:`forward`'s exactly."""
        return lambda x: self.forward([x], training=False, rng=rng, inplace=inplace)

    def _internal_input_shape(self, batch: int) -> tuple[int, ...]:
        """The input's shape in the kernels' layout for a batch of ``batch``."""
        shape = self.in_shapes[0]
        return (shape[0], batch, *shape[1:])

    def backward(self, dout: np.ndarray, need: list[bool]) -> list[np.ndarray | None]:
        raise NotImplementedError


def _weight_init(rng: np.random.Generator, out: np.ndarray, fan_in: int, fan_out: int,
                 he: bool) -> None:
    """Fill ``out`` with He normal (``std = sqrt(2 / fan_in)``) before ReLU-family activations,
    Glorot uniform (``limit = sqrt(6 / (fan_in + fan_out))``) otherwise.

    Drawn in slices: the values are those of one draw of the whole shape (a Generator hands out
    numbers in sequence), but a 500M-parameter layer no longer needs float64 temporaries twice
    its own size on top of it."""
    flat = out.reshape(-1)
    assert np.shares_memory(flat, out)
    for start in range(0, flat.size, _INIT_SLICE):
        n = min(_INIT_SLICE, flat.size - start)
        if he:
            flat[start:start + n] = rng.standard_normal(n) * np.sqrt(2.0 / fan_in)
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            flat[start:start + n] = rng.uniform(-limit, limit, n)


#: Elements drawn at once when initialising weights (8 MB of float64 temporaries).
_INIT_SLICE = 1 << 20


@register
class InputLayer(LayerImpl):
    type_name = "Input"
    kept_outputs = 0  # the batch itself is counted by the estimate

    def forward(self, xs, training, rng, inplace=False):
        return xs[0]

    def backward(self, dout, need):
        return []


@register
class Conv2DLayer(LayerImpl):
    type_name = "Conv2D"
    output_reusable = True

    def __init__(self, layer, in_shapes, out_shape, dtype):
        super().__init__(layer, in_shapes, out_shape, dtype)
        self.workspace: K.Workspace = {}

    def kept_elements(self, need_dx):
        # What the convolution kernels keep in the layer's workspace (the column matrix, the
        # padded input, the backward's padded output gradient); the output itself is not kept.
        return K.training_workspace_elements(self.in_shapes[0][0], self.params["weight"].shape,
                                             self.windows, need_dx, self.config["groups"])

    def forward(self, xs, training, rng, inplace=False):
        # Training reuses the layer's im2col buffers (the trainer alternates forward and
        # backward, which is the workspace's one rule); any other pass gets fresh ones, so an
        # evaluation or a feature-map request between two steps cannot spoil a cached forward.
        out, cache = K.conv2d_forward(xs[0], self.params["weight"], self.params.get("bias"),
                                      self.windows, self.workspace if training else None,
                                      self.config["dilation"], self.config["groups"],
                                      keep_columns=self._keeps(training))
        self.cache = cache
        return out

    def prepare(self, batch, inplace, rng):
        conv = K.prepare_conv2d(self._internal_input_shape(batch),  # type: ignore[arg-type]
                                self.params["weight"].shape, self.windows,
                                self.config["dilation"], self.config["groups"], self.dtype)
        if conv is None:
            return super().prepare(batch, inplace, rng)
        params = self.params
        return lambda x: conv(x, params["weight"], params.get("bias"))

    def backward(self, dout, need):
        dx, dw, db = K.conv2d_backward(dout, self.cache, need_dx=need[0])
        self.grads["weight"][...] = dw
        if db is not None:
            self.grads["bias"][...] = db
        return [dx]


class _KernelPairLayer(LayerImpl):
    """A weightless layer that is one forward/backward kernel pair (pooling, activations,
    padding, upsampling): ``_forward(x, *kernel_args) -> (out, cache)``,
    ``_backward(dout, cache) -> dx``. ``config_args`` names the layer params passed after the
    input, in order."""

    output_reusable = True
    _forward: ClassVar[Any]
    _backward: ClassVar[Any]
    config_args: ClassVar[tuple[str, ...]] = ()
    #: Extra positional arguments of the forward kernel after the input.
    kernel_args: tuple[Any, ...] = ()

    def __init__(self, layer, in_shapes, out_shape, dtype):
        super().__init__(layer, in_shapes, out_shape, dtype)
        self.kernel_args = tuple(self.config[name] for name in self.config_args)

    def forward(self, xs, training, rng, inplace=False):
        out, cache = type(self)._forward(xs[0], *self.kernel_args)
        self.cache = self._kept(cache, training)
        return out

    def backward(self, dout, need):
        return [type(self)._backward(dout, self.cache) if need[0] else None]


class _PoolLayer(_KernelPairLayer):
    def __init__(self, layer, in_shapes, out_shape, dtype):
        super().__init__(layer, in_shapes, out_shape, dtype)
        self.kernel_args = (self.windows,)


@register
class MaxPool2DLayer(_PoolLayer):
    type_name = "MaxPool2D"

    def kept_elements(self, need_dx):
        # the input's window planes (or the input itself) and a copy of the output
        return math.prod(self.in_shapes[0]) + math.prod(self.out_shape)

    _forward = staticmethod(P.maxpool2d_forward)
    _backward = staticmethod(P.maxpool2d_backward)

    def forward(self, xs, training, rng, inplace=False):
        out, self.cache = P.maxpool2d_forward(xs[0], self.windows, self._keeps(training))
        return out

    def backward_rectified(self, dout: np.ndarray, need: Sequence[bool]
                           ) -> list[np.ndarray | None]:
        """:meth:`backward` and the backward of the ReLU that feeds this pool alone, in one
        (see ``rectified`` in :func:`cnnstudio.engine.kernels.pool.maxpool2d_backward`)."""
        return [P.maxpool2d_backward(dout, self.cache, rectified=True) if need[0] else None]

    def prepare(self, batch, inplace, rng):
        pool = P.prepare_maxpool2d(self._internal_input_shape(batch),  # type: ignore[arg-type]
                                   self.windows)
        return super().prepare(batch, inplace, rng) if pool is None else pool


@register
class AvgPool2DLayer(_PoolLayer):
    type_name = "AvgPool2D"
    kept_outputs = 0  # keeps shapes only
    _forward = staticmethod(P.avgpool2d_forward)
    _backward = staticmethod(P.avgpool2d_backward)


@register
class GlobalAvgPool2DLayer(_KernelPairLayer):
    type_name = "GlobalAvgPool2D"
    kept_outputs = 0  # keeps shapes only
    _forward = staticmethod(P.global_avgpool_forward)
    _backward = staticmethod(P.global_avgpool_backward)


@register
class GlobalMaxPool2DLayer(_KernelPairLayer):
    type_name = "GlobalMaxPool2D"
    _forward = staticmethod(P.global_maxpool_forward)
    _backward = staticmethod(P.global_maxpool_backward)


@register
class GroupNormLayer(LayerImpl):
    """Per-sample statistics: training and evaluation compute the same thing."""

    type_name = "GroupNorm"
    output_reusable = True

    def forward(self, xs, training, rng, inplace=False):
        out, cache = N.groupnorm_forward(xs[0], self.params["gamma"], self.params["beta"],
                                         self.config["groups"], self.config["epsilon"])
        self.cache = self._kept(cache, training)
        return out

    def backward(self, dout, need):
        dx, dgamma, dbeta = N.groupnorm_backward(dout, self.cache)
        self.grads["gamma"][...] = dgamma
        self.grads["beta"][...] = dbeta
        return [dx if need[0] else None]


@register
class FlattenLayer(LayerImpl):
    type_name = "Flatten"
    kept_outputs = 0

    def forward(self, xs, training, rng, inplace=False):
        out, self.cache = S.flatten_forward(xs[0])
        return out

    def backward(self, dout, need):
        return [S.flatten_backward(dout, self.cache) if need[0] else None]


@register
class DenseLayer(LayerImpl):
    type_name = "Dense"
    output_reusable = True

    def kept_elements(self, need_dx):
        return math.prod(self.in_shapes[0])  # its input, for the weight gradient

    def forward(self, xs, training, rng, inplace=False):
        out, cache = D.dense_forward(xs[0], self.params["weight"], self.params.get("bias"))
        self.cache = self._kept(cache, training)
        return out

    def prepare(self, batch, inplace, rng):
        params = self.params
        return lambda x: D.dense_inference(x, params["weight"], params.get("bias"))

    def backward(self, dout, need):
        dx, dw, db = D.dense_backward(dout, self.cache, need_dx=need[0])
        self.grads["weight"][...] = dw
        if db is not None:
            self.grads["bias"][...] = db
        return [dx]


class _ActivationLayer(_KernelPairLayer):
    """Element-wise activations. Not reusable by default: Sigmoid, Tanh and Softmax keep their
    output as the cache, so nothing may overwrite it before backward."""

    output_reusable = False


@register
class ReLULayer(_ActivationLayer):
    type_name = "ReLU"
    _backward = staticmethod(A.relu_backward)

    def forward(self, xs, training, rng, inplace=False):
        out, cache = A.relu_forward(xs[0], inplace=inplace)
        self.cache = self._kept(cache, training)
        return out

    def prepare(self, batch, inplace, rng):
        return A.prepare_relu(math.prod(self._internal_input_shape(batch)), inplace)


@register
class LeakyReLULayer(_ActivationLayer):
    type_name = "LeakyReLU"
    output_reusable = True  # its cache is the input
    config_args = ("alpha",)
    _forward = staticmethod(A.leaky_relu_forward)
    _backward = staticmethod(A.leaky_relu_backward)


@register
class SigmoidLayer(_ActivationLayer):
    type_name = "Sigmoid"
    _forward = staticmethod(A.sigmoid_forward)
    _backward = staticmethod(A.sigmoid_backward)


@register
class TanhLayer(_ActivationLayer):
    type_name = "Tanh"
    _forward = staticmethod(A.tanh_forward)
    _backward = staticmethod(A.tanh_backward)


@register
class ReLU6Layer(_ActivationLayer):
    type_name = "ReLU6"
    _forward = staticmethod(A.relu6_forward)
    _backward = staticmethod(A.relu6_backward)


@register
class SiLULayer(_ActivationLayer):
    type_name = "SiLU"
    kept_outputs = 2  # the input and an output-sized factor
    _forward = staticmethod(A.silu_forward)
    _backward = staticmethod(A.silu_backward)


@register
class HardswishLayer(_ActivationLayer):
    type_name = "Hardswish"
    _forward = staticmethod(A.hardswish_forward)
    _backward = staticmethod(A.hardswish_backward)


@register
class HardsigmoidLayer(_ActivationLayer):
    type_name = "Hardsigmoid"
    _forward = staticmethod(A.hardsigmoid_forward)
    _backward = staticmethod(A.hardsigmoid_backward)


@register
class ELULayer(_ActivationLayer):
    type_name = "ELU"
    config_args = ("alpha",)
    _forward = staticmethod(A.elu_forward)
    _backward = staticmethod(A.elu_backward)


@register
class GELULayer(_ActivationLayer):
    type_name = "GELU"
    kept_outputs = 2  # the input and an output-sized factor
    config_args = ("approximate",)
    _forward = staticmethod(A.gelu_forward)
    _backward = staticmethod(A.gelu_backward)


@register
class ZeroPadding2DLayer(_KernelPairLayer):
    type_name = "ZeroPadding2D"
    kept_outputs = 0  # keeps shapes only
    _forward = staticmethod(Z.zero_pad2d_forward)
    _backward = staticmethod(Z.zero_pad2d_backward)
    config_args = ("padding",)


@register
class UpSampling2DLayer(_KernelPairLayer):
    type_name = "UpSampling2D"
    kept_outputs = 0  # keeps shapes only
    _forward = staticmethod(U.upsample2d_forward)
    _backward = staticmethod(U.upsample2d_backward)
    config_args = ("scale", "mode")


@register
class SoftmaxLayer(_ActivationLayer):
    type_name = "Softmax"
    _forward = staticmethod(A.softmax_forward)
    _backward = staticmethod(A.softmax_backward)


class _DropoutLayer(LayerImpl):
    _forward: ClassVar[Any]

    def forward(self, xs, training, rng, inplace=False):
        out, self.cache = type(self)._forward(xs[0], self.config["rate"], rng, training)
        return out

    def backward(self, dout, need):
        return [R.dropout_backward(dout, self.cache) if need[0] else None]


@register
class DropoutLayer(_DropoutLayer):
    type_name = "Dropout"
    _forward = staticmethod(R.dropout_forward)


@register
class SpatialDropout2DLayer(_DropoutLayer):
    type_name = "SpatialDropout2D"
    _forward = staticmethod(R.spatial_dropout2d_forward)


@register
class AddLayer(LayerImpl):
    type_name = "Add"
    kept_outputs = 0  # keeps shapes only
    output_reusable = True

    def forward(self, xs, training, rng, inplace=False):
        out, self.cache = M.add_forward(xs)
        return out

    def backward(self, dout, need):
        return [g if n else None for g, n in zip(M.add_backward(dout, self.cache), need,
                                                 strict=True)]


@register
class MultiplyLayer(LayerImpl):
    type_name = "Multiply"
    output_reusable = True

    def forward(self, xs, training, rng, inplace=False):
        out, cache = M.multiply_forward(xs)
        self.cache = self._kept(cache, training)
        return out

    def backward(self, dout, need):
        return [g if n else None for g, n in zip(M.multiply_backward(dout, self.cache), need,
                                                 strict=True)]


@register
class ConcatenateLayer(LayerImpl):
    type_name = "Concatenate"
    kept_outputs = 0  # keeps shapes only
    output_reusable = True

    def forward(self, xs, training, rng, inplace=False):
        out, self.cache = M.concat_forward(xs)
        return out

    def backward(self, dout, need):
        return [g if n else None for g, n in zip(M.concat_backward(dout, self.cache), need,
                                                 strict=True)]


@register
class BatchNormLayer(LayerImpl):
    """Batch statistics in training, moving statistics in evaluation; a frozen BatchNorm always
    uses (and keeps) its moving statistics, as in Keras."""

    type_name = "BatchNorm"
    output_reusable = True
    #: In a training step cut into parts (:mod:`cnnstudio.engine.data_parallel`), the part this
    #: layer runs: its ``gather`` shares batch statistics with the other parts, and only the
    #: ``first`` part moves the (shared) moving statistics. None in a whole step.
    part: Any = None

    def forward(self, xs, training, rng, inplace=False):
        p, b = self.params, self.buffers
        part = self.part if training else None
        out, cache, mean, var = N.batchnorm_forward(
            xs[0], p["gamma"], p["beta"], b["moving_mean"], b["moving_var"],
            self.config["momentum"], self.config["epsilon"], training,
            None if part is None else part.gather)
        if training and (part is None or part.first):
            b["moving_mean"][...] = mean  # in place: state_dict and optimizers keep references
            b["moving_var"][...] = var
        self.cache = cache
        return out

    def prepare(self, batch, inplace, rng):
        p, b, eps = self.params, self.buffers, self.config["epsilon"]
        return lambda x: N.batchnorm_inference(x, p["gamma"], p["beta"], b["moving_mean"],
                                               b["moving_var"], eps)

    def backward(self, dout, need):
        dx, dgamma, dbeta = N.batchnorm_backward(dout, self.cache,
                                                 None if self.part is None else self.part.gather)
        self.grads["gamma"][...] = dgamma
        self.grads["beta"][...] = dbeta
        return [dx if need[0] else None]
