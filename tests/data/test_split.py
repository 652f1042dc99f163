import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, Split, cold_item, loo, make_split, temporal
from recsys_cl.errors import InputError, SplitError

DAY = 86400.0


def frame(rows):
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def ids(part):
    return list(zip(part["user_id"].to_list(), part["item_id"].to_list()))


def test_loo_last_is_test_second_last_valid_and_ties_follow_file_order():
    inter = frame(
        [
            ("u1", "a", 1.0), ("u1", "c", 5.0), ("u1", "b", 5.0),  # tie at t=5: b comes later in the file -> test
            ("u2", "a", 2.0), ("u2", "b", 3.0),  # two interactions: train + test, no valid
            ("u3", "z", 9.0),  # one interaction: train only
            ("u4", "d", 4.0), ("u4", "e", 1.0), ("u4", "f", 2.0),  # file order is not time order
        ]
    )  # fmt: skip
    split = loo(inter)
    assert ids(split.test) == [("u1", "b"), ("u2", "b"), ("u4", "d")]
    assert ids(split.valid) == [("u1", "c"), ("u4", "f")]
    assert ids(split.train) == [("u1", "a"), ("u2", "a"), ("u3", "z"), ("u4", "e")]
    assert split.info["users_train_only"] == 1 and split.info["users_without_valid"] == 1
    assert split.info["sizes"]["test"] == {"interactions": 3, "users": 3, "items": 2}
    assert "file" in split.info["tie_break"]


def test_loo_on_a_file_in_time_order_equals_the_sorted_path():
    # A file already in time order skips the sort; the parts must be those of the sorting path,
    # here forced by one out-of-order row appended at the end (a user of its own).
    rng = np.random.default_rng(0)
    n = 400
    rows = [(f"u{u}", f"i{i}", float(t)) for u, i, t in zip(rng.integers(0, 40, n), rng.integers(0, 30, n), np.sort(rng.integers(0, 50, n)))]
    timed = loo(frame(rows))
    sorted_path = loo(frame(rows + [("late", "x", -1.0)]))
    for part in ("train", "valid", "test"):
        expected = sorted_path.part(part).filter(pl.col("user_id") != "late").drop("_row")
        assert timed.part(part).drop("_row").equals(expected), part
    # ids read as Categorical (the H&M adapter) split exactly like strings
    categorical = loo(frame(rows).with_columns(pl.col("user_id", "item_id").cast(pl.Categorical)))
    for part in ("train", "valid", "test"):
        assert categorical.part(part).with_columns(pl.col("user_id", "item_id").cast(pl.Utf8)).equals(timed.part(part)), part
    assert categorical.info == timed.info


def test_loo_counts_repeat_purchases_in_test():
    split = loo(frame([("u", "a", 1.0), ("u", "b", 2.0), ("u", "a", 3.0)]))
    assert ids(split.test) == [("u", "a")]
    assert split.info["test_repeat_purchases"] == 1


def test_temporal_cuts_by_calendar_day():
    rows = [("u", f"i{d}", d * DAY) for d in range(1, 11)]  # days 1..10
    split = temporal(frame(rows), test_days=2, valid_days=3)
    assert split.test["item_id"].to_list() == ["i9", "i10"]
    assert split.valid["item_id"].to_list() == ["i6", "i7", "i8"]
    assert split.train["item_id"].to_list() == ["i1", "i2", "i3", "i4", "i5"]


def test_cold_item_holds_out_items_with_all_interactions_and_is_seeded():
    rng = np.random.default_rng(1)
    rows = [(f"u{u}", f"i{i}", float(t)) for t, (u, i) in enumerate(zip(rng.integers(0, 30, 400), rng.integers(0, 40, 400)))]
    inter = frame(rows)
    a, b = cold_item(inter, 0.2, 0.1, seed=3), cold_item(inter, 0.2, 0.1, seed=3)
    assert a.test.equals(b.test)
    test_items = set(a.test["item_id"])
    valid_items = set(a.valid["item_id"])
    assert len(test_items) == 8 and len(valid_items) == 4
    assert not (test_items | valid_items) & set(a.train["item_id"])
    assert a.train.height + a.valid.height + a.test.height == inter.height
    assert not cold_item(inter, 0.2, 0.1, seed=4).test.equals(a.test)


def test_empty_parts_raise():
    with pytest.raises(SplitError, match="test part would be empty"):
        loo(frame([("u1", "a", 1.0), ("u2", "b", 2.0)]))
    with pytest.raises(SplitError, match="train part would be empty"):
        temporal(frame([("u", "a", DAY)]), test_days=7)
    with pytest.raises(SplitError, match="empty interaction table"):
        loo(frame([]).cast({"timestamp": pl.Float64}))
    with pytest.raises(InputError, match="unknown protocol"):
        make_split(frame([("u", "a", 1.0)]), "random")


def test_split_write_read_roundtrip(tmp_path):
    split = loo(frame([("u1", "a", 1.0), ("u1", "b", 2.0), ("u1", "c", 3.0), ("u2", "a", 1.0), ("u2", "c", 2.0)]))
    split.write(tmp_path, "ds")
    assert (tmp_path / "ds.train.inter").read_text().splitlines() == [
        "user_id:token\titem_id:token\ttimestamp:float",
        "u1\ta\t1.0",
        "u2\ta\t1.0",
    ]
    back = Split.read(tmp_path, "ds")
    assert ids(back.test) == ids(split.test) and ids(back.valid) == ids(split.valid)
    cold = cold_item(split.train.drop("_row").vstack(split.test.drop("_row")), 0.5, 0.0, seed=0)
    cold.write(tmp_path, "ds")
    assert (tmp_path / "ds.cold-item-test.inter").is_file()


def test_encoded_split_matrices_and_catalogue_items():
    split = loo(frame([("u1", "a", 1.0), ("u1", "a", 2.0), ("u1", "b", 3.0), ("u1", "c", 4.0), ("u2", "b", 1.0), ("u2", "c", 5.0)]))
    items = pl.DataFrame({"item_id": ["a", "b", "c", "new"]})
    enc = EncodedSplit.from_split(split, items)
    assert enc.item_ids.tolist() == ["a", "b", "c", "new"]
    assert enc.train.toarray().tolist() == [[2, 0, 0, 0], [0, 1, 0, 0]]  # u1 bought a twice
    assert enc.test.toarray().tolist() == [[0, 0, 1, 0], [0, 0, 1, 0]]
    assert enc.train_last_time[0, 0] == 2.0
    assert enc.eval_users("valid").tolist() == [0]
    with pytest.raises(InputError, match="unknown user id 'u9'"):
        enc.user_index(["u1", "u9"])


def test_large_id_lookups_by_join_match_the_numpy_path(monkeypatch):
    import recsys_cl.data._encoded as encoded_module

    enc = EncodedSplit.from_split(loo(frame([("u1", "a", 1.0), ("u2", "b", 2.0), ("u2", "c", 3.0)])))
    ids = pl.Series(["c", "a", "c", "b"])
    small = enc.item_index(ids)
    monkeypatch.setattr(encoded_module, "_JOIN_ABOVE", 0)  # every Series lookup takes the join
    assert enc.item_index(ids).tolist() == small.tolist() == [2, 0, 2, 1]
    with pytest.raises(InputError, match=r"unknown user id 'u9' \(2 unknown in all\)"):
        enc.user_index(pl.Series(["u1", "u9", "u9"]))
