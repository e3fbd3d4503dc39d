"""A generated dataset of outline shapes and oriented lines: what first conv layers learn to see.

It needs no download, is made in a fraction of a second, and is built to teach the point of
convolution: each shape appears at a random place, size and rotation, drawn as a thin outline
with noise and distractor dots, so a plain Dense network (which must learn every position
separately) does clearly worse than a small CNN (which learns an edge detector once and slides
it). The line classes differ only in orientation, which is exactly what a first-layer filter
picks up, so the learned filters are worth looking at.

Drawing is vectorised: each image is a distance field over a pixel-centre grid, computed for a
whole batch at once with NumPy broadcasting, then turned into an anti-aliased stroke.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnstudio.engine.datasets.base import Dataset, DatasetCancelled

__all__ = ["SHAPE_KINDS", "DEFAULT_KINDS", "ShapesConfig", "make_shapes"]

#: ``() -> True`` when the caller wants generation to end (checked between batches).
StopCheck = Callable[[], bool]
#: ``(images made, images in all)`` after each batch, for a progress bar.
ProgressReport = Callable[[int, int], None]

#: Every kind the generator can draw, in label order when all are used.
SHAPE_KINDS: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "cross",
    "horizontal",
    "vertical",
    "diagonal-down",
    "diagonal-up",
)

#: The default class set: all of them. The four line orientations make the first-layer filters
#: worth inspecting, and they are what lets a small CNN beat a Dense net so clearly.
DEFAULT_KINDS: tuple[str, ...] = SHAPE_KINDS

_LINE_ANGLES = {"horizontal": 0.0, "vertical": 90.0, "diagonal-down": -45.0, "diagonal-up": 45.0}
_POLYGON_SIDES = {"square": 4, "triangle": 3}
_BATCH = 256  # images drawn at once at small sizes
#: Pixels drawn at once (images x H x W): bounds the [batch, segments, H, W] temporaries and
#: the time between two checks of ``stop``. Sizes up to 64x64 keep batches of _BATCH (and so
#: the very images they always had); a 224x224 batch holds 41 images, a fraction of a second.
_BATCH_PIXELS = _BATCH * 64 * 64


#: Smallest image the shapes can be drawn on; smaller requests are drawn at this size and resized.
MIN_SIZE = 16


@dataclass(frozen=True)
class ShapesConfig:
    """What to generate. Sizes in pixels; ``noise`` is the largest per-image Gaussian sigma.

    ``clutter`` is the largest number of distractor dots per image and ``shading`` the largest
    brightness change across an image from a lighting ramp (0 and 0 for clean images).
    """

    kinds: tuple[str, ...] = DEFAULT_KINDS
    train: int = 3000
    test: int = 600
    height: int = 32
    width: int = 32
    channels: int = 1
    noise: float = 0.08
    clutter: int = 3
    shading: float = 0.3

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in SHAPE_KINDS]
        if unknown:
            raise ValueError(f"unknown shape {unknown[0]!r}; choose from {', '.join(SHAPE_KINDS)}")
        if len(set(self.kinds)) != len(self.kinds) or len(self.kinds) < 2:
            raise ValueError("shapes needs at least two different kinds")
        if self.train < 1 or self.test < 0:
            raise ValueError("shapes needs train >= 1 and test >= 0 images")
        if min(self.height, self.width) < MIN_SIZE:
            raise ValueError(f"shapes images must be at least {MIN_SIZE}x{MIN_SIZE} to draw, got "
                             f"{self.height}x{self.width}")
        if self.channels not in (1, 3):
            raise ValueError(f"shapes channels must be 1 or 3, got {self.channels}")
        if not (0.0 <= self.noise <= 1.0 and 0.0 <= self.shading <= 1.0) or self.clutter < 0:
            raise ValueError("shapes noise and shading must be in [0, 1] and clutter >= 0")


def make_shapes(config: ShapesConfig, rng: np.random.Generator, stop: StopCheck | None = None,
                progress: ProgressReport | None = None) -> Dataset:
    """Generate a class-balanced train and test set; the same ``rng`` state gives the same data.

    ``stop`` is asked before every batch and ends generation with DatasetCancelled when it
    says so; ``progress`` hears how many images are made after every batch."""
    total = config.train + config.test

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    x_train, y_train = _render_split(config, config.train, rng, stop, report)
    x_test, y_test = _render_split(config, config.test, rng, stop,
                                   lambda done: report(config.train + done))
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(config.kinds),
        name="shapes",
        source="built-in",
    )


def _render_split(
    config: ShapesConfig, n: int, rng: np.random.Generator, stop: StopCheck | None,
    report: Callable[[int], None],
) -> tuple[np.ndarray, np.ndarray]:
    k = len(config.kinds)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % k)
    images = np.empty((n, config.channels, config.height, config.width), dtype=np.float32)
    batch = max(1, min(_BATCH, _BATCH_PIXELS // (config.height * config.width)))
    for start in range(0, n, batch):
        if stop is not None and stop():
            raise DatasetCancelled(f"shapes: generating {config.channels}x{config.height}x"
                                   f"{config.width} was stopped")
        y = labels[start : start + batch]
        images[start : start + len(y)] = _render_batch(config, y, rng)
        report(start + len(y))
    return images, labels


def _render_batch(config: ShapesConfig, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = config.height, config.width
    n = len(labels)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32) + np.float32(0.5)
    alpha = np.zeros((n, h, w), dtype=np.float32)
    scale = min(h, w)
    thickness = (rng.uniform(1.0, 2.0, n) * max(scale / 32, 0.75)).astype(np.float32)
    for label, kind in enumerate(config.kinds):
        idx = np.flatnonzero(labels == label)
        if idx.size:
            dist = _distance(kind, idx.size, h, w, gy, gx, rng)
            alpha[idx] = _stroke(dist, thickness[idx])
    if config.clutter:
        alpha = np.maximum(alpha, _clutter(n, h, w, gy, gx, config.clutter, rng))
    return _colourise(alpha, config, rng)


def _distance(
    kind: str, n: int, h: int, w: int, gy: np.ndarray, gx: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Distance in pixels from each pixel centre to the outline of ``n`` random ``kind`` shapes."""
    scale = min(h, w)
    if kind in _LINE_ANGLES:
        half = rng.uniform(0.22, 0.42, n) * scale
        angle = np.deg2rad(_LINE_ANGLES[kind] + rng.uniform(-8.0, 8.0, n))
        dy, dx = -np.sin(angle) * half, np.cos(angle) * half
        cy = rng.uniform(np.abs(dy) + 1, h - np.abs(dy) - 1)
        cx = rng.uniform(np.abs(dx) + 1, w - np.abs(dx) - 1)
        starts = np.stack([cy - dy, cx - dx], axis=-1)[:, None]
        ends = np.stack([cy + dy, cx + dx], axis=-1)[:, None]
        return _segment_distance(starts, ends, gy, gx)
    radius = rng.uniform(0.22, 0.40, n) * scale
    cy = rng.uniform(radius + 1, h - radius - 1)
    cx = rng.uniform(radius + 1, w - radius - 1)
    if kind == "circle":
        cy, cx, radius = (v.astype(np.float32)[:, None, None] for v in (cy, cx, radius))
        return np.abs(np.hypot(gy - cy, gx - cx) - radius)
    theta = rng.uniform(0.0, 2 * np.pi, n)
    if kind == "cross":
        angles = theta[:, None] + np.array([0.0, np.pi / 2])
        oy, ox = np.sin(angles) * radius[:, None], np.cos(angles) * radius[:, None]
        centre = np.stack([cy, cx], axis=-1)[:, None]
        offset = np.stack([oy, ox], axis=-1)
        return _segment_distance(centre - offset, centre + offset, gy, gx)
    sides = _POLYGON_SIDES[kind]
    angles = theta[:, None] + 2 * np.pi * np.arange(sides) / sides
    vy = cy[:, None] + np.sin(angles) * radius[:, None]
    vx = cx[:, None] + np.cos(angles) * radius[:, None]
    vertices = np.stack([vy, vx], axis=-1)
    return _segment_distance(vertices, np.roll(vertices, -1, axis=1), gy, gx)


