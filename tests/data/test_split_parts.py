"""The split tuning sees: train and valid read from their files, the test file never opened."""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl
import pytest

from recsys_cl.data._dataset import load_dataset, write_dataset
from recsys_cl.data._split import Split
from recsys_cl.errors import InputError

NAME = "tiny"


def write_tiny_dataset(root):
    """20 users buying 5 of 10 items each, a day apart: loo gives each a valid and a test item."""
    rng = np.random.default_rng(0)
    rows = [(f"u{u:02d}", f"i{i}", 1_600_000_000.0 + day * 86400.0)
            for u in range(20) for day, i in enumerate(rng.choice(10, size=5, replace=False))]  # fmt: skip
    write_dataset(root / NAME, NAME, pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row"))
    return root / NAME


def spoil_test_file(directory):
    (directory / f"{NAME}.test.inter").write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())


@pytest.fixture()
def spoiled(tmp_path):
    clean = write_tiny_dataset(tmp_path / "clean")
    spoiled = tmp_path / "spoiled" / NAME
    shutil.copytree(clean, spoiled)
    spoil_test_file(spoiled)
    return clean, spoiled


def test_tuning_split_never_reads_the_test_file(spoiled):
    clean, spoiled = spoiled
    # the file really is unreadable: a full split fails on it (read_atomic lets the UnicodeDecodeError of a
    # binary header through rather than an InputError: a data-layer bug outside this test's subject)
    with pytest.raises((InputError, UnicodeDecodeError)):
        load_dataset(spoiled).encoded("loo")
    full = load_dataset(clean).split("loo")
    tuning = load_dataset(spoiled).tuning_split("loo")
    assert tuning.parts_read == ("train", "valid") and full.parts_read == ("train", "valid", "test")
    assert tuning.test.height == 0 and tuning.test.schema == full.train.schema
    assert tuning.train.equals(full.train) and tuning.valid.equals(full.valid)


def test_tuning_encoded_has_an_empty_test_matrix_and_the_same_train_and_valid(spoiled):
    clean, spoiled = spoiled
    full = load_dataset(clean).encoded("loo")
    tuning = load_dataset(spoiled).tuning_encoded("loo")
    assert full.test.nnz > 0 and tuning.test.nnz == 0 and tuning.test.shape == tuning.train.shape
    assert (tuning.user_ids == full.user_ids).all() and (tuning.item_ids == full.item_ids).all()
    assert (tuning.train != full.train).nnz == 0 and (tuning.valid != full.valid).nnz == 0
    assert len(tuning.eval_users("test")) == 0


def test_read_rejects_a_split_without_train(tmp_path):
    directory = write_tiny_dataset(tmp_path)
    with pytest.raises(InputError, match="parts must include train"):
        Split.read(directory, NAME, "loo", parts=("valid", "test"))
    with pytest.raises(InputError, match="parts must include train"):
        Split.read(directory, NAME, "loo", parts=("train", "tset"))
