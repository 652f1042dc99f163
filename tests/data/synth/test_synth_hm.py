"""Synthetic H&M: exact Kaggle layout, id formats, quirks, determinism, and that content carries signal."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data.synth import generate_hm, image_relpath
from recsys_cl.data.synth._catalogue import PRODUCT_TYPES
from recsys_cl.data.synth._hm import ARTICLE_COLUMNS, CUSTOMER_COLUMNS, TRANSACTION_COLUMNS
from recsys_cl.errors import InputError

SMALL = dict(customers=300, articles=200, weeks=8, seed=7)


def _read(path: Path) -> pl.DataFrame:
    # No type inference: ids must come back exactly as written.
    return pl.read_csv(path, infer_schema=False).with_columns(pl.all().fill_null(""))


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("hm_small")
    calls: list[tuple[str, int, int]] = []
    summary = generate_hm(out, images=True, progress=lambda *a: calls.append(a), **SMALL)
    summary["_calls"] = calls
    return out, summary


@pytest.fixture(scope="module")
def frames(small):
    out, _ = small
    return _read(out / "articles.csv"), _read(out / "customers.csv"), _read(out / "transactions_train.csv")


def test_headers_are_exactly_kaggles(small):
    out, _ = small
    for name, columns in [
        ("articles.csv", ARTICLE_COLUMNS),
        ("customers.csv", CUSTOMER_COLUMNS),
        ("transactions_train.csv", TRANSACTION_COLUMNS),
    ]:
        with open(out / name) as fh:
            assert fh.readline().rstrip("\n") == ",".join(columns)
    assert ARTICLE_COLUMNS[0] == "article_id" and ARTICLE_COLUMNS[-1] == "detail_desc" and len(ARTICLE_COLUMNS) == 25
    assert TRANSACTION_COLUMNS == ("t_dat", "customer_id", "article_id", "price", "sales_channel_id")


def test_articles_parse_as_standard_csv_with_quoted_commas(small):
    out, _ = small
    with open(out / "articles.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert all(len(r) == 25 for r in rows)
    assert any("," in r[-1] for r in rows[1:]), "some descriptions contain commas and must be quoted"
    assert any(r[23] == "Under-, Nightwear" for r in rows[1:]) or any("," in r[21] for r in rows[1:])


def test_counts_and_summary(small, frames):
    _, summary = small
    articles, customers, transactions = frames
    assert articles.height == SMALL["articles"] == summary["articles"]
    assert customers.height == SMALL["customers"] == summary["customers"]
    # transactions default to 20 per customer, exactly
    assert transactions.height == 20 * SMALL["customers"] == summary["transactions"]
    assert summary["last_date"] == "2020-09-22"
    assert summary["images"] == sum(1 for _ in (Path(summary["paths"]["images"])).rglob("*.jpg"))


def test_ids_keep_their_format(frames):
    articles, customers, transactions = frames
    assert articles["article_id"].str.contains(r"^0\d{9}$").all()
    assert articles["article_id"].is_unique().all()
    assert (articles["article_id"].to_list() == sorted(articles["article_id"].to_list()))
    # product_code = article_id // 1000, written like the real file with its leading zero
    assert (articles["product_code"] == articles["article_id"].str.slice(0, 7)).all()
    assert articles["colour_group_code"].str.contains(r"^\d{2}$").all()
    hex64 = r"^[0-9a-f]{64}$"
    assert customers["customer_id"].str.contains(hex64).all() and customers["customer_id"].is_unique().all()
    assert customers["customer_id"].to_list() == sorted(customers["customer_id"].to_list())
    assert customers["postal_code"].str.contains(hex64).all()
    assert customers["postal_code"].n_unique() < customers.height  # shared postal codes, skewed pool
    assert transactions["article_id"].is_in(articles["article_id"].implode()).all()
    assert transactions["customer_id"].is_in(customers["customer_id"].implode()).all()


def test_ids_without_leading_zeros_are_the_same_articles(tmp_path, frames):
    articles, _, transactions = frames
    generate_hm(tmp_path, leading_zeros=False, **SMALL)
    plain_articles = _read(tmp_path / "articles.csv")
    plain_tx = _read(tmp_path / "transactions_train.csv")
    assert plain_articles["article_id"].str.contains(r"^[1-9]\d{8}$").all()
    assert (plain_articles["article_id"].str.zfill(10) == articles["article_id"]).all()
    assert (plain_tx["article_id"].str.zfill(10) == transactions["article_id"]).all()


def test_dates_sorted_and_ending_like_the_real_data(frames, small):
    _, summary = small
    _, _, tx = frames
    dates = tx["t_dat"].str.to_date("%Y-%m-%d")
    assert dates.is_sorted()
    assert dates.max() == dt.date(2020, 9, 22)
    assert dates.min() >= dt.date(2020, 9, 22) - dt.timedelta(days=7 * SMALL["weeks"] - 1)
    # within a day rows are grouped by customer, sorted by id (as the real file)
    keys = (tx["t_dat"] + tx["customer_id"]).to_list()
    assert keys == sorted(keys)


def test_prices_and_channels(frames):
    _, _, tx = frames
    price = tx["price"].cast(pl.Float64)
    assert (price > 0).all() and (price < 2).all()
    sek = price * 590
    assert ((sek - sek.round(2)).abs() < 1e-6).all(), "prices are SEK amounts scaled by 1/590"
    assert set(tx["sales_channel_id"].unique()) == {"1", "2"}
    assert 0.5 < (tx["sales_channel_id"] == "2").mean() < 0.9


def test_customer_fields_use_the_real_value_sets_with_missing_values(frames):
    _, customers, _ = frames
    assert set(customers["FN"].unique()) == {"1.0", ""}
    assert set(customers["Active"].unique()) <= {"1.0", ""}
    assert set(customers["club_member_status"].unique()) <= {"ACTIVE", "PRE-CREATE", "LEFT CLUB", ""}
    assert set(customers["fashion_news_frequency"].unique()) <= {"NONE", "Regularly", "Monthly", ""}
    ages = customers["age"].filter(customers["age"] != "")
    assert ages.str.contains(r"^\d+$").all() and ages.cast(pl.Int64).is_between(16, 99).all()
    assert (customers["age"] == "").any() or (customers["fashion_news_frequency"] == "").any()


def test_quirks_present(small, frames):
    out, _ = small
    articles, _, tx = frames
    # empty descriptions, written as empty fields (never "nan")
    assert (articles["detail_desc"] == "").any()
    assert not articles["detail_desc"].str.contains("(?i)^nan$").any()
    # several purchases of one article by one customer on one day are separate rows
    assert tx.select("t_dat", "customer_id", "article_id").is_duplicated().any()
    # repeat purchases on different days
    per_pair = tx.group_by("customer_id", "article_id").agg(pl.col("t_dat").n_unique().alias("days"))
    assert (per_pair["days"] > 1).any()
    # some articles have no image, the others have one at images/0XX/0XXXXXXXXX.jpg
    has = [(out / image_relpath(int(a))).is_file() for a in articles["article_id"]]
    assert 0 < sum(has) < len(has)
    assert image_relpath(108775015) == "images/010/0108775015.jpg"
    # no temporary files left behind
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_new_articles_are_launched_until_the_last_week(frames, small):
    _, summary = small
    _, _, tx = frames
    first_sale = tx.group_by("article_id").agg(pl.col("t_dat").min().alias("first"))
    new_last_week = (first_sale["first"] >= summary["last_week_start"]).sum()
    assert summary["articles_launched_last_week"] > 0
    assert new_last_week >= 3, "articles first sold in the last week are the cold items of a temporal split"


def test_popularity_is_skewed(frames):
    _, _, tx = frames
    counts = np.sort(tx.group_by("article_id").len()["len"].to_numpy())[::-1]
    top_decile_share = counts[: max(1, len(counts) // 10)].sum() / counts.sum()
    assert top_decile_share > 0.3, top_decile_share  # uniform choice would give about 0.1


def _modal_hit_ratio(frames, column: str) -> float:
    """Share of a customer's later purchases in the value (of ``column``) they bought most early on,
    divided by that value's overall share: 1 means no taste, >1 means purchases concentrate."""
    articles, _, tx = frames
    t = (
        tx.with_row_index("row")
        .join(articles.select("article_id", column), on="article_id")
        .with_columns(n=pl.len().over("customer_id"), k=pl.col("row").rank("ordinal").over("customer_id"))
        .filter(pl.col("n") >= 6)
    )
    early, late = t.filter(pl.col("k") <= pl.col("n") // 2), t.filter(pl.col("k") > pl.col("n") // 2)
    mode = (
        early.group_by("customer_id", column).len()
        .sort(["len", "customer_id", column], descending=[True, False, False])
        .group_by("customer_id").first()
        .select("customer_id", pl.col(column).alias("mode"))
    )
    late = late.join(mode, on="customer_id")
    hit = (late[column] == late["mode"]).mean()
    overall = t[column].value_counts(normalize=True)
    chance = late.join(overall, left_on="mode", right_on=column)["proportion"].mean()
    return hit / chance


def test_purchases_concentrate_on_preferred_product_types_far_above_chance(frames):
    assert _modal_hit_ratio(frames, "product_type_name") > 3.0
    assert _modal_hit_ratio(frames, "index_group_name") > 1.6


def test_purchases_concentrate_on_preferred_colours(frames):
    assert _modal_hit_ratio(frames, "colour_group_name") > 1.3


def test_seasonality_moves_summer_and_winter_types(tmp_path):
    generate_hm(tmp_path, customers=300, articles=300, weeks=52, transactions=30_000, seed=3)
    articles = _read(tmp_path / "articles.csv")
    tx = _read(tmp_path / "transactions_train.csv").join(articles.select("article_id", "product_type_name"), on="article_id")
    season = {t.name: t.season for t in PRODUCT_TYPES}
    tx = tx.with_columns(
        month=pl.col("t_dat").str.slice(5, 2).cast(pl.Int32),
        season=pl.col("product_type_name").replace_strict(season),
    )
    summer_months, winter_months = tx.filter(pl.col("month").is_in([6, 7, 8])), tx.filter(pl.col("month").is_in([12, 1, 2]))
    def share(part, s):
        return (part["season"] == s).mean()
    assert share(summer_months, "summer") > 1.3 * share(winter_months, "summer")
    assert share(winter_months, "winter") > 1.3 * share(summer_months, "winter")


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, small):
    out, _ = small
    again = tmp_path / "again"
    generate_hm(again, images=True, **SMALL)
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    generate_hm(other, **{**SMALL, "seed": SMALL["seed"] + 1})
    assert (other / "transactions_train.csv").read_bytes() != (out / "transactions_train.csv").read_bytes()


