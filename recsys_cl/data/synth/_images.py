"""Product drawings for the synthetic catalogues: silhouette by product type, fill by colour and pattern.

Each image is a flat drawing on a white background: the silhouette (``SHAPES``) says what the product is,
the fill colour is the article's colour and the texture (``PATTERNS``) its graphical appearance, so an
image encoder has real, attribute-aligned signal to find. Drawings are deterministic: the only random
texture (melange) takes an explicit seed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from recsys_cl.files import atomic_output

BACKGROUND = (255, 255, 255)


def _poly(draw: ImageDraw.ImageDraw, s: float, points: list[tuple[float, float]]) -> None:
    draw.polygon([(x * s, y * s) for x, y in points], fill=255)


# Silhouettes on a 100x100 design grid, scaled to the image size.
def _top(d, s):
    _poly(d, s, [(35, 12), (42, 12), (42, 25), (58, 25), (58, 12), (65, 12), (68, 88), (32, 88)])


def _tshirt(d, s):
    _poly(d, s, [(38, 12), (62, 12), (85, 24), (78, 40), (68, 34), (68, 88), (32, 88), (32, 34), (22, 40), (15, 24)])


def _sweater(d, s):
    _poly(d, s, [(38, 10), (62, 10), (82, 22), (92, 80), (80, 82), (70, 36), (70, 90), (30, 90), (30, 36),
                 (20, 82), (8, 80), (18, 22)])


def _jacket(d, s):
    # Hooded, hip-length, wide straight sleeves, open front: clearly not a sweater.
    d.ellipse([36 * s, 0, 64 * s, 22 * s], fill=255)
    _poly(d, s, [(34, 12), (66, 12), (94, 30), (98, 98), (80, 98), (74, 46), (74, 98), (26, 98), (26, 46),
                 (20, 98), (2, 98), (6, 30)])
    d.line([(50 * s, 14 * s), (50 * s, 98 * s)], fill=0, width=max(1, int(3 * s)))


def _trousers(d, s):
    _poly(d, s, [(30, 8), (70, 8), (76, 94), (56, 94), (50, 38), (44, 94), (24, 94)])


def _shorts(d, s):
    _poly(d, s, [(24, 30), (76, 30), (82, 70), (56, 72), (50, 52), (44, 72), (18, 70)])


def _skirt(d, s):
    _poly(d, s, [(36, 20), (64, 20), (84, 84), (16, 84)])


def _dress(d, s):
    _poly(d, s, [(40, 6), (46, 6), (46, 16), (54, 16), (54, 6), (60, 6), (62, 36), (84, 94), (16, 94), (38, 36)])


def _bra(d, s):
    d.ellipse([22 * s, 36 * s, 50 * s, 66 * s], fill=255)
    d.ellipse([50 * s, 36 * s, 78 * s, 66 * s], fill=255)
    _poly(d, s, [(18, 56), (82, 56), (82, 64), (18, 64)])


def _socks(d, s):
    _poly(d, s, [(22, 10), (40, 10), (40, 66), (56, 74), (56, 90), (22, 90)])
    _poly(d, s, [(58, 10), (76, 10), (76, 66), (92, 74), (92, 90), (58, 90)])


def _shoe(d, s):
    _poly(d, s, [(10, 50), (42, 44), (60, 58), (90, 64), (92, 78), (10, 78)])


def _bag(d, s):
    d.rectangle([20 * s, 40 * s, 80 * s, 88 * s], fill=255)
    d.arc([32 * s, 14 * s, 68 * s, 60 * s], 180, 360, fill=255, width=max(1, int(5 * s)))


def _hat(d, s):
    d.pieslice([22 * s, 24 * s, 78 * s, 84 * s], 180, 360, fill=255)
    _poly(d, s, [(16, 54), (84, 54), (84, 64), (16, 64)])


def _watch(d, s):
    _poly(d, s, [(40, 4), (60, 4), (60, 96), (40, 96)])
    d.ellipse([28 * s, 30 * s, 72 * s, 74 * s], fill=255)


def _bottle(d, s):
    _poly(d, s, [(42, 8), (58, 8), (58, 24), (70, 34), (70, 92), (30, 92), (30, 34), (42, 24)])


SHAPES: dict[str, Callable[[ImageDraw.ImageDraw, float], None]] = {
    "top": _top, "tshirt": _tshirt, "sweater": _sweater, "jacket": _jacket, "trousers": _trousers,
    "shorts": _shorts, "skirt": _skirt, "dress": _dress, "bra": _bra, "socks": _socks, "shoe": _shoe,
    "bag": _bag, "hat": _hat, "watch": _watch, "bottle": _bottle,
}


def _contrast(rgb: tuple[int, int, int]) -> np.ndarray:
    """A second colour for patterns: darker for light colours, lighter for dark ones."""
    c = np.asarray(rgb, dtype=np.float32)
    luminance = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    return c * 0.5 if luminance > 128 else c * 0.4 + 255 * 0.6


def _texture(pattern: str, rgb: tuple[int, int, int], size: int, seed: int) -> np.ndarray:
    """(size, size, 3) uint8 fill for a pattern name (see ``PATTERNS``)."""
    base = np.asarray(rgb, dtype=np.float32)
    other = _contrast(rgb)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) * (100.0 / size)
    use_other = np.zeros((size, size), dtype=bool)
    if pattern == "stripe":
        use_other = (yy // 6) % 2 == 1
    elif pattern == "check":
        use_other = ((yy // 10) + (xx // 10)) % 2 == 1
    elif pattern == "dots":
        use_other = ((xx % 12) - 6) ** 2 + ((yy % 12) - 6) ** 2 < 7
    elif pattern == "print":
        use_other = (xx - 50) ** 2 + (yy - 52) ** 2 < 14**2
    elif pattern == "blocks":
        use_other = yy > 55
    elif pattern == "lace":
        use_other = ((xx % 8) - 4) ** 2 + ((yy % 8) - 4) ** 2 < 3
    fill = np.where(use_other[..., None], other, base)
    if pattern == "melange":
        noise = np.random.default_rng(seed).normal(0.0, 22.0, size=(size, size, 1)).astype(np.float32)
        fill = fill + noise
    elif pattern == "denim":
        fill = fill + np.where(((xx + yy) % 4) < 1.5, 25.0, -10.0)[..., None]
    return np.clip(fill, 0, 255).astype(np.uint8)


PATTERNS = ("solid", "stripe", "check", "dots", "print", "blocks", "lace", "melange", "denim")


def draw_product(shape: str, rgb: tuple[int, int, int], pattern: str, *, size: int = 128, seed: int = 0) -> Image.Image:
    """An RGB drawing: silhouette ``shape`` filled with ``rgb`` in ``pattern``, outlined, on white."""
    mask = Image.new("L", (size, size), 0)
    SHAPES[shape](ImageDraw.Draw(mask), size / 100.0)
    fill = Image.fromarray(_texture(pattern, rgb, size, seed), "RGB")
    image = Image.new("RGB", (size, size), BACKGROUND)
    image.paste(fill, (0, 0), mask)
    # A grey outline keeps white products visible on the white background.
    edges = np.asarray(mask, dtype=np.int16)
    border = (edges > 0) & (
        (np.roll(edges, 1, 0) == 0) | (np.roll(edges, -1, 0) == 0) | (np.roll(edges, 1, 1) == 0) | (np.roll(edges, -1, 1) == 0)
    )
    pixels = np.asarray(image).copy()
    pixels[border] = (90, 90, 90)
    return Image.fromarray(pixels, "RGB")


def write_jpeg(image: Image.Image, path: Path) -> None:
    """Write a JPEG atomically (temporary name, then rename); same image -> same bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
