"""The structured dataset every backend is tested on, from the public test kit (``recsys_cl.testing``:
one source of truth for the project's tests and plugin authors'), as session fixtures for the tests
that are not contract tests; plus a synthetic H&M sample for cold-item claims on generated data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl import testing
from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.testing._data import (  # noqa: F401  (the constants tests import from here)
    BUYS_PER_USER,
    EMBEDDING_DIM,
    ITEMS_PER_GROUP,
    N_GROUPS,
    NEW_PER_GROUP,
    SINGLE_ITEM,
    SINGLE_USER,
    START,
    USERS_PER_GROUP,
    group_of_item,
    item_id,
)


@pytest.fixture(scope="session")
def structured_interactions() -> pl.DataFrame:
    return testing.structured_interactions()


@pytest.fixture(scope="session")
def item_embeddings() -> ItemEmbeddings:
    return testing.structured_item_embeddings()


@pytest.fixture(scope="session")
def item_table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .item file whose ``group`` token is the taste group and ``colour`` is noise."""
    return testing.write_structured_item_table(tmp_path_factory.mktemp("items"))


@pytest.fixture(scope="session")
def loo_encoded() -> EncodedSplit:
    return testing.loo_encoded()


@pytest.fixture(scope="session")
def cold_encoded() -> EncodedSplit:
    return testing.cold_encoded()


@pytest.fixture(scope="session")
def sequential_cold_encoded() -> EncodedSplit:
    return testing.sequential_cold_encoded()


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
