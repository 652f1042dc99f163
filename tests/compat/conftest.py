"""A tiny interaction table written as atomic files, and helpers to build RecBole objects on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from recsys_cl.compat.recbole import make_config, patch_recbole
from recsys_cl.data import loo

patch_recbole()  # RecBole's own create_dataset / data_preparation run in these tests too

DATASET = "tiny"


@pytest.fixture(scope="session")
def tiny_interactions() -> pl.DataFrame:
    """5 users, 6 items, 17 rows; u5 has a single interaction (train only under loo)."""
    rows = [
        ("u1", "i1", 1.0), ("u1", "i2", 2.0), ("u1", "i3", 3.0), ("u1", "i4", 4.0),
        ("u2", "i2", 1.0), ("u2", "i3", 2.0), ("u2", "i5", 3.0),
        ("u3", "i1", 1.0), ("u3", "i4", 2.0), ("u3", "i5", 3.0), ("u3", "i6", 4.0),
        ("u4", "i6", 1.0), ("u4", "i1", 2.0), ("u4", "i2", 3.0), ("u4", "i3", 5.0),
        ("u4", "i3", 6.0),  # a repeat purchase stays a separate interaction
        ("u5", "i4", 1.0),
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, tiny_interactions: pl.DataFrame) -> Path:
    """``<root>/tiny/tiny.{train,valid,test}.inter`` written by our own split writer."""
    root = tmp_path_factory.mktemp("recbole")
    loo(tiny_interactions).write(root / DATASET, DATASET)
    return root


def recbole_config(root: Path, model: str = "BPR", **extra: Any):
    """RecBole's Config (through ``make_config``: no command line, no eval) for the tiny atomic files."""
    params = {
        "data_path": str(root),
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "checkpoint_dir": str(root / "saved"),
        "show_progress": False,
        "state": "error",
        "seed": 0,
        "reproducibility": True,
        "train_batch_size": 8,
        "epochs": 2,
        "topk": [3],  # the tiny catalogue has 6 items
        "valid_metric": "NDCG@3",
    }
    params.update(extra)
    return make_config(model, params, "cpu", dataset=DATASET)
