"""Beyond-accuracy metrics: hand-computed values, a brute-force reference, and RecBole's own classes."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import polars as pl
import pytest
from scipy.spatial.distance import pdist

from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.evaluation import METRICS, BeyondAccuracyConfig, Rankings, evaluate

from .test_metrics import _random_case

R2 = math.sqrt(2)
NAN = float("nan")


def _lists(enc, lists: dict[str, list[str | None]], name: str = "m") -> Rankings:
    """Rankings from raw ids; ``None`` is a padded (empty) place."""
    k = max(len(v) for v in lists.values())
    items = np.full((len(lists), k), -1, dtype=np.int64)
    for r, ids in enumerate(lists.values()):
        for j, iid in enumerate(ids):
            if iid is not None:
                items[r, j] = enc.item_index([iid])[0]
    scores = np.where(items >= 0, 1.0, np.nan).astype(np.float32)
    return Rankings(enc.user_ids, enc.item_ids, enc.user_index(list(lists)), items, scores, name)


#: i6 is not in the table; i4's value is empty: neither has a value
ATTRIBUTES = pl.DataFrame({"item_id": ["i1", "i2", "i3", "i4", "i5"], "kind": ["top", "top", "dress", "", "dress"]})
#: unit vectors i1 (1,0), i2 (0,1) (given with norm 2), i3 (1,1)/sqrt2, i5 (-1,0); i4 zero; i6 absent
VECTORS = ItemEmbeddings(
    np.array(["i1", "i2", "i3", "i4", "i5"]),
    np.array([[1, 0], [0, 2], [1, 1], [0, 0], [-1, 0]], dtype=np.float32),
    "hand",
)


def test_hand_computed_values(tiny) -> None:
    # Training: a {i1, i2}, b {i1}, c {i2}, d {i2 twice}: 4 training users; i1 had by 2, i2 by 3 users;
    # interaction rows i1 = 2, i2 = 4; i3..i6 never seen (cold). b has no list; d's list is padded.
    ranked = _lists(tiny, {"a": ["i1", "i6", "i3", "i2"], "d": ["i5", "i3", "i4", None]})
    res = evaluate(
        ranked, tiny, metrics=["hr", "beyond"], ks=[1, 2, 3, 4], item_table=ATTRIBUTES, embeddings=VECTORS,
        beyond=BeyondAccuracyConfig(diversity_attribute="kind", tail_ratio=0.5),
    )  # fmt: skip
    assert res.user_ids.tolist() == ["a", "b", "d"]
    bits_i2 = math.log2(4 / 3)  # -log2(3 / 4); i1: -log2(2 / 4) = 1; never seen: log2(4) = 2
    expected = {  # users a, b, d at k = 1, 2, 3, 4
        "novelty": [[1, 1.5, 5 / 3, (5 + bits_i2) / 4], [NAN] * 4, [2, 2, 2, 2]],
        "avg_popularity": [[2, 1, 2 / 3, 6 / 4], [NAN] * 4, [0, 0, 0, 0]],
        # tail_ratio 0.5 of the 2 items seen in training: the less popular one, i1
        "tail_share": [[1, 1 / 2, 1 / 3, 1 / 4], [NAN] * 4, [0, 0, 0, 0]],
        "seen_share": [[1, 1 / 2, 1 / 3, 2 / 4], [NAN] * 4, [0, 0, 0, 0]],
        # a: top, (none), dress, top -> one pair at k=3 (differs), three at k=4 (one equal); d: dress, dress, (empty)
        "diversity": [[NAN, NAN, 1, 2 / 3], [NAN] * 4, [NAN, 0, 0, 0]],
        # a: i1-i3 cos 1/sqrt2; + i2: cos 0 and 1/sqrt2; d: i5-i3 cos -1/sqrt2, i4 (zero vector) left out
        "embedding_diversity": [[NAN, NAN, 1 - 1 / R2, 1 - R2 / 3], [NAN] * 4, [NAN, 1 + 1 / R2, 1 + 1 / R2, 1 + 1 / R2]],
    }
    for metric, rows in expected.items():
        got = np.array([res.values(f"{metric}@{k}") for k in (1, 2, 3, 4)]).T
        np.testing.assert_allclose(got, rows, rtol=0, atol=1e-6, err_msg=metric)
        for k in (1, 2, 3, 4):  # means over the users where defined
            column = np.array(rows)[:, k - 1]
            want = np.nanmean(column) if not np.isnan(column).all() else None
            assert res.to_dict()["summary"][f"{metric}@{k}"] == (pytest.approx(want, abs=1e-6) if want is not None else None)
    # run level: what the two lists expose, over the 6-item catalogue
    for k, covered in ((1, 2), (2, 4), (3, 5), (4, 6)):
        assert res.summary[f"coverage@{k}"] == pytest.approx(covered / 6)
    assert res.summary["gini@1"] == pytest.approx(((2 * 5 - 7) + (2 * 6 - 7)) / (6 * 2))  # i1, i5 once: 2/3
    assert res.summary["gini@4"] == pytest.approx(5 / 42)  # i3 twice, the five others once
    assert "coverage" in res.metrics and "novelty@4" in res.per_user and "coverage@4" not in res.per_user
    # per-user values reach the user segments (NaN users left out) and the long table, not item segments
    assert res.segments["user_activity"]["1-2"]["novelty@4"] == pytest.approx(((5 + bits_i2) / 4 + 2) / 2)
    assert "novelty@4" not in res.segments["item_popularity"]["cold"]
    frame = res.to_frame(item_segments=False)
    assert frame.filter(pl.col("metric") == "diversity").height == 12
    assert res.config["beyond"] == {"diversity_attribute": "kind", "tail_ratio": 0.5, "embeddings": "hand"}


def test_accuracy_metrics_unchanged_beside_beyond() -> None:
    enc, rankings = _random_case(4)
    plain = evaluate(rankings, enc, metrics=METRICS, ks=[1, 5, 10])
    both = evaluate(rankings, enc, metrics=[*METRICS, "beyond"], ks=[1, 5, 10])
    assert set(both.per_user) - set(plain.per_user) == {f"{m}@{k}" for k in (1, 5, 10) for m in
                                                        ("novelty", "avg_popularity", "tail_share", "seen_share")}
    for key, values in plain.per_user.items():
        np.testing.assert_array_equal(both.per_user[key], values)
        assert both.summary[key] == plain.summary[key]
    assert both.segments["item_popularity"] == plain.segments["item_popularity"]


def _brute_force(lists, codes, vectors, has_vector, bits, popularity, k):
    """Per-user reference by plain Python loops and scipy's pdist (cosine distance)."""
    rows = {"novelty": [], "avg_popularity": [], "diversity": [], "embedding_diversity": []}
    for row in lists[:, :k]:
        rec = [i for i in row if i >= 0]
        rows["novelty"].append(np.mean([bits[i] for i in rec]) if rec else NAN)
        rows["avg_popularity"].append(np.mean([popularity[i] for i in rec]) if rec else NAN)
        valued = [codes[i] for i in rec if codes[i] >= 0]
        pairs = list(itertools.combinations(valued, 2))
        rows["diversity"].append(np.mean([x != y for x, y in pairs]) if pairs else NAN)
        with_vector = [i for i in rec if has_vector[i]]
        rows["embedding_diversity"].append(pdist(vectors[with_vector], "cosine").mean() if len(with_vector) > 1 else NAN)
    return {m: np.array(v) for m, v in rows.items()}


