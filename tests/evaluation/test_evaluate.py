"""evaluate(): who is counted, exclusion, segments, summaries, bad input, rankings files."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from recsys_cl.errors import InputError
from recsys_cl.evaluation import Rankings, SegmentConfig, evaluate, evaluate_rankings_file, topk_from_scorer

from .conftest import encoded_split


def _rank(enc, lists: dict[str, list[str]], name: str = "m") -> Rankings:
    """Rankings from raw ids; shorter lists are padded."""
    k = max(len(v) for v in lists.values())
    users = enc.user_index(list(lists))
    items = np.full((len(lists), k), -1, dtype=np.int64)
    scores = np.full((len(lists), k), np.nan, dtype=np.float32)
    for r, ids in enumerate(lists.values()):
        items[r, : len(ids)] = enc.item_index(ids)
        scores[r, : len(ids)] = np.arange(len(ids), 0, -1)
    return Rankings(enc.user_ids, enc.item_ids, users, items, scores, name)


def test_training_item_is_not_a_hit_when_excluded_by_topk() -> None:
    # u re-buys i1 (train and test). A model scoring i1 highest: with exclusion it cannot be
    # recommended, so it is no hit; the file path scores lists as given, so there it would be one.
    enc = encoded_split([("u", "i1"), ("u", "i2"), ("v", "i2")], [], [("u", "i1"), ("v", "i3")], ["i1", "i2", "i3", "i4"])
    scores = np.array([[9.0, 1.0, 0.5, 0.2], [0.0, 5.0, 4.0, 0.1]], dtype=np.float32)
    users = np.arange(2)
    items, vals = topk_from_scorer(lambda u: scores[u], 4, 2, users, exclude=enc.train, device="cpu")
    excluded = evaluate(Rankings(enc.user_ids, enc.item_ids, users, items, vals, "x"), enc, ks=[1, 2])
    assert excluded.values("hr@2").tolist() == [0.0, 1.0]
    # v's training item i2 is excluded, so i3 moves to rank 1
    assert excluded.values("mrr@2").tolist() == [0.0, 1.0]
    items_all, vals_all = topk_from_scorer(lambda u: scores[u], 4, 2, users, device="cpu")
    as_given = evaluate(Rankings(enc.user_ids, enc.item_ids, users, items_all, vals_all, "y"), enc, ks=[1, 2])
    assert as_given.values("hr@1").tolist() == [1.0, 0.0]
    assert as_given.values("mrr@2").tolist() == [1.0, 0.5]


def test_who_is_evaluated_and_missing_lists_score_zero(tiny) -> None:
    # c has no test item: its list is ignored; b has no list: counted with 0.
    r = _rank(tiny, {"a": ["i4", "i3"], "c": ["i1", "i5"], "d": ["i3", "i1"]})
    res = evaluate(r, tiny, metrics=["hr", "ndcg", "map"], ks=[1, 2])
    assert res.user_ids.tolist() == ["a", "b", "d"]
    assert res.values("hr@2").tolist() == [1.0, 0.0, 1.0]
    assert res.values("hr@1").tolist() == [1.0, 0.0, 0.0]
    # d: two test items (i1, i2), hit at rank 2 -> ndcg = (1/log2 3) / (1 + 1/log2 3); map@2 = (1/2) / 2
    assert res.values("ndcg@2")[2] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert res.values("map@2")[2] == pytest.approx(0.25)
    assert res.summary["n_users"] == 3 and res.summary["n_users_without_list"] == 1
    assert res.summary["hr@2"] == pytest.approx(2 / 3)


def test_segments_on_hand_made_example(tiny) -> None:
    cfg = SegmentConfig(user_bins=(1,), rare_max=2)
    assert cfg.user_labels() == ["0", "1", "2+"]
    r = _rank(tiny, {"a": ["i4", "i3"], "b": ["i3", "i6"], "d": ["i3", "i1"]})
    res = evaluate(r, tiny, metrics=["hr", "recall"], ks=[2], segments=cfg)
    # training interactions: a 2, b 1, d 2 (the repeat counts)
    assert res.user_segment.tolist() == ["2+", "1", "2+"]
    act = res.segments["user_activity"]
    assert act["0"] == {"n_users": 0, "hr@2": None, "recall@2": None}  # empty: None, not 0
    assert act["1"]["n_users"] == 1 and act["1"]["hr@2"] == 0.0
    assert act["2+"]["n_users"] == 2 and act["2+"]["hr@2"] == 1.0
    pop = res.segments["item_popularity"]
    # test items: a i4 (cold), b i5 (cold), d i1 (rare: 2 training rows) and i2 (warm: 3)
    assert pop["cold"]["n_users"] == 2 and pop["cold"]["hr@2"] == 0.5
    assert pop["rare"]["n_users"] == 1 and pop["rare"]["recall@2"] == 1.0  # d's i1 found, relevance = {i1}
    assert pop["warm"]["n_users"] == 1 and pop["warm"]["hr@2"] == 0.0  # d's i2 not recommended
    assert res.values("recall@2")[2] == 0.5  # overall: one of d's two test items
    # popularity bias of what was recommended: i3 i4 i6 are cold, i1 rare: 5 cold of 6 slots
    assert res.summary["cold_share@2"] == pytest.approx(5 / 6)
    assert res.summary["rare_share@2"] == pytest.approx(1 / 6)
    assert res.summary["coverage@2"] == pytest.approx(4 / 6)
    frame = res.to_frame()
    assert set(frame["scope"].unique()) == {"all", "cold", "rare", "warm"}
    assert frame.filter((pl.col("scope") == "all") & (pl.col("metric") == "hr")).height == 3
    json.dumps(res.to_dict())  # JSON-ready


def test_bad_input(tiny) -> None:
    ok = _rank(tiny, {"a": ["i4", "i3"]})
    with pytest.raises(InputError, match="exceeds the rankings' list length 2"):
        evaluate(ok, tiny, ks=[3])
    dup_item = Rankings(tiny.user_ids, tiny.item_ids, np.array([0]), np.array([[3, 3]]), np.ones((1, 2), np.float32))
    with pytest.raises(InputError, match="item 'i4' occurs twice in the list of user 'a'"):
        evaluate(dup_item, tiny, ks=[2])
    dup_user = Rankings(tiny.user_ids, tiny.item_ids, np.array([0, 0]), np.array([[3], [2]]), np.ones((2, 1), np.float32))
    with pytest.raises(InputError, match="user 'a' has more than one list"):
        evaluate(dup_user, tiny, ks=[1])
    foreign = Rankings(np.array(["zz"]), np.array(["i1"]), np.array([0]), np.array([[0]]), np.ones((1, 1), np.float32))
    with pytest.raises(InputError, match="unknown user id 'zz'"):
        evaluate(foreign, tiny, ks=[1])
    with pytest.raises(InputError, match="valid part has no interactions|unknown metric"):
        evaluate(ok, encoded_split([("a", "i1")], [], [("a", "i2")]), part="valid", ks=[1])
    with pytest.raises(InputError, match="unknown metric"):
        evaluate(ok, tiny, metrics=["auc"], ks=[1])


def test_rankings_frame_round_trip_and_file_errors(tiny, tmp_path) -> None:
    r = _rank(tiny, {"a": ["i4", "i3"], "d": ["i1"]})
    back = Rankings.load(r.save(tmp_path / "r.parquet"), tiny)
    assert back.name == "m"
    np.testing.assert_array_equal(back.items, r.items)
    np.testing.assert_array_equal(back.users, r.users)
    # TSV with atomic-style headers, ranks with a gap: the gap stays an empty place
    tsv = tmp_path / "other.tsv"
    tsv.write_text("user_id:token\titem_id:token\trank:float\na\ti4\t1\na\ti3\t3\nd\ti1\t1\n")
    loaded = Rankings.load(tsv, tiny)
    assert loaded.k == 3
    assert [tiny.item_ids[i] if i >= 0 else None for i in loaded.items[0]] == ["i4", None, "i3"]
    # score-only files: ordered by score desc, ties by item id
    by_score = Rankings.from_frame(pl.DataFrame({"user_id": ["a"] * 3, "item_id": ["i5", "i3", "i4"], "score": [1.0, 2.0, 1.0]}), tiny)
    assert tiny.item_ids[by_score.items[0]].tolist() == ["i3", "i4", "i5"]
    bad = {
        "unknown item id 'i9'": "user_id\titem_id\trank\na\ti9\t1\n",
        "unknown user id 'q'": "user_id\titem_id\trank\nq\ti1\t1\n",
        "occurs twice": "user_id\titem_id\trank\na\ti1\t1\na\ti1\t2\n",
        "two items at rank 1": "user_id\titem_id\trank\na\ti1\t1\na\ti2\t1\n",
        "positive integer": "user_id\titem_id\trank\na\ti1\t0\n",
        "'rank' or a 'score'": "user_id\titem_id\n a\ti1\n",
    }
    for message, text in bad.items():
        path = tmp_path / "bad.tsv"
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            Rankings.load(path, tiny)


def test_rankings_from_run_dict_orders_by_score_then_item_id(tiny) -> None:
    back = Rankings.from_ranx_run({"a": {"i3": 0.5, "i4": 0.9, "i1": 0.5}, "d": {"i2": 1.0}}, tiny)
    assert [list(tiny.item_ids[row[row >= 0]]) for row in back.items] == [["i4", "i1", "i3"], ["i2"]]


def test_evaluate_rankings_file_on_an_atomic_directory(tmp_path, tiny) -> None:
    from recsys_cl.data._atomic import write_atomic

    data = tmp_path / "toy"
    tiny.split.write(data, "toy")
    write_atomic(pl.DataFrame({"item_id": list(tiny.item_ids)}), data / "toy.item")
    path = tmp_path / "run.tsv"
    path.write_text("user_id\titem_id\tscore\na\ti4\t0.9\na\ti3\t0.5\nd\ti2\t0.7\nd\ti5\t0.1\n")
    res = evaluate_rankings_file(path, data, ks=[1, 2], metrics=["hr", "ndcg"], exclude_seen=False)
    assert res.user_ids.tolist() == ["a", "b", "d"]
    assert res.values("hr@1").tolist() == [1.0, 0.0, 1.0]
    assert res.to_dict()["summary"]["hr@1"] == pytest.approx(2 / 3)
    # loo's default mode excludes training items: d's i2 is one (a repeat purchase), so it is dropped
    # from the list before scoring and i5 moves up to rank 1
    default = evaluate_rankings_file(path, data, ks=[1, 2], metrics=["hr", "ndcg"])
    assert default.config["exclude_seen"] is True and default.summary["seen_dropped"] == 1.0
    assert default.values("hr@1").tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(InputError, match="not found"):
        evaluate_rankings_file(tmp_path / "nope.tsv", data, ks=[1])
