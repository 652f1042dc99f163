"""The tiny dataset every model is checked on (and the item table learners are checked on).

Block ("checkerboard") structure: 4 taste groups of 20 users and 12 items each; a user buys 6
distinct items of their own group, one per day. Item embeddings encode the group (a random group
centre plus noise), so content-aware models can place items never seen in training. Pop cannot
tell groups apart: all items of all groups are about equally popular, so a personalised model
must beat it clearly. One extra user ("u_single") has a single interaction.

Each builder is cached: a test session builds each split once, whichever test asks first.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cl.data import DAY, EncodedSplit, Split, cold_item, loo
from recsys_cl.embeddings import ItemEmbeddings

N_GROUPS = 4
ITEMS_PER_GROUP = 12
USERS_PER_GROUP = 20
BUYS_PER_USER = 6
EMBEDDING_DIM = 16
SINGLE_USER = "u_single"
SINGLE_ITEM = "i00"
START = 1_600_000_000.0  # Unix seconds
#: items per group launched last (see ``sequential_cold_encoded``)
NEW_PER_GROUP = 3


def item_id(i: int) -> str:
    return f"i{i:02d}"


def group_of_item(i: int) -> int:
    return i // ITEMS_PER_GROUP


@lru_cache(maxsize=None)
def structured_interactions() -> pl.DataFrame:
    """``user_id``, ``item_id``, ``timestamp`` (seconds) of the 81 users."""
    rng = np.random.default_rng(7)
    users, items, times = [], [], []
    for g in range(N_GROUPS):
        for n in range(USERS_PER_GROUP):
            user = f"u{g}{n:02d}"
            bought = rng.choice(ITEMS_PER_GROUP, size=BUYS_PER_USER, replace=False) + g * ITEMS_PER_GROUP
            offset = rng.uniform(0, 3600)
            for day, i in enumerate(bought):
                users.append(user)
                items.append(item_id(int(i)))
                times.append(START + day * DAY + offset)
    users.append(SINGLE_USER)
    items.append(SINGLE_ITEM)
    times.append(START)
    return pl.DataFrame({"user_id": users, "item_id": items, "timestamp": times})


@lru_cache(maxsize=None)
def structured_item_embeddings() -> ItemEmbeddings:
    """(48 items, 16) vectors: each item's group centre plus noise."""
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(N_GROUPS, EMBEDDING_DIM))
    n_items = N_GROUPS * ITEMS_PER_GROUP
    groups = np.array([group_of_item(i) for i in range(n_items)])
    vectors = centres[groups] + 0.3 * rng.normal(size=(n_items, EMBEDDING_DIM))
    ids = np.array([item_id(i) for i in range(n_items)])
    return ItemEmbeddings(ids, vectors.astype(np.float32), "group-centres")


def structured_item_table() -> pl.DataFrame:
    """The items in the ``.item`` layout: ``group`` is the taste group, ``colour`` noise, ``text`` names both."""
    rng = np.random.default_rng(13)
    n_items = N_GROUPS * ITEMS_PER_GROUP
    colours = [f"c{rng.integers(3)}" for _ in range(n_items)]
    return pl.DataFrame({
        "item_id": [item_id(i) for i in range(n_items)],
        "group": [f"g{group_of_item(i)}" for i in range(n_items)],
        "colour": colours,
        "text": [f"item number {i}" for i in range(n_items)],
    })  # fmt: skip


def write_structured_item_table(folder: str | Path) -> Path:
    """``folder/structured.item`` (RecBole atomic layout) of :func:`structured_item_table`."""
    path = Path(folder) / "structured.item"
    table = structured_item_table()
    lines = ["item_id:token\tgroup:token\tcolour:token\ttext:token_seq"]
    lines += ["\t".join(row) for row in table.iter_rows()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@lru_cache(maxsize=None)
def loo_encoded() -> EncodedSplit:
    """Leave-one-out split of :func:`structured_interactions`."""
    return EncodedSplit.from_split(loo(structured_interactions()))


@lru_cache(maxsize=None)
def cold_split() -> Split:
    """A quarter of the items (with all their purchases) held out: test items never seen in training."""
    return cold_item(structured_interactions(), test_share=0.25, valid_share=0.0, seed=0)


@lru_cache(maxsize=None)
def cold_encoded() -> EncodedSplit:
    """:func:`cold_split`, integer-coded."""
    return EncodedSplit.from_split(cold_split())


@lru_cache(maxsize=None)
def sequential_cold_encoded() -> EncodedSplit:
    """A ``loo`` split whose test items are new: in no user's training sequence (nor valid part).

    What "cold" means for a next-item model, which cannot run on the cold-item protocol. Same groups and
    item ids as above (so the item embeddings fit): the last 3 items of each group are launched last; a
    user buys 5 older items of their group, one per day, then one new item of their group, which ``loo``
    makes the test item.
    """
    rng = np.random.default_rng(17)
    older = ITEMS_PER_GROUP - NEW_PER_GROUP
    users, items, times = [], [], []
    for g in range(N_GROUPS):
        for n in range(USERS_PER_GROUP):
            bought = [*(rng.choice(older, size=BUYS_PER_USER - 1, replace=False)), older + rng.integers(NEW_PER_GROUP)]
            for day, i in enumerate(bought):
                users.append(f"u{g}{n:02d}")
                items.append(item_id(int(i) + g * ITEMS_PER_GROUP))
                times.append(START + day * DAY)
    return EncodedSplit.from_split(loo(pl.DataFrame({"user_id": users, "item_id": items, "timestamp": times})))
