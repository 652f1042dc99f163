"""Fashion baselines: the shared contract, and lists computed by hand on a tiny temporal split.

The hand-made shop (items a-f, day d = START + d days; test = day 10; training ends on day 9)::

    u1: a d1, b d3, a d5, c d8          u3: e d0, f d6, d d9
    u2: b d2, d d8, d d9, e d9          u4: f d4

All-time counts a2 b2 c1 d3 e2 f2, so the all-time fill order is d, a, b, e, f, c (ties by item id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, temporal
from recsys_cl.data._split import DAY
from recsys_cl.errors import InputError
from recsys_cl.evaluation import topk_from_scorer
from recsys_cl.models import Recommender, create

from recsys_cl.testing import ModelTests
from .conftest import N_GROUPS, START, USERS_PER_GROUP

ALL_TIME = {"fill_days": None}
PURCHASES = [
    ("u1", "a", 1), ("u1", "b", 3), ("u1", "a", 5), ("u1", "c", 8),
    ("u2", "b", 2), ("u2", "d", 8), ("u2", "d", 9), ("u2", "e", 9),
    ("u3", "e", 0), ("u3", "f", 6), ("u3", "d", 9),
    ("u4", "f", 4),
    ("u1", "a", 10), ("u2", "b", 10), ("u3", "c", 10), ("u4", "d", 10),
]  # fmt: skip


@pytest.fixture(scope="module")
def shop() -> EncodedSplit:
    frame = pl.DataFrame(
        [(u, i, START + d * DAY) for u, i, d in PURCHASES], schema=["user_id", "item_id", "timestamp"], orient="row"
    )
    return EncodedSplit.from_split(temporal(frame, test_days=1, valid_days=0))


@pytest.fixture(scope="module")
def user_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """u1 22, u2 23 (under 30), u3 45, u4 no age; club A for u1, u3 and B for u2, u4."""
    path = tmp_path_factory.mktemp("shop") / "shop.user"
    path.write_text("user_id:token\tage:float\tclub:token\nu1\t22\tA\nu2\t23\tB\nu3\t45\tA\nu4\t\tB\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def item_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Products: P1 = {a, c}, P2 = {b, e}, P3 = {d}; f has none."""
    path = tmp_path_factory.mktemp("shop") / "shop.item"
    rows = ["item_id:token\tproduct_code:token\tcolour:token", "a\tP1\tred", "b\tP2\tred", "c\tP1\tblue",
            "d\tP3\tred", "e\tP2\tblue", "f\t\tred"]  # fmt: skip
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def lists(shop: EncodedSplit, name: str, users=("u1", "u2", "u3", "u4"), k: int = 6, exclude_seen: bool = False, **params):
    model = create(name, **params).fit(shop)
    ranked = model.recommend(list(users), k=k, exclude_seen=exclude_seen)
    return {u: [str(shop.item_ids[i]) for i in row if i >= 0] for u, row in zip(users, ranked.items)}


# ---------------------------------------------------------------------------------------------- repurchase
def test_repurchase_lists_own_items_latest_first_then_fills_by_popularity(shop) -> None:
    got = lists(shop, "repurchase", **ALL_TIME)
    assert got == {
        "u1": ["c", "a", "b", "d", "e", "f"],  # c day 8, a day 5, b day 3
        "u2": ["d", "e", "b", "a", "f", "c"],  # d and e both day 9: d bought twice comes first
        "u3": ["d", "f", "e", "a", "b", "c"],
        "u4": ["f", "d", "a", "b", "e", "c"],
    }


def test_repurchase_frequency_order_and_window(shop) -> None:
    assert lists(shop, "repurchase", users=["u1"], order="frequency", **ALL_TIME)["u1"][:3] == ["a", "c", "b"]
    # window of 2 days before the end of training (day 9): only purchases on days 8-9 are candidates
    got = lists(shop, "repurchase", users=["u1", "u3"], window_days=2, **ALL_TIME)
    assert got == {"u1": ["c", "d", "a", "b", "e", "f"], "u3": ["d", "a", "b", "e", "f", "c"]}


