"""A folder of images with one sub-folder per class: the way people collect their own data.

``root/cat/*.png, root/dog/*.jpg`` gives classes ``cat`` and ``dog`` (sorted by name). If the
root holds just ``train/`` and ``test/`` (or ``val/``), each laid out that way, they become the
two splits; otherwise a stratified, seeded share of each class (20% by default) is held out as
the test split, so the confusion matrix never scores images the model trained on.
Images are decoded with Pillow (the optional ``images`` extra), resized to one size and
converted to grey or RGB. ``load_image`` is the single decoder, shared with prediction, so a
picture is prepared the same way whether it is trained on or classified.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from cnnstudio.core.files import FileRefused, regular_size
from cnnstudio.engine.datasets.arrays import check_images_fit
from cnnstudio.engine.datasets.base import Dataset, DatasetCancelled, DatasetError

__all__ = ["DEFAULT_TEST_FRACTION", "IMAGE_EXTENSIONS", "load_image", "load_folder",
           "stratified_split"]

#: Files with other extensions in a class folder (notes, thumbnails DBs) are skipped silently.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
#: Sub-folder names that mark a split layout; the first test-like one present is the test split.
_TRAIN, _TEST_NAMES = "train", ("test", "val")
#: Images decoded between two checks of ``stop`` and two progress reports.
_REPORT_EVERY = 64
#: Share of each class held out for testing when the folder has no test/ (or val/) sub-folder.
DEFAULT_TEST_FRACTION = 0.2


def load_image(
    path: Path, channels: int | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode one image to float32 ``[C, H, W]`` in [0, 1].

    ``channels`` 1 converts to grey (luma), 3 to RGB, None keeps grey images grey and makes
    everything else RGB. ``size = (H, W)`` resizes bilinearly; None keeps the image's size.
    Transparency is dropped.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels}")
    return _decode(path, channels, size).astype(np.float32) / np.float32(255)


def load_folder(
    path: Path, *, channels: int | None = None, image_size: tuple[int, int] | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0,
    stop: Callable[[], bool] | None = None, progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Load a class-per-sub-folder image collection.

    ``image_size = (H, W)`` defaults to the size of the first image (in sorted order);
    ``channels`` None means 1 when every image is grey, else 3. Without test/ or val/
    sub-folders, ``test_fraction`` of each class (chosen by ``seed``) becomes the test split.
    Decoding thousands of files takes a while: ``stop`` is asked every _REPORT_EVERY images
    (DatasetCancelled) and ``progress`` hears ``(images decoded, images in all)``.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"{path}: the test share must be at least 0 and below 1, "
                           f"got {test_fraction:g}")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such folder")
    by_name = {d.name.lower(): d for d in _subdirs(path)}
    test_dir = next((by_name[n] for n in _TEST_NAMES if n in by_name), None)
    layout = _TRAIN in by_name and set(by_name) <= {_TRAIN, *_TEST_NAMES}
    train_files, names = _collect(by_name[_TRAIN] if layout else path)
    if layout and test_dir is not None:
        test_files = _test_folder_files(test_dir, names)
        split = f"test split: the {test_dir.name}/ folder"
        if len(by_name) == 3:  # train/, test/ and val/: test/ wins
            split += " (val/ not used)"
    else:
        train_files, test_files = stratified_split(train_files, test_fraction, seed)
        split = (f"test split: {test_fraction * 100:g}% of each class held out (seed {seed}; "
                 f"change with folder:PATH,test=0.3)" if test_fraction else
                 "no test split (test=0)")
    if image_size is None:
        first = _decode(train_files[0][0], 1, None)
        image_size = (first.shape[1], first.shape[2])
    check_images_fit(len(train_files) + len(test_files), (channels or 3, *image_size), str(path),
                     "decoding")
    files = [file for file, _ in train_files + test_files]
    decoded = []
    for i, file in enumerate(files):
        if i % _REPORT_EVERY == 0:
            if stop is not None and stop():
                raise DatasetCancelled(f"{path}: loading was stopped")
            if progress is not None and i:
                progress(i, len(files))
        decoded.append(_decode(file, channels, image_size))
    depth = max(pixels.shape[0] for pixels in decoded)  # auto: 1 only if every image is grey
    x = np.stack([np.broadcast_to(p, (depth,) + p.shape[1:]) for p in decoded])
    x = x.astype(np.float32) / np.float32(255)
    y = np.array([label for _, label in train_files + test_files], dtype=np.int64)
    n_train = len(train_files)
    return Dataset(
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_test=x[n_train:],
        y_test=y[n_train:],
        class_names=tuple(names),
        name=path.name or str(path),
        source=str(path),
        split=split,
        held_out=None if layout and test_dir is not None else test_fraction,
        file_names=tuple(f.relative_to(path).as_posix() for f, _ in train_files + test_files),
    )


def _test_folder_files(test_dir: Path, names: list[str]) -> list[tuple[Path, int]]:
    """The test/ (or val/) folder's images, labelled with the train folder's class indices."""
    test_files, test_names = _collect(test_dir, allow_empty=True)
    extra = sorted(set(test_names) - set(names))
    if extra:
        raise DatasetError(f"{test_dir}: class {extra[0]!r} is not in the train folder")
    return [(file, names.index(test_names[label])) for file, label in test_files]


def stratified_split(files: list[tuple[Path, int]], fraction: float, seed: int
                     ) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """``(train, test)``: ``round(fraction * n)`` of each class's n files for testing, chosen
    by ``seed`` alone, so the same folder and seed always give the same split; every class keeps
    at least one training image. Both lists keep the files' order."""
    rng = np.random.default_rng(seed)
    labels = np.array([label for _, label in files], dtype=np.int64)
    test = np.zeros(len(files), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_test = min(int(round(fraction * len(members))), len(members) - 1)
        test[rng.permutation(members)[:n_test]] = True
    return ([f for f, t in zip(files, test, strict=True) if not t],
            [f for f, t in zip(files, test, strict=True) if t])


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be listed ({exc.strerror or exc})") from None


def _collect(root: Path, allow_empty: bool = False) -> tuple[list[tuple[Path, int]], list[str]]:
    """List ``(image file, class index)`` for each class sub-folder of ``root``."""
    classes = _subdirs(root)
    if not classes:
        loose = any(_is_image(p) for p in root.iterdir())
        hint = " (it holds images directly; put them in one sub-folder per class)" if loose else ""
        raise DatasetError(
            f"{root}: no class folders; expected one sub-folder per class holding PNG/JPEG "
            f"images{hint}"
        )
    if len(classes) < 2 and not allow_empty:
        raise DatasetError(
            f"{root}: only one class folder ({classes[0].name!r}); a classifier needs at least two"
        )
    files: list[tuple[Path, int]] = []
    for label, folder in enumerate(classes):
        images = sorted(p for p in folder.iterdir() if _is_image(p))
        if not images and not allow_empty:
            raise DatasetError(f"{folder}: class folder holds no PNG/JPEG images")
        files.extend((image, label) for image in images)
    return files, [c.name for c in classes]


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def _pillow(path: Path) -> ModuleType:
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError(
            f"{path}: reading images needs Pillow: pip install cnnstudio[images]"
        ) from None
    return Image


def _decode(path: Path, channels: int | None, size: tuple[int, int] | None) -> np.ndarray:
    """Return uint8 ``[C, H, W]``; ``channels=None`` gives 1 channel for grey pictures (grey
    modes, or RGB files whose channels are all equal) and 3 otherwise."""
    image_module = _pillow(path)
    try:
        regular_size(path, "image")  # a FIFO would make Pillow wait forever
    except FileRefused as exc:
        raise DatasetError(f"{path}: not a readable image ({exc.problem})") from None
    try:
        with image_module.open(path) as img:
            img.load()
            img = _to_8bit(img, image_module)
            grey_mode = img.mode in ("1", "L", "LA", "F")
            img = img.convert("L" if channels == 1 or (channels is None and grey_mode) else "RGB")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), image_module.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, EOFError, image_module.DecompressionBombError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from None
    if pixels.ndim == 2:
        return pixels[None]
    chw = pixels.transpose(2, 0, 1)
    if channels is None and (chw[0] == chw[1]).all() and (chw[0] == chw[2]).all():
        chw = chw[:1]
    return np.ascontiguousarray(chw)


def _to_8bit(img: Any, image_module: ModuleType) -> Any:
    """16-bit grey PNGs (mode I/I;16) would be clipped by ``convert("L")``; scale them instead."""
    if img.mode == "I" or img.mode.startswith("I;16"):
        wide = np.asarray(img, dtype=np.float64)
        return image_module.fromarray(np.clip(wide / 257.0, 0, 255).astype(np.uint8))
    return img
