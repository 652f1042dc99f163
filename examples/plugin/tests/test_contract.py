"""The plugin's model and learner checked by recsys-cl's test kit: two lines each."""

from recsys_cl.testing import LearnerTests, ModelTests


class TestCoOccurrence(ModelTests):
    model_name = "cooccurrence"


class TestTextPCA(LearnerTests):
    method = "text-pca"
    options = {"text_model": "tfidf", "components": 4}
    expected_cold_margin = 0.3
