"""Per-epoch validation for the models that train in epochs outside RecBole (implicit ALS / BPR, LightFM).

Off by default (``validate_every: 0``), so their numbers and speed do not change; tuning turns it on so
that each validated epoch reaches :meth:`Recommender.report_epoch` and so the pruner. The score is the
evaluator's own (``recsys_cl.evaluation.evaluate`` on the valid part, training items excluded as when
ranking for test), so an epoch's value and a finished trial's value are the same measure.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from recsys_cl.errors import InputError
from recsys_cl.models._base import FitOptions, ModelConfig, Recommender


class EpochValidationConfig(ModelConfig):
    """The validation knobs of a model trained in epochs."""

    validate_every: int = Field(
        0, ge=0, description="score the valid part every N epochs and report it (tuning's pruner reads it); 0 = never"
    )
    valid_metric: str = Field("ndcg@10", description="metric@k of that validation (the evaluator's names)")

    @field_validator("valid_metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        return metric_at_k(value)


def metric_at_k(value: str) -> str:
    """``value`` as the evaluator's canonical ``metric@k`` (``Hit@10`` -> ``hr@10``); ValueError if it is
    not a metric the evaluator computes at a cutoff >= 1."""
    from recsys_cl.evaluation import METRICS, parse_metrics

    name, _, k = value.partition("@")
    try:
        canonical = parse_metrics([name])[0]
    except InputError:
        canonical = None
    if canonical is None or not k.strip().isdigit() or int(k) < 1:
        raise ValueError(f"{value!r} is not computed; expected metric@k with metric one of {', '.join(METRICS)}, k >= 1")
    return f"{canonical}@{int(k)}"


def due(config: EpochValidationConfig, epoch: int) -> bool:
    """Whether 1-based ``epoch`` is validated."""
    return config.validate_every > 0 and epoch % config.validate_every == 0


def valid_score_of_factors(
    model: Recommender, options: FitOptions, user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray | None = None
) -> float:
    """``model.config.valid_metric`` on the valid part of the split being fitted, ranking every valid user
    by ``user_factors @ item_factors.T (+ item_bias)``, seen items excluded as the fit's ``options`` say."""
    from recsys_cl.evaluation import Rankings, evaluate, topk_from_factors

    encoded = model.encoded
    assert encoded is not None
    metric, _, k = model.config.valid_metric.partition("@")
    users = encoded.eval_users("valid")
    if users.size == 0:
        raise InputError(f"{model.registry_name}: validate_every needs a valid part, and this split's is empty")
    items, scores = topk_from_factors(
        user_factors, item_factors, int(k), users=users, exclude=model.seen_items(options.exclude_seen), item_bias=item_bias, device=model.config.device
    )
    rankings = Rankings(encoded.user_ids, encoded.item_ids, users, items, scores, model.run_name)
    return float(evaluate(rankings, encoded, part="valid", metrics=[metric], ks=[int(k)]).summary[model.config.valid_metric])
