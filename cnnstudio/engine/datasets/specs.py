"""Dataset specs: the short strings a user types to pick data (``shapes``, ``mnist:~/data``).

The CLI, the GUI and saved training settings all name data the same way, and this module is
the one table that maps a spec to its loader, so ``cnnstudio datasets`` lists exactly what
``load_dataset`` accepts. After loading, images are adapted to the channel count and size the
model asks for, so e.g. a 3-channel 32x32 model can still train on MNIST.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnstudio.engine.datasets.arrays import (
    change_channels,
    check_images_fit,
    images_bytes,
    images_refusal,
    resize_images,
)
from cnnstudio.engine.datasets.base import Dataset, DatasetCancelled, DatasetError
from cnnstudio.engine.datasets.cifar10 import load_cifar10
from cnnstudio.engine.datasets.digits import load_digits
from cnnstudio.engine.datasets.folder import DEFAULT_TEST_FRACTION, load_folder
from cnnstudio.engine.datasets.mnist import load_mnist
from cnnstudio.engine.datasets.npz import load_npz
from cnnstudio.engine.datasets.shapes import (
    MIN_SIZE,
    SHAPE_KINDS,
    ProgressReport,
    ShapesConfig,
    StopCheck,
    make_shapes,
)
from cnnstudio.engine.memory import format_bytes

__all__ = ["DatasetRequest", "GenerationPlan", "adapt_dataset", "describe_specs",
           "load_dataset", "parse_shapes", "planned_generation", "with_test_share"]


@dataclass(frozen=True)
class DatasetRequest:
    """What the caller wants besides the source: the model's input size and depth, a Generator,
    and for long work a way to stop it and to hear how far it is."""

    image_size: tuple[int, int] | None
    channels: int | None
    rng: np.random.Generator
    stop: StopCheck | None = None
    progress: ProgressReport | None = None


@dataclass(frozen=True)
class GenerationPlan:
    """What loading a generated spec would make, known before making it: ``count`` images of
    ``shape`` (C, H, W), ``bytes`` as float32, and ``refusal``, the memory budget's one-line
    refusal (None when it fits)."""

    spec: str
    count: int
    shape: tuple[int, int, int]
    bytes: int
    refusal: str | None

    def describe(self) -> str:
        c, h, w = self.shape
        return f"{self.count:,} images of {c}x{h}x{w} ({format_bytes(self.bytes)})"


@dataclass(frozen=True)
class _Form:
    usage: str
    description: str
    needs_argument: bool
    load: Callable[[str, DatasetRequest], Dataset]


def _shapes(argument: str, request: DatasetRequest) -> Dataset:
    config, seed = parse_shapes(argument, request)
    check_images_fit(config.train + config.test, (config.channels, config.height, config.width),
                     f"shapes:{argument}" if argument else "shapes", "generating")
    rng = request.rng if seed is None else np.random.default_rng(seed)
    return make_shapes(config, rng, request.stop, request.progress)


def _path(argument: str) -> Path:
    return Path(argument).expanduser()


#: A trailing ``,key=value`` of a folder spec (a path may hold commas, so options are taken
#: from the end only).
_FOLDER_OPTION = re.compile(r",\s*(test|seed)\s*=\s*([^,]*)$")


def _folder_options(argument: str) -> tuple[str, dict[str, str]]:
    """``PATH,test=0.3`` -> ``("PATH", {"test": "0.3"})`` (the last value of a key wins)."""
    options: dict[str, str] = {}
    while match := _FOLDER_OPTION.search(argument):
        options.setdefault(match.group(1), match.group(2).strip())
        argument = argument[:match.start()]
    return argument, options


def with_test_share(spec: str, fraction: float) -> str:
    """A ``folder:`` spec with its held-out share set to ``fraction`` (other options kept):
    how the window changes the share."""
    kind, _, argument = spec.partition(":")
    path, options = _folder_options(argument)
    options["test"] = f"{fraction:g}"
    return f"{kind}:{path}" + "".join(f",{k}={v}" for k, v in sorted(options.items()))


def _folder(argument: str, request: DatasetRequest) -> Dataset:
    """``folder:PATH[,test=F][,seed=N]``: F the share of each class held out for testing."""
    argument, options = _folder_options(argument)
    try:
        fraction = float(options.get("test", DEFAULT_TEST_FRACTION))
        seed = int(options.get("seed", 0))
    except ValueError:
        raise DatasetError(f"folder:{argument}: test must be a number such as 0.2 and seed a "
                           f"whole number, got {options}") from None
    if not (math.isfinite(fraction) and 0.0 <= fraction < 1.0) or seed < 0:
        raise DatasetError(f"folder:{argument}: test must be at least 0 and below 1 (a share "
                           f"of each class, e.g. test=0.2) and seed not negative")
    return load_folder(_path(argument.strip()), channels=request.channels,
                       image_size=request.image_size, test_fraction=fraction, seed=seed,
                       stop=request.stop, progress=request.progress)


_FORMS: dict[str, _Form] = {
    "shapes": _Form(
        "shapes[:OPTIONS]",
        "generated outline shapes and oriented lines (built-in); OPTIONS as key=value,... with "
        "classes=N or a+b+..., train, test, size=N or HxW, channels, noise, clutter, shading, "
        "seed",
        False,
        _shapes,
    ),
    "digits": _Form(
        "digits",
        "1,797 handwritten digits, 8x8 grey, 10 classes (shipped; UCI, CC BY 4.0)",
        False,
        lambda _arg, _req: load_digits(),
    ),
    "mnist": _Form(
        "mnist:PATH",
        "MNIST or Fashion-MNIST: a folder of IDX files (.gz or raw) or a Keras mnist.npz",
        True,
        lambda arg, _req: load_mnist(_path(arg)),
    ),
    "fashion-mnist": _Form(
        "fashion-mnist:PATH",
        "as mnist:PATH, with Fashion-MNIST's class names",
        True,
        lambda arg, _req: load_mnist(_path(arg), fashion=True),
    ),
    "cifar10": _Form(
        "cifar10:PATH",
        "CIFAR-10 binary version: folder with data_batch_*.bin and test_batch.bin "
        "(or the folder holding cifar-10-batches-bin)",
        True,
        lambda arg, _req: load_cifar10(_path(arg)),
    ),
    "folder": _Form(
        "folder:PATH[,test=F][,seed=N]",
        "one sub-folder of PNG/JPEG images per class (optionally inside train/ and test/ or "
        "val/); without a test folder, test=F of each class is held out (default 0.2, "
        "seed 0); needs Pillow",
        True,
        _folder,
    ),
    "npz": _Form(
        "npz:PATH",
        "an .npz with x_train, y_train (optional x_test, y_test, class_names); "
        "images [N,H,W], [N,C,H,W] or [N,H,W,C]",
        True,
        lambda arg, _req: load_npz(_path(arg)),
    ),
}


def describe_specs() -> list[tuple[str, str]]:
    """``(usage, description)`` for every spec form, for ``cnnstudio datasets`` and the GUI."""
    return [(form.usage, form.description) for form in _FORMS.values()]


def load_dataset(
    spec: str,
    *,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    rng: np.random.Generator | None = None,
    stop: StopCheck | None = None,
    progress: ProgressReport | None = None,
) -> Dataset:
    """Load the dataset a spec names, adapted to ``channels`` (1 or 3) and ``image_size`` (H, W).

    ``rng`` drives generated data (``shapes``); without one a fixed seed is used so the same
    spec always gives the same data. Raises DatasetError (one line, naming spec or file).
    ``stop`` ends generating or adapting early with DatasetCancelled; ``progress`` hears
    ``(images made, images in all)`` while images are generated.
    """
    if channels not in (None, 1, 3):
        raise DatasetError(f"{spec}: channels must be 1 or 3, got {channels}")
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise DatasetError(f"{spec}: image size must be two positive numbers, got {image_size}")
    kind, _, argument = spec.strip().partition(":")
    form = _FORMS.get(kind.strip().lower())
    if form is None:
        known = ", ".join(f.usage for f in _FORMS.values())
        raise DatasetError(f"{spec!r}: unknown dataset; use one of: {known}")
    if form.needs_argument and not argument.strip():
        raise DatasetError(f"{spec!r}: needs a path, as in {form.usage}")
    if not form.needs_argument and argument.strip() and kind.strip().lower() != "shapes":
        raise DatasetError(f"{spec!r}: takes no argument, use {form.usage}")
    request = DatasetRequest(
        image_size=(int(image_size[0]), int(image_size[1])) if image_size else None,
        channels=channels,
        rng=rng if rng is not None else np.random.default_rng(0),
        stop=stop,
        progress=progress,
    )
    data = form.load(argument.strip(), request)
    if stop is not None and stop():
        raise DatasetCancelled(f"{spec}: loading was stopped")
    return adapt_dataset(data, channels, request.image_size, stop, progress)


def planned_generation(spec: str, *, image_size: tuple[int, int] | None = None,
                       channels: int | None = None) -> GenerationPlan | None:
    """What ``load_dataset(spec, image_size=..., channels=...)`` would generate, without
    generating it: None for data read from a file (its size is the file's) or a spec that
    does not parse (loading it reports the problem)."""
    kind, _, argument = spec.strip().partition(":")
    if kind.strip().lower() != "shapes":
        return None
    request = DatasetRequest(image_size=image_size, channels=channels,
                             rng=np.random.default_rng(0))
    try:
        config, _ = parse_shapes(argument.strip(), request)
    except DatasetError:
        return None
    count, shape = config.train + config.test, (config.channels, config.height, config.width)
    where = f"shapes:{argument.strip()}" if argument.strip() else "shapes"
    return GenerationPlan(spec, count, shape, images_bytes(count, shape),
                          images_refusal(count, shape, where, "generating"))


def adapt_dataset(
    dataset: Dataset, channels: int | None = None, image_size: tuple[int, int] | None = None,
    stop: StopCheck | None = None, progress: ProgressReport | None = None,
) -> Dataset:
    """Convert grey <-> RGB and resize (bilinear) so the images fit the model's Input layer.

    Done a chunk of images at a time (at most _ADAPT_PIXELS output pixels), so the temporaries
    stay small, ``stop`` is asked between chunks (DatasetCancelled) and ``progress`` hears
    ``(images done, images in all)``."""
    c, h, w = dataset.image_shape
    size = (int(image_size[0]), int(image_size[1])) if image_size is not None else None
    if channels in (None, c) and size in (None, (h, w)):
        return dataset

    out_shape = (channels or c, *(size or (h, w)))
    count = len(dataset.x_train) + len(dataset.x_test)
    check_images_fit(count, out_shape, dataset.source, "resizing to")
    chunk = max(1, _ADAPT_PIXELS // (out_shape[1] * out_shape[2]))

    def fit(x: np.ndarray, before: int) -> np.ndarray:
        out = np.empty((len(x), *out_shape), dtype=np.float32)
        for start in range(0, len(x), chunk):
            if stop is not None and stop():
                raise DatasetCancelled(f"{dataset.source}: resizing was stopped")
            part = x[start:start + chunk]
            if channels is not None:
                part = change_channels(part, channels, dataset.source)
            out[start:start + len(part)] = resize_images(part, size) if size else part
            if progress is not None:
                progress(before + start + len(part), count)
        return out

    return Dataset(
        x_train=fit(dataset.x_train, 0),
        y_train=dataset.y_train,
        x_test=fit(dataset.x_test, len(dataset.x_train)),
        y_test=dataset.y_test,
        class_names=dataset.class_names,
        name=dataset.name,
        source=dataset.source,
        split=dataset.split,
        held_out=dataset.held_out,
        file_names=dataset.file_names,
    )


#: Output pixels (images x H x W) one step of adapt_dataset makes.
_ADAPT_PIXELS = 1 << 22


def parse_shapes(argument: str, request: DatasetRequest) -> tuple[ShapesConfig, int | None]:
    """Turn ``classes=4,size=28,channels=3,seed=7`` into a ShapesConfig and an optional seed.

    The request's size and channels are the defaults, so generated images need no resizing;
    a size too small to draw on (an 8x8 Input) is drawn at MIN_SIZE and resized afterwards.
    """
    where = f"shapes:{argument}" if argument else "shapes"
    values: dict[str, object] = {}
    if request.image_size is not None:
        values["height"], values["width"] = (max(d, MIN_SIZE) for d in request.image_size)
    if request.channels is not None:
        values["channels"] = request.channels
    seed: int | None = None
    for item in filter(None, (part.strip() for part in argument.split(","))):
        key, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or not raw:
            raise DatasetError(f"{where}: option {item!r} must look like key=value")
        try:
            if key == "classes":
                values["kinds"] = _shape_kinds(raw)
            elif key == "size":
                height, _, width = raw.lower().partition("x")
                values["height"], values["width"] = int(height), int(width or height)
            elif key in ("train", "test", "channels", "clutter"):
                values[key] = int(raw)
            elif key in ("noise", "shading"):
                values[key] = float(raw)
            elif key == "seed":
                seed = int(raw)
            else:
                raise DatasetError(
                    f"{where}: unknown option {key!r} (known: classes, train, test, size, "
                    "channels, noise, clutter, shading, seed)"
                )
        except ValueError as exc:
            raise DatasetError(f"{where}: bad value for {key}: {exc}") from None
    try:
        return ShapesConfig(**values), seed  # type: ignore[arg-type]
    except ValueError as exc:
        raise DatasetError(f"{where}: {exc}") from None


def _shape_kinds(raw: str) -> tuple[str, ...]:
    if raw.isdigit():
        count = int(raw)
        if not 2 <= count <= len(SHAPE_KINDS):
            raise ValueError(f"classes must be 2..{len(SHAPE_KINDS)}, got {count}")
        return SHAPE_KINDS[:count]
    kinds = tuple(k.strip() for k in raw.split("+"))
    unknown = [k for k in kinds if k not in SHAPE_KINDS]
    if unknown:
        raise ValueError(f"unknown shape {unknown[0]!r}; choose from {', '.join(SHAPE_KINDS)}")
    return kinds
