"""The split protocols' names and default options, in one place: the splits, the data sources' options,
the benchmark config and the command line all read them from here."""

from __future__ import annotations

from typing import Any, Literal, get_args

#: the protocols a dataset can be split by (see ``_split``): the type of a protocol name, and the names in order
ProtocolName = Literal["loo", "temporal", "cold-item", "given"]
PROTOCOLS: tuple[str, ...] = get_args(ProtocolName)
#: the protocols any interaction log can be split by; ``given`` keeps a split that only some sources' files bring
SPLIT_PROTOCOLS: tuple[str, ...] = tuple(p for p in PROTOCOLS if p != "given")
#: temporal: the last N days are test (the H&M competition's week)
DEFAULT_TEST_DAYS = 7
#: temporal: the N days before test are valid
DEFAULT_VALID_DAYS = 7
#: cold-item: share of items held out with all their interactions for test (and the same share again for valid)
DEFAULT_COLD_ITEM_SHARE = 0.1
#: seed of the cold-item split (and of sampling) when none is given
DEFAULT_SPLIT_SEED = 0


def default_protocol_options() -> dict[str, dict[str, Any]]:
    """Each protocol's split options when ``prepare`` is not told otherwise (a fresh dict each call)."""
    return {
        "loo": {},
        "temporal": {"test_days": DEFAULT_TEST_DAYS, "valid_days": DEFAULT_VALID_DAYS},
        "cold-item": {"test_share": DEFAULT_COLD_ITEM_SHARE, "valid_share": DEFAULT_COLD_ITEM_SHARE, "seed": DEFAULT_SPLIT_SEED},
        "given": {},  # the split the source's files came with (MMRec's x_label, RecBole's benchmark files)
    }
