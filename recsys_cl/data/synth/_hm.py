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
from typing import Any, Callable

import numpy as np
import polars as pl
import pydantic

from recsys_cl.data._atomic import atomic_output
from recsys_cl.data.synth import _catalogue as cat
from recsys_cl.data.synth._images import draw_product, write_jpeg
from recsys_cl.errors import validated
from recsys_cl.progress import StageProgress

END_DATE = dt.date(2020, 9, 22)
#: real H&M: 31.8M transactions / 1.37M customers over two years is ~23; the demo default uses 20.
TRANSACTIONS_PER_CUSTOMER = 20
PRICE_SCALE = 590.0  # real prices are SEK / 590 (e.g. 29.99 SEK -> 0.0508305...)

# The layout is the adapter's: one definition of H&M's columns for reader and writer.
from recsys_cl.data._hm import ARTICLE_COLUMNS, CUSTOMER_COLUMNS, TRANSACTION_COLUMNS  # noqa: E402, F401
from recsys_cl.limits import Seed

#: sizes of the demo run (a few seconds with images on 2 cores): pass as ``generate_hm(out, **HM_DEMO)``.
HM_DEMO = {"customers": 2_000, "articles": 1_000, "weeks": 16, "images": True}

# Model constants (see the module docstring).
_BACK_CATALOGUE = 0.45
_FUTURE = 0.01
_EMPTY_DESC = 0.02
_IMAGE_SHARE = 0.9
_N_FAV_CATEGORIES = 4
_N_FAV_COLOURS = 3
_EXPLORE_CATEGORY = 0.10
_EXPLORE_COLOUR = 0.25
_EXPLORE_TIER = 0.40
_REPEAT = 0.08
_SAME_DAY_DUP = 0.05
_BASKET_EXTRA_MEAN = 1.2
_FRESH_WEEKS = 8.0
_SALE_SHARE = 0.25
#: age group edges of the age-dependent tastes (``age_share``): <25, 25-34, 35-44, 45-54, 55+
AGE_TASTE_EDGES = (25, 35, 45, 55)
_AGE_TASTE_SIGMA = 1.5

#: relative number of articles per product type (shaped like the real top-10 counts).
_TYPE_WEIGHT = {
    "Trousers": 11, "Dress": 10, "Sweater": 9, "T-shirt": 8, "Top": 4, "Blouse": 4, "Jacket": 4, "Shorts": 4,
    "Shirt": 3.4, "Vest top": 3, "Skirt": 2.5, "Bra": 2.5, "Underwear bottom": 3, "Leggings/Tights": 2,
    "Jeans": 3, "Swimwear bottom": 2, "Socks": 1.5, "Sneakers": 1.5, "Boots": 1, "Bag": 1.5, "Hat/beanie": 1.5,
}


