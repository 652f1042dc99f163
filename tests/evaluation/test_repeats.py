"""Repeat purchases and the evaluation modes: repeat share, the ceiling under exclusion, dropping seen items."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_cl.errors import InputError
from recsys_cl.evaluation import (
    Rankings,
    default_exclude_seen,
    drop_seen,
    evaluate,
    exclusion_ceiling,
    repeat_share,
    topk_from_scorer,
)
from recsys_cl.evaluation._beyond import per_user_beyond

from .conftest import encoded_split

METRICS = ["hr", "recall", "precision", "mrr", "ndcg", "map"]


def test_repeat_share_counts_distinct_test_pairs_bought_in_training(tiny) -> None:
    # test pairs (a,i4) (b,i5) (d,i1) (d,i2); only d's i2 is a training pair (bought twice: still one pair)
    assert repeat_share(tiny) == pytest.approx(1 / 4)
    assert repeat_share(tiny, "valid") == 0.0  # a's i3


def test_ceiling_by_hand(tiny) -> None:
    ceiling = exclusion_ceiling(tiny, ["hr", "recall", "map", "ndcg"], [1, 2])
    # a and b: their one test item is new (1 everywhere); d: i1 reachable, i2 a repeat -> the ideal list is [i1]
    assert ceiling["ceiling_hr@1"] == ceiling["ceiling_hr@2"] == 1.0
    assert ceiling["ceiling_recall@1"] == ceiling["ceiling_recall@2"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert ceiling["ceiling_map@1"] == pytest.approx(1.0)  # map@1 divides by min(2, 1)
    assert ceiling["ceiling_map@2"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert ceiling["ceiling_ndcg@2"] == pytest.approx((2 + 1 / (1 + 1 / np.log2(3))) / 3)
    # a user whose only test item is a repeat can never be hit under exclusion
    only_repeat = encoded_split([("u", "i1"), ("v", "i2")], [], [("u", "i1"), ("v", "i3")])
    assert repeat_share(only_repeat) == 0.5
    assert exclusion_ceiling(only_repeat, ["hr", "mrr"], [1])["ceiling_hr@1"] == 0.5


def test_ceiling_bounds_every_ranking_that_excludes_training_items(tiny) -> None:
    rng = np.random.default_rng(0)
    ceiling = exclusion_ceiling(tiny, METRICS, [1, 2, 3])
    users = np.arange(tiny.n_users)
    for _ in range(20):
        scores = rng.random((tiny.n_users, tiny.n_items)).astype(np.float32)
        items, vals = topk_from_scorer(lambda u: scores[u], tiny.n_items, 3, users, exclude=tiny.train, device="cpu")
        result = evaluate(Rankings(tiny.user_ids, tiny.item_ids, users, items, vals, "r"), tiny, metrics=METRICS, ks=[1, 2, 3])
        for key, bound in ceiling.items():
            assert result.summary[key.removeprefix("ceiling_")] <= bound + 1e-12, key
    # the ideal lists reach it: rank each user's test items first, training items excluded
    test = tiny.test.toarray() > 0
    items, vals = topk_from_scorer(lambda u: test[u].astype(np.float32), tiny.n_items, 3, users, exclude=tiny.train, device="cpu")
    best = evaluate(Rankings(tiny.user_ids, tiny.item_ids, users, items, vals, "best"), tiny, metrics=METRICS, ks=[1, 2, 3])
    for key, bound in ceiling.items():
        assert best.summary[key.removeprefix("ceiling_")] == pytest.approx(bound), key


def test_drop_seen_moves_the_rest_up_and_counts(tiny) -> None:
    # a's training items are i1 (0) and i2 (1); d's is i2
    items = np.array([[0, 3, 1, -1], [1, 0, 4, 2]])
    users = tiny.user_index(["a", "d"])
    kept, dropped = drop_seen(items, users, tiny.train)
    assert kept.tolist() == [[3, -1, -1, -1], [0, 4, 2, -1]] and dropped == 3
    shares = per_user_beyond(items, [1, 3], ["seen_share"], users=users, train=tiny.train)
    assert shares["seen_share@1"].tolist() == [1.0, 1.0] and shares["seen_share@3"] == pytest.approx([2 / 3, 1 / 3])


def test_evaluate_summary_and_exclude_seen_mode(tiny) -> None:
    a, d = tiny.user_index(["a", "d"])
    i = {name: int(tiny.item_index([name])[0]) for name in tiny.item_ids}
    # a lists its own training item i1 first, then its test item i4; d lists its repeat i2 first
    items = np.array([[i["i1"], i["i4"]], [i["i2"], i["i3"]]])
    rankings = Rankings(tiny.user_ids, tiny.item_ids, np.array([a, d]), items, np.ones((2, 2), np.float32), "r")
    as_given = evaluate(rankings, tiny, metrics=["hr", "mrr"], ks=[1, 2])
    assert as_given.values("hr@1").tolist() == [0.0, 0.0, 1.0]  # users a, b, d; d's repeat counts
    assert as_given.summary["seen_share@2"] == pytest.approx(2 / 4) and as_given.summary["seen_dropped"] == 0.0
    assert as_given.summary["repeat_share"] == pytest.approx(0.25)
    assert as_given.summary["ceiling_hr@1"] == 1.0 and as_given.config["exclude_seen"] is False
    excluded = evaluate(rankings, tiny, metrics=["hr", "mrr"], ks=[1, 2], exclude_seen=True)
    # a: i1 dropped, i4 moves to rank 1 (a hit); d: i2 dropped, i3 is no test item
    assert excluded.values("hr@1").tolist() == [1.0, 0.0, 0.0]
    assert excluded.summary["seen_dropped"] == 2.0 and excluded.summary["seen_share@2"] == 0.0


def test_default_modes() -> None:
    assert default_exclude_seen("loo") and default_exclude_seen("cold-item") and not default_exclude_seen("temporal")
    with pytest.raises(InputError, match="unknown protocol 'weekly'"):
        default_exclude_seen("weekly")
