"""Product drawings: silhouette follows the type, fill follows colour and pattern (signal for image encoders)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from PIL import Image, ImageDraw

from recsys_cl.data.synth import generate_hm, image_relpath
from recsys_cl.data.synth._catalogue import COLOURS
from recsys_cl.data.synth._images import PATTERNS, SHAPES, draw_product

SIZE = 128


def _silhouette(shape: str) -> np.ndarray:
    mask = Image.new("L", (SIZE, SIZE), 0)
    SHAPES[shape](ImageDraw.Draw(mask), SIZE / 100.0)
    return np.asarray(mask) > 0


def _interior(shape: str) -> np.ndarray:
    """Silhouette pixels at least 3 px from its edge (free of outline and JPEG ringing)."""
    inside = _silhouette(shape)
    for _ in range(3):
        inside = inside & np.roll(inside, 1, 0) & np.roll(inside, -1, 0) & np.roll(inside, 1, 1) & np.roll(inside, -1, 1)
    return inside


def _foreground(image: Image.Image) -> np.ndarray:
    return (np.asarray(image, dtype=np.int16) < 235).any(axis=2)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_shape_follows_the_product_type_not_the_colour():
    red_dress = _foreground(draw_product("dress", (200, 30, 40), "solid"))
    navy_dress = _foreground(draw_product("dress", (25, 40, 90), "stripe"))
    trousers = _foreground(draw_product("trousers", (200, 30, 40), "solid"))
    shoe = _foreground(draw_product("shoe", (200, 30, 40), "solid"))
    assert _iou(red_dress, navy_dress) > 0.95
    assert _iou(red_dress, trousers) < 0.7
    assert _iou(red_dress, shoe) < 0.5
    # every silhouette is distinct from every other one
    masks = {name: _silhouette(name) for name in SHAPES}
    for a in SHAPES:
        for b in SHAPES:
            if a < b:
                assert _iou(masks[a], masks[b]) < 0.8, (a, b)


@pytest.mark.parametrize("shape", ["tshirt", "trousers", "bag", "shoe"])
def test_solid_fill_is_the_colour(shape):
    for colour in (COLOURS[0], COLOURS[2], COLOURS[12]):  # black, dark blue, red
        pixels = np.asarray(draw_product(shape, colour.rgb, "solid"), dtype=np.float64)
        mean = pixels[_interior(shape)].mean(axis=0)
        assert np.abs(mean - np.array(colour.rgb)).max() < 6, (shape, colour.name, mean)


def test_patterns_differ_and_stripes_vary_along_rows():
    images = {p: np.asarray(draw_product("sweater", (40, 90, 190), p, seed=1), dtype=np.float64) for p in PATTERNS}
    inside = _interior("sweater")
    for a in PATTERNS:
        for b in PATTERNS:
            if a < b:
                assert np.abs(images[a][inside] - images[b][inside]).mean() > 3, (a, b)
    rows = lambda img: img.mean(axis=2)[:, 50][inside[:, 50]]  # noqa: E731 - a column through the body
    assert rows(images["stripe"]).std() > 10 * max(rows(images["solid"]).std(), 0.5)


def test_drawings_are_deterministic():
    a = np.asarray(draw_product("dress", (230, 110, 160), "melange", seed=3))
    b = np.asarray(draw_product("dress", (230, 110, 160), "melange", seed=3))
    c = np.asarray(draw_product("dress", (230, 110, 160), "melange", seed=4))
    assert (a == b).all() and (a != c).any()


def test_generated_images_show_each_articles_colour(tmp_path):
    generate_hm(tmp_path, customers=20, articles=60, weeks=2, seed=11, images=True)
    articles = pl.read_csv(tmp_path / "articles.csv", infer_schema=False)
    rgb = {c.name: np.array(c.rgb) for c in COLOURS}
    checked = 0
    for article_id, colour, appearance in articles.select("article_id", "colour_group_name", "graphical_appearance_name").iter_rows():
        path = tmp_path / image_relpath(int(article_id))
        if appearance != "Solid" or not path.is_file():
            continue
        pixels = np.asarray(Image.open(path), dtype=np.float64)
        foreground = (np.abs(pixels - 255).max(axis=2) > 3) & (np.abs(pixels - 90).max(axis=2) > 3)
        # the most common foreground colour is the article's colour group
        values, counts = np.unique((pixels[foreground] / 8).round().astype(int), axis=0, return_counts=True)
        dominant = values[counts.argmax()] * 8
        assert np.abs(dominant - rgb[colour]).max() <= 12, (article_id, colour, dominant)
        checked += 1
    assert checked >= 10
