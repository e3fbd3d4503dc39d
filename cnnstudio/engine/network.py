"""A trainable network built from a validated model graph.

The public API is batch-first (``[B, C, H, W]`` images, ``[B, N]`` vectors, as PyTorch); inside,
activations stay channel-major (``[C, B, H, W]``, ``[N, B]``) so every convolution and dense
layer is one matmul without transposes. Conversion happens once at the input and once at the
output of each call.

The graph is run in the validator's topological order, restricted to the layers the output
depends on. A layer whose output feeds several consumers receives the sum of their gradients;
merges (Add, Concatenate) hand a gradient to every input. Each layer is an object from the
registry in :mod:`cnnstudio.engine.layers` holding ``params``/``grads``/``buffers`` dicts keyed
by the weights file's names, so ``state_dict()`` is simply ``"<layer id>/<name>"`` over them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from cnnstudio.core.catalogue import INIT_TRANSPARENT_ROLES
from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import ValidationResult, validate
from cnnstudio.engine.errors import NetworkError
from cnnstudio.engine.kernels._blas import single_threaded_blas
from cnnstudio.engine.kernels.activations import softmax_forward
from cnnstudio.engine.kernels.layout import batch_to_internal, batch_to_public, flat_to_public
from cnnstudio.engine.layers import LAYER_TYPES, LayerImpl
from cnnstudio.engine.memory import memory_refusal, weight_bytes
from cnnstudio.engine.optimizers import ParamRef
from cnnstudio.engine.prepared import PreparedPass, prepare_chain
from cnnstudio.engine.weights import split_meta

__all__ = ["InferenceGradients", "LoadReport", "Network", "softmax"]

#: How many of the validator's errors a refusal quotes.
_QUOTED_ERRORS = 3
#: Prepared inference passes a network keeps (input shapes and threads of the past are
#: dropped beyond this).
_PREPARED_PASSES_KEPT = 8
_NOT_PREPARED = object()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of batch-first ``[B, K]`` logits (the softmax kernel, transposed)."""
    return flat_to_public(softmax_forward(np.ascontiguousarray(logits.T))[0])


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What :meth:`Network.load_where_fits` did: layer ids loaded, and skipped ones with why."""

    loaded: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def text(self) -> str:
        lines = [f"loaded {len(self.loaded)} layer(s): {', '.join(self.loaded) or 'none'}"]
        lines += [f"skipped {lid}: {why}" for lid, why in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class InferenceGradients:
    """What :meth:`Network.inference_gradients` found, batch first."""

    input: np.ndarray  # d(target) / d(input image), [B, C, H, W]
    outputs: dict[str, np.ndarray]  # the requested layers' outputs
    grads: dict[str, np.ndarray]  # d(target) / d(those outputs)


class Network:
    """Forward, backward, weights and introspection for one model graph.

    ``rng`` initialises the weights (He for layers followed by ReLU/LeakyReLU, Glorot otherwise;
    zero biases; BatchNorm gamma 1, beta 0, moving mean 0, moving variance 1) and then drives
    dropout, so one seed makes a whole run repeatable. ``dtype`` is float32 for training and
    float64 for gradient checks.
    """

    def __init__(self, graph: Graph, rng: np.random.Generator,
                 dtype: type[np.floating] | np.dtype = np.float32,
                 result: ValidationResult | None = None) -> None:
        # ``result``: the caller's validation of this very graph (the window validates once per
        # edit and shares it), saving a second pass over a large model.
        if result is None:
            result = validate(graph)
        if not result.valid:
            quoted = "; ".join(p.message for p in result.errors[:_QUOTED_ERRORS])
            more = len(result.errors) - _QUOTED_ERRORS
            raise NetworkError(
                f"the model has errors: {quoted}" + (f" (and {more} more)" if more > 0 else "")
            )
        self.graph = graph
        self.result: ValidationResult = result
        self.dtype = np.dtype(dtype)
        refusal = memory_refusal(weight_bytes(result, self.dtype.itemsize), "this model",
                                 "for its weights")
        if refusal:
            raise NetworkError(refusal)
        self.rng = rng
        assert result.output_id is not None
        self.output_id: str = result.output_id
        needed = graph.ancestors(self.output_id) | {self.output_id}
        self.order: list[str] = [lid for lid in result.order if lid in needed]
        inputs = [lid for lid in self.order if graph.layer(lid).type == "Input"]
        if len(inputs) != 1:
            raise NetworkError(
                f"the network must have exactly one Input feeding its output, found "
                f"{len(inputs)} ({', '.join(inputs)})"
            )
        self.input_id: str = inputs[0]
        self.inputs: dict[str, list[str]] = {lid: list(graph.layer(lid).inputs)
                                             for lid in self.order}
        self.consumers: dict[str, list[str]] = {lid: [] for lid in self.order}
        for lid in self.order:
            for src in self.inputs[lid]:
                self.consumers[src].append(lid)
        self.layers: dict[str, LayerImpl] = {}
        for lid in self.order:
            layer = graph.layer(lid)
            rep = result.layers[lid]
            cls = LAYER_TYPES.get(layer.type)
            if cls is None:
                raise NetworkError(f"layer {lid}: the engine has no implementation of "
                                   f"{layer.type}")
            impl = cls(layer, [tuple(s) for s in rep.input_shapes],  # type: ignore[arg-type]
                       tuple(rep.output_shape), self.dtype)  # type: ignore[arg-type]
            impl.init_params(rng, he=self._followed_by_relu(lid))
            self.layers[lid] = impl
        #: Max pools fed by a ReLU that feeds nothing else: a training backward pass applies
        #: the ReLU's gradient inside the pool's (on the pooled gradient, a quarter of the
        #: elements for 2x2 windows) and skips the ReLU's own (7-10% of a LeNet-5 step).
        self._rectified_pools = {
            lid: self.inputs[lid][0] for lid in self.order
            if graph.layer(lid).type == "MaxPool2D" and len(self.inputs[lid]) == 1
            and graph.layer(self.inputs[lid][0]).type == "ReLU"
            and self.consumers[self.inputs[lid][0]] == [lid]}
        self._graph_frozen = {lid for lid in self.order if not graph.layer(lid).trainable}
        self.frozen: set[str] = set(self._graph_frozen)
        self._last_training = False
        self._prepared: dict[tuple[object, ...], PreparedPass | None] = {}

    def set_frozen(self, ids: Iterable[str]) -> None:
        """Freeze ``ids`` in addition to the graph's ``trainable: false`` layers."""
        ids = set(ids)
        unknown = sorted(ids - set(self.layers))
        if unknown:
            raise NetworkError(f"cannot freeze {', '.join(unknown)}: no such layer")
        self.frozen = self._graph_frozen | ids

    # --- shapes ---------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` the Input layer accepts (batch excluded)."""
        return tuple(self.result.layers[self.input_id].output_shape)  # type: ignore[arg-type]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.result.layers[self.output_id].output_shape)  # type: ignore[arg-type]

    @property
    def ends_with_softmax(self) -> bool:
        return self.graph.layer(self.output_id).type == "Softmax"

    @property
    def logits_id(self) -> str:
        """The layer whose output the loss sees: the input of a final Softmax (trained fused
        with the cross-entropy, which is exact and stable), else the output layer."""
        return self.inputs[self.output_id][0] if self.ends_with_softmax else self.output_id

    def _followed_by_relu(self, lid: str) -> bool:
        seen = lid
        while True:
            nxt = self.consumers.get(seen, [])
            if len(nxt) != 1:
                return False
            spec = self.graph.layer(nxt[0]).spec
            if spec.rectifier:
                return True
            if spec.role not in INIT_TRANSPARENT_ROLES:
                return False
            seen = nxt[0]

    # --- running --------------------------------------------------------------------------
    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        shape = self.input_shape
        if x.ndim != len(shape) + 1 or x.shape[1:] != shape:
            want = "x".join(str(d) for d in shape)
            raise NetworkError(f"the model's Input takes [B, {want}] images, got array of "
                               f"shape {list(x.shape)}")
        return x.astype(self.dtype, copy=False)

    def _run(self, x_internal: np.ndarray, training: bool, stop_at: str,
             keep: Iterable[str] = ()) -> dict[str, np.ndarray]:
        """Forward through ``self.order`` up to and including ``stop_at``; internal layout.

        Outputs are dropped as soon as their last consumer has run (memory stays at the
        working set), except the ids in ``keep``. When nothing is kept, a layer may overwrite
        its input in place if it is that input's only consumer and the producer does not need
        its output for backward (ReLU after conv, for instance): no copy on the hot path.
        """
        kept = frozenset(keep) | {stop_at}
        with single_threaded_blas():
            if not training and not self.layers[stop_at].recording:
                prepared = self._prepared_pass(x_internal.shape, stop_at, kept)
                if prepared is not None:
                    return prepared(x_internal)
            return self._run_layers(x_internal, training, stop_at, set(kept))

    def _prepared_pass(self, shape: tuple[int, ...], stop_at: str, keep: frozenset[str]
                       ) -> PreparedPass | None:
        """The prepared inference pass (:mod:`cnnstudio.engine.prepared`) for inputs of this
        internal shape, made on first use; one per thread, since its buffers are reused by
        every call. None when the layers up to ``stop_at`` are not a chain."""
        key = (threading.get_ident(), shape, stop_at, keep)
        prepared = self._prepared.get(key, _NOT_PREPARED)
        if prepared is _NOT_PREPARED:
            if len(self._prepared) >= _PREPARED_PASSES_KEPT:
                self._prepared.clear()  # shapes of the past (a last partial batch, ...)
            prepared = self._prepared[key] = prepare_chain(
                self.order, self.inputs, self.layers, stop_at, keep, shape[1], self.rng)
        return prepared  # type: ignore[return-value]

    def _run_layers(self, x_internal: np.ndarray, training: bool, stop_at: str,
                    keep: set[str], observe: Callable[[str, np.ndarray], None] | None = None
                    ) -> dict[str, np.ndarray]:
        outputs: dict[str, np.ndarray] = {}
        remaining = {lid: len(c) for lid, c in self.consumers.items()}
        allow_inplace = keep == {stop_at}
        self._last_training = training
        for lid in self.order:
            impl = self.layers[lid]
            if lid == self.input_id:
                out = x_internal
            else:
                srcs = self.inputs[lid]
                xs = [outputs[s] for s in srcs]
                # The last consumer to run may overwrite an output in place -- in training only
                # when it is the sole consumer: an earlier one may have kept the array for its
                # backward pass (a max pool compares it with its output to find the winners).
                sole = len(self.consumers[srcs[0]]) == 1 if training else True
                inplace = (allow_inplace and len(srcs) == 1 and remaining[srcs[0]] == 1
                           and sole and srcs[0] != self.input_id
                           and self.layers[srcs[0]].output_reusable)
                out = impl.forward(xs, training=training and not (
                    impl.frozen_means_inference and lid in self.frozen),
                    rng=self.rng, inplace=inplace)
                for s in srcs:
                    remaining[s] -= 1
                    if remaining[s] == 0 and s not in keep:
                        outputs.pop(s, None)
                if observe is not None:
                    observe(lid, out)
            outputs[lid] = out
            if lid == stop_at:
                break
        return {k: v for k, v in outputs.items() if k in keep}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``x`` [B, C, H, W] -> the output layer's values, batch first ([B, units] or
        [B, C, H, W]). ``training`` switches on dropout and batch statistics and keeps what
        :meth:`backward` needs."""
        xi = batch_to_internal(self._check_input(x))
        out = self._run(xi, training, self.output_id)[self.output_id]
        return batch_to_public(out)

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Like :meth:`forward` but stops before a final Softmax: internal layout ``[K, B]``.

        The trainer's loss uses this so softmax and cross-entropy are computed fused."""
        xi = batch_to_internal(self._check_input(x))
        return self._run(xi, training, self.logits_id)[self.logits_id]

    def forward_logits_observed(self, x: np.ndarray, training: bool,
                                observe: Callable[[str, np.ndarray], None]) -> np.ndarray:
        """:meth:`forward_logits` that calls ``observe(layer id, output)`` (internal layout)
        as each layer's output is made, before any later layer may overwrite it in place:
        health figures without keeping every output or giving up in-place reuse."""
        xi = batch_to_internal(self._check_input(x))
        with single_threaded_blas():
            return self._run_layers(xi, training, self.logits_id, {self.logits_id},
                                    observe)[self.logits_id]

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """Backpropagate ``dout`` (batch-first, the gradient of the output of the last
        :meth:`forward`) and fill every layer's ``grads``. Returns d(input), batch first."""
        d = self.backward_internal(batch_to_internal(np.asarray(dout, dtype=self.dtype)),
                                   self.output_id, need_input_grad=True)
        return None if d is None else batch_to_public(d)

    def backward_internal(self, dout: np.ndarray, start: str,
                          need_input_grad: bool = False) -> np.ndarray | None:
        """Backward from layer ``start`` with ``dout`` in internal layout; gradients of a layer
        feeding several consumers are summed before it runs."""
        with single_threaded_blas():
            return self._backward_layers(dout, start, need_input_grad)

    def _backward_layers(self, dout: np.ndarray, start: str, need_input_grad: bool,
                         captured: dict[str, np.ndarray] | None = None
                         ) -> np.ndarray | None:
        grads: dict[str, np.ndarray] = {start: dout}
        stop = self.order.index(start)
        # Gradients asked for by layer (Grad-CAM) are the unmasked ones: no ReLU is skipped then.
        pools = self._rectified_pools if captured is None else {}
        rectified = {relu for relu in pools.values() if relu != start}  # whose pool runs
        for lid in reversed(self.order[: stop + 1]):
            if lid == self.input_id:
                break
            g = grads.pop(lid, None)
            if g is None:
                continue  # nothing downstream of `start` uses this layer
            if captured is not None and lid in captured:
                captured[lid] = g  # complete: every consumer has added its share
            srcs = self.inputs[lid]
            need = [need_input_grad or s != self.input_id for s in srcs]
            if lid in pools:
                dxs = self.layers[lid].backward_rectified(g, need)  # type: ignore[attr-defined]
            elif lid in rectified:
                dxs = [g if need[0] else None]  # its pool applied its gradient already
            else:
                dxs = self.layers[lid].backward(g, need)
            for s, dx in zip(srcs, dxs, strict=True):
                if dx is None:
                    continue
                if s in grads:
                    grads[s] = grads[s] + dx  # a fresh array: dx may be shared by merges
                else:
                    grads[s] = dx
        return grads.get(self.input_id)

    def inference_gradients(self, x: np.ndarray, layer_id: str, dout: np.ndarray,
                            at: Iterable[str] = ()) -> InferenceGradients:
        """Differentiate the network *as it predicts* (inference mode: moving BatchNorm
        statistics, no dropout): run ``x`` [B, C, H, W] up to ``layer_id``, backpropagate
        ``dout`` (the gradient of something with respect to that layer's output, batch first)
        to the input, and report the outputs of the layers ``at`` and the gradients with
        respect to them (batch first). Weight gradients are overwritten on the way; the weights
        are not changed. Used for saliency maps, Grad-CAM and effective receptive fields."""
        if layer_id not in self.layers:
            raise NetworkError(f"no layer {layer_id!r} in the network")
        wanted = list(dict.fromkeys(at))
        stop = self.order.index(layer_id)
        bad = [lid for lid in wanted if lid not in self.layers or self.order.index(lid) > stop]
        if bad:
            raise NetworkError(f"layer {bad[0]!r} is not on the way to {layer_id!r}")
        xi = batch_to_internal(self._check_input(x))
        running = self.order[: stop + 1]
        for lid in running:
            self.layers[lid].recording = True
        try:
            outs = self._run(xi, False, layer_id, keep=wanted)
            d = batch_to_internal(np.asarray(dout, dtype=self.dtype))
            expected = outs[layer_id].shape
            if d.shape != expected:
                raise NetworkError(f"the gradient for {layer_id} must have shape "
                                   f"{list(batch_to_public(np.empty(expected)).shape)}, got "
                                   f"{list(np.shape(dout))}")
            captured: dict[str, np.ndarray] = dict.fromkeys(wanted, None)  # type: ignore[arg-type]
            with single_threaded_blas():
                dx = self._backward_layers(d, layer_id, True, captured)
        finally:
            for lid in running:
                impl = self.layers[lid]
                impl.recording = False
                impl.cache = None  # inference caches are not a training step's: drop them
        if layer_id in captured:
            captured[layer_id] = d
        zero = np.zeros_like(xi)
        return InferenceGradients(
            input=batch_to_public(dx if dx is not None else zero),
            outputs={lid: batch_to_public(outs[lid]) for lid in wanted},
            grads={lid: batch_to_public(g) if g is not None
                   else np.zeros_like(batch_to_public(outs[lid]))
                   for lid, g in captured.items()},
        )

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``[B, classes]`` in inference mode (softmax of the logits)."""
        return flat_to_public(softmax_forward(self.forward_logits(x, training=False))[0])

    def activations(self, x: np.ndarray, layer_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """Outputs of the given layers for ``x`` (inference mode), batch first: feature maps
        ``[B, C, H, W]`` or vectors ``[B, N]``."""
        ids = list(layer_ids)
        unknown = [lid for lid in ids if lid not in self.layers]
        if unknown:
            raise NetworkError(f"no layer {unknown[0]!r} in the network")
        if not ids:
            return {}
        last = max(ids, key=self.order.index)
        xi = batch_to_internal(self._check_input(x))
        outs = self._run(xi, False, last, keep=ids)
        return {lid: batch_to_public(outs[lid]) for lid in ids}

    # --- parameters -----------------------------------------------------------------------
    def weights_of(self, layer_id: str) -> dict[str, np.ndarray]:
        """Copies of one layer's weights and buffers (PyTorch layouts), e.g. conv filters."""
        if layer_id not in self.layers:
            raise NetworkError(f"no layer {layer_id!r} in the network")
        impl = self.layers[layer_id]
        return {k: v.copy() for k, v in {**impl.params, **impl.buffers}.items()}

    def trainable_params(self) -> Iterator[ParamRef]:
        """``(layer id, name, param, grad)`` for every layer not frozen (by the graph's
        ``trainable: false`` or :meth:`set_frozen`): what the optimizer updates."""
        for lid in self.order:
            if lid in self.frozen:
                continue
            impl = self.layers[lid]
            for name, p in impl.params.items():
                yield lid, name, p, impl.grads[name]

    def param_count(self) -> int:
        return sum(p.size for impl in self.layers.values() for p in impl.params.values())

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"<layer id>/<name>": copy}`` for every weight and buffer (the weights file)."""
        return {f"{lid}/{name}": arr.copy()
                for lid in self.order
                for name, arr in {**self.layers[lid].params, **self.layers[lid].buffers}.items()}

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"<layer id>/<name>": shape}`` of every array a weights file for this network
        holds: what a reader needs to skip arrays that cannot fit without reading them."""
        return {key: arr.shape for key, arr in self._expected().items()}

    def _expected(self) -> dict[str, np.ndarray]:
        return {f"{lid}/{name}": arr
                for lid in self.order
                for name, arr in {**self.layers[lid].params, **self.layers[lid].buffers}.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into the network. ``strict`` refuses any missing, unexpected or misshaped
        key, listing every mismatch in one message; otherwise only exact fits are loaded.
        Meta keys (``"_meta/..."``) are ignored."""
        state, _ = split_meta(state)
        expected = self._expected()
        problems = []
        for key, arr in expected.items():
            if key not in state:
                problems.append(f"missing {key} {list(arr.shape)}")
            elif tuple(np.shape(state[key])) != arr.shape:
                problems.append(f"{key} has shape {list(np.shape(state[key]))}, "
                                f"the model needs {list(arr.shape)}")
        problems += [f"unexpected {key}" for key in state if key not in expected]
        if problems and strict:
            raise NetworkError("weights do not fit the model: " + "; ".join(problems))
        for key, arr in expected.items():
            if key in state and tuple(np.shape(state[key])) == arr.shape:
                arr[...] = state[key]

    def load_where_fits(self, state: Mapping[str, np.ndarray]) -> LoadReport:
        """Transfer learning: load every layer whose arrays all exist with the right shapes
        (all or nothing per layer, so no layer is left half-loaded); report the others."""
        state, _ = split_meta(state)
        loaded, skipped = [], []
        for lid in self.order:
            impl = self.layers[lid]
            arrays = {**impl.params, **impl.buffers}
            if not arrays:
                continue
            why = None
            for name, arr in arrays.items():
                key = f"{lid}/{name}"
                if key not in state:
                    why = f"no {key} in the file"
                    break
                if tuple(np.shape(state[key])) != arr.shape:
                    why = (f"{key} is {list(np.shape(state[key]))} in the file, "
                           f"{list(arr.shape)} in the model")
                    break
            if why:
                skipped.append((lid, why))
                continue
            for name, arr in arrays.items():
                arr[...] = state[f"{lid}/{name}"]
            loaded.append(lid)
        return LoadReport(tuple(loaded), tuple(skipped))
