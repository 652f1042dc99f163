import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

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


def _same_encoding(a, b):
    assert a.user_ids.tolist() == b.user_ids.tolist() and a.item_ids.tolist() == b.item_ids.tolist()
    for name in ("train", "valid", "test", "train_last_time"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x.indptr == y.indptr).all() and (x.indices == y.indices).all() and (x.data == y.data).all(), name


def test_encoding_categorical_ids_equals_encoding_strings(tmp_path):
    # ids whose first appearance (categorical code order) is not their sorted order, a repeat purchase,
    # an item only in the catalogue, and a user with a single purchase
    rows = [("u3", "c", 1.0), ("u1", "b", 2.0), ("u3", "a", 3.0), ("u3", "a", 4.0), ("u1", "a", 5.0), ("u2", "c", 6.0),
            ("u3", "b", 7.0), ("u1", "c", 8.0), ("u2", "b", 9.0), ("u0", "b", 1.0)]  # fmt: skip
    split = loo(frame(rows))
    catalogue = pl.DataFrame({"item_id": ["d", "a", "b", "c"]})
    plain = EncodedSplit.from_split(split, catalogue)
    as_categories = {p: split.part(p).with_columns(pl.col("user_id", "item_id").cast(pl.Categorical)) for p in ("train", "valid", "test")}
    categorical = EncodedSplit.from_split(Split(split.protocol, info={}, **as_categories), catalogue)
    _same_encoding(plain, categorical)
    assert plain.item_ids.tolist() == ["a", "b", "c", "d"] and plain.user_ids.tolist() == ["u0", "u1", "u2", "u3"]
    # what Split.read returns (categorical ids) encodes the same
    split.write(tmp_path, "ds")
    back = Split.read(tmp_path, "ds")
    assert back.train.schema["user_id"] == pl.Categorical and back.train.schema["item_id"] == pl.Categorical
    _same_encoding(plain, EncodedSplit.from_split(back, catalogue))
    # lookups of categorical ids, and unknown ones
    assert plain.item_index(pl.Series(["c", "a", "c"]).cast(pl.Categorical)).tolist() == [2, 0, 2]
    with pytest.raises(InputError, match="unknown user id 'u9'"):
        plain.user_index(pl.Series(["u1", "u9", "u9"]).cast(pl.Categorical))
    with pytest.raises(InputError, match="unknown item id 'zz'"):
        EncodedSplit.from_split(split, pl.DataFrame({"item_id": ["a"]})).item_index(pl.Series(["zz"], dtype=pl.Categorical))


def test_pair_matrices_equal_scipy_counts_and_a_groupby_max():
    from recsys_cl.data import pair_matrices as _pair_matrices

    rng = np.random.default_rng(3)
    u = np.append(rng.integers(0, 7, 300), [7, 7, 7])
    i = np.append(rng.integers(0, 5, 300), [4, 3, 3])
    t = np.append(rng.integers(0, 40, 300), [0, -1, -3]).astype(np.float64)  # repeats; latest 0 and -1 for user 7
    counts, last = _pair_matrices(u, i, (10, 5), t)  # users 8 and 9 have no row
    expected = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(10, 5))
    for m in (counts, last):
        assert m.indices.dtype == expected.indices.dtype and m.indptr.dtype == expected.indptr.dtype
        assert (m.indptr == expected.indptr).all() and (m.indices == expected.indices).all()
    assert counts.dtype == np.float32 and (counts.data == expected.data).all()
    by_pair = pl.DataFrame({"u": u, "i": i, "t": t}).group_by("u", "i").agg(pl.col("t").max())
    assert (last.toarray()[by_pair["u"], by_pair["i"]] == by_pair["t"].to_numpy()).all()
    assert last[7, 4] == 0.0 and last[7, 3] == -1.0 and last.nnz == counts.nnz  # a latest time of 0 is stored
    empty, empty_last = _pair_matrices(np.zeros(0, np.int64), np.zeros(0, np.int64), (3, 2), np.zeros(0))
    assert empty.shape == empty_last.shape == (3, 2) and empty.nnz == empty_last.nnz == 0


def test_large_id_lookups_by_join_match_the_numpy_path(monkeypatch):
    import recsys_cl.data._encoded as encoded_module

    enc = EncodedSplit.from_split(loo(frame([("u1", "a", 1.0), ("u2", "b", 2.0), ("u2", "c", 3.0)])))
    ids = pl.Series(["c", "a", "c", "b"])
    small = enc.item_index(ids)
    monkeypatch.setattr(encoded_module, "_JOIN_ABOVE", 0)  # every Series lookup takes the join
    assert enc.item_index(ids).tolist() == small.tolist() == [2, 0, 2, 1]
    with pytest.raises(InputError, match=r"unknown user id 'u9' \(2 unknown in all\)"):
        enc.user_index(pl.Series(["u1", "u9", "u9"]))
