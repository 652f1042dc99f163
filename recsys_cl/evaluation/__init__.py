"""Evaluation: rankings, top-K, metrics, segments, significance."""

from recsys_cl.evaluation._rankings import Rankings
from recsys_cl.evaluation._topk import rankings_from_topk, topk_from_factors, topk_from_scorer

__all__ = ["Rankings", "rankings_from_topk", "topk_from_factors", "topk_from_scorer"]
