"""A test kit for model and learner authors (and recsys-cl's own tests): the shared contract tests
and the tiny dataset they run on. Needs pytest (``pip install recsys-cl[dev]`` or ``pip install pytest``).

A model is checked in two lines, a learner likewise::

    from recsys_cl.testing import LearnerTests, ModelTests

    class TestMyModel(ModelTests):
        model_name = "my-model"          # its registered name (built-in or plugin entry point)
        params = {"factors": 8}          # fast settings
        expected_margin_over_pop = 0.3   # HR@10 it must reach above Pop's (None: no claim)

    class TestMyLearner(LearnerTests):
        method = "my-learner"
        options = {"text_model": "tfidf"}

The data: 4 taste groups of 20 users and 12 items (``loo_encoded``, ``cold_encoded``,
``structured_item_embeddings``, ... in this module), built once per test session.
"""

from recsys_cl.testing._data import (
    cold_encoded,
    cold_split,
    loo_encoded,
    sequential_cold_encoded,
    structured_interactions,
    structured_item_embeddings,
    structured_item_table,
    write_structured_item_table,
)
from recsys_cl.testing._learners import LearnerTests, learner_items
from recsys_cl.testing._models import ModelTests, assert_beats_pop_and_random_on_cold_items, hit_rate

__all__ = [
    "LearnerTests",
    "ModelTests",
    "assert_beats_pop_and_random_on_cold_items",
    "cold_encoded",
    "cold_split",
    "hit_rate",
    "learner_items",
    "loo_encoded",
    "sequential_cold_encoded",
    "structured_interactions",
    "structured_item_embeddings",
    "structured_item_table",
    "write_structured_item_table",
]
