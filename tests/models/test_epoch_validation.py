"""Per-epoch validation of implicit ALS / BPR and LightFM: off by default, changes no number when on,
scores what the evaluator scores, and lets a callback stop training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recsys_cl.data import EncodedSplit
from recsys_cl.errors import InputError
from recsys_cl.evaluation import evaluate
from recsys_cl.models import create

MODELS = {
    "implicit-als": {"factors": 8, "epochs": 6, "reg": 0.1},
    "implicit-bpr": {"factors": 8, "epochs": 6, "learning_rate": 0.05},
    "lightfm": {"no_components": 8, "epochs": 6},
}


def factors(model):
    if model.registry_name == "lightfm":
        return model.user_vectors, model.item_vectors, model.item_bias
    return model.user_factors, model.item_factors


@pytest.mark.parametrize("name", MODELS)
def test_validation_is_off_by_default_and_changes_nothing_when_on(name, loo_encoded: EncodedSplit):
    plain = create(name, **MODELS[name]).fit(loo_encoded)
    assert plain.history.valid_curve == [] and plain.history.epochs_run == 6
    validated = create(name, **MODELS[name], validate_every=2).fit(loo_encoded)
    assert len(validated.history.valid_curve) == 3 and validated.history.epochs_run == 6
    for a, b in zip(factors(plain), factors(validated)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", MODELS)
def test_an_epochs_score_is_the_evaluators_score_on_the_valid_part(name, loo_encoded: EncodedSplit):
    model = create(name, **MODELS[name], validate_every=3, valid_metric="Hit@5").fit(loo_encoded)
    rankings = model.recommend(loo_encoded.user_ids[loo_encoded.eval_users("valid")], k=5)
    expected = evaluate(rankings, loo_encoded, part="valid", metrics=["hr"], ks=[5]).summary["hr@5"]
    assert model.config.valid_metric == "hr@5" and model.history.valid_curve[-1] == pytest.approx(expected)


@pytest.mark.parametrize("name", MODELS)
def test_a_callback_that_raises_stops_training_at_that_epoch(name, loo_encoded: EncodedSplit):
    class Stop(Exception):
        pass

    seen = []

    def on_epoch(epoch: int, score: float) -> None:
        seen.append((epoch, score))
        if epoch == 2:
            raise Stop

    model = create(name, **MODELS[name], validate_every=1)
    with pytest.raises(Stop):
        model.fit(loo_encoded, on_epoch=on_epoch)
    assert [e for e, _ in seen] == [1, 2] and model.history.epochs_run == 2
    assert [s for _, s in seen] == model.history.valid_curve


def test_bad_validation_settings_are_input_errors(loo_encoded: EncodedSplit):
    with pytest.raises(InputError, match="implicit-als: valid_metric: 'auc@5' is not computed"):
        create("implicit-als", valid_metric="auc@5")
    with pytest.raises(InputError, match="validate_every: Input should be greater than or equal to 0"):
        create("lightfm", validate_every=-1)
    no_valid = dataclasses.replace(loo_encoded, valid=loo_encoded.valid.multiply(0).tocsr())
    no_valid.valid.eliminate_zeros()
    with pytest.raises(InputError, match="validate_every needs a valid part"):
        create("implicit-als", epochs=2, validate_every=1).fit(no_valid)
