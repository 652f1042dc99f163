"""The synthetic H&M population: its configuration, the catalogue of articles (from the catalogue grammar) and
the customers with their tastes; ``_hm`` draws their purchases week by week and writes the files. The latent
model is described in ``_hm``'s docstring."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import polars as pl
import pydantic

from recsys_cl.data.synth import _catalogue as cat
from recsys_cl.limits import Seed


#: real H&M: 31.8M transactions / 1.37M customers over two years is ~23; the demo default uses 20.
TRANSACTIONS_PER_CUSTOMER = 20

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


def poisson_group_sizes(rng: np.random.Generator, extra_mean: float, first_draws: int, total: int) -> np.ndarray:
    """Group sizes 1 + Poisson(``extra_mean``) summing to exactly ``total`` (the last group cut short): drawn
    ``first_draws`` at a time, then as many again until they reach ``total``."""
    sizes = 1 + rng.poisson(extra_mean, size=first_draws)
    while sizes.sum() < total:
        sizes = np.concatenate([sizes, 1 + rng.poisson(extra_mean, size=len(sizes))])
    ends = np.cumsum(sizes)
    n_groups = int(np.searchsorted(ends, total) + 1)
    sizes = sizes[:n_groups].copy()
    sizes[-1] -= ends[n_groups - 1] - total
    return sizes


def hm_categories() -> dict[str, np.ndarray]:
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


def build_catalogue(rng: np.random.Generator, cfg: HMSynthConfig, cats: dict[str, np.ndarray]) -> dict[str, Any]:
    """Products and their colour variants (articles), sorted by article_id."""
    n_articles = cfg.articles
    # Products: sizes 1 + Poisson(mean - 1), truncated so the article count is exact. (The rounding keeps
    # the default's Poisson mean exactly 1.2: 2.2 - 1.0 is 1.2000000000000002 in floating point.)
    extra_mean = round(cfg.variants_per_product - 1.0, 12)
    sizes = poisson_group_sizes(rng, extra_mean, int(n_articles / cfg.variants_per_product) + 16, n_articles)
    n_products = len(sizes)
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


def articles_frame(arts: dict[str, Any], cats: dict[str, np.ndarray], leading_zeros: bool) -> pl.DataFrame:
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


def build_customers(rng: np.random.Generator, n: int, cats: dict[str, np.ndarray]) -> dict[str, Any]:
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
