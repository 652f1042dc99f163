"""The learner registry: learners made by name with typed options, one-line errors, and room for a new one."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.embeddings import (
    LEARNERS,
    METHODS,
    EmbedOptions,
    Learned,
    Learner,
    LearnerInputs,
    SimCLROptions,
    TextNCEOptions,
    create,
    learn,
)
from recsys_cl.embeddings._learners import register
from recsys_cl.errors import InputError


def test_every_method_is_registered_with_its_own_options():
    assert tuple(name for name, _ in LEARNERS.builtin_items()) == METHODS
    assert create("text-nce", neighbours=3).options == TextNCEOptions(neighbours=3)
    assert isinstance(create("image-simclr").options, SimCLROptions)
    assert type(create("clip").options) is EmbedOptions
    reads = {name: (cls.reads_text, cls.reads_images, cls.reads_interactions, cls.image_only) for name, cls in LEARNERS.builtin_items()}
    assert reads == {
        "raw-text": (True, False, False, False), "raw-image": (False, True, False, True),
        "text-nce": (True, False, False, False), "text-triplet": (True, False, False, False),
        "copurchase": (True, False, True, False), "image-simclr": (False, True, False, True),
        "clip": (True, True, False, False), "dataset-vectors": (False, False, False, False),
        "precomputed": (False, False, False, False),
    }  # fmt: skip
    assert [name for name, cls in LEARNERS.builtin_items() if cls.reads_dataset_vectors] == ["dataset-vectors"]


def test_options_carry_over_merge_train_and_refuse_other_learners_knobs():
    base = EmbedOptions(text_model="tfidf", train={"epochs": 3, "seed": 4})
    learner = create("text-nce", base, neighbours=2, train={"batch_size": 8})
    opts = learner.options
    assert (opts.text_model, opts.neighbours, opts.train.epochs, opts.train.batch_size, opts.train.seed) == ("tfidf", 2, 3, 8, 4)
    assert create("raw-text", base, seed=4, device="cpu").options.train.device == "cpu"  # same seed twice: fine
    with pytest.raises(InputError, match="^raw-text option: neighbours: Extra inputs are not permitted$"):
        create("raw-text", TextNCEOptions(neighbours=3))
    with pytest.raises(InputError, match="^clip option: train.epochs: Input should be greater than or equal to 1$"):
        create("clip", train={"epochs": 0})
    with pytest.raises(InputError, match="^unknown embedding method 'simclr'; known: raw-text, .*, clip, dataset-vectors, precomputed$"):
        create("simclr")


def test_a_new_learner_plugs_in_by_registering():
    """A learner defined outside the package: learn() finds it by name and scores its vectors like any other."""
    with LEARNERS.restoring():
        _learn_with_a_new_learner()
    assert "text-mean-shift" not in LEARNERS


def _learn_with_a_new_learner():
    @register("text-mean-shift")
    class MeanShift(Learner):
        reads_text = True

        def fit(self, data: LearnerInputs) -> Learned:
            assert data.text_vectors is not None
            return Learned(data.text_vectors[data.keep] - data.text_vectors.mean(axis=0))

    items = pl.DataFrame({"item_id": [f"i{n}" for n in range(6)], "text": ["red shirt", "blue shirt", "red shoe",
                                                                            "blue shoe", "green hat", "red hat"]})  # fmt: skip
    emb, quality = learn("text-mean-shift", items, text_model="tfidf", use_cache=False)
    assert emb.method == quality.method == "text-mean-shift" and emb.vectors.shape[0] == 6
    assert abs(emb.vectors.mean(axis=0)).max() < 1e-6 and quality.trained is None
    with pytest.raises(ValueError, match="registered twice"):
        register("raw-text")(MeanShift)
    assert np.isfinite(emb.vectors).all()
