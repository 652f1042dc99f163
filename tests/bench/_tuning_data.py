"""A tiny prepared dataset for the tuning tests: 4 taste groups of 30 users and 12 items; each user buys
8 distinct items of their own group, one a day (so loo gives every user a valid and a test item)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_cl.data._dataset import write_dataset

NAME = "tiny"


def interactions(seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(120):
        group = user % 4
        for day, item in enumerate(rng.choice(12, size=8, replace=False) + 12 * group):
            rows.append((f"u{user:03d}", f"i{item:02d}", 1_600_000_000.0 + day * 86400.0 + rng.uniform(0, 3600)))
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def write_tiny_dataset(root: Path) -> Path:
    """``root/tiny``: atomic files, the loo split and metadata, as ``recsys-cl prepare`` writes them."""
    directory = root / NAME
    write_dataset(directory, NAME, interactions(), protocols=("loo",))
    return directory


def spoil_test_file(directory: Path, seed: int = 0) -> None:
    """Overwrite the test part's file with random bytes: any attempt to read it fails."""
    path = directory / f"{NAME}.test.inter"
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size=4096, dtype=np.uint8).tobytes())
