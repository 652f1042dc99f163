"""Synthetic H&M data in the exact layout of Kaggle's "H&M Personalized Fashion Recommendations".

Writes ``articles.csv``, ``customers.csv``, ``transactions_train.csv`` and optionally
``images/0XX/0XXXXXXXXX.jpg``, so the real-data adapter reads synthetic and real files alike.

Id formats: the Kaggle download's raw text has ``article_id`` zero-padded to 10 digits in articles.csv
(``0108775015,0108775,Strap top,...,09,Black,...``: product_code 7 digits, colour_group_code 2 digits)
and in the image paths; readers that infer types turn them into ``108775015``. ``leading_zeros=True``
(default) writes the padded form everywhere, ``False`` the unpadded one (as re-saved by pandas), so
adapters can be tested against both. Customer ids and postal codes are 64 lowercase hex characters.

The generative model (every draw from one ``np.random.default_rng(seed)``, in a fixed order)
--------------------------------------------------------------------------------------------
Catalogue grammar. A *category* is a (section, product type) pair from :mod:`._catalogue`:
index group -> index -> section -> product type, and each product type fixes the product group and
garment group. Category weight = share of its index group / number of sections in the group x share
of the type within the section (types weighted like the real article counts: trousers, dresses, sweaters
most common).
A *product* (``product_code``) draws a category, a graphical appearance (denim only for denim-able
types), a name ("<word> <type noun>"), a description composed from fit, type noun, appearance,
material and features (2% left empty, as the real file has missing ``detail_desc``), a price
multiplier (lognormal, sigma 0.3; its tercile is the product's *price tier*) and a launch week:
45% back catalogue (launched before the window), 1% after the window (never sold), the rest
uniformly over the window's weeks, i.e. weekly launches up to the last week (cold items).
Each product has 1 + Poisson(1.2) *articles* (``variants_per_product``; colour variants, ``article_id = product_code * 1000 +
variant``), each with a colour (denim: blue/black) and a popularity ``lognormal(0, 1.2) x product
lognormal(0, 0.6)`` (popularity skew).

Customers. Each has a main index group (shares like H&M's: Ladieswear 38%, Baby/Children 21%, ...),
an affinity over all groups, 4 favourite categories drawn without replacement with weight
``category weight x group affinity``, 3 favourite colours (by colour share), a
preferred price tier, an online propensity (Beta(3, 1.5)) and an activity level (lognormal(0, 1)),
plus the file's own fields (age depends on the main group; FN, Active, club status, news frequency,
postal code drawn from a skewed pool; some left empty as in the real file).

Transactions, week by week (``weeks`` weeks ending on 2020-09-22). The week's volume follows a mild
yearly seasonality; rows come in *baskets* (1 + Poisson(1.2) rows: one customer, one day, one
channel); the customer is drawn by activity. Each row picks a category from the customer's
favourites weighted by taste x the category's seasonality this week (10%: any category by its
overall weight x season), a colour (75% a favourite) and a price tier (60% the preferred one, else any), then
an article within that (category, colour, tier) cell with probability proportional to
``popularity x freshness`` (freshness ``0.1 + exp(-age_weeks / 8)``, zero before launch); an empty
cell falls back to (category, colour), category, (index group, product type), product type,
index group, then the whole catalogue (small catalogues leave many cells empty). 8% of rows re-buy
the customer's last purchased article (repeat purchases, ``repeat_share``) and 5% of non-first basket rows repeat the
row before (several units of one article on one day: separate rows, as in the real file). Price =
full SEK price (x 0.5-0.7 on sale for 25% of rows of articles older than 8 weeks) / 590, the real
file's scaling. Rows are sorted by date, then customer id, like the real file.

So a customer's purchases concentrate on a few product types, colours and a price tier; an item's
attributes (and therefore its text and image) predict who buys it; new articles appear every week.

Fashion-retail options (:class:`HMSynthConfig`; their defaults write exactly the files above, byte for byte)
-----------------------------------------------------------------------------------------------------------
``repeat_share`` (default 0.08): the probability that a row of a customer with purchases in earlier weeks
re-buys their latest earlier article (the 8% above). ``variant_share`` (default 0): the probability that
such a row (not a repeat) buys another colour variant of that article's product, uniformly among the
variants launched by then (if there is none, the row is drawn as usual). ``variants_per_product``
(default 2.2, the real 105,542 articles / 47,224 products): products have 1 + Poisson(mean - 1)
articles. ``age_share`` (default 0): the probability that a row's category is drawn from the taste of
the customer's *age group* (buckets ``AGE_TASTE_EDGES``: <25, 25-34, 35-44, 45-54, 55+, from the
customer's age) instead of their own favourites: p(category | group) ~ category weight x
exp(1.5 z[group, category]), z standard normal, drawn once per dataset. So age predicts purchases
beyond the main index group, as popularity by age group does in the real data. Every draw these
options add comes from a second generator (``default_rng([seed, 1])``), so the main stream, and with
the defaults every file, is unchanged.
Memory is bounded by one week of rows plus per-customer and per-article arrays; the CSV is written
week by week with polars.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cl.data._hm_layout import ARTICLE_COLUMNS, CUSTOMER_COLUMNS, TRANSACTION_COLUMNS  # noqa: F401  (the generator's layout)
from recsys_cl.data.synth import _catalogue as cat
from recsys_cl.files import atomic_output
from recsys_cl.data.synth._hm_population import (
    AGE_TASTE_EDGES,
    HMSynthConfig,
    _AGE_TASTE_SIGMA,
    _BASKET_EXTRA_MEAN,
    _EXPLORE_CATEGORY,
    _EXPLORE_COLOUR,
    _EXPLORE_TIER,
    _FRESH_WEEKS,
    _REPEAT,
    _SALE_SHARE,
    _SAME_DAY_DUP,
    articles_frame,
    build_catalogue,
    build_customers,
    hm_categories,
    poisson_group_sizes,
)
from recsys_cl.data.synth._images import draw_product, write_jpeg
from recsys_cl.errors import validated
from recsys_cl.progress import StageProgress

END_DATE = dt.date(2020, 9, 22)
PRICE_SCALE = 590.0  # real prices are SEK / 590 (e.g. 29.99 SEK -> 0.0508305...)


#: sizes of the demo run (a few seconds with images on 2 cores): pass as ``generate_hm(out, **HM_DEMO)``.
HM_DEMO = {"customers": 2_000, "articles": 1_000, "weeks": 16, "images": True}

def _config_or_error(**values: Any) -> HMSynthConfig:
    return validated(HMSynthConfig, values, "synthetic H&M option", with_input=True)


class _CellSampler:
    """Draws an article from a (category, colour, tier) cell by ``popularity x freshness``, with fallbacks.

    Written by hand because no library samples from many small weighted groups at once: articles are
    sorted by cell, a cumulative weight array is built once per week, and every row inverts it with one
    ``searchsorted`` (fully vectorised over the week's rows).
    """

    def __init__(self, arts: dict[str, Any], cats: dict[str, np.ndarray]):
        self.cats = cats
        keys = self.row_keys(arts["category"], arts["colour"], arts["tier"])
        self.sizes = self.key_sizes(len(cats["weight"]))
        self.perms, self.starts, self.ends = [], [], []
        for key, size in zip(keys, self.sizes):
            perm = np.argsort(key, kind="stable")
            sorted_key = key[perm]
            self.perms.append(perm)
            self.starts.append(np.searchsorted(sorted_key, np.arange(size), side="left"))
            self.ends.append(np.searchsorted(sorted_key, np.arange(size), side="right"))
        self.popularity = arts["popularity"]
        self.launch = arts["launch"]

    def row_keys(self, category: np.ndarray, colour: np.ndarray, tier: np.ndarray) -> list[np.ndarray]:
        """Cell ids per fallback level: (category, colour, tier), (category, colour), category,
        (index group, product type), product type, index group, everything. An empty cell (small
        catalogues, or nothing launched yet) falls to the next level, which keeps the closest taste."""
        n_col, n_types = len(cat.COLOURS), len(cat.PRODUCT_TYPES)
        group, ptype = self.cats["group"][category], self.cats["type"][category]
        category = category.astype(np.int64)
        return [
            (category * n_col + colour) * 3 + tier,
            category * n_col + colour,
            category,
            group * n_types + ptype,
            ptype,
            group,
            np.zeros(len(category), dtype=np.int64),
        ]

    @staticmethod
    def key_sizes(n_categories: int) -> list[int]:
        n_col, n_types, n_groups = len(cat.COLOURS), len(cat.PRODUCT_TYPES), len(cat.INDEX_GROUPS)
        return [n_categories * n_col * 3, n_categories * n_col, n_categories, n_groups * n_types, n_types, n_groups, 1]

    def sample(self, rng: np.random.Generator, week: int, row_keys: list[np.ndarray]) -> np.ndarray:
        age = week - self.launch
        weight = np.where(age >= 0, self.popularity * (0.1 + np.exp(-np.maximum(age, 0) / _FRESH_WEEKS)), 0.0)
        n = len(row_keys[0])
        out = np.full(n, -1, dtype=np.int64)
        u = rng.random(n)
        for level, perm in enumerate(self.perms):
            todo = np.flatnonzero(out < 0)
            if len(todo) == 0:
                break
            cw = np.concatenate([[0.0], np.cumsum(weight[perm])])
            k = row_keys[level][todo]
            start, end = self.starts[level][k], self.ends[level][k]
            total = cw[end] - cw[start]
            ok = total > 0
            target = cw[start[ok]] + u[todo[ok]] * total[ok]
            idx = np.searchsorted(cw, target, side="right") - 1
            idx = np.clip(idx, start[ok], end[ok] - 1)
            out[todo[ok]] = perm[idx]
        return out


def _week_volumes(rng: np.random.Generator, weeks: int, total: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows per week (mild yearly seasonality) and each week's first day as days since 1970-01-01."""
    first_day = (END_DATE - dt.timedelta(days=7 * weeks - 1) - dt.date(1970, 1, 1)).days
    week_start = first_day + 7 * np.arange(weeks)
    day_of_year = (week_start + 3) % 365.25  # mid-week day of the year, approximately (1970-01-01 is day 0)
    volume = 1.0 + 0.2 * np.cos(2 * np.pi * (day_of_year - 170) / 365.25)
    return rng.multinomial(total, cat.shares(volume)), week_start


def _season_matrix(week_start: np.ndarray, season: np.ndarray) -> np.ndarray:
    """(weeks, categories) multiplier: summer types peak in July, winter types in January."""
    day_of_year = (week_start + 3) % 365.25
    summer = 1.0 + 0.7 * np.cos(2 * np.pi * (day_of_year - 190) / 365.25)
    winter = 1.0 + 0.7 * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
    out = np.ones((len(week_start), len(season)))
    out[:, season == "summer"] = summer[:, None]
    out[:, season == "winter"] = winter[:, None]
    return out


def _fashion_options(cfg: HMSynthConfig, cats: dict[str, np.ndarray], cust: dict[str, Any]) -> dict[str, Any]:
    """What the fashion-retail options need each week: their own generator (so the main stream is the
    same whatever they are) and, for ``age_share``, the age groups' tastes and each customer's group."""
    extra = np.random.default_rng([cfg.seed, 1])
    options: dict[str, Any] = {"cfg": cfg, "rng": extra}
    if cfg.age_share > 0:
        options["age_taste"] = age_tastes(extra, cats)
        options["age_group"] = np.digitize(cust["age"], AGE_TASTE_EDGES)
    return options


def age_tastes(rng: np.random.Generator, cats: dict[str, np.ndarray]) -> np.ndarray:
    """(age groups, categories) probabilities: category weight x exp(sigma z), z standard normal."""
    z = rng.normal(size=(len(AGE_TASTE_EDGES) + 1, len(cats["weight"])))
    weight = cats["weight"][None, :] * np.exp(_AGE_TASTE_SIGMA * z)
    return weight / weight.sum(axis=1, keepdims=True)


def _buy_variants(rng, article, c, last_article, eligible, arts, week, share) -> None:
    """With probability ``share``, an ``eligible`` row buys another launched colour variant of its
    customer's latest earlier article's product (uniformly), in place; rows without one are left as drawn."""
    rows = np.flatnonzero(eligible & (rng.random(len(article)) < share))
    if not len(rows):
        return
    last = last_article[c[rows]]
    product = arts["product_of"][last]
    start, size = arts["product_start"][product], arts["product_size"][product]
    offset = np.arange(int(size.max()))[None, :]
    candidate = np.minimum(start[:, None] + offset, len(arts["launch"]) - 1)  # past a product's end: masked below
    valid = (offset < size[:, None]) & (candidate != last[:, None]) & (arts["launch"][candidate] <= week)
    pick = np.where(valid, rng.random(candidate.shape), -1.0).argmax(axis=1)  # uniform among the valid ones
    has = valid.any(axis=1)
    article[rows[has]] = candidate[has, pick[has]]


def _week_rows(rng, n, w, cust, cats, arts, sampler, season, last_article, options):
    """Articles, prices and channels for ``n`` rows of week ``w``; ``cust`` gives each basket's customer."""
    # Baskets: 1 + Poisson rows each, truncated so the week has exactly n rows.
    sizes = poisson_group_sizes(rng, _BASKET_EXTRA_MEAN, int(n / (1 + _BASKET_EXTRA_MEAN) * 1.3) + 8, n)
    n_baskets = len(sizes)
    basket_customer = np.searchsorted(cust["activity_cdf"], rng.random(n_baskets) * cust["activity_cdf"][-1], side="right")
    basket_customer = np.minimum(basket_customer, len(cust["activity_cdf"]) - 1)
    basket_day = rng.choice(7, size=n_baskets, p=cat.shares([1.0, 0.9, 0.9, 1.0, 1.2, 1.4, 1.1]))
    basket_channel = np.where(rng.random(n_baskets) < cust["online"][basket_customer], 2, 1).astype(np.int8)
    basket_of = np.repeat(np.arange(n_baskets), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[: n_baskets - 1]])
    position = np.arange(n) - starts[basket_of]
    c = basket_customer[basket_of]

    # Category from the customer's favourites x this week's seasonality, or anything (exploration).
    fav = cust["fav_cat"][c]
    row_cat = fav[np.arange(n), cat.choice_rows(rng, cust["fav_cat_w"][c] * season[w][fav])]
    explore = rng.random(n) < _EXPLORE_CATEGORY
    overall = cat.shares(cats["weight"] * season[w])
    row_cat[explore] = rng.choice(len(overall), size=int(explore.sum()), p=overall)
    cfg, extra = options["cfg"], options["rng"]
    if cfg.age_share > 0:
        by_age = extra.random(n) < cfg.age_share
        row_cat[by_age] = cat.choice_rows(extra, options["age_taste"][options["age_group"][c[by_age]]])
    row_col = cust["fav_col"][c][np.arange(n), cat.choice_rows(rng, cust["fav_col_w"][c])]
    explore = rng.random(n) < _EXPLORE_COLOUR
    colour_share = cat.shares([x.share for x in cat.COLOURS])
    row_col[explore] = rng.choice(len(colour_share), size=int(explore.sum()), p=colour_share)
    row_tier = np.where(rng.random(n) < _EXPLORE_TIER, rng.integers(0, 3, size=n), cust["tier_pref"][c])
    article = sampler.sample(rng, w, sampler.row_keys(row_cat, row_col, row_tier))

    bought_before = last_article[c] >= 0
    repeat = (rng.random(n) < cfg.repeat_share) & bought_before
    article[repeat] = last_article[c[repeat]]
    if cfg.variant_share > 0:
        _buy_variants(extra, article, c, last_article, bought_before & ~repeat, arts, w, cfg.variant_share)
    age = w - arts["launch"][article]
    on_sale = (age > _FRESH_WEEKS) & (rng.random(n) < _SALE_SHARE)
    factor = np.where(on_sale, rng.choice([0.5, 0.6, 0.7], size=n), 1.0)
    sek = np.maximum(np.round((arts["price_sek"][article] + 0.01) * factor), 1.0) - 0.01
    price = np.round(sek, 2) / PRICE_SCALE
    # Several units of one article in one basket: the row repeats the one before (chains allowed).
    dup = (position > 0) & (rng.random(n) < _SAME_DAY_DUP)
    source = np.maximum.accumulate(np.where(dup, 0, np.arange(n)))
    return c, basket_day[basket_of], basket_channel[basket_of], article[source], price[source]


