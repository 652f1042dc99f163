"""two-stage: candidates, features and the label window computed by hand on a tiny shop; the ranker
against its generators on data where a feature is predictive by construction; bad input; the contract.

The hand-made shop (items a-f, day d = START + d days; temporal split: valid = day 10, test = day 11)::

    training (day: item price)                     valid   test
    u1 (age 22): 1 a 10, 3 b 20, 5 a 10, 8 c 30     c       a
    u2 (age 45): 2 b 20, 8 d 40, 9 d 40             e       b
    u3 (no age): 6 e 50, 9 d 40                     a       f

Products P1 = {a, c}, P2 = {b, e}, P3 = {d}; f has none. Embeddings (2-d): a (1, 0), b (0, 1), c (1, 1),
d (-1, 0), e (0, -1); f has none. All-time sales a2 b2 c1 d3 e1 f0: the fill order d, a, b, c, e, f.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, temporal
from recsys_cl.data._split import DAY
from recsys_cl.embeddings._io import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.evaluation import evaluate
from recsys_cl.models import create
from recsys_cl.models._two_stage_features import window_split

from recsys_cl.testing import ModelTests
from .conftest import START

PURCHASES = [
    ("u1", "a", 1, 10.0), ("u1", "b", 3, 20.0), ("u1", "a", 5, 10.0), ("u1", "c", 8, 30.0),
    ("u2", "b", 2, 20.0), ("u2", "d", 8, 40.0), ("u2", "d", 9, 40.0),
    ("u3", "e", 6, 50.0), ("u3", "d", 9, 40.0),
    ("u1", "c", 10, 30.0), ("u2", "e", 10, 50.0), ("u3", "a", 10, 10.0),
    ("u1", "a", 11, 10.0), ("u2", "b", 11, 20.0), ("u3", "f", 11, 60.0),
]  # fmt: skip
NO_SIDE_TABLES = ["generators", "popularity", "user", "user_item", "price"]
# one LightGBM thread: on shared cores its OpenMP threads wait for each other (2 threads ran 3-10x slower)
SMALL_RANKER = {"num_trees": 20, "min_data_in_leaf": 1, "num_threads": 1}


@pytest.fixture(scope="module")
def shop() -> EncodedSplit:
    frame = pl.DataFrame(
        [(u, i, START + d * DAY, p) for u, i, d, p in PURCHASES], schema=["user_id", "item_id", "timestamp", "price"], orient="row"
    )
    return EncodedSplit.from_split(temporal(frame, test_days=1, valid_days=1))


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("shop")
    (folder / "shop.user").write_text("user_id:token\tage:float\nu1\t22\nu2\t45\nu3\t\n", encoding="utf-8")
    rows = ["item_id:token\tproduct_code:token", "a\tP1", "b\tP2", "c\tP1", "d\tP3", "e\tP2", "f\t"]
    (folder / "shop.item").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"user_table": str(folder / "shop.user"), "item_table": str(folder / "shop.item")}


@pytest.fixture(scope="module")
def vectors() -> ItemEmbeddings:
    ids = np.array(["a", "b", "c", "d", "e"])
    return ItemEmbeddings(ids, np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [0, -1]], dtype=np.float32), "hand")


GENERATORS = [
    {"model": "repurchase", "params": {"fill_days": None}, "candidates": 3},
    {"model": "product-variants", "name": "variants", "params": {"fill_days": None}, "candidates": 3},
]


@pytest.fixture(scope="module")
def fitted(shop, tables, vectors):
    model = create("two-stage", generators=GENERATORS, cutoff_days=2, recent_items=2, **tables, **SMALL_RANKER)
    return model.fit(shop, vectors)


def rows_by_pair(frame: pl.DataFrame, shop: EncodedSplit) -> dict[tuple[str, str], dict]:
    return {(str(shop.user_ids[r["u"]]), str(shop.item_ids[r["i"]])): r for r in frame.iter_rows(named=True)}


def features(fitted, shop) -> dict[tuple[str, str], dict]:
    return rows_by_pair(fitted.stage.frame(shop.user_index(["u1", "u2", "u3"])), shop)


# ---------------------------------------------------------------------------------------------- candidates
def test_candidates_are_the_union_of_the_generators_top_n_with_their_ranks(fitted, shop) -> None:
    rows = features(fitted, shop)
    ranks = {pair: (r["repurchase_rank"], r["variants_rank"], r["n_generators"]) for pair, r in rows.items()}
    # repurchase (latest first, then the fill d, a, b, ...): u1 c a b, u2 d b a, u3 d e a
    # variants (other articles of bought products, then the fill): u1 e d a, u2 e d a, u3 b d a
    assert ranks == {
        ("u1", "a"): (2, 3, 2), ("u1", "b"): (3, None, 1), ("u1", "c"): (1, None, 1), ("u1", "d"): (None, 2, 1),
        ("u1", "e"): (None, 1, 1),
        ("u2", "a"): (3, 3, 2), ("u2", "b"): (2, None, 1), ("u2", "d"): (1, 2, 2), ("u2", "e"): (None, 1, 1),
        ("u3", "a"): (3, 3, 2), ("u3", "b"): (None, 1, 1), ("u3", "d"): (1, 2, 2), ("u3", "e"): (2, None, 1),
    }  # fmt: skip


def test_candidate_scores_are_the_generators_scores(fitted, shop) -> None:
    rows = features(fitted, shop)
    # variants: key (purchases of the product) + fill = all-time sales / (max 3 + 1)
    assert rows[("u1", "e")]["variants_score"] == pytest.approx(1 + 1 / 4)  # one purchase of P2 (b); e sold once
    assert rows[("u3", "b")]["variants_score"] == pytest.approx(1 + 2 / 4)  # one purchase of P2 (e); b sold twice
    assert rows[("u1", "d")]["variants_score"] == pytest.approx(3 / 4) and rows[("u1", "a")]["variants_score"] == pytest.approx(2 / 4)
    # repurchase: exactly its own list's scores
    own = create("repurchase", fill_days=None).fit(shop).recommend(["u1"], k=3, exclude_seen=False)
    listed = {str(shop.item_ids[i]): s for i, s in zip(own.items[0], own.scores[0])}
    assert {i: rows[("u1", i)]["repurchase_score"] for i in "abc"} == pytest.approx(listed)


# ---------------------------------------------------------------------------------------------- features
def test_popularity_and_price_features_at_the_end_of_training(fitted, shop) -> None:
    rows = features(fitted, shop)
    a, d, e = rows[("u1", "a")], rows[("u1", "d")], rows[("u1", "e")]
    # now = day 9; a sold days 1, 5; d days 8, 9, 9; e day 6
    assert [a[f"item_sales_{w}"] for w in ("1d", "7d", "28d", "all")] == [0, 1, 2, 2]
    assert [d[f"item_sales_{w}"] for w in ("1d", "7d", "28d", "all")] == [2, 3, 3, 3]
    assert (a["item_days_since_last_sale"], a["item_days_since_first_sale"]) == (4, 8)
    assert (d["item_days_since_last_sale"], e["item_days_since_first_sale"]) == (0, 3)
    assert (a["item_price"], d["item_price"]) == (10, 40)
    assert a["user_price"] == pytest.approx(17.5) and a["price_diff"] == pytest.approx(10 - 17.5)
    assert rows[("u2", "e")]["price_diff"] == pytest.approx(50 - 100 / 3)


def test_user_history_features(fitted, shop) -> None:
    rows = features(fitted, shop)
    assert (rows[("u1", "a")]["user_purchases"], rows[("u1", "a")]["user_days_since_last_purchase"]) == (4, 1)
    assert (rows[("u3", "b")]["user_purchases"], rows[("u3", "b")]["user_days_since_last_purchase"]) == (2, 0)
    # with the item: u1 bought a on days 1, 5; u2 d on 8, 9; never e
    assert (rows[("u1", "a")]["user_item_purchases"], rows[("u1", "a")]["user_item_days_since"]) == (2, 4)
    assert (rows[("u2", "d")]["user_item_purchases"], rows[("u2", "d")]["user_item_days_since"]) == (2, 0)
    assert (rows[("u1", "e")]["user_item_purchases"], rows[("u1", "e")]["user_item_days_since"]) == (0, None)
    # with the product: u1 bought P1 (a, a, c; last day 8) and P2 (b, day 3)
    assert (rows[("u1", "a")]["user_product_purchases"], rows[("u1", "a")]["user_product_days_since"]) == (3, 1)
    assert (rows[("u1", "e")]["user_product_purchases"], rows[("u1", "e")]["user_product_days_since"]) == (1, 6)
    assert (rows[("u3", "b")]["user_product_purchases"], rows[("u3", "b")]["user_product_days_since"]) == (1, 3)
    assert (rows[("u2", "a")]["user_product_purchases"], rows[("u2", "a")]["user_product_days_since"]) == (0, None)


def test_age_bucket_and_embedding_similarity(fitted, shop) -> None:
    rows = features(fitted, shop)
    # buckets <20, 20-24, 25-29, 30-39, 40-49, 50-59, 60+: 22 -> 1, 45 -> 4, missing -> null
    assert (rows[("u1", "a")]["age_bucket"], rows[("u2", "a")]["age_bucket"], rows[("u3", "a")]["age_bucket"]) == (1, 4, None)
    # profile = mean of the 2 latest items' unit vectors: u1 c (day 8), a (day 5); u2 d (9), b (3); u3 d (9), e (6)
    u1 = np.array([1 + 1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert rows[("u1", "b")]["embedding_similarity"] == pytest.approx(u1[1] / np.linalg.norm(u1), abs=1e-6)
    assert rows[("u1", "d")]["embedding_similarity"] == pytest.approx(-u1[0] / np.linalg.norm(u1), abs=1e-6)
    assert rows[("u2", "a")]["embedding_similarity"] == pytest.approx(-1 / math.sqrt(2), abs=1e-6)
    assert rows[("u3", "b")]["embedding_similarity"] == pytest.approx(-1 / math.sqrt(2), abs=1e-6)


def test_item_without_a_vector_has_no_similarity(shop, tables, vectors) -> None:
    # f is no one's candidate above; a generator listing every item makes it one
    model = create("two-stage", generators=[{"model": "pop", "candidates": 6}], cutoff_days=2, **tables, **SMALL_RANKER).fit(shop, vectors)
    rows = features(model, shop)
    assert rows[("u1", "f")]["embedding_similarity"] is None and rows[("u1", "a")]["embedding_similarity"] is not None


def test_embedding_features_off_keeps_the_candidates_and_drops_every_content_feature(shop, tables, vectors) -> None:
    generators = [*GENERATORS, {"model": "content-knn", "candidates": 2}]
    on = create("two-stage", generators=generators, cutoff_days=2, **tables, **SMALL_RANKER).fit(shop, vectors)
    off = create("two-stage", generators=generators, cutoff_days=2, embedding_features=False, **tables, **SMALL_RANKER).fit(shop, vectors)
    assert {"embedding_similarity", "content-knn_rank", "content-knn_score"} <= set(on.feature_names)
    assert not any("embedding" in n or "content-knn" in n for n in off.feature_names)
    assert off.diagnostics["embedding_features"] is False and on.diagnostics["embedding_features"] is True
    users = shop.user_index(["u1", "u2", "u3"])
    assert on.stage.candidates(users).select("u", "i").equals(off.stage.candidates(users).select("u", "i"))


# ---------------------------------------------------------------------------------------------- the label window
def test_window_split_cuts_features_and_labels_at_the_cutoff(shop) -> None:
    window = window_split(shop, START + 7 * DAY, START + 9 * DAY)
    assert window.split.train.height == 5 and window.split.train["timestamp"].max() == START + 5 * DAY + DAY
    labels = {(str(shop.user_ids[u]), str(shop.item_ids[i])) for u, i in zip(*window.valid.nonzero())}
    assert labels == {("u1", "c"), ("u2", "d"), ("u3", "d")}  # days 8, 9; u2's two d purchases are one pair
    assert window.test.nnz == 0 and list(window.user_ids) == list(shop.user_ids) and list(window.item_ids) == list(shop.item_ids)
    # a shorter label window: (day 5, day 7] holds u3's e only
    assert window_split(shop, START + 5 * DAY, START + 7 * DAY).valid.nnz == 1


def test_the_ranker_trains_on_the_label_window_buyers(fitted) -> None:
    training = fitted.diagnostics["training"]
    # cut-off day 7, labels days 8-9: u1 c, u2 d, u3 d. At the cut-off nobody had bought d (so it is in no
    # top-3), and c is a variant of u1's a: one buyer has a bought candidate
    assert (training["label_window_buyers"], training["users"], training["positives"]) == (3, 1, 1)
    assert training["candidate_recall"] == pytest.approx({"repurchase": 0.0, "variants": 1 / 3, "combined": 1 / 3})
    assert fitted.diagnostics["valid"]["users"] == 3


def test_unseen_only_trains_on_candidates_never_bought_before(fitted, shop, tables, vectors) -> None:
    # at the cut-off (day 7) u1's candidates are a, b, e (repurchase) and c, a, b (variants); a and b he had
    # bought, so only c (bought in the label window) and e are left; u2 and u3 bought nothing among theirs
    unseen = create("two-stage", generators=GENERATORS, cutoff_days=2, recent_items=2, unseen_only=True, **tables, **SMALL_RANKER)
    unseen.fit(shop, vectors)
    assert (fitted.diagnostics["training"]["rows"], unseen.diagnostics["training"]["rows"]) == (4, 2)
    assert unseen.diagnostics["training"]["positives"] == 1


# ---------------------------------------------------------------------------------------------- ranking
def test_lists_are_candidates_by_ranker_then_fill_and_honour_exclude_seen(fitted, shop) -> None:
    everything = fitted.recommend(["u1", "u2", "u3"], k=6, exclude_seen=False)
    excluded = fitted.recommend(["u1", "u2", "u3"], k=6, exclude_seen=True)
    train = shop.train
    for row, row_excluded, u in zip(everything.items, excluded.items, everything.users):
        seen = set(train.indices[train.indptr[u] : train.indptr[u + 1]].tolist())
        assert [i for i in row.tolist() if i not in seen] == [i for i in row_excluded.tolist() if i >= 0]
        assert seen & set(row.tolist()) and not seen & set(row_excluded.tolist())
    u1 = [str(shop.item_ids[i]) for i in everything.items[0]]
    assert set(u1[:5]) == set("abcde") and u1[5] == "f"  # five candidates, then the fill
    # the candidates in the order of the ranker's own scores
    frame = fitted.stage.frame(shop.user_index(["u1"]))
    ranker = dict(zip(frame["i"].to_list(), fitted._predict(frame)))
    listed = [ranker[i] for i in everything.items[0][:5]]
    assert all(a >= b - 1e-9 for a, b in zip(listed, listed[1:])), listed


def test_test_diagnostics_match_the_evaluator(fitted, shop) -> None:
    rankings = fitted.recommend(k=12, exclude_seen=False)
    expected = evaluate(rankings, shop, metrics=["map"], ks=[12], exclude_seen=False).summary["map@12"]
    test = fitted.diagnostics["test"]
    assert test["map@12"]["ranker"] == pytest.approx(expected) and test["exclude_seen"] is False
    # test: u1 a (a candidate of both), u2 b (repurchase only), u3 f (nobody's)
    assert test["candidate_recall"] == pytest.approx({"repurchase": 2 / 3, "variants": 1 / 3, "combined": 2 / 3})
    json.dumps(fitted.diagnostics, allow_nan=False)  # JSON-ready for the cell record


def test_history_records_every_boosting_round(fitted) -> None:
    history = fitted.history
    assert history.epochs_run == fitted.diagnostics["training"]["rounds"] == len(history.valid_curve) > 0
    assert 1 <= history.best_epoch <= history.epochs_run and history.valid_metric.startswith("map@12")
    assert set(fitted.booster.best_score["valid"]) == {"map@12"}  # what LightGBM's early stopping computed


def test_early_stopping_watches_valid_metric(shop, tables, vectors) -> None:
    """Tuning for ndcg@5 sets valid_metric (``validation_params``): LightGBM then stops on NDCG@5."""
    params = create("two-stage").validation_params("ndcg@5")
    model = create("two-stage", generators=GENERATORS, cutoff_days=2, recent_items=2, **tables, **SMALL_RANKER, **params)
    model.fit(shop, vectors)
    assert set(model.booster.best_score["valid"]) == {"ndcg@5"} and model.history.valid_metric.startswith("ndcg@5")
    with pytest.raises(InputError, match="valid_metric: must be map@k or ndcg@k"):
        create("two-stage", valid_metric="hr@5")


def repeat_shop(users: int = 200, items: int = 400, seed: int = 0) -> EncodedSplit:
    """Each user re-buys one favourite item every week (day 1 of the week), then 1-4 random other items
    (days 2-5): the favourite is the user's most bought item, never their latest, and not at a fixed place
    of their latest-first list; the random items of a large catalogue rarely repeat."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        favourite = int(rng.integers(items))
        others = np.delete(np.arange(items), favourite)
        for week in range(6):  # weeks 0-3 training (3 = the label window), 4 valid, 5 test
            rows.append((f"u{u:03d}", f"i{favourite:02d}", START + (7 * week + 1) * DAY))
            for day, item in enumerate(rng.choice(others, size=int(rng.integers(1, 5)), replace=False)):
                rows.append((f"u{u:03d}", f"i{item:02d}", START + (7 * week + 2 + day) * DAY))
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    return EncodedSplit.from_split(temporal(frame, test_days=7, valid_days=7))


