"""Evaluation: rankings, top-K, accuracy and beyond-accuracy metrics, segments, significance, and where
held-out items land in full rankings (placement)."""

from recsys_cl.evaluation._beyond import BeyondAccuracyConfig, check_attribute
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
    parse_metrics,
)
from recsys_cl.evaluation._placement import PLACEMENT_VALUES, Placement, placement, placement_users
from recsys_cl.evaluation._rankings import Rankings, qrels_from_split, read_rankings
from recsys_cl.evaluation._repeats import (
    DEFAULT_EXCLUDE_SEEN,
    default_exclude_seen,
    drop_seen,
    exclusion_ceiling,
    repeat_share,
)
from recsys_cl.evaluation._segments import SegmentConfig
from recsys_cl.evaluation._significance import (
    compare_results,
    compare_to_baseline,
    holm,
    paired_family,
    paired_tests,
    sign_flip_pvalue,
)
from recsys_cl.evaluation._topk import (
    rankings_from_topk,
    topk_from_factors,
    topk_from_scorer,
    topk_sparse_over_base,
)

__all__ = [
    "BEYOND_METRICS",
    "PLACEMENT_VALUES",
    "Placement",
    "BeyondAccuracyConfig",
    "DEFAULT_EXCLUDE_SEEN",
    "EvaluationResult",
    "METRICS",
    "Rankings",
    "SegmentConfig",
    "SegmentScores",
    "check_attribute",
    "compare_results",
    "compare_to_baseline",
    "compute_metrics",
    "default_exclude_seen",
    "drop_seen",
    "evaluate",
    "evaluate_rankings_file",
    "exclusion_ceiling",
    "expected_random_hit_rate",
    "hit_matrix",
    "holm",
    "paired_family",
    "paired_tests",
    "parse_metrics",
    "placement",
    "placement_users",
    "qrels_from_split",
    "rankings_from_topk",
    "read_rankings",
    "repeat_share",
    "sign_flip_pvalue",
    "topk_from_factors",
    "topk_from_scorer",
    "topk_sparse_over_base",
]