class HMSynthConfig(pydantic.BaseModel):
    """Sizes of a synthetic H&M dataset; ``transactions`` defaults to 20 per customer."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    customers: int = pydantic.Field(gt=0, le=50_000_000)
    articles: int = pydantic.Field(gt=0, le=2_000_000)
    weeks: int = pydantic.Field(gt=0, le=520)
    transactions: int | None = pydantic.Field(default=None, ge=0, le=2_000_000_000)
    seed: Seed = 0
    images: bool = False
    leading_zeros: bool = True
    repeat_share: float = pydantic.Field(
        _REPEAT, ge=0, le=1, description="share of rows (of customers who bought before) re-buying their latest earlier article"
    )
    variant_share: float = pydantic.Field(
        0.0, ge=0, le=1, description="share of rows (of customers who bought before) buying another colour of that article's product"
    )
    variants_per_product: float = pydantic.Field(
        2.2, ge=1, le=50, description="mean articles (colour variants) per product: 1 + Poisson(mean - 1)"
    )
    age_share: float = pydantic.Field(
        0.0, ge=0, le=1, description="share of rows whose category follows the customer's age group's taste"
    )

    @property
    def n_transactions(self) -> int:
        return self.customers * TRANSACTIONS_PER_CUSTOMER if self.transactions is None else self.transactions


def _config_or_error(**values: Any) -> HMSynthConfig:
    return validated(HMSynthConfig, values, "synthetic H&M option", with_input=True)


def _categories() -> dict[str, np.ndarray]:
    """The (section, product type) grammar as arrays: one entry per category."""
    type_index = {t.name: i for i, t in enumerate(cat.PRODUCT_TYPES)}
    group_share = {no: share for no, _, share in cat.INDEX_GROUPS}
    group_pos = {no: i for i, (no, _, _) in enumerate(cat.INDEX_GROUPS)}
    sections_in_group: dict[int, int] = {}
    for s in cat.SECTIONS:
        sections_in_group[s.index_group_no] = sections_in_group.get(s.index_group_no, 0) + 1
    sec, typ, group, weight = [], [], [], []
    for si, s in enumerate(cat.SECTIONS):
        type_w = np.array([_TYPE_WEIGHT[t] for t in s.types], dtype=np.float64)
        for t, w in zip(s.types, type_w / type_w.sum()):
            sec.append(si)
            typ.append(type_index[t])
            group.append(group_pos[s.index_group_no])
            weight.append(group_share[s.index_group_no] / sections_in_group[s.index_group_no] * w)
    return {
        "section": np.array(sec), "type": np.array(typ), "group": np.array(group),
        "weight": cat.shares(weight),
        "season": np.array([cat.PRODUCT_TYPES[t].season for t in typ]),
    }


def _build_catalogue(rng: np.random.Generator, cfg: HMSynthConfig, cats: dict[str, np.ndarray]) -> dict[str, Any]:
    """Products and their colour variants (articles), sorted by article_id."""
    n_articles = cfg.articles
    # Products: sizes 1 + Poisson(mean - 1), truncated so the article count is exact. (The rounding keeps
    # the default's Poisson mean exactly 1.2: 2.2 - 1.0 is 1.2000000000000002 in floating point.)
    extra_mean = round(cfg.variants_per_product - 1.0, 12)
    sizes = 1 + rng.poisson(extra_mean, size=int(n_articles / cfg.variants_per_product) + 16)
    while sizes.sum() < n_articles:
        sizes = np.concatenate([sizes, 1 + rng.poisson(extra_mean, size=len(sizes))])
    ends = np.cumsum(sizes)
    n_products = int(np.searchsorted(ends, n_articles) + 1)
    sizes = sizes[:n_products].copy()
    sizes[-1] -= ends[n_products - 1] - n_articles
    codes = np.sort(rng.choice(np.arange(108_775, 959_462), size=n_products, replace=False))

    product_cat = rng.choice(len(cats["weight"]), size=n_products, p=cats["weight"])
    product_type = cats["type"][product_cat]
    # Appearance probabilities per product type: denim only where it makes sense (and common for jeans).
    app_share = np.array([a.share for a in cat.APPEARANCES])
    denim = [i for i, a in enumerate(cat.APPEARANCES) if a.name == "Denim"][0]
    app_probs = np.tile(app_share, (len(cat.PRODUCT_TYPES), 1))
    for ti, t in enumerate(cat.PRODUCT_TYPES):
        app_probs[ti, denim] = 0.0 if t.name not in cat.DENIM_TYPES else (1.5 if t.name == "Jeans" else 0.15)
    app_probs /= app_probs.sum(axis=1, keepdims=True)
    product_app = cat.choice_rows(rng, app_probs[product_type])

    price_mult = rng.lognormal(0.0, 0.3, size=n_products)
    tier = np.digitize(np.log(price_mult), [-0.3 * 0.4307, 0.3 * 0.4307])  # normal terciles
    base_sek = np.array([cat.PRODUCT_TYPES[t].price_sek for t in product_type]) * price_mult
    price_sek = np.maximum(np.round(base_sek / 10.0) * 10.0, 10.0) - 0.01
    kind = rng.random(n_products)
    launch = np.where(
        kind < _BACK_CATALOGUE,
        -rng.integers(1, 53, size=n_products),
        np.where(kind < _BACK_CATALOGUE + _FUTURE, cfg.weeks, rng.integers(0, cfg.weeks, size=n_products)),
    )
    launch[0] = -1  # something is on sale from the first week, whatever the sizes
    product_pop = rng.lognormal(0.0, 0.6, size=n_products)

    # Text: one name and one description per product (colour variants share them, as in the real file).
    name_word = rng.integers(0, len(cat.NAME_WORDS), size=n_products)
    noun_pick = rng.integers(0, 1 << 30, size=(n_products, 4))
    suffix = rng.random(n_products) < 0.15
    empty_desc = rng.random(n_products) < _EMPTY_DESC
    fits = rng.integers(0, len(cat.FITS), size=n_products)
    names, descs = [], []
    for p in range(n_products):  # per product, not per transaction: strings are cheap at catalogue scale
        t = cat.PRODUCT_TYPES[product_type[p]]
        a = cat.APPEARANCES[product_app[p]]
        noun = t.words[noun_pick[p, 0] % len(t.words)]
        names.append(f"{cat.NAME_WORDS[name_word[p]]} {noun}" + (" (1)" if suffix[p] else ""))
        if empty_desc[p]:
            descs.append(None)
            continue
        material = t.materials[noun_pick[p, 1] % len(t.materials)]
        picks = [t.features[(noun_pick[p, 2] + j * noun_pick[p, 3]) % len(t.features)] for j in range(3)]
        picked = list(dict.fromkeys(picks))  # 1-3 distinct features, in draw order
        features = picked[0] if len(picked) == 1 else ", ".join(picked[:-1]) + " and " + picked[-1]
        adjective = f"{a.adjective} " if a.adjective and a.adjective != "denim" else ""
        descs.append(f"{cat.FITS[fits[p]]} {noun} in {adjective}{material} with {features}.")

    # Articles: variants numbered 1, then increasing by 1-8 (real ids look like 001, 002, 015, 044).
    product_of = np.repeat(np.arange(n_products), sizes)
    steps = rng.integers(1, 9, size=n_articles)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    first = np.zeros(n_articles, dtype=bool)
    first[starts] = True
    steps[first] = 1
    csum = np.cumsum(steps)
    variant = csum - np.repeat(csum[starts] - 1, sizes)
    article_id = codes[product_of].astype(np.int64) * 1000 + variant

    colour_share = np.array([c.share for c in cat.COLOURS])
    colour = rng.choice(len(cat.COLOURS), size=n_articles, p=cat.shares(colour_share))
    denim_colours = np.array([i for i, c in enumerate(cat.COLOURS) if c.name in cat.DENIM_COLOURS])
    is_denim = product_app[product_of] == denim
    colour[is_denim] = denim_colours[rng.integers(0, len(denim_colours), size=int(is_denim.sum()))]
    popularity = rng.lognormal(0.0, 1.2, size=n_articles) * product_pop[product_of]
    has_image = rng.random(n_articles) < _IMAGE_SHARE
    return {
        "n_products": n_products, "product_of": product_of, "product_start": starts, "product_size": sizes,
        "code": codes, "article_id": article_id,
        "category": product_cat[product_of], "type": product_type[product_of], "appearance": product_app[product_of],
        "tier": tier[product_of], "price_sek": price_sek[product_of], "launch": launch[product_of],
        "colour": colour, "popularity": popularity, "has_image": has_image,
        "prod_name": np.array(names, dtype=object)[product_of], "detail_desc": np.array(descs, dtype=object)[product_of],
    }


def _articles_frame(arts: dict[str, Any], cats: dict[str, np.ndarray], leading_zeros: bool) -> pl.DataFrame:
    types, sections = cat.PRODUCT_TYPES, cat.SECTIONS
    sec = cats["section"][arts["category"]]
    typ = arts["type"]
    col = arts["colour"]
    app = arts["appearance"]
    gg = np.array([t.garment_group for t in types])[typ]
    # One department per (section, garment group): number and name derived from both.
    dept_key = sec * 10_000 + gg
    dept_names = {k: sections[k // 10_000].dept_prefix + cat.DEPARTMENT_STEM[k % 10_000] for k in np.unique(dept_key)}
    dept_no = {k: 1200 + 7 * i for i, k in enumerate(sorted(dept_names))}
    ids = arts["article_id"]
    codes = ids // 1000
    frame = {
        "article_id": np.char.zfill(ids.astype(str), 10) if leading_zeros else ids,
        "product_code": np.char.zfill(codes.astype(str), 7) if leading_zeros else codes,
        "prod_name": arts["prod_name"],
        "product_type_no": np.array([t.no for t in types])[typ],
        "product_type_name": np.array([t.name for t in types])[typ],
        "product_group_name": np.array([t.group for t in types])[typ],
        "graphical_appearance_no": np.array([a.no for a in cat.APPEARANCES])[app],
        "graphical_appearance_name": np.array([a.name for a in cat.APPEARANCES])[app],
        "colour_group_code": (np.char.zfill(np.array([str(c.code) for c in cat.COLOURS])[col], 2) if leading_zeros
                              else np.array([c.code for c in cat.COLOURS])[col]),
        "colour_group_name": np.array([c.name for c in cat.COLOURS])[col],
        "perceived_colour_value_id": np.array([c.value_id for c in cat.COLOURS])[col],
        "perceived_colour_value_name": np.array([c.value_name for c in cat.COLOURS])[col],
        "perceived_colour_master_id": np.array([c.master_id for c in cat.COLOURS])[col],
        "perceived_colour_master_name": np.array([c.master_name for c in cat.COLOURS])[col],
        "department_no": np.array([dept_no[k] for k in dept_key]),
        "department_name": np.array([dept_names[k] for k in dept_key]),
        "index_code": np.array([s.index_code for s in sections])[sec],
        "index_name": np.array([s.index_name for s in sections])[sec],
        "index_group_no": np.array([s.index_group_no for s in sections])[sec],
        "index_group_name": np.array([dict((g, n) for g, n, _ in cat.INDEX_GROUPS)[s.index_group_no] for s in sections])[sec],
        "section_no": np.array([s.no for s in sections])[sec],
        "section_name": np.array([s.name for s in sections])[sec],
        "garment_group_no": gg,
        "garment_group_name": np.array([cat.GARMENT_GROUPS[g] for g in gg]),
        "detail_desc": arts["detail_desc"],
    }
    return pl.DataFrame({k: pl.Series(k, list(v) if v.dtype == object else v) for k, v in frame.items()})


def _distinct_draws(n: int, k: int, draw: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(n, k) int32: per row, ``k`` distinct values from repeated ``draw(rows)`` calls.

    Rejecting repeats is exactly sequential sampling without replacement (each new value is drawn from
    the distribution renormalised over the values not yet chosen), at O(n k) instead of the O(n x
    categories) a Gumbel top-k over every category costs (1.4M customers x 85 categories: ~10 s).
    """
    chosen = np.full((n, k), -1, dtype=np.int32)
    count = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        value = draw(todo)
        new = ~(chosen[todo] == value[:, None]).any(axis=1)
        rows = todo[new]
        chosen[rows, count[rows]] = value[new]
        count[rows] += 1
        todo = todo[count[todo] < k]
    return chosen


