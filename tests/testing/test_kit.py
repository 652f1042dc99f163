"""The public test kit (recsys_cl.testing): a built-in learner passes it, and a model that breaks the
contract fails it (run by pytest itself on a throw-away test file, so the kit is shown to catch faults)."""

from __future__ import annotations

import textwrap

from recsys_cl.models import MODELS
from recsys_cl.testing import LearnerTests

pytest_plugins = ["pytester"]


class TestRawTextThroughTheKit(LearnerTests):
    method = "raw-text"
    options = {"text_model": "tfidf", "use_cache": False}
    expected_cold_margin = 0.3


def test_a_model_that_breaks_the_contract_fails_the_kit(pytester):
    pytester.makepyfile(test_bad_model=textwrap.dedent('''
        import numpy as np
        from recsys_cl.models import MODELS, Recommender
        from recsys_cl.testing import ModelTests

        class SeenItems(Recommender):
            """Scores each user's own training items highest, and ignores ``exclude_seen``."""
            def _fit(self, split, item_embeddings, options):
                pass

            def _recommend(self, user_idx, k, options):
                train = self.encoded.train
                scores = np.asarray(train[user_idx].todense(), dtype=np.float32)
                items = np.argsort(-scores, axis=1, kind="stable")[:, :k]
                return items, np.take_along_axis(scores, items, axis=1)

        MODELS.register("seen-items")(SeenItems)

        class TestSeenItems(ModelTests):
            model_name = "seen-items"
            expected_margin_over_pop = None
    '''))
    with MODELS.restoring():  # the throw-away model registers in this process: gone afterwards
        result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    assert "seen-items" not in MODELS
    outcomes = result.parseoutcomes()
    result.stdout.fnmatch_lines(["*FAILED*test_never_recommends_a_training_item*",
                                 "*FAILED*test_exclude_seen_false_only_lifts_the_exclusion*"])  # fmt: skip
    assert outcomes.get("failed", 0) >= 2 and outcomes.get("passed", 0) >= 3
