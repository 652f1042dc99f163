"""Tiny hand-built styles-shaped datasets for the embedding tests (written with write_atomic)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data._atomic import write_atomic

#: (articleType, subCategory, masterCategory): two related types per sub-category, three groups
CATALOGUE = [
    ("Tshirts", "Topwear", "Apparel"),
    ("Shirts", "Topwear", "Apparel"),
    ("Jeans", "Bottomwear", "Apparel"),
    ("Sandals", "Sandal", "Footwear"),
    ("Flip Flops", "Sandal", "Footwear"),
    ("Watches", "Watches", "Accessories"),
]
COLOURS = {"Black": (20, 20, 20), "Red": (200, 30, 30), "Blue": (30, 40, 190), "White": (240, 240, 240)}
GENDERS = ["Men", "Women"]
WORDS = ["casual", "classic", "slim", "everyday", "summer", "premium"]


def build_styles(root: Path, *, copies: int = 2, images: bool = False, missing_image_every: int = 0,
                 seed: int = 0, splits: bool = True) -> Path:
    """``root/styles-mini`` as ``prepare`` leaves a folder: styles-mini.item (+ images in ``root/raw``),
    meta.json, and (``splits``) a loo split whose training part is same-type purchases.

    Every (type, colour, gender) combination appears ``copies`` times with a different wording.
    Without ``splits`` the folder is items only, as a prepared styles dataset is.
    """
    rng = np.random.default_rng(seed)
    data_dir = root / "styles-mini"
    raw = root / "raw"
    data_dir.mkdir(parents=True)
    rows = []
    for n, ((atype, sub, master), colour, gender, copy) in enumerate(
        itertools.product(CATALOGUE, COLOURS, GENDERS, range(copies))
    ):
        iid = str(1000 + n)
        word = WORDS[(n + copy) % len(WORDS)]
        image_path = ""
        if images and not (missing_image_every and n % missing_image_every == 0):
            from PIL import Image, ImageDraw

            image_path = f"images/{iid}.jpg"
            (raw / "images").mkdir(parents=True, exist_ok=True)
            img = Image.new("RGB", (96, 96), (250, 250, 250))
            draw = ImageDraw.Draw(img)
            shape = CATALOGUE.index((atype, sub, master))
            box = (10 + 4 * shape, 20, 86 - 3 * shape, 80 - 2 * copy)
            (draw.ellipse if shape % 2 else draw.rectangle)(box, fill=COLOURS[colour])
            img.save(raw / image_path, quality=90)
        rows.append({
            "item_id": iid, "gender": gender, "masterCategory": master, "subCategory": sub, "articleType": atype,
            "baseColour": colour, "productDisplayName": f"{gender} {word} {colour} {atype}",
            "text": f"{gender} {word} {colour.lower()} {atype.lower()} {master.lower()}",
            "image_path": image_path,
        })
    items = pl.DataFrame(rows)
    raw.mkdir(parents=True, exist_ok=True)
    write_atomic(items, data_dir / "styles-mini.item")
    loo = {"files": ["train", "valid", "test"], "options": {}, "info": {}}
    meta = {"dataset": "styles-mini", "raw_dir": str(raw.resolve()), "protocols": {"loo": loo} if splits else {}}
    (data_dir / "styles-mini.meta.json").write_text(json.dumps(meta))
    if not splits:
        return data_dir
    # users buy two items of one article type a day apart (training), then one more each for valid and
    # test: co-purchase structure follows type
    parts: dict[str, list] = {"train": [], "valid": [], "test": []}
    by_type = items.group_by("articleType", maintain_order=True).agg("item_id")
    for u in range(60):
        choice = by_type.row(int(rng.integers(len(by_type))))[1]
        a, b = rng.choice(choice, 2, replace=False)
        start = 1_600_000_000 + 86400 * int(rng.integers(100))
        parts["train"] += [{"user_id": f"u{u}", "item_id": a, "timestamp": float(start)},
                           {"user_id": f"u{u}", "item_id": b, "timestamp": float(start + 86400)}]
    ids = items["item_id"].to_list()
    for part, day, shift in (("valid", 200, 0), ("test", 201, 1)):  # two different items a day apart
        parts[part] = [{"user_id": f"u{u}", "item_id": ids[(u + shift) % len(ids)], "timestamp": 1_600_000_000 + 86400.0 * day}
                       for u in range(60)]
    for part, rows in parts.items():
        write_atomic(pl.DataFrame(rows), data_dir / f"styles-mini.{part}.inter")
    return data_dir


@pytest.fixture
def styles_dir(tmp_path: Path) -> Path:
    return build_styles(tmp_path)