def test_progress_reports_every_stage(small):
    _, summary = small
    calls = summary["_calls"]
    stages = {c[0] for c in calls}
    assert {"articles", "customers", "transactions", "images"} <= stages
    last = [c for c in calls if c[0] == "transactions"][-1]
    assert last[1] == last[2] == SMALL["weeks"]


@pytest.mark.parametrize(
    "bad, key",
    [({"customers": 0}, "customers"), ({"weeks": -1}, "weeks"), ({"articles": 0}, "articles"), ({"transactions": -5}, "transactions")],
)
def test_bad_sizes_raise_input_error_naming_the_option(tmp_path, bad, key):
    with pytest.raises(InputError, match=key):
        generate_hm(tmp_path, **{**SMALL, **bad})
    assert not (tmp_path / "articles.csv").exists()


def test_tiny_sizes_still_work(tmp_path):
    summary = generate_hm(tmp_path, customers=1, articles=1, weeks=1, transactions=3)
    tx = _read(tmp_path / "transactions_train.csv")
    assert tx.height == 3 and tx["article_id"].n_unique() == 1
    assert re.fullmatch(r"0\d{9}", tx["article_id"][0])
    assert summary["first_date"] >= "2020-09-16"


@pytest.mark.parametrize("leading_zeros", [True, False])
def test_the_real_data_adapter_reads_the_synthetic_files(tmp_path, leading_zeros):
    from recsys_cl.data import prepare

    raw = tmp_path / "raw"
    summary = generate_hm(raw, customers=120, articles=80, weeks=4, seed=1, images=True, leading_zeros=leading_zeros)
    meta = prepare("hm", tmp_path / "atomic", raw=raw)
    text = str(meta)
    assert str(summary["transactions"]) in text  # every row stays an interaction
    items = pl.read_csv(tmp_path / "atomic" / "hm" / "hm.item", separator="\t", infer_schema=False, quote_char=None)
    assert items.height == summary["articles"]
    assert items["item_id:token"].str.contains(r"^0\d{9}$").all()
    assert (items["image_path:token"] != "").sum() == summary["images"]


