"""Data: adapters (H&M, styles, MovieLens-100K) behind one source registry, atomic IO, synthetic
generators, splits.

``prepare(source, out_root, raw=..., options=...)`` writes a dataset folder; ``load_dataset(folder)``
is the one way back in (tables, splits, integer-coded splits for models and the evaluator).
"""

from recsys_cl.data._atomic import (
    atomic_output,
    check_output_dir,
    read_atomic,
    read_json,
    staged_outputs,
    write_atomic,
    write_json,
)
from recsys_cl.data._dataset import PreparedDataset, load_dataset, split_summary
from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.data._hm import HMOptions, HMSynthOptions
from recsys_cl.data._movielens import ML100KOptions
from recsys_cl.data._sources import (
    SOURCES,
    InteractionOptions,
    Source,
    SourceOptions,
    get_source,
    input_fingerprint,
    prepare,
    source_options,
)
from recsys_cl.data._split import PROTOCOLS, Split, cold_item, loo, make_split, temporal
from recsys_cl.data._styles import StylesOptions, StylesSynthOptions

__all__ = [
    "atomic_output",
    "check_output_dir",
    "staged_outputs",
    "write_json",
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
    "get_source",
    "input_fingerprint",
    "load_dataset",
    "loo",
    "make_split",
    "prepare",
    "read_atomic",
    "read_json",
    "source_options",
    "split_summary",
    "temporal",
    "write_atomic",
]
