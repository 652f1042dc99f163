import polars as pl
import pytest

from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.files import atomic_output
from recsys_cl.errors import InputError


def test_write_read_roundtrip_keeps_ids_and_types(tmp_path):
    frame = pl.DataFrame(
        {"user_id": ["007", "u 2"], "item_id": ["0108775015", "0000000001"], "timestamp": [1.5, 2.0], "text": ["a b", ""]}
    )
    path = write_atomic(frame, tmp_path / "x.inter")
    assert path.read_text().splitlines() == [
        "user_id:token\titem_id:token\ttimestamp:float\ttext:token_seq",
        "007\t0108775015\t1.5\ta b",
        "u 2\t0000000001\t2.0\t",
    ]
    back = read_atomic(path)
    assert back.equals(frame)
    assert back.schema["timestamp"] == pl.Float64 and back.schema["item_id"] == pl.Utf8


def test_categorical_ids_write_the_same_bytes_in_slices(tmp_path, monkeypatch):
    import recsys_cl.data._atomic as atomic

    frame = pl.DataFrame({"user_id": ["007", "u 2", None, "007", "x"], "timestamp": [1.5, 2.0, 3.0, 4.0, 5.0]})
    plain = write_atomic(frame, tmp_path / "plain.inter").read_bytes()
    monkeypatch.setattr(atomic, "_ROWS_PER_SLICE", 2)  # three slices, the last one short
    categorical = frame.with_columns(pl.col("user_id").cast(pl.Categorical))
    assert write_atomic(categorical, tmp_path / "cat.inter").read_bytes() == plain
    assert write_atomic(frame.head(0), tmp_path / "empty.inter").read_text() == "user_id:token\ttimestamp:float\n"


def test_read_atomic_categorical_token_columns(tmp_path):
    frame = pl.DataFrame({"user_id": ["007", "", "u 2", "007"], "item_id": ["0108775015"] * 4, "timestamp": [1.5, 2.0, 3.0, 4.0]})
    path = write_atomic(frame, tmp_path / "x.inter")
    back = read_atomic(path, categorical=("user_id", "timestamp"))  # a float column stays a float
    assert back.schema["user_id"] == pl.Categorical and back.schema["item_id"] == pl.Utf8
    assert back.schema["timestamp"] == pl.Float64
    assert back.with_columns(pl.col("user_id").cast(pl.Utf8)).equals(frame)  # the empty token is "", not null
    every_token = read_atomic(path, categorical=True)
    assert [every_token.schema[c] for c in frame.columns] == [pl.Categorical, pl.Categorical, pl.Float64]
    assert every_token.select(pl.col("user_id", "item_id").cast(pl.Utf8)).equals(frame.drop("timestamp"))


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_read_atomic_rejects_bad_header(tmp_path):
    (tmp_path / "bad.inter").write_text("user_id\titem_id:token\nu\ti\n")
    with pytest.raises(InputError, match=r"bad.inter:1: header field 1 'user_id'"):
        read_atomic(tmp_path / "bad.inter")
    with pytest.raises(InputError, match="file not found"):
        read_atomic(tmp_path / "missing.inter")
