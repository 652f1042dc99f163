"""Evaluation: rankings, top-K, accuracy and beyond-accuracy metrics, segments, significance."""

from recsys_cl.evaluation._beyond import BeyondAccuracyConfig
from recsys_cl.evaluation._evaluate import (
    EvaluationResult,
    SegmentScores,
    evaluate,
    evaluate_rankings_file,
)
from recsys_cl.evaluation._metrics import (
    BEYOND_METRICS,
    METRICS,
    compute_metrics,
    expected_random_hit_rate,
    hit_matrix,
)
from recsys_cl.evaluation._rankings import Rankings, qrels_from_split, read_rankings
from recsys_cl.evaluation._segments import SegmentConfig
from recsys_cl.evaluation._significance import (
    compare_results,
    compare_to_baseline,
    holm,
    paired_tests,
)
from recsys_cl.evaluation._topk import (
    rankings_from_topk,
    topk_from_factors,
    topk_from_scorer,
)

__all__ = [
    "BEYOND_METRICS",
    "METRICS",
    "BeyondAccuracyConfig",
    "EvaluationResult",
    "Rankings",
    "SegmentConfig",
    "SegmentScores",
    "compare_results",
    "compare_to_baseline",
    "compute_metrics",
    "evaluate",
    "evaluate_rankings_file",
    "expected_random_hit_rate",
    "hit_matrix",
    "holm",
    "paired_tests",
    "qrels_from_split",
    "rankings_from_topk",
    "read_rankings",
    "topk_from_factors",
    "topk_from_scorer",
]