def test_the_ranker_beats_its_best_generator_when_a_feature_predicts_by_construction() -> None:
    """Repurchase (latest first) puts the favourite 2nd to 5th; the user's purchase count of the item finds it."""
    shop = repeat_shop()
    params = {"generators": [{"model": "repurchase"}, {"model": "pop"}], "cutoff_days": 7, "num_trees": 50, "num_threads": 1}
    model = create("two-stage", features=["generators", "popularity", "user_item"], **params).fit(shop)
    rankings = model.recommend(k=12, exclude_seen=False)
    ranker = evaluate(rankings, shop, metrics=["map"], ks=[12], exclude_seen=False).summary["map@12"]
    generators = {
        name: evaluate(create(name).fit(shop).recommend(k=12, exclude_seen=False), shop, metrics=["map"], ks=[12],
                       exclude_seen=False).summary["map@12"]
        for name in ("repurchase", "pop")
    }  # fmt: skip
    # the favourite first: AP = 1 / (test purchases), 0.32 on average; at repurchase's place r it is 1 / (r * purchases)
    assert ranker >= max(generators.values()) + 0.1, (ranker, generators)
    assert model.diagnostics["test"]["gain_over_best_generator"] == pytest.approx(ranker - generators["repurchase"], abs=1e-9)
    importance = model.diagnostics["feature_importance_gain"]
    assert max(importance, key=importance.get) in ("user_item_purchases", "repurchase_score", "repurchase_rank")
    # without the user-item features the ranker cannot tell the favourite: the gain is gone
    blind = create("two-stage", features=["generators", "popularity"], **params).fit(shop)
    blind_map = evaluate(blind.recommend(k=12, exclude_seen=False), shop, metrics=["map"], ks=[12], exclude_seen=False).summary["map@12"]
    assert blind_map < ranker - 0.1, (blind_map, ranker)


