"""Synthetic "Fashion Product Images" data: ``styles.csv`` and ``images/{id}.jpg`` in the Kaggle layout.

The generative model (one ``np.random.default_rng(seed)``): each product draws an articleType (which fixes
masterCategory, subCategory, the drawing's shape and the allowed genders and usages) with
masterCategory shares like the real file (Apparel ~48%, Accessories ~26%, Footwear ~21%, Personal Care
~5%); a gender among the allowed ones (Men and Women most common); a baseColour (accessories lean to
silver / gold / brown / black); a season that depends on the type (shorts and flip flops lean to
Summer, jackets and sweatshirts to Fall / Winter); a year (2010-2017); a usage among the allowed ones;
a brand by masterCategory and a style word ("Check", "Striped", ...). The name is composed from them,
e.g. "Turtle Check Men Navy Blue Shirt"; the image is the type's silhouette in the colour, textured by
the style word. So attributes shared by products (the retrieval tasks' relevance) are visible in both
name and image.

Quirks of the real file reproduced: no quoting at all, and 1% of names carry an extra comma
("Nike Men Black, White Sports Shoes"), so a plain CSV reader fails on those rows; a few empty
baseColour / season / year / usage fields; 3% of ids without an image. Ids are distinct integers in
the real range, in no particular order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pydantic

from recsys_cl.data.synth import _catalogue as cat
from recsys_cl.data.synth._images import draw_product, write_jpeg
from recsys_cl.errors import validated
from recsys_cl.files import atomic_output
from recsys_cl.progress import StageProgress
from recsys_cl.limits import Seed

STYLES_COLUMNS = (
    "id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
    "productDisplayName",
)
_MASTER_SHARE = {"Apparel": 0.48, "Accessories": 0.26, "Footwear": 0.21, "Personal Care": 0.05}
_GENDER_WEIGHT = {"Men": 5.0, "Women": 4.2, "Unisex": 0.5, "Boys": 0.3, "Girls": 0.25}
_EXTRA_COMMA = 0.01
_EMPTY = {"baseColour": 0.004, "season": 0.004, "year": 0.004, "usage": 0.01}
_IMAGE_SHARE = 0.97
#: size of the demo run (a few seconds with images): ``generate_styles(out, **STYLES_DEMO)``.
STYLES_DEMO = {"products": 1_000, "images": True}


class StylesSynthConfig(pydantic.BaseModel):
    """Size and seed of a synthetic styles dataset."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    products: int = pydantic.Field(gt=0, le=1_000_000)
    seed: Seed = 0
    images: bool = False


