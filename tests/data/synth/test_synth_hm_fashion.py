"""Synthetic H&M's fashion-retail options: the generated files show the repeat share, the colour
variants and the age effect the options ask for (statistical checks with tolerances a generator that
ignored or misapplied an option would miss), and the defaults still write the old files."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data.synth import generate_hm, hm_latent
from recsys_cl.data.synth._hm import AGE_TASTE_EDGES, END_DATE
from recsys_cl.errors import InputError

#: one size for the statistical checks: ~70k rows, a few seconds each
SIZE = dict(customers=4000, articles=3000, weeks=6, transactions=72_000, seed=5)


def _read(out: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    read = lambda name: pl.read_csv(out / name, infer_schema=False)  # noqa: E731
    return read("articles.csv"), read("customers.csv"), read("transactions_train.csv")


def _first_rows_after_earlier_weeks(tx: pl.DataFrame, weeks: int) -> pl.DataFrame:
    """Each customer's first row of each day (never a copy of the row before) with ``previous``: the
    customer's latest article of the earlier weeks (null when they bought nothing before this week)."""
    first_day = END_DATE - dt.timedelta(days=7 * weeks - 1)
    tx = tx.with_row_index("row").with_columns(
        week=((pl.col("t_dat").str.to_date() - pl.lit(first_day)).dt.total_days() // 7).cast(pl.Int64)
    )
    latest = tx.group_by("customer_id", "week").agg(pl.col("article_id").sort_by("row").last().alias("previous")).sort("week")
    first = tx.filter(pl.col("row") == pl.col("row").min().over("customer_id", "t_dat")).sort("week")
    joined = first.join_asof(latest, on="week", by="customer_id", strategy="backward", allow_exact_matches=False,
                            check_sortedness=False)  # sorted by week within every customer
    return joined.filter(pl.col("previous").is_not_null())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One dataset per option setting (same seed and sizes)."""
    settings = {
        "plain": dict(repeat_share=0.0),
        "repeat": dict(repeat_share=0.3),
        "variant": dict(repeat_share=0.0, variant_share=0.4),
        "age": dict(repeat_share=0.0, age_share=0.5),
    }
    out = {}
    for name, options in settings.items():
        out[name] = tmp_path_factory.mktemp(name)
        generate_hm(out[name], **SIZE, **options)
    return out


def test_default_output_is_the_previous_generators(tmp_path) -> None:
    # digest of the three CSVs written by the generator before these options existed (same call)
    generate_hm(tmp_path, customers=300, articles=200, weeks=8, seed=7)
    digest = hashlib.sha256()
    for name in ("articles.csv", "customers.csv", "transactions_train.csv"):
        digest.update((tmp_path / name).read_bytes())
    assert digest.hexdigest() == "101b3eaa82a02a94d00ec5bfaee86ae352c99b3f77bac1524153cd30c89ba272"


def test_repeat_share_is_the_share_of_rows_rebuying_the_latest_earlier_article(runs) -> None:
    def share(name: str) -> tuple[float, int]:
        rows = _first_rows_after_earlier_weeks(_read(runs[name])[2], SIZE["weeks"])
        return float((rows["article_id"] == rows["previous"]).mean()), rows.height

    natural, n_plain = share("plain")  # the same article drawn again by taste alone
    observed, n = share("repeat")
    assert n > 10_000 and n_plain > 10_000
    assert natural < 0.1  # narrow tastes and popular articles: ~6% come round again by chance
    # a share s of the rows repeat on purpose, the other 1 - s as often as without the option
    assert observed == pytest.approx(0.3 + 0.7 * natural, abs=0.02), (observed, natural)


def _variant_rows(out: Path, **latent_options) -> pl.DataFrame:
    """First rows after earlier weeks whose latest earlier article's product had another variant on sale."""
    articles, _, tx = _read(out)
    latent = hm_latent(**{k: SIZE[k] for k in ("customers", "articles", "weeks", "transactions", "seed")}, **latent_options)
    arts = latent["articles"]
    product = dict(zip(articles["article_id"], articles["product_code"]))
    launch = dict(zip(articles["article_id"], arts["launch"].tolist()))
    rows = _first_rows_after_earlier_weeks(tx, SIZE["weeks"])
    by_product = articles.group_by("product_code").agg(pl.col("article_id"))
    variants = dict(zip(by_product["product_code"], by_product["article_id"].to_list()))
    prev, week = rows["previous"].to_list(), rows["week"].to_list()
    other_on_sale = [any(a != p and launch[a] <= w for a in variants[product[p]]) for p, w in zip(prev, week)]
    same_product = [product[a] == product[p] and a != p for a, p in zip(rows["article_id"].to_list(), prev)]
    return rows.with_columns(other_on_sale=pl.Series(other_on_sale), variant=pl.Series(same_product)).filter("other_on_sale")


def test_variant_share_is_the_share_of_rows_buying_another_colour_of_the_latest_product(runs) -> None:
    natural_rows = _variant_rows(runs["plain"])
    rows = _variant_rows(runs["variant"])
    natural = float(natural_rows["variant"].mean())
    observed = float(rows["variant"].mean())
    assert rows.height > 5_000
    assert natural < 0.05
    assert observed == pytest.approx(0.4 + 0.6 * natural, abs=0.025), (observed, natural)


def test_variants_per_product_sets_the_mean_product_size(tmp_path) -> None:
    for mean in (2.2, 4.0):
        summary = generate_hm(tmp_path / str(mean), customers=50, articles=3000, weeks=2, transactions=100, variants_per_product=mean)
        articles = pl.read_csv(tmp_path / str(mean) / "articles.csv", infer_schema=False)
        assert articles["product_code"].n_unique() == summary["products"]
        # 1 + Poisson(mean - 1) per product: ~3000 / mean products, standard error of the mean below 0.07
        assert 3000 / summary["products"] == pytest.approx(mean, abs=0.2)


def test_age_share_makes_age_groups_buy_their_groups_categories(runs) -> None:
    latent = hm_latent(**{k: SIZE[k] for k in ("customers", "articles", "weeks", "transactions", "seed")}, age_share=0.5)
    taste, category = latent["age_taste"], latent["articles"]["category"]

    def group_shares(name: str) -> dict[int, tuple[float, int]]:
        """Per age group (from the file's age): share of rows in the group's 5 favourite categories."""
        articles, customers, tx = _read(runs[name])
        rows = _first_rows_after_earlier_weeks(tx, SIZE["weeks"]).join(customers.select("customer_id", "age"), on="customer_id")
        rows = rows.filter(pl.col("age") != "")
        position = {a: i for i, a in enumerate(articles["article_id"])}
        row_category = category[[position[a] for a in rows["article_id"]]]
        group = np.digitize(rows["age"].cast(pl.Float64).to_numpy(), AGE_TASTE_EDGES)
        out = {}
        for g in range(len(AGE_TASTE_EDGES) + 1):
            favourite = np.argsort(-taste[g])[:5]
            mine = group == g
            out[g] = (float(np.isin(row_category[mine], favourite).mean()), int(mine.sum()))
        return out

    plain, aged = group_shares("plain"), group_shares("age")
    checked = 0
    for g, (observed, n) in aged.items():
        if n < 1500:
            continue
        expected = 0.5 * np.sort(taste[g])[::-1][:5].sum() + 0.5 * plain[g][0]
        assert observed == pytest.approx(expected, abs=0.03), (g, observed, expected, plain[g])
        assert observed > plain[g][0] + 0.1  # and far from what age alone (through the main group) gives
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("bad, key", [({"repeat_share": 1.5}, "repeat_share"), ({"variant_share": -0.1}, "variant_share"),
                                      ({"variants_per_product": 0.5}, "variants_per_product"), ({"age_share": 2}, "age_share")])
def test_bad_options_name_the_key(tmp_path, bad, key) -> None:
    with pytest.raises(InputError, match=key):
        generate_hm(tmp_path, customers=10, articles=10, weeks=1, **bad)
    assert not (tmp_path / "articles.csv").exists()