def _build_customers(rng: np.random.Generator, n: int, cats: dict[str, np.ndarray]) -> dict[str, Any]:
    """Customer ids (sorted hex, like the real file), file fields and latent tastes."""
    ids = np.sort(cat.hex_ids(rng, n))
    group_share = np.array([s for _, _, s in cat.INDEX_GROUPS])
    main_group = rng.choice(len(group_share), size=n, p=cat.shares(group_share))
    affinity = 0.04 * rng.gamma(0.5, 1.0, size=(n, len(group_share)))
    affinity[np.arange(n), main_group] += 1.0
    affinity /= affinity.sum(axis=1, keepdims=True)

    # Favourite categories: k distinct draws from p(category) ~ weight x affinity of its group, drawn as
    # group (by affinity x the group's total weight) then category within the group.
    n_groups = len(group_share)
    by_group = np.argsort(cats["group"], kind="stable")
    cum_weight = np.concatenate([[0.0], np.cumsum(cats["weight"][by_group])])
    group_start = np.searchsorted(cats["group"][by_group], np.arange(n_groups))
    group_end = np.searchsorted(cats["group"][by_group], np.arange(n_groups), side="right")
    group_mass = affinity * (cum_weight[group_end] - cum_weight[group_start])

    def draw_category(rows: np.ndarray) -> np.ndarray:
        g = cat.choice_rows(rng, group_mass[rows])
        lo, hi = cum_weight[group_start[g]], cum_weight[group_end[g]]
        pos = np.searchsorted(cum_weight, lo + rng.random(len(rows)) * (hi - lo), side="right") - 1
        return by_group[np.clip(pos, group_start[g], group_end[g] - 1)]

    fav_cat = _distinct_draws(n, _N_FAV_CATEGORIES, draw_category)
    fav_cat_w = rng.gamma(1.0, 1.0, size=(n, _N_FAV_CATEGORIES))
    colour_cum = np.cumsum(cat.shares([c.share for c in cat.COLOURS]))
    fav_col = _distinct_draws(
        n, _N_FAV_COLOURS,
        lambda rows: np.minimum(np.searchsorted(colour_cum, rng.random(len(rows)), side="right"), len(colour_cum) - 1),
    )
    fav_col_w = rng.gamma(1.0, 1.0, size=(n, _N_FAV_COLOURS))
    tier_pref = rng.choice(3, size=n, p=[0.35, 0.4, 0.25])
    online = rng.beta(3.0, 1.5, size=n)
    activity = rng.lognormal(0.0, 1.0, size=n)

    # File fields. Age by main group: (mean, sd) for Ladieswear, Divided, Menswear, Baby/Children, Sport.
    age_mean = np.array([44.0, 23.0, 38.0, 34.0, 30.0])[main_group]
    age_sd = np.array([13.0, 4.0, 12.0, 6.0, 9.0])[main_group]
    age = np.clip(np.round(rng.normal(age_mean, age_sd)), 16, 99).astype(np.int64)
    fn = rng.random(n) < 0.35
    active = np.where(fn, rng.random(n) < 0.97, rng.random(n) < 0.01)
    club = np.array(["ACTIVE", "PRE-CREATE", "LEFT CLUB", None], dtype=object)[
        rng.choice(4, size=n, p=[0.925, 0.067, 0.004, 0.004])]
    news = np.where(fn, "Regularly", "NONE").astype(object)
    news[rng.random(n) < 0.002] = "Monthly"
    news[rng.random(n) < 0.012] = None
    n_postal = max(1, n // 20)
    postal_pool = cat.hex_ids(rng, n_postal)
    postal = postal_pool[rng.choice(n_postal, size=n, p=cat.shares(1.0 / np.arange(1, n_postal + 1) ** 1.05))]
    frame = pl.DataFrame(
        {
            "customer_id": pl.Series(ids).cast(pl.Utf8),
            "FN": pl.Series(np.where(fn, 1.0, np.nan)).fill_nan(None),
            "Active": pl.Series(np.where(active, 1.0, np.nan)).fill_nan(None),
            "club_member_status": pl.Series(list(club), dtype=pl.Utf8),
            "fashion_news_frequency": pl.Series(list(news), dtype=pl.Utf8),
            "age": pl.Series(age).scatter(np.flatnonzero(rng.random(n) < 0.011), None),
            "postal_code": pl.Series(postal).cast(pl.Utf8),
        }
    )
    return {
        "frame": frame, "fav_cat": fav_cat, "fav_cat_w": fav_cat_w, "fav_col": fav_col, "fav_col_w": fav_col_w,
        "tier_pref": tier_pref, "online": online, "activity_cdf": np.cumsum(activity), "age": age,
    }


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
    sizes = 1 + rng.poisson(_BASKET_EXTRA_MEAN, size=int(n / (1 + _BASKET_EXTRA_MEAN) * 1.3) + 8)
    while sizes.sum() < n:
        sizes = np.concatenate([sizes, 1 + rng.poisson(_BASKET_EXTRA_MEAN, size=len(sizes))])
    ends = np.cumsum(sizes)
    n_baskets = int(np.searchsorted(ends, n) + 1)
    sizes = sizes[:n_baskets].copy()
    sizes[-1] -= ends[n_baskets - 1] - n
    basket_customer = np.searchsorted(cust["activity_cdf"], rng.random(n_baskets) * cust["activity_cdf"][-1], side="right")
    basket_customer = np.minimum(basket_customer, len(cust["activity_cdf"]) - 1)
    basket_day = rng.choice(7, size=n_baskets, p=cat.shares([1.0, 0.9, 0.9, 1.0, 1.2, 1.4, 1.1]))
    basket_channel = np.where(rng.random(n_baskets) < cust["online"][basket_customer], 2, 1).astype(np.int8)
    basket_of = np.repeat(np.arange(n_baskets), sizes)
    starts = np.concatenate([[0], ends[: n_baskets - 1]])
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
    cats = _categories()

    arts = _build_catalogue(rng, cfg, cats)
    articles_path = out / "articles.csv"
    with atomic_output(articles_path) as tmp:
        _articles_frame(arts, cats, cfg.leading_zeros).write_csv(tmp)
    report("articles", cfg.articles, cfg.articles)

    cust = _build_customers(rng, cfg.customers, cats)
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
    cats = _categories()
    arts = _build_catalogue(rng, cfg, cats)
    cust = _build_customers(rng, cfg.customers, cats)
    extra = _fashion_options(cfg, cats, cust)
    return {"categories": cats, "articles": arts, "customers": cust,
            **{k: extra[k] for k in ("age_taste", "age_group") if k in extra}}

