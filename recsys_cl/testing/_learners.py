"""The tests every embedding learner gets in two lines (built-in or plugin)::

    from recsys_cl.testing import LearnerTests

    class TestMyLearner(LearnerTests):
        method = "my-learner"
        options = {"text_model": "tfidf"}

The items are the structured dataset's (``_data``) with a text that names each item's taste group
and colour, and the training part of its leave-one-out split as interactions. The kit has no images:
for a learner that reads them the tests that learn are skipped (test those on your own image folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, loo
from recsys_cl.embeddings import LEARNERS, EmbeddingQuality, ItemEmbeddings, create, learn
from recsys_cl.errors import InputError
from recsys_cl.models import create as create_model
from recsys_cl.testing import _data
from recsys_cl.testing._models import K, assert_beats_pop_and_random_on_cold_items

#: words of each taste group's items, so a text learner has the group to find
GROUP_WORDS = ("denim work trousers", "wool winter jumper", "silk evening dress", "leather hiking boots")
COLOURS = {"c0": "black", "c1": "white", "c2": "red"}


def learner_items() -> pl.DataFrame:
    """The structured items (``item_id``, ``group``, ``colour``) with a ``text`` naming group and colour."""
    items = _data.structured_item_table()
    texts = [f"{COLOURS[c]} {GROUP_WORDS[int(g[1:])]}" for g, c in zip(items["group"], items["colour"])]
    return items.with_columns(pl.Series("text", texts))


class LearnerTests:
    """Subclass with ``method`` (its registered name) and ``options`` (its typed options, e.g. a fast
    ``train`` and ``text_model: tfidf``); ``expected_cold_margin``: HR@10 the learned vectors must give
    content-knn on held-out items above Pop's and random's (None: no claim)."""

    method: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    expected_cold_margin: ClassVar[float | None] = None

    @pytest.fixture(scope="class")
    @classmethod
    def items(cls) -> pl.DataFrame:
        return learner_items()

    @pytest.fixture(scope="class")
    @classmethod
    def interactions(cls) -> pl.DataFrame:
        return loo(_data.structured_interactions()).train

    @pytest.fixture(scope="class")
    @classmethod
    def learned(cls, items: pl.DataFrame, interactions: pl.DataFrame) -> tuple[ItemEmbeddings, EmbeddingQuality]:
        if LEARNERS.get(cls.method).reads_images:
            pytest.skip(f"{cls.method} reads images; the test kit's items have none")
        return learn(cls.method, items, interactions, seed=0, **cls.options)

    # -- the contract ------------------------------------------------------------------------
    def test_registered_under_its_name(self) -> None:
        assert self.method in LEARNERS and LEARNERS.get(self.method).name == self.method

    def test_one_finite_vector_per_embedded_item(
        self, learned: tuple[ItemEmbeddings, EmbeddingQuality], items: pl.DataFrame
    ) -> None:
        emb, quality = learned
        ids = emb.item_ids.tolist()
        assert len(set(ids)) == len(ids) and set(ids) <= set(items["item_id"].to_list())
        if not LEARNERS.get(self.method).image_only:
            assert sorted(ids) == sorted(items["item_id"].to_list())
        assert emb.vectors.dtype == np.float32 and emb.vectors.ndim == 2 and emb.dim >= 1
        assert np.isfinite(emb.vectors).all()
        assert (quality.method, quality.n_embedded, quality.dim, quality.n_items) == (self.method, len(ids), emb.dim, len(items))

    def test_deterministic_for_a_fixed_seed(self, learned: tuple[ItemEmbeddings, EmbeddingQuality], items: pl.DataFrame,
                                            interactions: pl.DataFrame) -> None:  # fmt: skip
        again, _ = learn(self.method, items, interactions, seed=0, **self.options)
        assert np.array_equal(learned[0].item_ids, again.item_ids)
        np.testing.assert_allclose(learned[0].vectors, again.vectors, rtol=1e-5, atol=1e-6)

    def test_quality_record_round_trips(self, learned: tuple[ItemEmbeddings, EmbeddingQuality], tmp_path: Path) -> None:
        quality = learned[1]
        assert EmbeddingQuality.read(quality.write(tmp_path / "q.quality.json")) == quality

    def test_unknown_option_is_a_clear_error(self) -> None:
        with pytest.raises(InputError, match=f"^{self.method} option: no_such_option: Extra inputs are not permitted$"):
            create(self.method, no_such_option=1)

    def test_vectors_place_cold_items(self, items: pl.DataFrame, tmp_path: Path) -> None:
        """Learned with the cold-item split's training part, the vectors let content-knn rank held-out items."""
        if self.expected_cold_margin is None:
            pytest.skip(f"{self.method} makes no claim about cold items on this data")
        cold: EncodedSplit = _data.cold_encoded()
        # only the training part: held-out items' purchases are not the learner's to see
        emb, _ = learn(self.method, items, _data.cold_split().train, seed=0, **self.options)
        model = create_model("content-knn").fit(cold, emb)
        assert_beats_pop_and_random_on_cold_items(model, cold, self.expected_cold_margin, k=K)