def test_repurchase_under_exclude_seen_is_its_fill_popularity(shop) -> None:
    got = lists(shop, "repurchase", exclude_seen=True, **ALL_TIME)
    assert got["u1"] == ["d", "e", "f"] and got["u4"] == ["d", "a", "b", "e", "c"]
    pop = lists(shop, "pop", exclude_seen=True)
    assert got == pop


def test_repurchase_hits_the_test_repeats_pop_cannot(shop) -> None:
    # u1 re-buys a and u2 re-buys b in the test day: both in their repurchase top 3, never in Pop's excluded lists
    got = lists(shop, "repurchase", k=3, **ALL_TIME)
    assert "a" in got["u1"] and "b" in got["u2"]


# ---------------------------------------------------------------------------------------------- decayed-pop
def test_decayed_pop_weighs_recent_days_by_the_half_life(shop) -> None:
    # half-life 1 day, end = day 9: d .5+1+1, e 1+2^-9, c .5, f 2^-3+2^-5, a 2^-8+2^-4, b 2^-6+2^-7
    assert lists(shop, "decayed-pop", users=["u4"], half_life_days=1.0)["u4"] == ["d", "e", "c", "f", "a", "b"]
    # half-life 100 days is almost plain counts: d 3, f 1.945, e 1.939, a 1.919, b 1.912, c 0.993
    assert lists(shop, "decayed-pop", users=["u4"], half_life_days=100.0)["u4"] == ["d", "f", "e", "a", "b", "c"]
    model = create("decayed-pop", half_life_days=1.0).fit(shop)
    expected_d = 0.5 + 1 + 1
    assert model.base[0, list(shop.item_ids).index("d")] == pytest.approx(expected_d)


# ---------------------------------------------------------------------------------------------- segment-pop
def test_segment_pop_ranks_by_the_age_bucket_then_overall(shop, user_table) -> None:
    got = lists(shop, "segment-pop", bins=(30.0,), days=None, user_table=str(user_table), **ALL_TIME)
    # under 30 (u1, u2): a2 b2 c1 d2 e1 f0 + fill -> d, a, b, e, c, f; 30+ (u3): d1 e1 f1 -> d, e, f, then a, b, c
    assert got["u1"] == got["u2"] == ["d", "a", "b", "e", "c", "f"]
    assert got["u3"] == ["d", "e", "f", "a", "b", "c"]
    assert got["u4"] == ["d", "a", "b", "e", "f", "c"]  # no age: the overall fill list
    model = create("segment-pop", bins=(30.0,), user_table=str(user_table)).fit(shop)
    assert model.segment_labels == ["<30", ">=30", "unknown"]


def test_segment_pop_on_a_token_column(shop, user_table) -> None:
    got = lists(shop, "segment-pop", column="club", bins=None, days=None, user_table=str(user_table), **ALL_TIME)
    # club A (u1, u3): a2 b1 c1 d1 e1 f1; club B (u2, u4): b1 d2 e1 f1
    assert got["u1"] == got["u3"] == ["a", "d", "b", "e", "f", "c"]
    assert got["u2"] == got["u4"] == ["d", "b", "e", "f", "a", "c"]


def test_segment_pop_days_window_counts_recent_purchases_only(shop, user_table) -> None:
    # last 2 days (days 8, 9): under 30: c1 d2 e1 -> d, c(1+.25)... vs e(1+.5): d, e, c, then a, b, f
    got = lists(shop, "segment-pop", users=["u1"], bins=(30.0,), days=2.0, user_table=str(user_table), **ALL_TIME)
    assert got["u1"] == ["d", "e", "c", "a", "b", "f"]


def test_segment_pop_finds_the_user_table_of_a_prepared_dataset(tmp_path) -> None:
    from recsys_cl.data._dataset import load_dataset, write_dataset

    frame = pl.DataFrame([(u, i, START + d * DAY) for u, i, d in PURCHASES], schema=["user_id", "item_id", "timestamp"], orient="row")
    users = pl.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "age": [22.0, 23.0, 45.0, None]})
    write_dataset(tmp_path / "shop", "shop", frame, users=users, protocols=["temporal"],
                  protocol_options={"temporal": {"test_days": 1, "valid_days": 0}})  # fmt: skip
    encoded = load_dataset(tmp_path / "shop").encoded("temporal")
    got = lists(encoded, "segment-pop", users=["u3"], bins=(30.0,), days=None, **ALL_TIME)
    assert got["u3"] == ["d", "e", "f", "a", "b", "c"]


