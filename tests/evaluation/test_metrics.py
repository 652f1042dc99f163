"""Metric definitions: hand-computed values, then equality with ranx and with RecBole's own functions."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.data._split import Split
from recsys_cl.errors import InputError
from recsys_cl.evaluation import METRICS, Rankings, compute_metrics, evaluate, hit_matrix, qrels_from_split, topk_from_scorer

L2, L3, L5 = math.log2(2), math.log2(3), math.log2(5)


def test_hand_computed_values_positions_and_idcg() -> None:
    hits = np.array(
        [
            [0, 1, 0, 1],  # |R| = 2: hits at ranks 2 and 4
            [1, 0, 0, 0],  # |R| = 3: hit at rank 1; IDCG@4 uses min(3, 4) = 3 positions
            [0, 0, 0, 0],  # no hit
        ],
        dtype=bool,
    )
    n_rel = np.array([2, 3, 1])
    m = compute_metrics(hits, n_rel, METRICS, [1, 2, 4])
    expected = {
        "hr@1": [0, 1, 0], "hr@2": [1, 1, 0], "hr@4": [1, 1, 0],
        "precision@2": [0.5, 0.5, 0], "precision@4": [0.5, 0.25, 0],
        "recall@2": [0.5, 1 / 3, 0], "recall@4": [1.0, 1 / 3, 0],
        "mrr@1": [0, 1, 0], "mrr@2": [0.5, 1, 0], "mrr@4": [0.5, 1, 0],
        "ndcg@1": [0, 1, 0],
        "ndcg@2": [(1 / L3) / (1 + 1 / L3), 1 / (1 + 1 / L3), 0],
        "ndcg@4": [(1 / L3 + 1 / L5) / (1 + 1 / L3), 1 / (1 + 1 / L3 + 1 / 2), 0],
        "map@1": [0, 1, 0],
        "map@2": [(1 / 2) / 2, 1 / 2, 0],  # denominator min(|R|, k)
        "map@4": [(1 / 2 + 2 / 4) / 2, 1 / 3, 0],
    }
    for key, want in expected.items():
        np.testing.assert_allclose(m[key], want, rtol=0, atol=1e-12, err_msg=key)


def test_hit_matrix_marks_exact_positions_and_ignores_padding() -> None:
    relevant = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0]], dtype=np.float32))
    items = np.array([[3, 0, 1, -1], [2, -1, -1, -1]])
    np.testing.assert_array_equal(hit_matrix(items, relevant), [[1, 0, 1, 0], [0, 0, 0, 0]])


def _random_case(seed: int):
    """300 users, 80 items, 1-6 test items each, integer scores (many ties), a third of users with no hit."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 300, 80
    users = [f"u{i:03d}" for i in range(n_users)]
    items = [f"i{j:02d}" for j in range(n_items)]
    train, test = [], []
    for u in users:
        for j in rng.choice(n_items, size=rng.integers(1, 8), replace=False):
            train.append((u, items[j]))
        for j in rng.choice(n_items, size=rng.integers(1, 7), replace=False):
            test.append((u, items[j]))

    def table(rows):
        return pl.DataFrame(
            {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "timestamp": np.zeros(len(rows))},
            schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "timestamp": pl.Float64},
        )

    split = Split("loo", table(train), table([]), table(test), {})
    enc = EncodedSplit.from_split(split, pl.DataFrame({"item_id": items}))
    scores = rng.integers(0, 4, size=(enc.n_users, enc.n_items)).astype(np.float32)
    # a third of the users: every test item scored lowest, so they get no hit
    no_hit = rng.random(enc.n_users) < 1 / 3
    scores[no_hit] = np.where(enc.test[no_hit].toarray() > 0, -1.0, scores[no_hit])
    users_idx = np.arange(enc.n_users)
    top_items, top_scores = topk_from_scorer(lambda u: scores[u], enc.n_items, 10, users_idx, exclude=enc.train, device="cpu")
    rankings = Rankings(enc.user_ids, enc.item_ids, users_idx, top_items, top_scores, "random")
    return enc, rankings


