"""A small structured dataset every backend is tested on.

Block ("checkerboard") structure: 4 taste groups of 20 users and 12 items each; a user buys 6
distinct items of their own group, one per day. Item embeddings encode the group (a random group
centre plus noise), so content-aware models can place items never seen in training. Pop cannot
tell groups apart: all items of all groups are about equally popular, so a personalised model
must beat it clearly. One extra user ("u_single") has a single interaction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, cold_item, loo
from recsys_cl.data._split import DAY
from recsys_cl.embeddings._io import ItemEmbeddings

N_GROUPS = 4
ITEMS_PER_GROUP = 12
USERS_PER_GROUP = 20
BUYS_PER_USER = 6
EMBEDDING_DIM = 16
SINGLE_USER = "u_single"
SINGLE_ITEM = "i00"
START = 1_600_000_000.0  # Unix seconds


def item_id(i: int) -> str:
    return f"i{i:02d}"


def group_of_item(i: int) -> int:
    return i // ITEMS_PER_GROUP


@pytest.fixture(scope="session")
def structured_interactions() -> pl.DataFrame:
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


@pytest.fixture(scope="session")
def item_embeddings() -> ItemEmbeddings:
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(N_GROUPS, EMBEDDING_DIM))
    n_items = N_GROUPS * ITEMS_PER_GROUP
    groups = np.array([group_of_item(i) for i in range(n_items)])
    vectors = centres[groups] + 0.3 * rng.normal(size=(n_items, EMBEDDING_DIM))
    ids = np.array([item_id(i) for i in range(n_items)])
    return ItemEmbeddings(ids, vectors.astype(np.float32), "group-centres")


@pytest.fixture(scope="session")
def item_table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .item file whose ``group`` token is the taste group and ``colour`` is noise."""
    rng = np.random.default_rng(13)
    path = tmp_path_factory.mktemp("items") / "structured.item"
    lines = ["item_id:token\tgroup:token\tcolour:token\ttext:token_seq"]
    for i in range(N_GROUPS * ITEMS_PER_GROUP):
        lines.append(f"{item_id(i)}\tg{group_of_item(i)}\tc{rng.integers(3)}\titem number {i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def loo_encoded(structured_interactions: pl.DataFrame) -> EncodedSplit:
    return EncodedSplit.from_split(loo(structured_interactions))


@pytest.fixture(scope="session")
def cold_encoded(structured_interactions: pl.DataFrame) -> EncodedSplit:
    # A quarter of the items (with all their purchases) are held out: test items never seen in training.
    return EncodedSplit.from_split(cold_item(structured_interactions, test_share=0.25, valid_share=0.0, seed=0))


#: items per group launched last (see ``sequential_cold_encoded``)
NEW_PER_GROUP = 3


@pytest.fixture(scope="session")
def sequential_cold_encoded() -> EncodedSplit:
    """A ``loo`` split whose test items are new: in no user's training sequence (nor valid part).

    What "cold" means for a next-item model, which cannot run on the cold-item protocol. Same groups and
    item ids as above (so ``item_embeddings`` fits): the last 3 items of each group are launched last; a
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


@pytest.fixture(scope="session")
def synthetic_hm_cold(tmp_path_factory: pytest.TempPathFactory) -> tuple[EncodedSplit, ItemEmbeddings]:
    """A small synthetic H&M sample under the cold-item protocol, with TF-IDF vectors of the item text.

    The generator's customers buy by taste over category and colour, which the item text names: content
    carries signal by construction, so a content-aware model must rank held-out items above chance.
    """
    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.data import HMOptions, prepare
    from recsys_cl.data.synth import generate_hm
    from recsys_cl.embeddings._encoders import tfidf_vectors

    root = tmp_path_factory.mktemp("synthetic-hm")
    generate_hm(root / "raw", customers=600, articles=300, weeks=20, seed=0)
    prepare("hm", root / "out", raw=root / "raw", options=HMOptions(protocols=["cold-item"]))
    dataset = load_dataset(root / "out" / "hm")
    items = dataset.items
    vectors = tfidf_vectors(items["text"].to_list()).astype(np.float32)
    return dataset.encoded("cold-item"), ItemEmbeddings(items["item_id"].to_numpy().astype(str), vectors, "tfidf")
