"""Arrays to pictures: the colour map, per-map scaling and image conversion for training views.

Feature maps, filters, dataset samples and confusion-matrix examples are all small float arrays
that must be turned into pixels the same way, so the user can compare them across views. Each
map is scaled on its own (a weak map would otherwise be a black square next to a strong one),
and colour comes from viridis, whose brightness rises steadily so "more" always reads as
"lighter", also in grey-scale print and for colour-blind readers.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

__all__ = [
    "colourise",
    "filters_to_rgb",
    "image_to_rgb",
    "rgb_to_qimage",
    "scale_each",
    "viridis_lut",
]


@lru_cache(maxsize=1)
def viridis_lut() -> np.ndarray:
    """The 256-entry viridis table as uint8 [256, 3]. pyqtgraph ships the colour map data as a
    256-line CSV file, read here the way pyqtgraph reads it but without importing pyqtgraph
    (which takes a third of a second; feature maps and filters need only these numbers)."""
    colours = _viridis_from_file()
    if colours is None:  # the file is not where this pyqtgraph keeps it: ask pyqtgraph
        import pyqtgraph as pg

        colours = pg.colormap.get("viridis").getLookupTable(nPts=256, mode="byte",
                                                            alpha=False)[:, :3]
    return np.ascontiguousarray(colours, dtype=np.uint8)


def _viridis_from_file() -> np.ndarray | None:
    """pyqtgraph's ``colors/maps/viridis.csv`` as [256, 3] bytes (``int(255*c + 0.5)``, as
    pyqtgraph rounds them), or None when it cannot be found or has not 256 colours."""
    spec = importlib.util.find_spec("pyqtgraph")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        try:
            text = (Path(folder) / "colors" / "maps" / "viridis.csv").read_text("utf-8")
        except OSError:
            continue
        rows = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            parts = line.split(";", 1)[0].split(",")
            if len(parts) >= 3:
                rows.append([int(255 * float(c) + 0.5) for c in parts[:3]])
        if len(rows) == 256:
            return np.asarray(rows, dtype=np.uint8)
    return None


def scale_each(maps: np.ndarray) -> np.ndarray:
    """Stretch every map of ``[N, H, W]`` to [0, 1] by its own minimum and maximum.

    A constant map (a dead ReLU channel) becomes all zeros rather than dividing by zero, so it
    shows as the darkest colour: "nothing here", which is what it means.
    """
    m = np.asarray(maps, dtype=np.float32)
    if m.ndim != 3:
        raise ValueError(f"expected maps [N, H, W], got shape {list(m.shape)}")
    lo = m.min(axis=(1, 2), keepdims=True)
    span = m.max(axis=(1, 2), keepdims=True) - lo
    flat = span <= 1e-12 * np.maximum(1.0, np.abs(lo))
    out = (m - lo) / np.where(flat, 1.0, span)
    out[np.broadcast_to(flat, out.shape)] = 0.0
    return np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)


def colourise(unit: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (any shape ``[..., H, W]``) to viridis RGB ``[..., H, W, 3]`` uint8."""
    idx = np.clip(np.rint(np.nan_to_num(unit) * 255.0), 0, 255).astype(np.intp)
    return viridis_lut()[idx]


def image_to_rgb(image: np.ndarray) -> np.ndarray:
    """A dataset image ``[C, H, W]`` (pixels in [0, 1]) as displayable RGB ``[H, W, 3]`` uint8.

    One channel is shown as grey and three as colour; any other channel count shows its first
    channel, because a dataset sample is a picture the user should recognise, not a heat map.
    """
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"expected an image [C, H, W], got shape {list(x.shape)}")
    rgb = np.repeat(x[:1], 3, axis=0) if x.shape[0] != 3 else x
    pixels = np.clip(np.rint(np.nan_to_num(rgb) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels.transpose(1, 2, 0))


def filters_to_rgb(weight: np.ndarray) -> list[np.ndarray]:
    """Conv kernels ``[K, C, Fh, Fw]`` as K pictures ``[Fh, Fw, 3]`` uint8.

    Kernels that see RGB (C == 3) are shown in colour, each scaled over its three channels
    together so the hue says which colour the filter responds to. Other kernels are summed over
    their input channels (exact for grey input, the first conv layer's usual case) and shown
    through viridis, each scaled on its own.
    """
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"expected conv weights [K, C, Fh, Fw], got shape {list(w.shape)}")
    if w.shape[1] == 3:
        lo = w.min(axis=(1, 2, 3), keepdims=True)
        span = w.max(axis=(1, 2, 3), keepdims=True) - lo
        unit = (w - lo) / np.where(span <= 0, 1.0, span)
        pix = np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)
        return [np.ascontiguousarray(k.transpose(1, 2, 0)) for k in pix]
    return list(colourise(scale_each(w.sum(axis=1))))


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An RGB uint8 ``[H, W, 3]`` array as a QImage that owns its pixels (safe to keep)."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected RGB [H, W, 3], got shape {list(a.shape)}")
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
