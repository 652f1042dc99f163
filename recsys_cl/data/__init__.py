"""Data: adapters (H&M, styles, MovieLens-100K), atomic IO, synthetic generators, splits."""

from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.data._split import PROTOCOLS, Split, cold_item, loo, make_split, temporal

__all__ = [
    "EncodedSplit",
    "PROTOCOLS",
    "Split",
    "cold_item",
    "loo",
    "make_split",
    "read_atomic",
    "temporal",
    "write_atomic",
]
