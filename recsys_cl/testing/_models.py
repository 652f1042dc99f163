"""The tests every model gets in two lines (recsys-cl's own backends and plugins alike)::

    from recsys_cl.testing import ModelTests

    class TestMyModel(ModelTests):
        model_name = "my-model"
        params = {"factors": 16}

The data is the structured dataset of ``_data`` (4 taste groups, leave-one-out split; a cold-item
split for content-aware models), handed to the tests by fixtures of the class itself, so nothing
else needs configuring. Quality is HR@10 (share of test users with a test item in their top 10),
computed here in a few lines so the tests do not depend on the evaluator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.evaluation import Rankings, expected_random_hit_rate
from recsys_cl.models import Recommender, create
from recsys_cl.testing import _data
from recsys_cl.testing._data import SINGLE_ITEM, SINGLE_USER

K = 10


def hit_rate(rankings: Rankings, encoded: EncodedSplit) -> float:
    """HR@K over the ranked users: share with at least one test item in their list."""
    test = encoded.test
    hits = [
        bool(np.isin(row[row >= 0], test.indices[test.indptr[u] : test.indptr[u + 1]]).any())
        for u, row in zip(rankings.users, rankings.items)
    ]
    return float(np.mean(hits))


class ModelTests:
    """Subclass with ``model_name`` and ``params``; set the flags that apply to the backend."""

    model_name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    #: fit with the structured item embeddings
    needs_embeddings: ClassVar[bool] = False
    #: add ``item_table=<path of the structured .item file>`` to the parameters
    needs_item_table: ClassVar[bool] = False
    #: HR@10 the model must reach above Pop's on the loo split; None = no claim (Pop itself, RecentPop)
    expected_margin_over_pop: ClassVar[float | None] = 0.3
    #: HR@10 on held-out (cold) items the model must reach above both Pop's and random's; None = pure-ID model
    expected_cold_margin: ClassVar[float | None] = None
    #: the fixture of that split: the cold-item protocol, or for next-item models (which refuse it) a loo
    #: split whose test items occur in no training sequence (``sequential_cold_encoded``)
    cold_split: ClassVar[str] = "cold_encoded"

    # -- the data (fixtures of the class: a subclass needs no conftest) ------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def loo_encoded(cls) -> EncodedSplit:
        return _data.loo_encoded()

    @pytest.fixture(scope="class")
    @classmethod
    def cold_encoded(cls) -> EncodedSplit:
        return _data.cold_encoded()

    @pytest.fixture(scope="class")
    @classmethod
    def sequential_cold_encoded(cls) -> EncodedSplit:
        return _data.sequential_cold_encoded()

    @pytest.fixture(scope="class")
    @classmethod
    def item_embeddings(cls) -> ItemEmbeddings:
        return _data.structured_item_embeddings()

    @pytest.fixture(scope="class")
    @classmethod
    def item_table_path(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return _data.write_structured_item_table(tmp_path_factory.mktemp("items"))

    # -- helpers -----------------------------------------------------------------------------
    @classmethod
    def make(cls, item_table_path: Any = None, **overrides: Any) -> Recommender:
        params = dict(cls.params)
        if cls.needs_item_table:
            params["item_table"] = str(item_table_path)
        return create(cls.model_name, **{**params, **overrides})

    @classmethod
    def fit(cls, encoded: EncodedSplit, embeddings: ItemEmbeddings, item_table_path: Any, **overrides: Any) -> Recommender:
        return cls.make(item_table_path, **overrides).fit(encoded, embeddings if cls.needs_embeddings else None)

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, loo_encoded: EncodedSplit, item_embeddings: ItemEmbeddings, item_table_path: Any) -> Recommender:
        """One model per backend class, shared by its tests (they only read from it)."""
        return cls.fit(loo_encoded, item_embeddings, item_table_path)

    # -- the contract ------------------------------------------------------------------------
    def test_recommends_k_distinct_items(self, fitted: Recommender, loo_encoded: EncodedSplit) -> None:
        rankings = fitted.recommend(k=K)
        assert np.array_equal(rankings.users, loo_encoded.eval_users("test"))
        assert rankings.items.shape == (len(rankings.users), K)
        assert (rankings.items >= 0).all() and (rankings.items < loo_encoded.n_items).all()
        assert all(len(set(row.tolist())) == K for row in rankings.items)
        assert np.isfinite(rankings.scores).all()
        # best first
        assert (np.diff(rankings.scores, axis=1) <= 1e-6).all()
        assert fitted.fit_seconds is not None and fitted.recommend_seconds is not None

    def test_never_recommends_a_training_item(self, fitted: Recommender, loo_encoded: EncodedSplit) -> None:
        rankings = fitted.recommend(loo_encoded.user_ids, k=20)
        train = loo_encoded.train
        for u, row in zip(rankings.users, rankings.items):
            assert not np.isin(row, train.indices[train.indptr[u] : train.indptr[u + 1]]).any(), loo_encoded.user_ids[u]

    def test_exclude_seen_false_only_lifts_the_exclusion(self, fitted: Recommender, loo_encoded: EncodedSplit) -> None:
        """``exclude_seen=False`` ranks the same scores without leaving training items out: the excluded
        full ranking is the unexcluded one with each user's training items taken out, and training items
        do come back into the top-K lists (repurchases become recommendable)."""
        users, n_items, train = loo_encoded.user_ids, loo_encoded.n_items, loo_encoded.train
        everything = fitted.recommend(users, k=n_items, exclude_seen=False)
        excluded = fitted.recommend(users, k=n_items, exclude_seen=True)
        top = fitted.recommend(users, k=K, exclude_seen=False)
        seen_in_top = 0
        for u, row_all, row_excluded, row_top in zip(everything.users, everything.items, excluded.items, top.items):
            seen = train.indices[train.indptr[u] : train.indptr[u + 1]]
            listed = row_all[row_all >= 0]
            assert listed[~np.isin(listed, seen)].tolist() == row_excluded[row_excluded >= 0].tolist(), users[u]
            seen_in_top += int(np.isin(row_top, seen).sum())
        assert seen_in_top > 0

    def test_a_call_leaves_no_state_for_the_next(self, fitted: Recommender, loo_encoded: EncodedSplit) -> None:
        """What one call was given (progress, exclusion) is that call's argument, not the model's: a
        ``recommend(exclude_seen=False)`` with a progress callback changes nothing the next call does."""
        users = loo_encoded.user_ids
        before = fitted.recommend(users, k=K)
        calls: list[tuple[int, int]] = []
        fitted.recommend(users, k=K, exclude_seen=False, progress=lambda done, total: calls.append((done, total)))
        after = fitted.recommend(users, k=K)
        assert np.array_equal(before.items, after.items)
        assert not {"progress", "on_epoch", "exclude_seen"} & set(vars(fitted))

    def test_a_model_that_stops_early_names_its_training_length(self, fitted: Recommender) -> None:
        """A model that validated while training (and so may stop early) names the parameter early stopping cuts
        short, a field of its config: a fit with no valid part left (refit on train + valid, ``recommend
        --fit-on all``) fixes it at the epoch or round kept, instead of training the whole budget."""
        name = type(fitted).training_length_param
        if fitted.history.valid_metric is not None:
            assert name is not None, f"{self.model_name} validates while training but sets no training_length_param"
            assert fitted.history.best_epoch is not None
        if name is not None:
            assert name in fitted.Config.model_fields

    def test_deterministic_for_a_fixed_seed(
        self, fitted: Recommender, loo_encoded: EncodedSplit, item_embeddings: ItemEmbeddings, item_table_path: Any
    ) -> None:
        again = self.fit(loo_encoded, item_embeddings, item_table_path)
        first, second = fitted.recommend(k=K), again.recommend(k=K)
        assert np.array_equal(first.items, second.items)
        np.testing.assert_allclose(first.scores, second.scores, rtol=1e-5, atol=1e-6)

    def test_user_with_one_interaction(self, fitted: Recommender, loo_encoded: EncodedSplit) -> None:
        rankings = fitted.recommend([SINGLE_USER], k=K)
        row = rankings.items[0]
        assert len(set(row.tolist())) == K and (row >= 0).all()
        assert loo_encoded.item_index([SINGLE_ITEM])[0] not in row

    def test_unknown_user_is_a_clear_error(self, fitted: Recommender) -> None:
        with pytest.raises(InputError, match="nobody"):
            fitted.recommend(["u000", "nobody"], k=K)

    def test_beats_pop(self, fitted: Recommender, loo_encoded: EncodedSplit) -> None:
        if self.expected_margin_over_pop is None:
            pytest.skip(f"{self.model_name} makes no claim to beat Pop on this data")
        pop = create("pop").fit(loo_encoded)
        model_hr = hit_rate(fitted.recommend(k=K), loo_encoded)
        pop_hr = hit_rate(pop.recommend(k=K), loo_encoded)
        assert model_hr >= pop_hr + self.expected_margin_over_pop, (model_hr, pop_hr)

    def test_beats_pop_and_random_on_cold_items(
        self, request: pytest.FixtureRequest, item_embeddings: ItemEmbeddings, item_table_path: Any
    ) -> None:
        if self.expected_cold_margin is None:
            pytest.skip(f"{self.model_name} ({self.params}) sees no item content: cold items are unknown to it")
        cold_encoded = request.getfixturevalue(self.cold_split)
        train_items = np.flatnonzero(np.diff(cold_encoded.train.tocsc().indptr) > 0)
        test_items = np.unique(cold_encoded.test.indices)
        assert not np.isin(test_items, train_items).any()  # the premise: every test item is cold
        model = self.fit(cold_encoded, item_embeddings, item_table_path)
        assert_beats_pop_and_random_on_cold_items(model, cold_encoded, self.expected_cold_margin, k=K)


def assert_beats_pop_and_random_on_cold_items(model: Recommender, encoded: EncodedSplit, margin: float, k: int = 12) -> None:
    """HR@k of ``model`` (already fitted on ``encoded``) >= max(Pop's, random's) + ``margin``."""
    model_hr = hit_rate(model.recommend(k=k), encoded)
    pop_hr = hit_rate(create("pop").fit(encoded).recommend(k=k), encoded)
    random_hr = expected_random_hit_rate(encoded, k)
    assert model_hr >= max(pop_hr, random_hr) + margin, (model_hr, pop_hr, random_hr)
