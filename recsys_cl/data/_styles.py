"""Adapter: Fashion Product Images ("styles") -> ``styles.item`` and item-to-item relevance.

``styles.csv`` is not quoted and some ``productDisplayName`` values contain commas, so a plain CSV
reader fails on those rows. productDisplayName is the last column: everything after the ninth comma
belongs to it, which is how rows are parsed here (whole name kept, row never skipped).

Relevance for the retrieval tasks: for each query product, the other products sharing its
articleType, baseColour and gender (seed paper 000's "hard" positives), written as
``styles.inter`` where the query product plays the user. Products with any of those three fields
empty have no relevant set (an empty field is not a shared attribute).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cl import __version__
from recsys_cl.data._atomic import check_output_dir, clean_text, write_atomic, write_json
from recsys_cl.data._csv import check_columns, fingerprint, read_header, require_unique
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress

STYLES_COLUMNS = [
    "id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
    "productDisplayName",
]  # fmt: skip
RELEVANCE_KEY = ["articleType", "baseColour", "gender"]


def read_styles(raw: Path) -> pl.DataFrame:
    path = raw / "styles.csv"
    header = read_header(path)
    check_columns(path, header, STYLES_COLUMNS)
    if header != STYLES_COLUMNS:
        raise InputError(f"{path}:1: columns must be exactly {','.join(STYLES_COLUMNS)} in that order")
    rows: list[list[str]] = []
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        next(fh)
        for line_no, line in enumerate(fh, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split(",", len(STYLES_COLUMNS) - 1)
            if len(fields) < len(STYLES_COLUMNS):
                raise InputError(f"{path}:{line_no}: {len(fields)} fields, expected {len(STYLES_COLUMNS)}")
            if not fields[0].strip().isdigit():
                raise InputError(f"{path}:{line_no}: column id: {fields[0]!r} is not a number")
            rows.append(fields)
    if not rows:
        raise InputError(f"{path}: no data rows after the header")
    frame = pl.DataFrame(np.array(rows, dtype=object), schema=STYLES_COLUMNS, orient="row").with_columns(
        [pl.col(c).cast(pl.Utf8).str.strip_chars() for c in STYLES_COLUMNS]
    )
    year = frame["year"].cast(pl.Float64, strict=False)
    bad_year = year.is_null() & (frame["year"] != "")
    if bad_year.any():
        row = int(bad_year.arg_max())
        raise InputError(f"{path}:{row + 2}: column year: cannot parse {frame['year'][row]!r} as a number")
    frame = frame.with_columns(year.alias("year"))
    require_unique(frame, path, "id")
    return frame


def styles_items(frame: pl.DataFrame, raw: Path) -> pl.DataFrame:
    image = pl.concat_str([pl.lit("images/"), pl.col("id"), pl.lit(".jpg")])
    items = frame.select(
        pl.col("id").alias("item_id"),
        *[clean_text(pl.col(c)).alias(c) for c in STYLES_COLUMNS[1:7]],
        pl.col("year"),
        clean_text(pl.col("usage")).alias("usage"),
        clean_text(pl.col("productDisplayName")).alias("productDisplayName"),
        pl.concat_str(
            [clean_text(pl.col("productDisplayName")), pl.lit(". "), clean_text(pl.col("articleType")), pl.lit(", "),
             clean_text(pl.col("baseColour")), pl.lit(", "), clean_text(pl.col("gender")), pl.lit(", "),
             clean_text(pl.col("usage")), pl.lit(", "), clean_text(pl.col("season"))]
        ).alias("text"),
        image.alias("_image"),
    )  # fmt: skip
    has_image = np.array([(raw / p).is_file() for p in items["_image"].to_list()], dtype=bool)
    return items.with_columns(
        pl.when(pl.Series(has_image)).then(pl.col("_image")).otherwise(pl.lit("")).alias("image_path")
    ).drop("_image")


def relevance_pairs(items: pl.DataFrame, max_relevant: int | None = None, seed: int = 0) -> pl.DataFrame:
    """(query, relevant) pairs: same articleType, baseColour and gender, query itself excluded."""
    keyed = items.select("item_id", *RELEVANCE_KEY).filter(
        pl.all_horizontal([pl.col(c) != "" for c in RELEVANCE_KEY])
    )
    pairs = (
        keyed.join(keyed, on=RELEVANCE_KEY, suffix="_rel")
        .filter(pl.col("item_id") != pl.col("item_id_rel"))
        .select(pl.col("item_id").alias("user_id"), pl.col("item_id_rel").alias("item_id"))
    )
    if max_relevant is not None:
        rng = np.random.default_rng(seed)
        pairs = (
            pairs.with_columns(pl.Series("_r", rng.random(pairs.height)))
            .filter(pl.col("_r").rank("ordinal").over("user_id") <= max_relevant)
            .drop("_r")
        )
    return pairs.sort(["user_id", "item_id"])


def prepare_styles(
    raw: str | Path,
    out_root: str | Path,
    *,
    name: str = "styles",
    max_relevant: int | None = None,
    seed: int = 0,
    progress: StageProgress | None = None,
) -> dict[str, Any]:
    raw, out_dir = Path(raw), Path(out_root) / name
    check_output_dir(out_dir)
    if not raw.is_dir():
        raise InputError(f"{raw}: raw styles folder not found")
    tick = progress or (lambda *_: None)
    tick("read styles.csv", 0, 3)
    frame = read_styles(raw)
    items = styles_items(frame, raw)
    tick("relevance pairs", 1, 3)
    pairs = relevance_pairs(items, max_relevant, seed)
    tick("write", 2, 3)
    write_atomic(items, out_dir / f"{name}.item")
    write_atomic(pairs, out_dir / f"{name}.inter")
    meta = {
        "dataset": name,
        "source": "styles",
        "created_by": f"recsys-cl {__version__}",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "raw_dir": str(raw.resolve()),
        "source_fingerprint": fingerprint([raw / "styles.csv"]),
        "counts": {
            "items_in_catalogue": items.height,
            "items_with_image": int((items["image_path"] != "").sum()),
            "queries_with_relevant": pairs["user_id"].n_unique() if pairs.height else 0,
            "relevance_pairs": pairs.height,
        },
        "relevance": {"key": RELEVANCE_KEY, "max_relevant": max_relevant, "seed": seed,
                      "file": f"{name}.inter (user_id = query product, item_id = relevant product)"},
        "protocols": {},
    }  # fmt: skip
    write_json(out_dir / f"{name}.meta.json", meta)
    tick("done", 3, 3)
    return meta