def test_equal_to_brute_force_with_padding_missing_values_and_user_blocks(monkeypatch) -> None:
    import recsys_cl.evaluation._beyond as beyond_module

    monkeypatch.setattr(beyond_module, "_USER_BLOCK", 37)  # several blocks of embedding sums
    monkeypatch.setattr(beyond_module, "_SLOT_BLOCK", 41)  # and of per-position sums and codes
    enc, rankings = _random_case(5)
    rng = np.random.default_rng(5)
    items = rankings.items.copy()
    items[rng.random(items.shape[0]) < 0.2, 6:] = -1  # padded lists
    items[rng.random(items.shape[0]) < 0.05] = -1  # empty lists
    rankings = Rankings(enc.user_ids, enc.item_ids, rankings.users, items, rankings.scores, "padded")
    in_table = rng.random(enc.n_items) < 0.9
    values = rng.choice(["a", "b", "c", ""], size=enc.n_items)
    table = pl.DataFrame({"item_id": enc.item_ids[in_table], "colour": values[in_table]})
    with_vector = rng.random(enc.n_items) < 0.8
    vectors = rng.normal(size=(enc.n_items, 16)).astype(np.float32)
    embeddings = ItemEmbeddings(enc.item_ids[with_vector], vectors[with_vector] * rng.uniform(0.1, 3, (with_vector.sum(), 1)).astype(np.float32))
    ks = [1, 2, 3, 7, 10]
    res = evaluate(
        rankings, enc, metrics=["novelty", "avg_popularity", "diversity", "embedding_diversity", "seen_share"], ks=ks,
        item_table=table, embeddings=embeddings, beyond=BeyondAccuracyConfig(diversity_attribute="colour"),
    )  # fmt: skip
    eval_users = enc.eval_users("test")
    lists = items[eval_users]
    codes = np.where(in_table & (values != ""), np.searchsorted(["a", "b", "c"], values), -1)
    train_users_of_item = np.bincount(enc.train.indices, minlength=enc.n_items)
    n_train_users = np.count_nonzero(np.diff(enc.train.indptr))
    bits = -np.log2(np.maximum(train_users_of_item, 1) / n_train_users)
    popularity = Counter(enc.item_index(enc.split.train["item_id"].to_list()).tolist())
    trained = enc.train.toarray() > 0
    for k in ks:
        ref = _brute_force(lists, codes, vectors, with_vector, bits, popularity, k)
        top = lists[:, :k]
        n_listed = (top >= 0).sum(axis=1)
        seen = (trained[eval_users[:, None], np.maximum(top, 0)] & (top >= 0)).sum(axis=1)
        ref["seen_share"] = np.where(n_listed > 0, seen / np.maximum(n_listed, 1), np.nan)
        for metric, want in ref.items():
            np.testing.assert_allclose(res.values(f"{metric}@{k}"), want, rtol=0, atol=1e-6, err_msg=f"{metric}@{k}")
    assert np.isnan(res.values("diversity@10")).mean() < 0.1  # most users have values: the check is not vacuous