def generate_styles(
    out_dir: str | Path, *, products: int, seed: int = 0, images: bool = False, progress: StageProgress | None = None
) -> dict[str, Any]:
    """Write ``styles.csv`` (and ``images/{id}.jpg`` if asked) to ``out_dir``; returns a summary."""
    cfg = validated(StylesSynthConfig, {"products": products, "seed": seed, "images": images}, "synthetic styles option",
                    with_input=True)
    report = progress or (lambda stage, done, total: None)
    out = cat.output_dir(out_dir, "synthetic styles data")
    rng = np.random.default_rng(cfg.seed)
    n = cfg.products
    types = cat.STYLES_TYPES
    n_per_master = {m: sum(1 for t in types if t[0] == m) for m in _MASTER_SHARE}
    type_p = cat.shares([_MASTER_SHARE[t[0]] / n_per_master[t[0]] for t in types])
    typ = rng.choice(len(types), size=n, p=type_p)

    genders = tuple(_GENDER_WEIGHT)
    gender_p = np.array([[_GENDER_WEIGHT[g] if g in t[4] else 0.0 for g in genders] for t in types])
    gender = cat.choice_rows(rng, gender_p[typ])

    colour_names = [c[0] for c in cat.STYLES_COLOURS]
    base = np.array([c[2] for c in cat.STYLES_COLOURS])
    metal = np.isin(colour_names, ["Silver", "Gold", "Brown", "Black"])
    colour_p = np.array([base * np.where(metal, 3.0, 1.0) if t[0] == "Accessories" else base for t in types])
    colour = cat.choice_rows(rng, colour_p[typ])
    colour2 = (colour + rng.integers(1, len(colour_names), size=n)) % len(colour_names)

    def season_weights(article_type: str) -> list[float]:  # Summer, Fall, Winter, Spring
        if article_type in ("Shorts", "Flip Flops", "Tops", "Dresses"):
            return [5.0, 1.0, 0.3, 1.5]
        if article_type in ("Jackets", "Sweatshirts"):
            return [0.3, 3.0, 4.0, 0.5]
        return [3.0, 3.0, 1.0, 0.8]

    season = cat.choice_rows(rng, np.array([season_weights(t[2]) for t in types])[typ])
    year = rng.choice(np.arange(2010, 2018), size=n, p=cat.shares([1, 4, 5, 3, 2, 2, 2, 1]))
    usages = ("Casual", "Formal", "Sports", "Ethnic", "Smart Casual", "Party")
    usage_p = np.array([[1.0 if u in t[5] else 0.0 for u in usages] for t in types])
    usage = cat.choice_rows(rng, usage_p[typ])
    style = rng.integers(0, len(cat.STYLES_STYLE_WORDS), size=n)
    brand_pick = rng.integers(0, 1 << 30, size=n)
    extra_comma = rng.random(n) < _EXTRA_COMMA
    ids = rng.choice(np.arange(1163, max(60_000, 1163 + 2 * n)), size=n, replace=False)

    names = []
    for i in range(n):  # one string per product (catalogue scale, not transaction scale)
        master, _, article_type, _, _, _ = types[typ[i]]
        brands = cat.STYLES_BRANDS[master]
        word = cat.STYLES_STYLE_WORDS[style[i]][0] if master == "Apparel" else ""
        colours = f"{colour_names[colour[i]]}, {colour_names[colour2[i]]}" if extra_comma[i] else colour_names[colour[i]]
        parts = [brands[brand_pick[i] % len(brands)], word, genders[gender[i]], colours, cat.STYLES_NOUN[article_type]]
        names.append(" ".join(p for p in parts if p))

    def blank(values: list[str], share: float) -> pl.Series:
        series = pl.Series(values, dtype=pl.Utf8)
        return series.scatter(np.flatnonzero(rng.random(n) < share), None) if share else series

    frame = pl.DataFrame(
        {
            "id": pl.Series(ids.astype(str)),
            "gender": [genders[g] for g in gender],
            "masterCategory": [types[t][0] for t in typ],
            "subCategory": [types[t][1] for t in typ],
            "articleType": [types[t][2] for t in typ],
            "baseColour": blank([colour_names[c] for c in colour], _EMPTY["baseColour"]),
            "season": blank([cat.STYLES_SEASONS[s] for s in season], _EMPTY["season"]),
            "year": blank([str(y) for y in year], _EMPTY["year"]),
            "usage": blank([usages[u] for u in usage], _EMPTY["usage"]),
            "productDisplayName": names,
        }
    )
    # The real file is written without any quoting; names with commas therefore add fields.
    lines = frame.select(pl.concat_str([pl.col(c).fill_null("") for c in STYLES_COLUMNS], separator=",").alias("line"))
    styles_path = out / "styles.csv"
    with atomic_output(styles_path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(",".join(STYLES_COLUMNS) + "\n")
            lines.write_csv(fh, include_header=False, quote_style="never")
    report("styles", n, n)

    n_images = 0
    if cfg.images:
        has_image = rng.random(n) < _IMAGE_SHARE
        todo = np.flatnonzero(has_image)
        step = max(1, len(todo) // 100)
        for done, i in enumerate(todo, start=1):
            t = types[typ[i]]
            image = draw_product(
                t[3], cat.STYLES_COLOURS[colour[i]][1], cat.STYLES_STYLE_WORDS[style[i]][1] if t[0] == "Apparel" else "solid",
                seed=int(ids[i]),
            )
            write_jpeg(image, out / "images" / f"{ids[i]}.jpg")
            n_images += 1
            if done % step == 0 or done == len(todo):
                report("images", done, len(todo))
    return {
        "dataset": "styles-synthetic",
        "seed": cfg.seed,
        "products": n,
        "names_with_extra_commas": int(extra_comma.sum()),
        "images": n_images,
        "paths": {"styles": str(styles_path), "images": str(out / "images") if cfg.images else None},
    }
