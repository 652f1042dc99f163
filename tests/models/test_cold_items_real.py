"""MovieLens-100K cold items: every content-aware model ranks new items above Random by one rule
(tests/models/cold_items_real.py), or declares that it cannot. Fast: a 300-user real subset, each kind of model
once with short schedules, the placement half of the rule. Slow: all of MovieLens-100K, every variant, its
defaults, the whole rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys_cl.data import load_dataset
from recsys_cl.embeddings import embed
from recsys_cl.models import create
from tests.models.cold_items_real import (
    CANNOT_RANK,
    CONTENT_VARIANTS,
    above_random,
    ml100k_subset,
    placed_above_random,
    score_variant,
)

#: the fast test's variants: one per kind of model (matrix factorisation and a graph model with the content
#: fused, a hybrid factorisation, a literature model, content alone) in the way it uses content by default;
#: NeuMF, SGL and FREEDOM cost several times more per epoch and are in the slow test
FAST_VARIANTS = [
    ("bpr-recbole", {"content": "fuse"}), ("lightgcn", {"content": "fuse"}), ("lightfm", {}), ("vbpr", {}),
    ("content-knn", {}),
]  # fmt: skip
#: short schedules for the fast test (the same for every model of a kind)
FAST_SCHEDULE = {"recbole": {"epochs": 15, "stopping_step": 3}, "torch": {"epochs": 30, "stopping_step": 5},
                 "lightfm": {"epochs": 10}}  # fmt: skip


def _cold_item_data(tmp: Path, n_users: int | None, min_ratings: int) -> tuple:
    data = ml100k_subset(tmp / "raw", tmp / "atomic", n_users, min_ratings)
    dataset = load_dataset(data)
    embeddings, _ = embed(data, "raw-text", tmp / "raw-text.itememb", protocol="cold-item")
    return dataset.encoded("cold-item"), embeddings


def _schedule(name: str) -> dict:
    if name in ("bpr-recbole", "neumf", "lightgcn", "sgl"):
        return FAST_SCHEDULE["recbole"]
    if name in ("vbpr", "freedom", "bm3"):
        return FAST_SCHEDULE["torch"]
    return FAST_SCHEDULE.get(name, {})


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    # 300 seeded users and all their ratings
    return _cold_item_data(tmp_path_factory.mktemp("ml100k-subset"), 300, 0)


def test_every_kind_of_content_aware_model_places_new_items_above_random_on_a_real_subset(subset: tuple) -> None:
    encoded, embeddings = subset
    random = score_variant("random", {}, encoded, None)
    failures = []
    for name, params in FAST_VARIANTS:
        scored = score_variant(name, {**params, **_schedule(name)}, encoded, embeddings)
        assert scored.cannot_rank is None, f"{scored.label} declares it cannot rank new items: {scored.cannot_rank}"
        failures.append(placed_above_random(scored, random))
    assert [f for f in failures if f] == []


@pytest.mark.slow
def test_every_content_aware_variant_ranks_new_items_above_random_on_movielens_100k(tmp_path: Path) -> None:
    encoded, embeddings = _cold_item_data(tmp_path, None, 0)
    random = score_variant("random", {}, encoded, None)
    failures = []
    for name, params in CONTENT_VARIANTS:
        scored = score_variant(name, params, encoded, embeddings)
        if (name, params) in CANNOT_RANK:  # declared, with a reason; the report shows no number for it
            assert scored.cannot_rank, f"{scored.label} should declare that it cannot rank new items"
            continue
        assert scored.cannot_rank is None, f"{scored.label} declares it cannot rank new items: {scored.cannot_rank}"
        failures.append(above_random(scored, random))
    assert [f for f in failures if f] == []


def test_models_that_cannot_rank_new_items_say_so_and_the_rest_do_not() -> None:
    # declared from the configuration: what the model is, not what a fit happened to give
    for name, params in CONTENT_VARIANTS:
        reason = create(name, **params).cannot_rank_new_items
        assert bool(reason) == ((name, params) in CANNOT_RANK), f"{name} {params}: {reason!r}"