def generate_hm(
    out_dir: str | Path,
    *,
    customers: int,
    articles: int,
    weeks: int,
    transactions: int | None = None,
    seed: int = 0,
    images: bool = False,
    leading_zeros: bool = True,
    repeat_share: float = _REPEAT,
    variant_share: float = 0.0,
    variants_per_product: float = 2.2,
    age_share: float = 0.0,
    progress: StageProgress | None = None,
) -> dict[str, Any]:
    """Write a synthetic H&M dataset to ``out_dir``; returns a summary (counts, date range, paths).

    ``transactions`` defaults to 20 per customer. ``leading_zeros`` writes article ids as the Kaggle
    files do (``0108775015``); False writes them as a type-inferring tool would re-save them (``108775015``).
    ``repeat_share``, ``variant_share``, ``variants_per_product`` and ``age_share`` are the fashion-retail
    options of the module docstring (their defaults reproduce the files written before they existed).
    ``progress(stage, done, total)`` is called per stage step ("articles", "customers", "transactions", "images").
    """
    cfg = _config_or_error(
        customers=customers, articles=articles, weeks=weeks, transactions=transactions, seed=seed,
        images=images, leading_zeros=leading_zeros, repeat_share=repeat_share, variant_share=variant_share,
        variants_per_product=variants_per_product, age_share=age_share,
    )
    report = progress or (lambda stage, done, total: None)
    out = cat.output_dir(out_dir, "synthetic H&M data")
    rng = np.random.default_rng(cfg.seed)
    cats = hm_categories()

    arts = build_catalogue(rng, cfg, cats)
    articles_path = out / "articles.csv"
    with atomic_output(articles_path) as tmp:
        articles_frame(arts, cats, cfg.leading_zeros).write_csv(tmp)
    report("articles", cfg.articles, cfg.articles)

    cust = build_customers(rng, cfg.customers, cats)
    customers_path = out / "customers.csv"
    with atomic_output(customers_path) as tmp:
        cust["frame"].write_csv(tmp)
    report("customers", cfg.customers, cfg.customers)

    volumes, week_start = _week_volumes(rng, cfg.weeks, cfg.n_transactions)
    season = _season_matrix(week_start, cats["season"])
    sampler = _CellSampler(arts, cats)
    options = _fashion_options(cfg, cats, cust)
    customer_ids = cust["frame"]["customer_id"]
    ids = arts["article_id"]
    article_ids = pl.Series(np.char.zfill(ids.astype(str), 10)) if cfg.leading_zeros else pl.Series(ids)
    last_article = np.full(cfg.customers, -1, dtype=np.int64)
    sold = np.zeros(cfg.articles, dtype=bool)
    first_date, last_date, rows = None, None, 0
    transactions_path = out / "transactions_train.csv"
    with atomic_output(transactions_path) as tmp, open(tmp, "wb") as fh:
        pl.DataFrame(schema={c: pl.Utf8 for c in TRANSACTION_COLUMNS}).write_csv(fh)
        for w in range(cfg.weeks):
            n = int(volumes[w])
            if n:
                c, day, channel, article, price = _week_rows(rng, n, w, cust, cats, arts, sampler, season, last_article, options)
                order = np.argsort(day.astype(np.int64) * cfg.customers + c, kind="stable")
                c, day, channel, article, price = c[order], day[order], channel[order], article[order], price[order]
                # Each customer's latest purchase this week feeds next weeks' repeat purchases.
                reversed_first = np.unique(c[::-1], return_index=True)[1]
                last_pos = n - 1 - reversed_first
                last_article[c[last_pos]] = article[last_pos]
                sold[article] = True
                days = week_start[w] + day.astype(np.int64)
                chunk = pl.DataFrame(
                    {
                        "t_dat": pl.Series(days.astype(np.int32)).cast(pl.Date),
                        "customer_id": customer_ids.gather(c),
                        "article_id": article_ids.gather(article),
                        "price": price,
                        "sales_channel_id": channel,
                    }
                )
                chunk.write_csv(fh, include_header=False)
                rows += n
                first_date = first_date or chunk["t_dat"][0]
                last_date = chunk["t_dat"][-1]
            report("transactions", w + 1, cfg.weeks)

    image_paths: list[str] = []
    if cfg.images:
        image_paths = _write_images(out, arts, cats, report)
    last_week_start = dt.date(1970, 1, 1) + dt.timedelta(days=int(week_start[-1]))
    return {
        "dataset": "hm-synthetic",
        "seed": cfg.seed,
        "customers": cfg.customers,
        "articles": cfg.articles,
        "products": int(arts["n_products"]),
        "transactions": rows,
        "weeks": cfg.weeks,
        "first_date": str(first_date) if first_date else None,
        "last_date": str(last_date) if last_date else None,
        "articles_sold": int(sold.sum()),
        "articles_launched_last_week": int(((arts["launch"] == cfg.weeks - 1)).sum()),
        "last_week_start": str(last_week_start),
        "images": len(image_paths),
        "paths": {
            "articles": str(articles_path),
            "customers": str(customers_path),
            "transactions": str(transactions_path),
            "images": str(out / "images") if cfg.images else None,
        },
    }


