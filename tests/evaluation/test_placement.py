"""Placement of held-out items in full rankings (recsys_cl.evaluation.placement), on the tiny split."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_cl.errors import InputError
from recsys_cl.evaluation import PLACEMENT_VALUES, Rankings, placement, placement_users

# tiny: items i1..i6 (indices 0..5); trained: i1, i2; without a training interaction: i3, i4, i5, i6 (4 of 6)
# evaluated: a (train i1 i2, test i4), b (train i1, test i5), d (train i2, test i1 i2)


def _full(tiny, lists: dict[str, list[tuple[str, float]]]) -> Rankings:
    k = tiny.n_items
    users = tiny.user_index(list(lists))
    items = np.full((len(lists), k), -1, dtype=np.int64)
    scores = np.full((len(lists), k), np.nan, dtype=np.float32)
    for r, ranked in enumerate(lists.values()):
        items[r, : len(ranked)] = tiny.item_index([i for i, _ in ranked])
        scores[r, : len(ranked)] = [s for _, s in ranked]
    return Rankings(tiny.user_ids, tiny.item_ids, users, items, scores, "hand")


def test_ranks_are_tie_aware_medians_over_each_users_test_items(tiny) -> None:
    full = _full(tiny, {
        # a: 4 candidates (i3..i6); i4 first
        "a": [("i4", 4.0), ("i3", 3.0), ("i5", 2.0), ("i6", 1.0)],
        # b: 5 candidates; i5 tied with two others at the top: mid-rank (1 + 3) / 2 = 2
        "b": [("i2", 5.0), ("i5", 5.0), ("i6", 5.0), ("i3", 1.0), ("i4", 0.0)],
        # d (train i2 excluded): i1 at rank 3 of 5, i2 is a training item, so never listed: mid-rank of the
        # unlisted block after 5 listed of 5 candidates = 5 + (5 - 5 + 1) / 2 = 5.5; median (3 + 5.5) / 2
        "d": [("i3", 9.0), ("i4", 8.0), ("i1", 7.0), ("i5", 6.0), ("i6", 5.0)],
    })  # fmt: skip
    placed = placement([full], tiny, "test", ks=[1, 2])
    assert placed.user_ids.tolist() == ["a", "b", "d"]
    assert placed.per_user["test_rank"].tolist() == [1.0, 2.0, 4.25]
    assert placed.per_user["test_rank_share"] == pytest.approx([1 / 4, 2 / 5, 4.25 / 5])
    assert placed.summary["test_rank_median"] == 2.0
    assert placed.summary["cold_catalogue_share"] == pytest.approx(4 / 6)
    # top-1 slots: i4, i2, i3 -> 2 of 3 new; top-2: + i3, i5, i4 -> 5 of 6
    assert placed.summary["cold_share@1"] == pytest.approx(2 / 3)
    assert placed.summary["cold_share@2"] == pytest.approx(5 / 6)
    assert placed.summary["cold_lift@2"] == pytest.approx((5 / 6) / (4 / 6))
    frame = placed.to_frame()
    assert sorted(set(frame["metric"])) == sorted([*PLACEMENT_VALUES, "new_items_ndcg"])
    # 2 values x 3 users; new_items_ndcg@1 and @2 for a and b only (d's test items are warm)
    assert set(frame["scope"]) == {"placement"} and frame.height == 6 + 2 * 2


def test_a_model_that_lists_no_new_item_has_lift_zero_and_its_new_items_at_the_bottom(tiny) -> None:
    # every new item scored alike under the warm ones (Pop's UNKNOWN_SCORE): ties at the mid-rank of the block
    floor = -1e30
    full = _full(tiny, {
        "a": [("i3", floor), ("i4", floor), ("i5", floor), ("i6", floor)],
        "b": [("i2", 3.0), ("i3", floor), ("i4", floor), ("i5", floor), ("i6", floor)],
    })  # fmt: skip
    placed = placement([full], tiny, "test", ks=[1])
    assert placed.per_user["test_rank"].tolist() == [2.5, 3.5]  # a: all 4 tied; b: 1 + (4 + 1) / 2
    assert placed.summary["cold_share@1"] == pytest.approx(0.5)  # a's tie-break puts i3 first
    full_b = _full(tiny, {"b": [("i2", 3.0), ("i3", floor), ("i4", floor), ("i5", floor), ("i6", floor)]})
    assert placement([full_b], tiny, "test", ks=[1]).summary["cold_lift@1"] == 0.0


def test_placement_needs_full_rankings_and_a_test_user(tiny) -> None:
    short = _full(tiny, {"a": [("i4", 1.0)]})
    cut = Rankings(short.user_ids, short.item_ids, short.users, short.items[:, :2], short.scores[:, :2], "cut")
    with pytest.raises(InputError, match="full rankings"):
        placement([cut], tiny, "test")
    with pytest.raises(InputError, match="no user"):
        placement([_full(tiny, {"c": [("i1", 1.0)]})], tiny, "test")


def test_placement_users_are_every_test_user_or_a_seeded_sample(tiny) -> None:
    assert placement_users(tiny, "test").tolist() == tiny.eval_users("test").tolist()
    sample = placement_users(tiny, "test", max_users=2, seed=3)
    assert len(sample) == 2 and set(sample) <= set(tiny.eval_users("test"))
    assert placement_users(tiny, "test", max_users=2, seed=3).tolist() == sample.tolist()


def test_ndcg_among_new_items_scores_the_order_of_the_new_items_alone(tiny) -> None:
    """Warm items are taken out of each list before nDCG: a warm item on top costs nothing, and a user whose
    test items are all warm (d) is not scored."""
    full = _full(tiny, {
        "a": [("i3", 4.0), ("i4", 3.0), ("i5", 2.0), ("i6", 1.0)],  # new only: i3 i4 ... -> i4 at 2
        "b": [("i2", 5.0), ("i6", 4.0), ("i3", 3.0), ("i5", 2.0), ("i4", 1.0)],  # new only: i6 i3 i5 -> i5 at 3
        "d": [("i3", 9.0), ("i4", 8.0), ("i1", 7.0), ("i5", 6.0), ("i6", 5.0)],  # test i1, i2: warm
    })  # fmt: skip
    placed = placement([full], tiny, "test", ks=[1, 2, 3])
    assert placed.summary["new_items_ndcg@1"] == 0.0
    assert placed.summary["new_items_ndcg@2"] == pytest.approx((1 / np.log2(3) + 0) / 2)
    assert placed.summary["new_items_ndcg@3"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / 2)
    # kept per user (the report's paired test reads them): NaN for d, and no row of it in the frame
    np.testing.assert_allclose(placed.per_user["new_items_ndcg@3"], [1 / np.log2(3), 1 / np.log2(4), np.nan])
    rows = placed.to_frame().filter((placed.to_frame()["metric"] == "new_items_ndcg") & (placed.to_frame()["k"] == 3))
    assert dict(zip(rows["user_id"], rows["value"])) == pytest.approx({"a": 1 / np.log2(3), "b": 1 / np.log2(4)})
    # the test item first among the new items: 1 whatever warm items precede it
    first = _full(tiny, {"b": [("i2", 5.0), ("i5", 4.0), ("i6", 3.0), ("i3", 2.0), ("i4", 1.0)]})
    assert placement([first], tiny, "test", ks=[1]).summary["new_items_ndcg@1"] == 1.0