# ---------------------------------------------------------------------------------------------- product-variants
def test_product_variants_lists_other_articles_of_bought_products(shop, item_table) -> None:
    got = lists(shop, "product-variants", item_table=str(item_table), **ALL_TIME)
    # u1 bought a, b, c: P1's articles are all his own, P2's other article e is the one variant
    assert got["u1"] == ["e", "d", "a", "b", "f", "c"]
    assert got["u2"] == ["d", "a", "b", "e", "f", "c"]  # owns every article of P2 and P3: fill only
    assert got["u3"] == ["b", "d", "a", "e", "f", "c"]  # e is P2: b
    assert got["u4"] == ["d", "a", "b", "e", "f", "c"]  # f has no product
    model = create("product-variants", item_table=str(item_table), **ALL_TIME).fit(shop)
    u1 = model._personal_rows(shop.user_index(["u1"]))
    assert u1.nnz == 1 and u1.data[0] == 1.0  # one purchase (b) of e's product


def test_product_variants_window_limits_the_products(shop, item_table) -> None:
    # window 4 days (days 6-9): u3's recent purchases are f (no product) and d (P3, no other article)
    got = lists(shop, "product-variants", users=["u3"], window_days=4, item_table=str(item_table), **ALL_TIME)
    assert got["u3"] == ["d", "a", "b", "e", "f", "c"]


# ---------------------------------------------------------------------------------------------- bought-together
def test_bought_together_within_the_window(shop) -> None:
    # window 1 day: only u2's d (day 8, 9) and e (day 9) pair up: co(d, e) = co(e, d) = 2
    got = lists(shop, "bought-together", users=["u1", "u2", "u3"], window_days=1, recent_days=0, **ALL_TIME)
    assert got["u1"] == ["d", "a", "b", "e", "f", "c"]  # seed c has no co-purchases
    assert got["u2"] == ["d", "e", "a", "b", "f", "c"]  # seeds d, e (day 9): each other's partner
    assert got["u3"] == ["e", "d", "a", "b", "f", "c"]  # seed d (day 9) -> e
    model = create("bought-together", window_days=0, recent_days=0, **ALL_TIME).fit(shop)
    assert model._personal_rows(shop.user_index(["u3"])).toarray().sum() == 1.0  # same day only: co(d, e) = 1


def test_bought_together_neighbours_and_seed_days(shop) -> None:
    # window 3 days: co(a, b) = 2 (days 1-3, 3-5), co(a, c) = 1 (days 5-8), co(d, e) = 2, co(d, f) = 1
    got = lists(shop, "bought-together", users=["u1"], window_days=3, recent_days=0, **ALL_TIME)
    assert got["u1"] == ["a", "d", "b", "e", "f", "c"]  # seed c -> a
    # every purchase a seed: a gets co(b,a)+co(c,a) = 3, b co(a,b) = 2, c co(a,c) = 1
    got = lists(shop, "bought-together", users=["u1"], window_days=3, recent_days=10, **ALL_TIME)
    assert got["u1"] == ["a", "b", "c", "d", "e", "f"]
    # one neighbour per item: a keeps b only, so c loses its score
    got = lists(shop, "bought-together", users=["u1"], window_days=3, recent_days=10, neighbours=1, **ALL_TIME)
    assert got["u1"] == ["a", "b", "d", "e", "f", "c"]
    # co-purchases counted over the last 2 days of training only (days 8, 9): u1's pairs are older, fill only
    got = lists(shop, "bought-together", users=["u1"], window_days=3, recent_days=10, history_days=2, **ALL_TIME)
    assert got["u1"] == ["d", "a", "b", "e", "f", "c"]


