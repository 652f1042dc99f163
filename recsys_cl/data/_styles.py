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
from pydantic import Field, model_validator

from recsys_cl import __version__
from recsys_cl.data._atomic import clean_text, write_atomic
from recsys_cl.files import write_json
from recsys_cl.data._csv import (
    BadBytes,
    check_columns,
    fingerprint,
    line_number,
    read_header,
    require_unique,
    undecodable_lines,
)
from recsys_cl.data._source import (
    Source,
    SourceOptions,
    register_source,
    synth_options,
)
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress
from recsys_cl.limits import Seed

STYLES_COLUMNS = [
    "id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
    "productDisplayName",
]  # fmt: skip
RELEVANCE_KEY = ["articleType", "baseColour", "gender"]


def read_styles(raw: Path, bad_bytes: BadBytes | None = None) -> pl.DataFrame:
    """``styles.csv`` as strings (``year`` a number), one row per non-blank line, whole names kept.

    Every line is checked as :func:`recsys_cl.data._csv.check_rows` does for quoted CSV, with this
    file's own rule for fields: at least 10 (extra commas belong to the name), quotes are plain text.
    """
    path = raw / "styles.csv"
    header = read_header(path)
    check_columns(path, header, STYLES_COLUMNS)
    if header != STYLES_COLUMNS:
        raise InputError(f"{path}:1: columns must be exactly {','.join(STYLES_COLUMNS)} in that order")
    data = path.read_bytes()  # ~4 MB for the real 44k products: the whole file is checked and split at once
    replace = bad_bytes is not None and bad_bytes.replace
    replaced = undecodable_lines(path, data, replace)
    if bad_bytes is not None:
        bad_bytes.lines[path.name] = replaced
    text = data.decode("utf-8", "replace" if replace else "strict")
    n_lines = text.count("\n")
    if not text.endswith("\n"):
        raise InputError(f"{path}:{n_lines + 1}: last line has no line end (file cut short?)")
    lines = (
        pl.Series("raw", [text]).str.split("\n").explode().head(n_lines).str.strip_suffix("\r")
        .to_frame().with_row_index("_line", offset=1).slice(1)  # the header was read above
    )  # fmt: skip
    for problem, message in (
        (pl.col("raw").str.contains("\0", literal=True), "NUL byte (a damaged file?)"),
        (pl.col("raw").str.contains("\r", literal=True), "carriage return inside a line (only CRLF line ends are allowed)"),
    ):
        _refuse_first(lines.filter(problem), path, message)
    lines = lines.filter(pl.col("raw") != "")  # blank lines are no rows
    commas = pl.col("raw").str.count_matches(",", literal=True)
    short = lines.filter(commas < len(STYLES_COLUMNS) - 1).with_columns((commas + 1).alias("_fields"))
    if short.height:
        raise InputError(f"{path}:{short['_line'][0]}: {short['_fields'][0]} fields, expected {len(STYLES_COLUMNS)}")
    if not lines.height:
        raise InputError(f"{path}:2: no data rows after the header")
    frame = lines.select(
        "_line",
        pl.col("raw").str.splitn(",", len(STYLES_COLUMNS)).struct.rename_fields(STYLES_COLUMNS).alias("_f"),
    ).unnest("_f").with_columns([pl.col(c).str.strip_chars() for c in STYLES_COLUMNS])
    bad_id = frame.filter(~pl.col("id").str.contains(r"^[0-9]+$"))
    if bad_id.height:
        raise InputError(f"{path}:{bad_id['_line'][0]}: column id: {bad_id['id'][0]!r} is not a number")
    year = frame["year"].cast(pl.Float64, strict=False)
    bad_year = year.is_null() & (frame["year"] != "")
    if bad_year.any():
        row = int(bad_year.arg_max())
        raise InputError(f"{path}:{line_number(frame, row)}: column year: cannot parse {frame['year'][row]!r} as a number")
    frame = frame.with_columns(year.alias("year"))
    require_unique(frame, path, "id")
    return frame.drop("_line")


def _refuse_first(bad: pl.DataFrame, path: Path, message: str) -> None:
    if bad.height:
        raise InputError(f"{path}:{bad['_line'][0]}: {message}")


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


class StylesOptions(SourceOptions):
    """What ``prepare styles`` can be told besides the paths."""

    name: str = "styles"
    max_relevant: int | None = Field(None, ge=1, description="cap relevant products per query (sampled by seed)")
    seed: Seed = 0
    replace_bad_bytes: bool = Field(
        False, description="replace bytes that are not UTF-8 by U+FFFD (lines counted in meta.json) instead of stopping"
    )


#: generator options of ``styles-synth`` when a config gives none (the `recsys-cl data synth styles` defaults)
SYNTH_DEFAULTS = {"products": 2000, "images": True}


class StylesSynthOptions(StylesOptions):
    """``styles-synth``: the synthetic generator's options (``synth``), then ``styles``'."""

    name: str = "styles-synth"
    synth: dict[str, Any] = Field(default_factory=dict, description="generate_styles options: products, images, seed")

    @model_validator(mode="after")
    def _generator_options(self) -> "StylesSynthOptions":
        from recsys_cl.data.synth import StylesSynthConfig

        self.synth = synth_options(StylesSynthConfig, SYNTH_DEFAULTS, self.synth)
        return self


def build_styles(raw: Path | None, out_dir: Path, options: StylesOptions, progress: StageProgress) -> dict[str, Any]:
    """``styles.csv`` of ``raw`` -> ``<name>.item`` and the item-to-item relevance in the dataset folder ``out_dir``."""
    assert raw is not None
    name, max_relevant, seed, replace_bad_bytes = options.name, options.max_relevant, options.seed, options.replace_bad_bytes
    tick = progress
    tick("read styles.csv", 0, 3)
    bad_bytes = BadBytes(replace=replace_bad_bytes)
    frame = read_styles(raw, bad_bytes)
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
        "lines_with_replaced_bytes": bad_bytes.lines,
        "replace_bad_bytes": replace_bad_bytes,
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


def build_styles_synth(raw: Path | None, out_dir: Path, options: StylesSynthOptions, progress: StageProgress) -> dict[str, Any]:
    """Generate a synthetic ``styles.csv`` (and images) into ``raw``, then prepare it as ``styles`` does."""
    from recsys_cl.data.synth import generate_styles

    assert raw is not None
    generate_styles(raw, **options.synth, progress=progress)
    return build_styles(raw, out_dir, options, progress)


register_source(Source("styles", StylesOptions, build_styles, raw="required", has_interactions=False,
                       description="Fashion Product Images styles.csv (no users: item retrieval only)",
                       inputs=lambda raw, options: [raw / "styles.csv"] if raw is not None else []))
register_source(Source("styles-synth", StylesSynthOptions, build_styles_synth, raw="generated", has_interactions=False,
                       description="synthetic styles.csv in the Kaggle layout, then as styles"))
