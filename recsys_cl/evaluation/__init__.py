"""Evaluation: rankings, metrics, segments, significance."""

from recsys_cl.evaluation._rankings import Rankings

__all__ = ["Rankings"]
