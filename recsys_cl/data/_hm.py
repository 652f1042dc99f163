"""Adapter: H&M Personalized Fashion Recommendations (Kaggle) -> RecBole atomic files.

Raw layout: ``articles.csv``, ``customers.csv``, ``transactions_train.csv``, optional
``images/0XX/0XXXXXXXXX.jpg``. The CSVs write article ids without their leading zero
(``108775015``); image names and this adapter use the 10-digit form (``0108775015``) everywhere,
so one article is one id whichever way it was read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from recsys_cl.data._atomic import clean_text
from recsys_cl.data._csv import (
    BadBytes,
    cast_or_fail,
    distinct_rows,
    fingerprint,
    read_strings,
    require_not_null,
    require_unique,
)
from recsys_cl.data._dataset import write_dataset
from recsys_cl.data._source import (
    InteractionOptions,
    Source,
    register_source,
    synth_options,
)
from recsys_cl.data._hm_layout import ARTICLE_COLUMNS, CUSTOMER_COLUMNS, TRANSACTION_COLUMNS
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress


#: categorical article fields kept in the .item file (names, not the numeric codes that mirror them)
ITEM_FIELDS = [
    "product_code", "prod_name", "product_type_name", "product_group_name", "graphical_appearance_name",
    "colour_group_name", "perceived_colour_value_name", "perceived_colour_master_name", "department_name",
    "index_name", "index_group_name", "section_name", "garment_group_name", "detail_desc",
]  # fmt: skip
MISSING = "unknown"


class InteractionFilters(InteractionOptions):
    """The row filters of the adapters that read interaction logs (H&M, your own tables, RecBole folders)."""

    weeks: int | None = Field(None, ge=1, description="keep only the last N weeks of transactions")
    min_user_interactions: int = Field(1, ge=1, description="k-core: drop users with fewer interactions")
    min_item_interactions: int = Field(1, ge=1, description="k-core: drop items with fewer interactions")
    sample_users: float | None = Field(None, gt=0, description="share (<=1) or number (>1) of customers kept, by seed")
    dedupe: bool = Field(False, description="keep one row per (customer, article, day); off: every row is an interaction")


class HMOptions(InteractionFilters):
    """What ``prepare hm`` can be told besides the paths."""

    name: str = "hm"
    replace_bad_bytes: bool = Field(
        False, description="replace bytes that are not UTF-8 by U+FFFD (lines counted in meta.json) instead of stopping"
    )


class HMSynthOptions(HMOptions):
    """``hm-synth``: the synthetic generator's options (``synth``, its demo sizes by default), then ``hm``'s."""

    name: str = "hm-synth"
    synth: dict[str, Any] = Field(default_factory=dict, description="generate_hm options: customers, articles, weeks, ...")

    @model_validator(mode="after")
    def _generator_options(self) -> "HMSynthOptions":
        from recsys_cl.data.synth import HM_DEMO, HMSynthConfig

        self.synth = synth_options(HMSynthConfig, HM_DEMO, self.synth)
        return self


def article_id_10(expr: pl.Expr) -> pl.Expr:
    """The 10-digit zero-padded article id (``108775015`` -> ``0108775015``)."""
    return expr.str.strip_chars().str.zfill(10)


def image_relpath(article_id: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("images/"), article_id.str.slice(0, 3), pl.lit("/"), article_id, pl.lit(".jpg")])


def read_articles(raw: Path, bad_bytes: BadBytes | None = None) -> pl.DataFrame:
    path = raw / "articles.csv"
    frame = read_strings(path, ARTICLE_COLUMNS, bad_bytes=bad_bytes)
    require_not_null(frame, path, "article_id")
    bad = ~frame["article_id"].str.strip_chars().str.contains(r"^\d{1,10}$")
    if bad.any():
        row = int(bad.arg_max())
        raise InputError(f"{path}:{row + 2}: column article_id: {frame['article_id'][row]!r} is not a number of up to 10 digits")
    frame = frame.with_columns(article_id_10(pl.col("article_id")))
    require_unique(frame, path, "article_id")
    return frame


def items_table(articles: pl.DataFrame, raw: Path) -> pl.DataFrame:
    """Every article: its categorical fields, a text field for the encoders, and its image path if any."""
    text = pl.concat_str(
        [
            clean_text(pl.col("prod_name")),
            pl.lit(". "),
            clean_text(pl.col("product_type_name")),
            pl.lit(", "),
            clean_text(pl.col("colour_group_name")),
            pl.lit(", "),
            clean_text(pl.col("graphical_appearance_name")),
            pl.lit(", "),
            clean_text(pl.col("garment_group_name")),
            pl.lit(". "),
            clean_text(pl.col("detail_desc")),
        ]
    ).str.strip_chars()
    items = articles.select(
        pl.col("article_id").alias("item_id"),
        *[
            (clean_text(pl.col(c)) if c in ("detail_desc", "prod_name") else clean_text(pl.col(c)).replace("", MISSING)).alias(c)
            for c in ITEM_FIELDS
        ],
        text.alias("text"),
        image_relpath(pl.col("article_id")).alias("_image"),
    )
    has_image = np.array([(raw / p).is_file() for p in items["_image"].to_list()], dtype=bool)
    return items.with_columns(
        pl.when(pl.Series(has_image)).then(pl.col("_image")).otherwise(pl.lit("")).alias("image_path")
    ).drop("_image")


def users_table(raw: Path, bad_bytes: BadBytes | None = None) -> pl.DataFrame:
    """Customer fields; missing flags become "0", missing categories "unknown", missing age stays empty."""
    path = raw / "customers.csv"
    frame = read_strings(path, CUSTOMER_COLUMNS, bad_bytes=bad_bytes)
    require_not_null(frame, path, "customer_id")
    require_unique(frame, path, "customer_id")
    age = cast_or_fail(frame, path, "age", pl.col("age").cast(pl.Float64, strict=False), "a number")
    flag = lambda c: pl.col(c).str.strip_chars().replace({"1.0": "1", "1": "1"}).fill_null("0")  # noqa: E731
    return frame.select(
        pl.col("customer_id").alias("user_id"),
        flag("FN").alias("FN"),
        flag("Active").alias("Active"),
        pl.col("club_member_status").fill_null(MISSING),
        pl.col("fashion_news_frequency").replace({"None": "NONE"}).fill_null(MISSING),
        pl.Series("age", age),
        pl.col("postal_code").fill_null(MISSING),
    )


def read_transactions(raw: Path, bad_bytes: BadBytes | None = None) -> pl.DataFrame:
    """Transactions as interactions, in file order, timestamp = Unix seconds of the day.

    Ids (and dates) are read as Categorical: 31.8M rows hold only 1.37M customers, 105k articles and
    ~730 days, so each distinct string is stored, checked and converted once, and the split's
    group-bys and joins work on integer codes. They are written out as the same strings.
    """
    path = raw / "transactions_train.csv"
    categorical = {c: pl.Categorical for c in ("t_dat", "customer_id", "article_id", "sales_channel_id")}
    try:
        # Prices parsed by the reader; a file with a bad one is read again as text to name its line.
        frame = read_strings(path, TRANSACTION_COLUMNS, TRANSACTION_COLUMNS, {**categorical, "price": pl.Float64}, bad_bytes)
        price = frame["price"]
    except InputError:
        frame = read_strings(path, TRANSACTION_COLUMNS, TRANSACTION_COLUMNS, categorical, bad_bytes)
        price = None
    for column in ("t_dat", "customer_id", "article_id"):
        require_not_null(frame, path, column)
    dates, date_row = distinct_rows(frame["t_dat"])
    day = dates.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if day.is_null().any():
        row = int(np.argmax(day.is_null().to_numpy()[date_row]))
        raise InputError(f"{path}:{row + 2}: column t_dat: cannot parse {frame['t_dat'][row]!r} as a YYYY-MM-DD date")
    if price is None:
        price = cast_or_fail(frame, path, "price", pl.col("price").cast(pl.Float64, strict=False), "a number")
    articles, article_row = distinct_rows(frame["article_id"])
    bad = ~articles.str.contains(r"^\s*\d{1,10}\s*$")
    if bad.any():
        row = int(np.argmax(bad.to_numpy()[article_row]))
        raise InputError(f"{path}:{row + 2}: column article_id: {frame['article_id'][row]!r} is not a number of up to 10 digits")
    item_id = articles.to_frame("a").select(article_id_10(pl.col("a")).cast(pl.Categorical))["a"]
    return pl.DataFrame(
        {
            "user_id": frame["customer_id"],
            "item_id": item_id.gather(article_row),
            "timestamp": day.cast(pl.Datetime("ms")).dt.epoch("s").cast(pl.Float64).gather(date_row),
            "price": price,
            "sales_channel_id": frame["sales_channel_id"].fill_null(MISSING),
        }
    )


def k_core(inter: pl.DataFrame, min_user: int, min_item: int) -> pl.DataFrame:
    """Repeatedly drop users/items below the minimum counts until both hold (a fixed point)."""
    while True:
        user_ok = pl.col("user_id").count().over("user_id") >= min_user
        item_ok = pl.col("item_id").count().over("item_id") >= min_item
        kept = inter.filter(user_ok).filter(item_ok)
        if kept.height == inter.height:
            return kept
        inter = kept


def filter_interactions(inter: pl.DataFrame, options: InteractionFilters) -> tuple[pl.DataFrame, dict[str, Any]]:
    report: dict[str, Any] = {"rows_read": inter.height}
    if options.weeks is not None:
        start = inter["timestamp"].max() - (options.weeks * 7 - 1) * 86400.0
        inter = inter.filter(pl.col("timestamp") >= start)
        report["rows_after_weeks"] = inter.height
    if options.sample_users is not None:
        users = np.sort(inter["user_id"].unique().to_numpy()).astype(str)
        n = int(round(options.sample_users * len(users))) if options.sample_users <= 1 else int(options.sample_users)
        rng = np.random.default_rng(options.seed)
        keep = rng.choice(users, size=min(n, len(users)), replace=False).tolist()
        inter = inter.filter(pl.col("user_id").is_in(keep))
        report["rows_after_user_sample"] = inter.height
    if options.dedupe:
        inter = inter.unique(subset=["user_id", "item_id", "timestamp"], keep="first", maintain_order=True)
        report["rows_after_dedupe"] = inter.height
    if options.min_user_interactions > 1 or options.min_item_interactions > 1:
        inter = k_core(inter, options.min_user_interactions, options.min_item_interactions)
        report["rows_after_k_core"] = inter.height
    if inter.height == 0:
        raise InputError(f"no interactions left after filtering ({report})")
    return inter, report


def build_hm(raw: Path | None, out_dir: Path, options: HMOptions, progress: StageProgress) -> dict[str, Any]:
    """Convert the raw H&M folder into the dataset folder ``out_dir``; returns the metadata written."""
    assert raw is not None
    tick = progress
    bad_bytes = BadBytes(replace=options.replace_bad_bytes)
    tick("read articles", 0, 4)
    articles = read_articles(raw, bad_bytes)
    items = items_table(articles, raw)
    tick("read customers", 1, 4)
    users = users_table(raw, bad_bytes)
    tick("read transactions", 2, 4)
    inter = read_transactions(raw, bad_bytes)
    # Checked on the distinct ids (105k articles, 1.37M customers), not on every one of 31.8M rows.
    sold = inter["item_id"].unique().cast(pl.Utf8)
    unknown = sold.filter(~sold.is_in(items["item_id"].implode()))
    if len(unknown):
        rows = inter["item_id"].is_in(unknown.implode())
        first = int(rows.arg_max())
        raise InputError(
            f"{raw / 'transactions_train.csv'}:{first + 2}: article_id {inter['item_id'][first]!r} is not in articles.csv "
            f"({int(rows.sum())} rows)"
        )
    inter, filtering = filter_interactions(inter, options)
    buyers = inter["user_id"].unique().cast(pl.Utf8)
    unknown_users = int((~buyers.is_in(users["user_id"].implode())).sum())
    tick("split and write", 3, 4)
    sources = [raw / f for f in ("articles.csv", "customers.csv", "transactions_train.csv")]
    return write_dataset(
        out_dir,
        options.name,
        inter,
        items=items,
        users=users.filter(pl.col("user_id").is_in(buyers.implode())),
        protocols=options.protocols,
        protocol_options=options.protocol_options(),
        progress=lambda stage, done, total: tick(f"split and write: {stage}", 3, 4),
        extra_meta={
            "source": "hm-synth" if isinstance(options, HMSynthOptions) else "hm",
            "raw_dir": str(raw.resolve()),
            "source_fingerprint": fingerprint(sources),
            "lines_with_replaced_bytes": bad_bytes.lines,
            "options": options.model_dump(),
            "filtering": filtering,
            "items_with_image": int((items["image_path"] != "").sum()),
            "users_missing_from_customers_csv": unknown_users,
            "timestamp_unit": "Unix seconds at 00:00 UTC of t_dat (dates only, no time of day)",
        },
    )



def build_hm_synth(raw: Path | None, out_dir: Path, options: HMSynthOptions, progress: StageProgress) -> dict[str, Any]:
    """Generate the synthetic H&M files into ``raw``, then prepare them as ``hm`` does."""
    from recsys_cl.data.synth import generate_hm

    assert raw is not None
    generate_hm(raw, **options.synth, progress=progress)
    meta = build_hm(raw, out_dir, options, progress)
    return meta


def _hm_inputs(raw: Path | None, options: HMOptions) -> list[Path]:
    assert raw is not None
    return [raw / name for name in ("articles.csv", "customers.csv", "transactions_train.csv")]


register_source(Source("hm", HMOptions, build_hm, raw="required", has_interactions=True,
                       description="H&M Personalized Fashion Recommendations (Kaggle download)", inputs=_hm_inputs))
register_source(Source("hm-synth", HMSynthOptions, build_hm_synth, raw="generated", has_interactions=True,
                       description="synthetic H&M in the Kaggle layout (recsys_cl.data.synth), then as hm"))