@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_ranx_per_user(seed: int) -> None:
    from ranx import evaluate as ranx_evaluate

    enc, rankings = _random_case(seed)
    result = evaluate(rankings, enc, metrics=METRICS, ks=[1, 3, 5, 10])
    assert 0 < result.summary["hr@10"] < 1  # both hits and misses present
    qrels = qrels_from_split(enc, "test")
    run = rankings.to_ranx_run()
    back = Rankings.from_ranx_run(run, enc)  # round trip keeps every list and its order
    np.testing.assert_array_equal(enc.user_ids[back.users], enc.user_ids[rankings.users[(rankings.items >= 0).any(axis=1)]])
    kept = (rankings.items >= 0).any(axis=1)
    np.testing.assert_array_equal(back.items[:, : rankings.k], rankings.items[kept])
    ranx_names = {"hr": "hit_rate", "precision": "precision", "recall": "recall", "mrr": "mrr", "ndcg": "ndcg", "map": "map"}
    for k in [1, 3, 5, 10]:
        for ours, theirs in ranx_names.items():
            name = f"{theirs}@{k}"
            ranx_evaluate(qrels, run, name, make_comparable=True)
            ref = np.array([run.scores[name][u] for u in result.user_ids])
            mine = result.values(f"{ours}@{k}")
            if ours == "map":
                # ranx divides AP by |R|, ours (H&M, RecBole) by min(|R|, k): convert, then compare
                n_rel = np.diff(enc.test[enc.user_index(result.user_ids)].indptr)
                mine = mine * np.minimum(n_rel, k) / n_rel
            np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-9, err_msg=name)


def test_equal_to_recbole_metric_functions() -> None:
    from recsys_cl.compat.recbole import install_numpy_aliases

    install_numpy_aliases()  # RecBole's metrics use np.float, gone in NumPy 2
    from recbole.evaluator import metrics as rb

    enc, rankings = _random_case(3)
    eval_users = enc.eval_users("test")
    relevant = enc.test[eval_users]
    pos_index = hit_matrix(rankings.items[eval_users], relevant)
    pos_len = np.diff(relevant.indptr)
    ours = compute_metrics(pos_index, pos_len, METRICS, list(range(1, 11)))
    reference = {
        "hr": rb.Hit.metric_info(object.__new__(rb.Hit), pos_index),
        "mrr": rb.MRR.metric_info(object.__new__(rb.MRR), pos_index),
        "precision": rb.Precision.metric_info(object.__new__(rb.Precision), pos_index),
        "recall": rb.Recall.metric_info(object.__new__(rb.Recall), pos_index, pos_len),
        "ndcg": rb.NDCG.metric_info(object.__new__(rb.NDCG), pos_index, pos_len),
        "map": rb.MAP.metric_info(object.__new__(rb.MAP), pos_index, pos_len),
    }
    assert pos_index.any(axis=1).mean() > 0.2 and (pos_len > 1).mean() > 0.5
    for name, table in reference.items():
        for k in range(1, 11):
            np.testing.assert_allclose(ours[f"{name}@{k}"], table[:, k - 1], rtol=0, atol=1e-12, err_msg=f"{name}@{k}")


def test_bad_metric_names_and_cutoffs() -> None:
    hits = np.zeros((2, 3), dtype=bool)
    with pytest.raises(InputError, match="needs at least one relevant"):
        compute_metrics(hits, np.array([1, 0]), ["hr"], [1])
    with pytest.raises(InputError, match="exceeds"):
        compute_metrics(hits, np.array([1, 1]), ["hr"], [4])


def test_expected_random_hit_rate_by_hand_and_against_the_random_model():
    from recsys_cl.data import loo
    from recsys_cl.evaluation import expected_random_hit_rate
    from recsys_cl.models import create

    rows = [("u1", "a", 1), ("u1", "d", 2), ("u1", "b", 3), ("u1", "c", 4), ("u2", "d", 1), ("u2", "a", 2), ("u2", "e", 3)]
    enc = EncodedSplit.from_split(loo(pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")))
    # 5 items; u1 trains on a, d (3 candidates), u2 on d (4 candidates); one test item each
    assert expected_random_hit_rate(enc, 2) == pytest.approx(((1 - 1 / 3) + (1 - 3 / 6)) / 2)
    assert expected_random_hit_rate(enc, 1) == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert expected_random_hit_rate(enc, 1, part="valid") == pytest.approx((1 / 3 + 1 / 4) / 2)
    observed = np.mean([
        evaluate(create("random", seed=s).fit(enc).recommend(k=1), enc, metrics=["hr"], ks=[1]).summary["hr@1"]
        for s in range(400)
    ])
    assert observed == pytest.approx(7 / 24, abs=0.05)
