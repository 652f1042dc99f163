"""Tiny hand-made splits for the evaluation tests."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.data._split import Split

_SCHEMA = {"user_id": pl.Utf8, "item_id": pl.Utf8, "timestamp": pl.Float64}


def frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    """Interaction table from (user, item) pairs, timestamps in row order."""
    return pl.DataFrame(
        {"user_id": [u for u, _ in rows], "item_id": [i for _, i in rows], "timestamp": np.arange(len(rows), dtype=float)},
        schema=_SCHEMA,
    )


def encoded_split(train, valid, test, catalogue=None) -> EncodedSplit:
    split = Split("loo", frame(train), frame(valid), frame(test), {})
    items = pl.DataFrame({"item_id": catalogue}, schema={"item_id": pl.Utf8}) if catalogue else None
    return EncodedSplit.from_split(split, items)


@pytest.fixture
def tiny() -> EncodedSplit:
    """Users a, b, d evaluated (c is train-only). Training popularity: i1=2, i2=3, others 0.

    a: train i1 i2, test i4 (cold) | b: train i1, test i5 (cold) | c: train i2 only
    d: train i2 i2, test i1 (rare with rare_max=2) and i2 (warm) | catalogue adds i6 (never seen)
    """
    train = [("a", "i1"), ("a", "i2"), ("b", "i1"), ("c", "i2"), ("d", "i2"), ("d", "i2")]
    valid = [("a", "i3")]
    test = [("a", "i4"), ("b", "i5"), ("d", "i1"), ("d", "i2")]
    return encoded_split(train, valid, test, catalogue=["i1", "i2", "i3", "i4", "i5", "i6"])