def test_run_name_lists_what_differs_from_the_defaults() -> None:
    assert create("two-stage").run_name == "two-stage"
    model = create("two-stage", generators=[{"model": "repurchase"}, {"model": "pop", "name": "p"}], num_leaves=7)
    assert model.run_name == "two-stage(generators=repurchase+p, num_leaves=7)"


def test_deterministic_diagnostics_for_a_seed(shop, tables, vectors, fitted) -> None:
    again = create("two-stage", generators=GENERATORS, cutoff_days=2, recent_items=2, **tables, **SMALL_RANKER).fit(shop, vectors)
    assert again.diagnostics["feature_importance_gain"] == fitted.diagnostics["feature_importance_gain"]
    assert np.array_equal(again.recommend(k=6).items, fitted.recommend(k=6).items)


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "params, message",
    [
        ({"generators": [{"model": "repurchase"}, {"model": "pop"}, {"model": "foo"}]}, "two-stage: generators.2.model: unknown model 'foo'"),
        ({"generators": [{"model": "repurchase", "params": {"order": "sideways"}}]}, "two-stage: generators.0.params.order: Input should be"),
        ({"generators": [{"model": "two-stage"}]}, "generators.0.model: two-stage cannot be its own candidate generator"),
        ({"generators": [{"model": "pop"}, {"model": "pop"}]}, "generators: two generators are named 'pop'"),
        ({"features": ["generators", "colour"]}, "two-stage: features.1: Input should be"),
        ({"label_days": 9, "cutoff_days": 7}, "two-stage: label_days: the label window"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(params, message) -> None:
    with pytest.raises(InputError) as caught:
        create("two-stage", **params)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_features_needing_missing_columns_name_the_key(shop, tables, tmp_path) -> None:
    frame = pl.DataFrame([(u, i, START + d * DAY) for u, i, d, _ in PURCHASES], schema=["user_id", "item_id", "timestamp"], orient="row")
    no_price = EncodedSplit.from_split(temporal(frame, test_days=1, valid_days=1))
    with pytest.raises(InputError, match=r"^two-stage: features\.4: 'price' needs a numeric price column"):
        create("two-stage", cutoff_days=2, **tables).fit(no_price)
    (tmp_path / "x.item").write_text("item_id:token\tcolour:token\na\tred\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^two-stage: features\.5: 'product' needs the 'product_code' column"):
        create("two-stage", cutoff_days=2, user_table=tables["user_table"], item_table=str(tmp_path / "x.item")).fit(shop)
    (tmp_path / "x.user").write_text("user_id:token\tclub:token\nu1\tA\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^two-stage: features\.6: 'age' needs the 'age' column of .*x.user \(have user_id, club"):
        create("two-stage", cutoff_days=2, item_table=tables["item_table"], user_table=str(tmp_path / "x.user")).fit(shop)
    (tmp_path / "y.user").write_text("user_id:token\tage:token\nu1\t22\nu2\tforty\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^two-stage: features\.6: .*y.user: age of user 'u2' is not a number \('forty'\)"):
        create("two-stage", cutoff_days=2, item_table=tables["item_table"], user_table=str(tmp_path / "y.user")).fit(shop)
    with pytest.raises(InputError, match=r"^two-stage: generators\.2 \(content-knn\): content-knn needs item embeddings"):
        create("two-stage", generators=[*GENERATORS, {"model": "content-knn"}], cutoff_days=2, **tables).fit(shop)


def test_empty_training_or_label_window_is_a_clear_error(shop, tables) -> None:
    with pytest.raises(InputError, match=r"^two-stage: cutoff_days: no training interactions"):
        create("two-stage", cutoff_days=30, **tables).fit(shop)
    # cut-off day 5, labels (day 5, day 5.5]: nobody bought then
    with pytest.raises(InputError, match=r"^two-stage: label_days: no purchases in the label window"):
        create("two-stage", cutoff_days=4, label_days=0.5, **tables).fit(shop)


def test_cli_bench_with_an_unknown_generator_exits_2_and_writes_nothing(tmp_path, capsys) -> None:
    from recsys_cl.cli import main

    config = tmp_path / "b.yaml"
    config.write_text(
        "name: b\ndatasets:\n  - {name: ml, source: ml-100k}\nprotocols: [temporal]\n"
        "models:\n  - {model: two-stage, params: {generators: [{model: repurchase}, {model: foo}]}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(config), "--out", str(tmp_path / "out")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(err) == 1
    assert "b.yaml: models.0.params.generators.1.model: unknown model 'foo'" in err[0], err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------- the contract
class TestTwoStageContract(ModelTests):
    model_name = "two-stage"
    params = {
        "generators": [{"model": "itemknn"}, {"model": "content-knn"}, {"model": "pop"}],
        "candidates_per_generator": 12,
        "features": ["generators", "popularity", "user", "user_item"],
        "cutoff_days": 1,
        "num_trees": 30,
        "num_threads": 1,
    }
    needs_embeddings = True


def test_side_tables_default_to_the_dataset_folder(tmp_path: Path) -> None:
    from recsys_cl.data._dataset import load_dataset, write_dataset

    frame = pl.DataFrame([(u, i, START + d * DAY, p) for u, i, d, p in PURCHASES], schema=["user_id", "item_id", "timestamp", "price"], orient="row")
    users = pl.DataFrame({"user_id": ["u1", "u2", "u3"], "age": [22.0, 45.0, None]})
    items = pl.DataFrame({"item_id": list("abcdef"), "product_code": ["P1", "P2", "P1", "P3", "P2", ""]})
    write_dataset(tmp_path / "shop", "shop", frame, items=items, users=users, protocols=["temporal"],
                  protocol_options={"temporal": {"test_days": 1, "valid_days": 1}})  # fmt: skip
    encoded = load_dataset(tmp_path / "shop").encoded("temporal")
    model = create("two-stage", generators=GENERATORS, cutoff_days=2, **SMALL_RANKER).fit(encoded)
    rows = features(model, encoded)
    assert rows[("u2", "a")]["age_bucket"] == 4 and rows[("u1", "e")]["user_product_purchases"] == 1