def _recbole_metric(cls, **attributes):
    """A RecBole metric object without its config machinery (only the attributes its methods read)."""
    from recsys_cl.compat.recbole import install_numpy_aliases

    install_numpy_aliases()  # RecBole's metrics module uses np.float, gone in NumPy 2
    metric = object.__new__(cls)
    for name, value in attributes.items():
        setattr(metric, name, value)
    return metric


@pytest.mark.parametrize("tail_ratio", [0.1, 0.35, 12.0])  # 0.1 and 0.35 cut inside a tie of counts
def test_equal_to_recbole_on_the_same_top_k(tail_ratio: float) -> None:
    from recsys_cl.compat.recbole import install_numpy_aliases

    install_numpy_aliases()
    from recbole.evaluator import metrics as rb

    enc, rankings = _random_case(6)
    eval_users = enc.eval_users("test")
    item_matrix = rankings.items[eval_users]
    assert (item_matrix >= 0).all()  # RecBole's lists are full: compare on full lists
    # RecBole's data.count_items: a Counter over the training interactions (items seen in training only)
    count_items = Counter(enc.item_index(enc.split.train["item_id"].to_list()).tolist())
    ks = list(range(1, 11))
    res = evaluate(rankings, enc, metrics=["coverage", "gini", "avg_popularity", "tail_share"], ks=ks,
                   beyond=BeyondAccuracyConfig(tail_ratio=tail_ratio))  # fmt: skip
    coverage = _recbole_metric(rb.ItemCoverage)
    gini = _recbole_metric(rb.GiniIndex)
    for k in ks:
        assert res.summary[f"coverage@{k}"] == pytest.approx(coverage.get_coverage(item_matrix[:, :k], enc.n_items), abs=1e-12)
        assert res.summary[f"gini@{k}"] == pytest.approx(gini.get_gini(item_matrix[:, :k], enc.n_items), abs=1e-12)
    popularity = _recbole_metric(rb.AveragePopularity)
    pop_table = popularity.metric_info(popularity.get_pop(item_matrix, dict(count_items)))
    tail = _recbole_metric(rb.TailPercentage, tail=tail_ratio)
    tail_table = tail.metric_info(tail.get_tail(item_matrix, dict(count_items)))
    assert 0 < tail_table[:, -1].mean() < 1  # some tail items recommended, not only those
    for k in ks:
        np.testing.assert_allclose(res.values(f"avg_popularity@{k}"), pop_table[:, k - 1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.values(f"tail_share@{k}"), tail_table[:, k - 1], rtol=0, atol=1e-12)
    # and through RecBole's full metric classes (means rounded to its 4 decimals)
    import torch
    from recbole.evaluator.collector import DataStruct

    data = DataStruct()
    data.set("rec.items", torch.from_numpy(item_matrix))
    data.set("data.num_items", enc.n_items)
    data.set("data.count_items", count_items)
    config = {"topk": ks, "metric_decimal_place": 4, "tail_ratio": tail_ratio}
    reference = {}
    for cls in (rb.ItemCoverage, rb.GiniIndex, rb.AveragePopularity, rb.TailPercentage):
        reference.update(cls(config).calculate_metric(data))
    ours = {"itemcoverage": "coverage", "giniindex": "gini", "averagepopularity": "avg_popularity", "tailpercentage": "tail_share"}
    for theirs, mine in ours.items():
        for k in ks:
            assert reference[f"{theirs}@{k}"] == pytest.approx(round(res.summary[f"{mine}@{k}"], 4), abs=1e-12)


def test_seen_share_counts_training_items_only_when_not_excluded() -> None:
    from recsys_cl.evaluation import topk_from_scorer

    enc, _ = _random_case(7)
    rng = np.random.default_rng(7)
    scores = rng.random((enc.n_users, enc.n_items)).astype(np.float32)
    users = np.arange(enc.n_users)
    shares = {}
    for excluded in (True, False):
        items, vals = topk_from_scorer(lambda u: scores[u], enc.n_items, 10, users, exclude=enc.train if excluded else None,
                                       device="cpu")  # fmt: skip
        res = evaluate(Rankings(enc.user_ids, enc.item_ids, users, items, vals), enc, metrics=["seen_share"], ks=[10])
        shares[excluded] = res.values("seen_share@10")
        train = enc.train.toarray() > 0
        lists = items[enc.eval_users("test")]
        want = train[enc.eval_users("test")[:, None], lists].mean(axis=1)
        np.testing.assert_allclose(shares[excluded], want, rtol=0, atol=1e-12)
    assert (shares[True] == 0).all() and shares[False].mean() > 0


def test_missing_inputs_and_bad_input(tiny) -> None:
    ranked = _lists(tiny, {"a": ["i1", "i3"], "d": ["i5", "i3"]})
    with pytest.raises(InputError, match="metric 'diversity': needs an item attribute"):
        evaluate(ranked, tiny, metrics=["diversity"], ks=[2])
    with pytest.raises(InputError, match="metric 'embedding_diversity': needs item embeddings"):
        evaluate(ranked, tiny, metrics=["ndcg", "embedding_diversity"], ks=[2])
    # within "beyond", metrics whose inputs are missing are simply left out
    res = evaluate(ranked, tiny, metrics=["beyond"], ks=[2])
    assert res.metrics == ["coverage", "gini", "novelty", "avg_popularity", "tail_share", "seen_share"]
    with pytest.raises(InputError, match="diversity attribute 'colour': not a column of the item table \\(have: kind\\)"):
        evaluate(ranked, tiny, metrics=["beyond"], ks=[2], item_table=ATTRIBUTES,
                 beyond=BeyondAccuracyConfig(diversity_attribute="colour"))  # fmt: skip
    with pytest.raises(InputError, match="no item table"):
        evaluate(ranked, tiny, metrics=["diversity"], ks=[2], beyond=BeyondAccuracyConfig(diversity_attribute="kind"))
    twice = pl.concat([ATTRIBUTES, ATTRIBUTES.head(1)])
    with pytest.raises(InputError, match="item 'i1' occurs twice"):
        evaluate(ranked, tiny, metrics=["diversity"], ks=[2], item_table=twice, beyond=BeyondAccuracyConfig(diversity_attribute="kind"))
    broken = ItemEmbeddings(np.array(["i1", "i3"]), np.array([[1, 0], [np.nan, 1]], dtype=np.float32), "broken")
    with pytest.raises(InputError, match="item 'i3' has a NaN"):
        evaluate(ranked, tiny, metrics=["embedding_diversity"], ks=[2], embeddings=broken)
    with pytest.raises(InputError, match="unknown metric 'serendipity'"):
        evaluate(ranked, tiny, metrics=["serendipity"], ks=[2])
    with pytest.raises(ValueError):
        BeyondAccuracyConfig(tail_ratio=0)
    with pytest.raises(ValueError):
        BeyondAccuracyConfig(diversity_atribute="kind")  # typo: extra keys are refused
    # RecBole's names are accepted as aliases
    assert evaluate(ranked, tiny, metrics=["GiniIndex", "AveragePopularity"], ks=[2]).metrics == ["gini", "avg_popularity"]


@pytest.mark.parametrize("block", [1, 7, 4096])
def test_in_training_equals_dense_lookup_for_any_user_order_and_explicit_zeros(monkeypatch, block: int) -> None:
    import scipy.sparse as sp

    import recsys_cl.evaluation._beyond as beyond_module

    monkeypatch.setattr(beyond_module, "_SEARCH_BLOCK", block)
    rng = np.random.default_rng(block)
    dense = (rng.random((60, 25)) < 0.3) * rng.integers(1, 3, (60, 25))
    train = sp.csr_matrix(dense.astype(np.float32))
    train.data[::5] = 0  # explicit zeros: stored, but no interaction
    users = np.sort(rng.choice(60, 40, replace=False))
    lists = np.argsort(rng.random((40, 25)), axis=1)[:, :8]
    lists[::3, 6:] = -1
    for order in (np.arange(40), rng.permutation(40)):  # ascending users (blocked search) and any order
        got = beyond_module.in_training(lists[order], users[order], train)
        want = (train.toarray()[users[order][:, None], np.maximum(lists[order], 0)] != 0) & (lists[order] >= 0)
        np.testing.assert_array_equal(got, want)
    assert want.any() and (~want).any()


def test_metric_names_checked_before_inputs_are_known_keep_the_group() -> None:
    from recsys_cl.evaluation._metrics import parse_metrics

    # a config loader checks names only: "beyond" stays for evaluate() to expand with what it is given
    assert parse_metrics(["NDCG", "beyond", "GiniIndex"]) == ["ndcg", "beyond", "gini"]
    assert parse_metrics(["beyond", "gini"], {}) == ["coverage", "gini", "novelty", "avg_popularity", "tail_share",
                                                     "seen_share", "diversity", "embedding_diversity"]  # fmt: skip
    with pytest.raises(InputError, match="unknown metric 'ndgc'"):
        parse_metrics(["ndgc"])