def image_relpath(article_id: int) -> str:
    """``images/0XX/0XXXXXXXXX.jpg`` for an article id, as in the Kaggle download."""
    padded = f"{int(article_id):010d}"
    return f"images/{padded[:3]}/{padded}.jpg"


def _write_images(out: Path, arts: dict[str, Any], cats: dict[str, np.ndarray], report: StageProgress) -> list[str]:
    todo = np.flatnonzero(arts["has_image"])
    written = []
    step = max(1, len(todo) // 100)
    for done, a in enumerate(todo, start=1):
        t = cat.PRODUCT_TYPES[arts["type"][a]]
        image = draw_product(
            t.shape, cat.COLOURS[arts["colour"][a]].rgb, cat.APPEARANCES[arts["appearance"][a]].pattern,
            seed=int(arts["article_id"][a]),
        )
        rel = image_relpath(arts["article_id"][a])
        write_jpeg(image, out / rel)
        written.append(rel)
        if done % step == 0 or done == len(todo):
            report("images", done, len(todo))
    return written


def hm_latent(*, customers: int, articles: int, weeks: int, transactions: int | None = None, seed: int = 0,
              **options: Any) -> dict[str, Any]:
    """The latent model behind ``generate_hm`` with the same arguments (tastes, catalogue; with ``age_share``
    > 0 also ``age_taste`` (groups x categories) and each customer's ``age_group``), for tests and analysis."""
    cfg = _config_or_error(customers=customers, articles=articles, weeks=weeks, transactions=transactions, seed=seed, **options)
    rng = np.random.default_rng(cfg.seed)
    cats = hm_categories()
    arts = build_catalogue(rng, cfg, cats)
    cust = build_customers(rng, cfg.customers, cats)
    extra = _fashion_options(cfg, cats, cust)
    return {"categories": cats, "articles": arts, "customers": cust,
            **{k: extra[k] for k in ("age_taste", "age_group") if k in extra}}

