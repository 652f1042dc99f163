"""Splits: pure functions from an interaction table to a named :class:`Split`.

An interaction table is a polars DataFrame with at least ``user_id`` (str), ``item_id`` (str)
and ``timestamp`` (float, Unix seconds) in file order; other columns ride along.

``loo`` (leave-one-out by time, per user)::

    user u:  i1 ── i2 ── i3 ── … ── i(n-1) ── i(n)
             └──────── train ───────┘  valid    test

    n == 1 -> the only interaction is train (the user is evaluated nowhere)
    n == 2 -> first is train, last is test (no valid row)
    n >= 3 -> as drawn
    Same-timestamp ties are broken by file order: the row that comes later in the file is later.

``temporal``::

    ───────────── train ─────────────┤ valid: N days ├ test: last N days ┤

``cold-item``: a seeded share of items is held out with all their interactions (test), another
share likewise (valid); train never contains a held-out item.

``given``: the split the data came with (MMRec's ``x_label``, RecBole's benchmark files), kept as it
is: each row's part is its :data:`GIVEN_PART` column (0 train, 1 valid, 2 test, MMRec's codes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.data._protocols import DEFAULT_COLD_ITEM_SHARE, DEFAULT_SPLIT_SEED, DEFAULT_TEST_DAYS, DEFAULT_VALID_DAYS, PROTOCOLS
from recsys_cl.errors import InputError, SplitError

ROW = "_row"
PARTS = ("train", "valid", "test")
LOO_TIE_BREAK = "same timestamp: later row in the source file counts as later"
#: protocols that order each user's interactions by time (refused for data without a time column)
TIME_ORDERED = ("loo", "temporal")
#: column of an interaction table that holds the part of the split it came with (``given``)
GIVEN_PART = "given_part"
DAY = 86400.0


@dataclasses.dataclass(frozen=True)
class Split:
    """Train/valid/test interaction tables produced by one protocol, plus what was checked."""

    protocol: str
    train: pl.DataFrame
    valid: pl.DataFrame
    test: pl.DataFrame
    info: dict[str, Any]

    def part(self, name: str) -> pl.DataFrame:
        if name not in PARTS:
            raise InputError(f"unknown split part {name!r}; expected one of {', '.join(PARTS)}")
        return getattr(self, name)

    def file_suffixes(self) -> tuple[str, str, str]:
        """RecBole ``benchmark_filename`` for this protocol: loo is the plain train/valid/test."""
        return file_suffixes(self.protocol)

    def sizes(self) -> dict[str, dict[str, int]]:
        return {p: _sizes(self.part(p)) for p in PARTS}

    def write(self, directory: str | Path, dataset: str) -> list[Path]:
        """Write ``<dataset>.<suffix>.inter`` for the three parts (atomically, each file)."""
        directory = Path(directory)
        return [
            write_atomic(self.part(p).drop(ROW, strict=False), directory / f"{dataset}.{s}.inter")
            for p, s in zip(PARTS, self.file_suffixes())
        ]

    @property
    def parts_read(self) -> tuple[str, ...]:
        """The parts that hold data read from their files (all three unless made by ``read(parts=...)``)."""
        return tuple(self.info.get("parts_read", PARTS))

    @classmethod
    def read(
        cls, directory: str | Path, dataset: str, protocol: str = "loo", parts: tuple[str, ...] = PARTS
    ) -> "Split":
        """Read the split files of ``parts``; token columns (``user_id``, ``item_id``, ...) come back as
        ``pl.Categorical`` (as strings, H&M's train part alone took several GB).

        A part left out of ``parts`` is never opened and comes back empty (the train part's columns, no
        rows): ``parts=("train", "valid")`` is the split tuning sees, which cannot leak the test part.
        """
        directory = Path(directory)
        unknown = [p for p in parts if p not in PARTS]
        if unknown or "train" not in parts:
            raise InputError(f"Split.read: parts must include train and be among {', '.join(PARTS)} (got {parts})")
        frames = {
            p: read_atomic(directory / f"{dataset}.{s}.inter", categorical=True, required=("user_id", "item_id", "timestamp"))
            for p, s in zip(PARTS, file_suffixes(protocol))
            if p in parts
        }
        frames.update({p: frames["train"].clear() for p in PARTS if p not in parts})
        info = {"read_from": str(directory), "parts_read": [p for p in PARTS if p in parts]}
        return cls(protocol=protocol, info=info, **frames)


def file_suffixes(protocol: str) -> tuple[str, str, str]:
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if protocol == "loo":
        return PARTS
    return tuple(f"{protocol}-{p}" for p in PARTS)  # type: ignore[return-value]


def _sizes(frame: pl.DataFrame) -> dict[str, int]:
    return {
        "interactions": frame.height,
        "users": frame["user_id"].n_unique() if frame.height else 0,
        "items": frame["item_id"].n_unique() if frame.height else 0,
    }


def _with_row(inter: pl.DataFrame, columns: tuple[str, ...] = ("user_id", "item_id", "timestamp")) -> pl.DataFrame:
    missing = set(columns) - set(inter.columns)
    if missing:
        raise InputError(f"interaction table lacks column(s) {', '.join(sorted(missing))}")
    if inter.height == 0:
        raise SplitError("cannot split an empty interaction table")
    return inter if ROW in inter.columns else inter.with_row_index(ROW)


def _check_partition(inter: pl.DataFrame, parts: dict[str, pl.DataFrame], protocol: str) -> None:
    """Every input row lands in exactly one part; train and test are never empty."""
    total = sum(p.height for p in parts.values())
    rows = pl.concat([p.select(ROW) for p in parts.values()])[ROW]
    if total != inter.height or rows.n_unique() != inter.height:
        raise SplitError(f"{protocol}: parts do not partition the input ({total} rows vs {inter.height})")
    for name in ("train", "test"):
        if parts[name].height == 0:
            raise SplitError(
                f"{protocol}: the {name} part would be empty ({inter.height} interactions, "
                f"{inter['user_id'].n_unique()} users); use more data or other split options"
            )


def _repeat_rows(test: pl.DataFrame, train: pl.DataFrame) -> int:
    """Test rows whose (user, item) pair also occurs in train."""
    if all(isinstance(f.schema[c], pl.Categorical) for f in (test, train) for c in ("user_id", "item_id")):
        # Categorical ids (the H&M adapter): one 64-bit key per pair from the integer codes; at 31.8M
        # rows this takes 2.5 s where the two-column join took 9.9 s and 2 GB more memory.
        def key(frame: pl.DataFrame) -> pl.Series:
            return frame["user_id"].to_physical().cast(pl.UInt64) * (1 << 32) + frame["item_id"].to_physical().cast(pl.UInt64)

        return int(key(test).is_in(key(train).implode()).sum())
    return test.join(train, on=["user_id", "item_id"], how="semi").height


def loo(inter: pl.DataFrame) -> Split:
    """Leave-one-out by time per user (see module docstring for the few-interaction rule)."""
    inter = _with_row(inter)
    # Order by (timestamp, file row): numeric keys only, never the 64-character customer ids. A file
    # already in time order (H&M's is) is in that order as it stands, so it is not sorted at all and
    # each part comes out in file order without being sorted back: at H&M's 31.8M rows that saves
    # two full copies of the table and most of the split's time.
    timestamp = inter["timestamp"]
    in_time_order = timestamp.null_count() == 0 and timestamp.is_sorted()
    ordered = inter if in_time_order else inter.sort(["timestamp", ROW])
    from_end = pl.int_range(pl.len(), 0, -1).over("user_id")  # 1 = the user's last interaction
    n = pl.len().over("user_id")
    code = {"train": 0, "valid": 1, "test": 2}  # small integers, not a string per row
    labelled = ordered.with_columns(from_end.alias("_from_end"), n.alias("_n")).with_columns(
        pl.when((pl.col("_from_end") == 1) & (pl.col("_n") >= 2))
        .then(pl.lit(code["test"], pl.UInt8))
        .when((pl.col("_from_end") == 2) & (pl.col("_n") >= 3))
        .then(pl.lit(code["valid"], pl.UInt8))
        .otherwise(pl.lit(code["train"], pl.UInt8))
        .alias("_part")
    )
    parts = {p: labelled.filter(pl.col("_part") == code[p]).drop(["_from_end", "_n", "_part"]) for p in PARTS}
    if not in_time_order:  # back to file order inside each part, so written files read like the source
        parts = {p: frame.sort(ROW) for p, frame in parts.items()}
    _check_partition(inter, parts, "loo")
    # No train interaction of a user may come after that user's valid/test interaction.
    last_train = parts["train"].group_by("user_id").agg(pl.col("timestamp").max().alias("_t"))
    for name in ("valid", "test"):
        late = parts[name].join(last_train, on="user_id").filter(pl.col("_t") > pl.col("timestamp"))
        if late.height:
            raise SplitError(f"loo: {late.height} {name} interactions precede their user's last train one")
    counts = labelled.filter(pl.col("_from_end") == 1)["_n"]
    repeat = _repeat_rows(parts["test"], parts["train"])
    info = {
        "protocol": "loo",
        "tie_break": LOO_TIE_BREAK,
        "few_interactions_rule": "1 interaction: train only; 2: train + test; 3 or more: train + valid + test",
        "users": len(counts),
        "users_train_only": int((counts == 1).sum()),
        "users_without_valid": int((counts == 2).sum()),
        "test_repeat_purchases": repeat,
    }
    split = Split("loo", parts["train"], parts["valid"], parts["test"], info)
    return dataclasses.replace(split, info={**info, "sizes": split.sizes()})


def temporal(inter: pl.DataFrame, test_days: int = DEFAULT_TEST_DAYS, valid_days: int = DEFAULT_VALID_DAYS) -> Split:
    """Last ``test_days`` days (by calendar day of the latest timestamp) -> test, the ``valid_days`` before -> valid."""
    if test_days < 1 or valid_days < 0:
        raise InputError(f"temporal: test_days must be >= 1 and valid_days >= 0 (got {test_days}, {valid_days})")
    inter = _with_row(inter)
    last_day = float(np.floor(inter["timestamp"].max() / DAY))
    test_start = (last_day - test_days + 1) * DAY
    valid_start = test_start - valid_days * DAY
    t = pl.col("timestamp")
    parts = {
        "train": inter.filter(t < valid_start),
        "valid": inter.filter((t >= valid_start) & (t < test_start)),
        "test": inter.filter(t >= test_start),
    }
    _check_partition(inter, parts, "temporal")
    _check_temporal_range(parts, test_start, test_days, valid_days)
    info = {
        "protocol": "temporal",
        "test_days": test_days,
        "valid_days": valid_days,
        "valid_start": valid_start,
        "test_start": test_start,
    }
    split = Split("temporal", parts["train"], parts["valid"], parts["test"], info)
    return dataclasses.replace(split, info={**info, "sizes": split.sizes()})


#: days between the test rows and the rest of the data beyond which (and beyond the data's own span) a
#: temporal split is refused: no shop's log pauses for a year right before its last week
FAR_DAYS = 365.0


def _check_temporal_range(parts: dict[str, pl.DataFrame], test_start: float, test_days: int, valid_days: int) -> None:
    """Refuse a temporal split whose windows sit outside the data's own range: the windows are counted back
    from the latest date, so one row dated far after the rest (9999-12-31) makes a test part of that row
    alone and an empty valid part, and every model would score 0 on it without an error."""
    before = pl.concat([parts["train"].select("timestamp"), parts["valid"].select("timestamp")])["timestamp"].drop_nulls()
    test = parts["test"]
    problem = None
    if before.len():
        span = (float(before.max()) - float(before.min())) / DAY
        after = (float(test["timestamp"].min()) - float(before.max())) / DAY
        if after > max(test_days, valid_days, span, FAR_DAYS):  # a gap longer than the data before it, and than a year
            problem = (f"the test rows start {after:,.0f} days after the rest of the data, which spans {span:,.0f} days: "
                       "dates far outside the data's own range")  # fmt: skip
    if problem is None and valid_days > 0 and parts["valid"].height == 0:
        problem = f"the valid part ({valid_days} days before the test window) is empty"
    if problem is None:
        return
    rows = test.sort("timestamp", descending=True).head(3)
    shown = "; ".join(
        f"#{int(r[ROW]) + 1 if ROW in r else '?'} in file order: user {r['user_id']}, item {r['item_id']}, {_date(r['timestamp'])}"
        for r in rows.iter_rows(named=True)
    )
    more = f" and {test.height - 3:,} more" if test.height > 3 else ""
    raise SplitError(f"temporal: degenerate split: {problem} (test rows, latest first: {shown}{more}); "
                     "fix or drop those rows, or change test_days / valid_days")  # fmt: skip


def _date(timestamp: float) -> str:
    import datetime

    try:
        return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("dated %Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return f"timestamp {timestamp:g}"


def cold_item(
    inter: pl.DataFrame, test_share: float = DEFAULT_COLD_ITEM_SHARE, valid_share: float = DEFAULT_COLD_ITEM_SHARE,
    seed: int = DEFAULT_SPLIT_SEED,
) -> Split:
    """Hold out a seeded share of items with all their interactions (test), and another for valid."""
    if not (0 < test_share < 1 and 0 <= valid_share < 1 and test_share + valid_share < 1):
        raise InputError(f"cold-item: shares must be in (0, 1) and sum below 1 (got {test_share}, {valid_share})")
    inter = _with_row(inter, ("user_id", "item_id"))
    items = np.sort(inter["item_id"].unique().to_numpy())
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))
    n_test = max(1, int(round(test_share * len(items))))
    n_valid = int(round(valid_share * len(items)))
    test_items = items[order[:n_test]].tolist()
    valid_items = items[order[n_test : n_test + n_valid]].tolist()
    item = pl.col("item_id")
    parts = {
        "train": inter.filter(~item.is_in(test_items) & ~item.is_in(valid_items)),
        "valid": inter.filter(item.is_in(valid_items)),
        "test": inter.filter(item.is_in(test_items)),
    }
    _check_partition(inter, parts, "cold-item")
    leaked = parts["train"].filter(item.is_in(test_items) | item.is_in(valid_items)).height
    if leaked:
        raise SplitError(f"cold-item: {leaked} train interactions involve held-out items")
    info = {
        "protocol": "cold-item",
        "test_share": test_share,
        "valid_share": valid_share,
        "seed": seed,
        "test_items": len(test_items),
        "valid_items": len(valid_items),
    }
    split = Split("cold-item", parts["train"], parts["valid"], parts["test"], info)
    return dataclasses.replace(split, info={**info, "sizes": split.sizes()})


def given(inter: pl.DataFrame) -> Split:
    """The split the data came with: rows whose :data:`GIVEN_PART` is 0 are train, 1 valid, 2 test."""
    if GIVEN_PART not in inter.columns:
        raise InputError("protocol given: this data brings no split of its own (sources recbole with benchmark "
                         "files <name>.train.inter/.valid.inter/.test.inter, and mmrec, do)")  # fmt: skip
    inter = _with_row(inter, ("user_id", "item_id", GIVEN_PART))
    codes = inter[GIVEN_PART]
    if not codes.is_in([0, 1, 2]).all():
        raise InputError(f"protocol given: part codes must be 0, 1 or 2 (found {sorted(set(codes.to_list()) - {0, 1, 2})[:3]})")
    parts = {p: inter.filter(pl.col(GIVEN_PART) == code).drop(GIVEN_PART) for code, p in enumerate(PARTS)}
    _check_partition(inter, parts, "given")
    info = {"protocol": "given", "kept": "the split the source files came with, unchanged"}
    split = Split("given", parts["train"], parts["valid"], parts["test"], info)
    return dataclasses.replace(split, info={**info, "sizes": split.sizes()})


def make_split(inter: pl.DataFrame, protocol: str, **options: Any) -> Split:
    """Dispatch by protocol name (``loo``, ``temporal``, ``cold-item``, ``given``)."""
    functions = {"loo": loo, "temporal": temporal, "cold-item": cold_item, "given": given}
    if protocol not in functions:
        raise InputError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if protocol != "given":  # the source's own split is not a column of the other protocols' parts
        inter = inter.drop(GIVEN_PART, strict=False)
    return functions[protocol](inter, **options)
