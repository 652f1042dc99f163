"""Data: adapters (H&M, styles, MovieLens-100K) behind one source registry, atomic IO, synthetic
generators, splits.

``prepare(source, out_root, raw=..., options=...)`` writes a dataset folder; ``load_dataset(folder)``
is the one way back in (tables, splits, integer-coded splits for models and the evaluator).
"""

from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.data._csv import fingerprint
from recsys_cl.data._dataset import PreparedDataset, load_dataset, split_summary
from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.data._hm import HMOptions, HMSynthOptions
from recsys_cl.data._movielens import ML100KOptions
from recsys_cl.data._sources import (
    SOURCES,
    InteractionOptions,
    Source,
    SourceOptions,
    input_fingerprint,
    prepare,
    source_options,
)
from recsys_cl.data._split import PROTOCOLS, Split, cold_item, loo, make_split, temporal
from recsys_cl.data._styles import StylesOptions, StylesSynthOptions

__all__ = [
    "EncodedSplit",
    "HMOptions",
    "HMSynthOptions",
    "InteractionOptions",
    "ML100KOptions",
    "PROTOCOLS",
    "PreparedDataset",
    "SOURCES",
    "Source",
    "SourceOptions",
    "Split",
    "StylesOptions",
    "StylesSynthOptions",
    "cold_item",
    "fingerprint",
    "input_fingerprint",
    "load_dataset",
    "loo",
    "make_split",
    "prepare",
    "read_atomic",
    "source_options",
    "split_summary",
    "temporal",
    "write_atomic",
]