# ---------------------------------------------------------------------------------------------- shared
@pytest.mark.parametrize(
    "name, params",
    [("repurchase", {}), ("decayed-pop", {}), ("segment-pop", {"bins": (30.0,)}), ("product-variants", {}),
     ("bought-together", {"window_days": 3})],
)  # fmt: skip
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_sparse_ranking_equals_the_dense_top_k(shop, user_table, item_table, name, params, exclude_seen) -> None:
    if name == "segment-pop":
        params = {**params, "user_table": str(user_table)}
    if name == "product-variants":
        params = {**params, "item_table": str(item_table)}
    model = create(name, **params).fit(shop)
    users = np.arange(shop.n_users)
    ranked = model.recommend(shop.user_ids, k=5, exclude_seen=exclude_seen)
    dense = topk_from_scorer(model._score, shop.n_items, 5, users, exclude=shop.train if exclude_seen else None, device="cpu")
    np.testing.assert_array_equal(ranked.items, dense[0])
    np.testing.assert_allclose(ranked.scores, dense[1], rtol=1e-6)


def test_bad_input_names_the_key(shop, user_table, item_table, tmp_path, monkeypatch) -> None:
    with pytest.raises(InputError, match=r"column: 'height' is not a column of .*shop.user \(have age, club\)"):
        create("segment-pop", column="height", user_table=str(user_table)).fit(shop)
    with pytest.raises(InputError, match="bins: column 'club'.* not numeric"):
        create("segment-pop", column="club", user_table=str(user_table)).fit(shop)
    with pytest.raises(InputError, match="user_table: no .user table"):
        create("segment-pop").fit(shop)  # a split made in memory: no dataset folder to look in
    with pytest.raises(InputError, match="user_table: .*nowhere.user: file not found"):
        create("segment-pop", user_table=str(tmp_path / "nowhere.user")).fit(shop)
    with pytest.raises(InputError, match="bins"):
        create("segment-pop", bins=(30.0, 20.0))
    monkeypatch.setattr("recsys_cl.models._fashion.MAX_SEGMENTS", 1)
    with pytest.raises(InputError, match="column: 'club' has 2 distinct values; at most 1 segments"):
        create("segment-pop", column="club", bins=None, user_table=str(user_table)).fit(shop)
    with pytest.raises(InputError, match=r"product_column: 'style' is not a column of .*shop.item"):
        create("product-variants", product_column="style", item_table=str(item_table)).fit(shop)
    with pytest.raises(InputError, match="item_table"):
        create("product-variants").fit(shop)
    with pytest.raises(InputError, match="half_life_days"):
        create("decayed-pop", half_life_days=0)
    with pytest.raises(InputError, match="neighbours"):
        create("bought-together", neighbours=0)


# ---------------------------------------------------------------------------------------------- contract
class TestRepurchase(ModelTests):
    model_name = "repurchase"
    expected_margin_over_pop = None  # with training items excluded it is a popularity list


class TestDecayedPop(ModelTests):
    model_name = "decayed-pop"
    expected_margin_over_pop = None


class TestProductVariants(ModelTests):
    # the structured items' taste group plays the product: variants are the other items of the group
    model_name = "product-variants"
    params = {"product_column": "group"}
    needs_item_table = True


class TestBoughtTogether(ModelTests):
    model_name = "bought-together"
    params = {"recent_days": 7.0}


@pytest.fixture(scope="session")
def structured_user_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ages by taste group (18, 27, 45, 70): the default age buckets separate the groups."""
    path = tmp_path_factory.mktemp("structured-users") / "structured.user"
    ages = [18, 27, 45, 70]
    lines = ["user_id:token\tage:float", "u_single\t33"]
    lines += [f"u{g}{n:02d}\t{ages[g]}" for g in range(N_GROUPS) for n in range(USERS_PER_GROUP)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestSegmentPop(ModelTests):
    """Ages follow the taste groups, so the age buckets are the groups: far above Pop."""

    model_name = "segment-pop"
    user_table: ClassVar[str] = ""

    @classmethod
    def make(cls, item_table_path: Any = None, **overrides: Any) -> Recommender:
        return super().make(item_table_path, **{"user_table": cls.user_table, **overrides})

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, loo_encoded: EncodedSplit, structured_user_table: Path) -> Recommender:  # type: ignore[override]
        cls.user_table = str(structured_user_table)  # for the contract's own re-fits too
        return cls.fit(loo_encoded, None, None)
