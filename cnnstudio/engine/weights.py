"""Weights files: the spec's ``.npz`` of ``"<layer id>/<name>"`` arrays in PyTorch layouts.

Files come from users and other tools, so reading never unpickles (``allow_pickle=False``) and
every failure becomes a :class:`WeightsError` naming the file. Saving is atomic so a crash or a
full disk never leaves half a file where good weights used to be.

Besides the weights, a file may carry meta arrays under the ``"_meta/"`` prefix (the input
normaliser's ``norm_mean``/``norm_std``): the numbers a network was trained with travel with it,
so prediction standardises images exactly as training did; and ``class_names`` (a unicode array,
which needs no pickling) so predictions can be printed by name. Loaders that check keys against a
model skip meta keys (:func:`split_meta`), so such files still load strictly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from cnnstudio.core.atomic import atomic_open
from cnnstudio.engine import npzfile
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.errors import WeightsError
from cnnstudio.engine.npzfile import Member

__all__ = [
    "META_PREFIX",
    "WeightsError",
    "atomic_save_npz",
    "class_names_from_meta",
    "class_names_meta",
    "load_weights",
    "normalizer_from_meta",
    "normalizer_meta",
    "read_npz",
    "save_weights",
    "split_meta",
]

META_PREFIX = "_meta/"
_NORM_MEAN, _NORM_STD = META_PREFIX + "norm_mean", META_PREFIX + "norm_std"
_CLASS_NAMES = META_PREFIX + "class_names"


def atomic_save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` at ``path`` atomically; raises OSError when
    the folder cannot be written."""
    with atomic_open(path) as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def save_weights(
    path: str | os.PathLike[str],
    state: Mapping[str, np.ndarray],
    normalizer: Normalizer | None = None,
    class_names: Sequence[str] | None = None,
) -> None:
    """Save a network's ``state_dict()`` (plus the normaliser it was trained with and the
    dataset's class names, if given). Raises WeightsError naming the file when it cannot be
    written."""
    arrays = dict(state)
    if normalizer is not None:
        arrays.update(normalizer_meta(normalizer))
    if class_names:
        arrays.update(class_names_meta(class_names))
    try:
        atomic_save_npz(path, arrays)
    except OSError as exc:
        reason = exc.strerror or exc
        raise WeightsError(f"{path}: cannot write the weights file ({reason})") from None


def read_npz(path: str | os.PathLike[str], what: str = "weights file",
             expected: Mapping[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` as a dict, never unpickling; WeightsError on any problem.

    Headers are checked before anything is read (see :mod:`cnnstudio.engine.npzfile`), and
    arrays are read eagerly so a corrupt member fails here, with the file's name, rather than
    later at first use. With ``expected`` (``{key: shape}``, from the model the file is for),
    only arrays of the expected shape and meta arrays are read; the others are returned as
    zero-size stand-ins of their declared shape, enough to report the misfit.
    """
    def wanted(member: Member) -> bool:
        return (expected is None or member.key.startswith(META_PREFIX)
                or expected.get(member.key) == member.shape)

    return npzfile.read_npz(path, WeightsError, what, wanted)


def load_weights(path: str | os.PathLike[str],
                 expected: Mapping[str, tuple[int, ...]] | None = None
                 ) -> dict[str, np.ndarray]:
    """Read a weights file: ``{"<layer id>/<name>": array}`` (meta keys included, see
    :func:`split_meta`). ``expected`` as for :func:`read_npz`. Raises WeightsError with a
    one-line message naming the file."""
    arrays = read_npz(path, expected=expected)
    for key, arr in arrays.items():
        if "/" not in key:
            raise WeightsError(
                f"{path}: key {key!r} is not of the form '<layer id>/<name>': not a cnnstudio "
                "weights file"
            )
        if key.startswith(META_PREFIX):
            continue
        if not np.issubdtype(arr.dtype, np.floating):
            raise WeightsError(f"{path}: array {key!r} has type {arr.dtype}, expected floats")
        if not np.isfinite(arr).all():
            raise WeightsError(f"{path}: array {key!r} holds NaN or infinite values; these "
                               "weights cannot predict anything (did a training run diverge?)")
    return arrays


def split_meta(state: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                         dict[str, np.ndarray]]:
    """``(weights, meta)``: separate the layer arrays from the ``"_meta/"`` arrays."""
    weights = {k: v for k, v in state.items() if not k.startswith(META_PREFIX)}
    meta = {k: v for k, v in state.items() if k.startswith(META_PREFIX)}
    return weights, meta


def normalizer_meta(normalizer: Normalizer) -> dict[str, np.ndarray]:
    """The meta arrays that store ``normalizer`` in a weights file."""
    return {_NORM_MEAN: normalizer.mean.copy(), _NORM_STD: normalizer.std.copy()}


def normalizer_from_meta(state: Mapping[str, np.ndarray], source: str = "weights file"
                         ) -> Normalizer | None:
    """The normaliser stored in a weights file, or None when it holds none."""
    if _NORM_MEAN not in state and _NORM_STD not in state:
        return None
    try:
        return Normalizer(mean=state[_NORM_MEAN], std=state[_NORM_STD])
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"{source}: stored input normalisation is unusable ({exc})") from None


def class_names_meta(class_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The meta array that stores the dataset's class names in a weights file."""
    return {_CLASS_NAMES: np.array([str(c) for c in class_names], dtype=str)}


def class_names_from_meta(state: Mapping[str, np.ndarray]) -> tuple[str, ...] | None:
    """The class names stored in a weights file, or None."""
    names = state.get(_CLASS_NAMES)
    if names is None or names.ndim != 1 or names.dtype.kind != "U":
        return None
    return tuple(str(n) for n in names)