def test_purchases_fall_in_the_latent_favourite_categories(frames):
    """The latent model behind the files: most rows hit one of the buyer's 4 favourite categories."""
    from recsys_cl.data.synth import hm_latent

    articles, customers, tx = frames
    latent = hm_latent(**{k: SMALL[k] for k in ("customers", "articles", "weeks", "seed")})
    article_pos = {a: i for i, a in enumerate(articles["article_id"])}
    customer_pos = {c: i for i, c in enumerate(customers["customer_id"])}
    row_cat = latent["articles"]["category"][[article_pos[a] for a in tx["article_id"]]]
    row_cust = np.array([customer_pos[c] for c in tx["customer_id"]])
    shuffled = np.random.default_rng(0).permutation(row_cust)
    # product types of the favourite categories (a small catalogue lacks some categories: the
    # sampler then falls back to the same type in another section)
    fav_type = latent["categories"]["type"][latent["customers"]["fav_cat"]]
    row_type = latent["categories"]["type"][row_cat]
    hit = (fav_type[row_cust] == row_type[:, None]).any(axis=1).mean()
    chance = (fav_type[shuffled] == row_type[:, None]).any(axis=1).mean()
    assert hit > 0.75 and chance < 0.35, (hit, chance)



def test_output_path_that_is_a_file_is_an_input_error(tmp_path):
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        generate_hm(target, **SMALL)


def test_distinct_draws_sample_without_replacement():
    from recsys_cl.data.synth._hm_population import _distinct_draws

    rng = np.random.default_rng(0)
    p = np.array([0.7, 0.1, 0.1, 0.1])
    draws = _distinct_draws(20_000, 2, lambda rows: rng.choice(4, size=len(rows), p=p))
    assert (draws[:, 0] != draws[:, 1]).all()
    # first pick ~ p; if it was not 0, the second is drawn from p renormalised over the 3 values left
    assert abs((draws[:, 0] == 0).mean() - 0.7) < 0.02
    assert abs((draws == 0).any(axis=1).mean() - (0.7 + 0.3 * 0.7 / 0.9)) < 0.02
    full = _distinct_draws(100, 4, lambda rows: rng.choice(4, size=len(rows), p=p))
    assert (np.sort(full, axis=1) == np.arange(4)).all()