def _segment_distance(
    starts: np.ndarray, ends: np.ndarray, gy: np.ndarray, gx: np.ndarray
) -> np.ndarray:
    """Distance ``[n, H, W]`` to the nearest of each image's segments ``starts/ends [n, k, 2]``."""
    a = starts.astype(np.float32)[..., None, None]
    b = ends.astype(np.float32)[..., None, None]
    ab_y, ab_x = b[:, :, 0] - a[:, :, 0], b[:, :, 1] - a[:, :, 1]
    ap_y, ap_x = gy - a[:, :, 0], gx - a[:, :, 1]
    length2 = np.maximum(ab_y * ab_y + ab_x * ab_x, np.float32(1e-6))
    t = np.clip((ap_y * ab_y + ap_x * ab_x) / length2, 0.0, 1.0)
    d = np.hypot(ap_y - t * ab_y, ap_x - t * ab_x)
    return d.min(axis=1)


def _stroke(dist: np.ndarray, thickness: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a line ``thickness`` pixels wide centred on the outline."""
    return np.clip(thickness[:, None, None] / 2 + 0.5 - dist, 0.0, 1.0).astype(np.float32)


def _clutter(
    n: int, h: int, w: int, gy: np.ndarray, gx: np.ndarray, most: int, rng: np.random.Generator
) -> np.ndarray:
    """Coverage of up to ``most`` small random dots per image: distractors a model must ignore."""
    count = rng.integers(0, most + 1, n)
    active = np.arange(most) < count[:, None]
    cy, cx, radius, strength = (
        v.astype(np.float32)[..., None, None]
        for v in (
            rng.uniform(0, h, (n, most)),
            rng.uniform(0, w, (n, most)),
            rng.uniform(0.6, 1.4, (n, most)) * max(min(h, w) / 32, 0.75),
            rng.uniform(0.5, 1.0, (n, most)),
        )
    )
    strength = strength * active[..., None, None]
    cover = np.clip(radius + 0.5 - np.hypot(gy - cy, gx - cx), 0.0, 1.0) * strength
    return cover.max(axis=1)


def _colourise(alpha: np.ndarray, config: ShapesConfig, rng: np.random.Generator) -> np.ndarray:
    """Blend a random background and ink colour by coverage, add noise, clip to [0, 1]."""
    n, c = len(alpha), config.channels
    # Per channel, so RGB images get random hues while the ink stays brighter than the
    # background in every channel: colour is never a cue, contrast always is.
    background = rng.uniform(0.0, 0.4, (n, c, 1, 1)).astype(np.float32)
    ink = np.minimum(background + rng.uniform(0.4, 0.8, (n, c, 1, 1)), 1.0).astype(np.float32)
    # A smooth illumination ramp in a random direction: a conv filter that responds to edges
    # ignores it, while a Dense net sees every pixel's value shifted differently.
    h, w = alpha.shape[1:]
    direction = rng.uniform(0.0, 2 * np.pi, n)
    ramp_y = (
        np.linspace(-0.5, 0.5, h, dtype=np.float32)[None, :, None]
        * np.sin(direction)[:, None, None]
    )
    ramp_x = (
        np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, None, :]
        * np.cos(direction)[:, None, None]
    )
    light = (ramp_y + ramp_x) * rng.uniform(0.0, config.shading, n)[:, None, None]
    background = background + light[:, None].astype(np.float32)
    ink = ink + light[:, None].astype(np.float32)
    sigma = rng.uniform(0.0, config.noise, (n, 1, 1, 1)).astype(np.float32)
    noise = rng.standard_normal((n, c) + alpha.shape[1:], dtype=np.float32) * sigma
    images = background + (ink - background) * alpha[:, None] + noise
    return np.clip(images, 0.0, 1.0).astype(np.float32)
