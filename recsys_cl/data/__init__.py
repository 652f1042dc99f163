"""Data: adapters (H&M, styles, MovieLens-100K, your own tables, RecBole and MMRec folders) behind one
source registry, atomic IO, synthetic generators, splits.

``prepare(source, out_root, raw=..., options=...)`` writes a dataset folder; ``load_dataset(folder)``
is the one way back in (tables, splits, integer-coded splits for models and the evaluator).
"""

from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.data._csv import fingerprint
from recsys_cl.data._dataset import PreparedDataset, load_dataset, split_summary
from recsys_cl.data._encoded import EncodedSplit, pair_matrices
from recsys_cl.data._hm import HMOptions, HMSynthOptions, InteractionFilters
from recsys_cl.data._literature import MMRecOptions, RecBoleOptions
from recsys_cl.data._movielens import ML100KOptions
from recsys_cl.data._source import SOURCES, InteractionOptions, Source, SourceOptions, register_source
from recsys_cl.data._sources import (
    input_fingerprint,
    prepare,
    source_options,
)
from recsys_cl.data._protocols import (
    DEFAULT_COLD_ITEM_SHARE,
    DEFAULT_SPLIT_SEED,
    DEFAULT_TEST_DAYS,
    DEFAULT_VALID_DAYS,
    PROTOCOLS,
    SPLIT_PROTOCOLS,
    ProtocolName,
    default_protocol_options,
)
from recsys_cl.data._split import DAY, GIVEN_PART, Split, cold_item, given, loo, make_split, temporal
from recsys_cl.data._styles import StylesOptions, StylesSynthOptions
from recsys_cl.data._table import TableOptions

__all__ = [
    "DAY",
    "DEFAULT_COLD_ITEM_SHARE",
    "DEFAULT_SPLIT_SEED",
    "DEFAULT_TEST_DAYS",
    "DEFAULT_VALID_DAYS",
    "EncodedSplit",
    "GIVEN_PART",
    "HMOptions",
    "HMSynthOptions",
    "InteractionFilters",
    "InteractionOptions",
    "ML100KOptions",
    "MMRecOptions",
    "PROTOCOLS",
    "SPLIT_PROTOCOLS",
    "PreparedDataset",
    "ProtocolName",
    "RecBoleOptions",
    "SOURCES",
    "Source",
    "SourceOptions",
    "Split",
    "StylesOptions",
    "StylesSynthOptions",
    "TableOptions",
    "cold_item",
    "default_protocol_options",
    "fingerprint",
    "given",
    "input_fingerprint",
    "load_dataset",
    "loo",
    "make_split",
    "pair_matrices",
    "prepare",
    "read_atomic",
    "register_source",
    "source_options",
    "split_summary",
    "temporal",
    "write_atomic",
]
