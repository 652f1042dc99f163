"""A prepared dataset directory: ``ROOT/<name>/`` with atomic files, split files and ``<name>.meta.json``.

``write_dataset`` is what every adapter ends with; ``load_dataset`` is how everything downstream
(evaluator, models, embeddings) opens one.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import polars as pl

from recsys_cl import __version__
from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.data._protocols import default_protocol_options
from recsys_cl.data._split import GIVEN_PART, PARTS, Split, file_suffixes, make_split
from recsys_cl.errors import InputError
from recsys_cl.files import read_json, write_json
from recsys_cl.progress import StageProgress

#: protocol options used when ``prepare`` is not told otherwise
DEFAULT_PROTOCOL_OPTIONS: dict[str, dict[str, Any]] = default_protocol_options()


def write_dataset(
    out_dir: Path,
    name: str,
    inter: pl.DataFrame,
    *,
    items: pl.DataFrame | None = None,
    users: pl.DataFrame | None = None,
    protocols: Sequence[str] = ("loo",),
    protocol_options: Mapping[str, Mapping[str, Any]] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    types: Mapping[str, str] | None = None,
    progress: StageProgress | None = None,
) -> dict[str, Any]:
    """Split ``inter`` by each protocol and write everything; returns the metadata written."""
    out_dir = Path(out_dir)
    options = {p: {**DEFAULT_PROTOCOL_OPTIONS.get(p, {}), **(protocol_options or {}).get(p, {})} for p in protocols}
    steps = 3 + len(protocols)
    tick = progress or (lambda *_: None)
    splits: dict[str, Split] = {}
    # the given split's part codes are the split files themselves, not a column of the interactions
    tables = {"inter": inter.drop("_row", GIVEN_PART, strict=False), "item": items, "user": users}

    def write_tables() -> None:
        for suffix, frame in tables.items():
            if frame is not None:
                write_atomic(frame, out_dir / f"{name}.{suffix}", types)

    # The tables do not depend on the splits, so they are written (at H&M size: 3.5 GB, mostly waiting
    # on the disk) while the splits are computed; polars releases the GIL in both. ``out_dir`` is the
    # temporary folder ``prepare`` builds in, so a failed split leaves nothing behind where it matters.
    tick("write interactions while splitting", 0, steps)
    with ThreadPoolExecutor(max_workers=1) as pool:
        written = pool.submit(write_tables)
        try:
            for done, protocol in enumerate(protocols):
                tick(f"split {protocol}", done, steps)
                splits[protocol] = make_split(inter, protocol, **options[protocol])
        except BaseException:
            wait([written])  # let the writer finish before the caller removes the folder
            raise
        tick("write splits", len(protocols) + 1, steps)
        for split in splits.values():
            split.write(out_dir, name)
        written.result()
    n_catalogue = items.height if items is not None else inter["item_id"].n_unique()
    meta = {
        "dataset": name,
        "created_by": f"recsys-cl {__version__}",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {
            "users": inter["user_id"].n_unique(),
            "items_with_interactions": inter["item_id"].n_unique(),
            "items_in_catalogue": n_catalogue,
            "interactions": inter.height,
        },
        "protocols": {
            p: {"files": list(file_suffixes(p)), "options": options[p], "info": splits[p].info} for p in protocols
        },
        **(extra_meta or {}),
    }
    write_json(out_dir / f"{name}.meta.json", meta)
    tick("done", steps, steps)
    return meta


@dataclasses.dataclass
class PreparedDataset:
    """An opened ``ROOT/<name>`` directory. Tables are read lazily and cached."""

    directory: Path
    name: str
    meta: dict[str, Any]
    _cache: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def protocols(self) -> list[str]:
        from recsys_cl.data._protocols import PROTOCOLS

        prepared = self.meta.get("protocols", {})
        return [p for p in PROTOCOLS if p in prepared]

    def _optional(self, suffix: str) -> pl.DataFrame | None:
        if suffix not in self._cache:
            path = self.directory / f"{self.name}.{suffix}"
            key = {"item": ("item_id",), "user": ("user_id",), "inter": ("user_id", "item_id")}.get(suffix, ())
            self._cache[suffix] = read_atomic(path, required=key) if path.is_file() else None
        return self._cache[suffix]

    @property
    def items(self) -> pl.DataFrame | None:
        return self._optional("item")

    @property
    def users(self) -> pl.DataFrame | None:
        return self._optional("user")

    @property
    def raw_dir(self) -> Path | None:
        raw = self.meta.get("raw_dir")
        return Path(raw) if raw else None

    def split(self, protocol: str = "loo") -> Split:
        key = f"split:{protocol}"
        if key not in self._cache:
            self._check_protocol(protocol)
            self._cache[key] = Split.read(self.directory, self.name, protocol)
        return self._cache[key]

    def _check_protocol(self, protocol: str) -> None:
        if self.meta and protocol not in self.protocols:
            raise InputError(
                f"{self.directory}: protocol {protocol!r} was not prepared (have: {', '.join(self.protocols)}); "
                f"re-run prepare with --protocols"
            )

    def encoded(self, protocol: str = "loo") -> EncodedSplit:
        key = f"encoded:{protocol}"
        if key not in self._cache:
            self._cache[key] = EncodedSplit.from_split(self.split(protocol), self.items)
        return self._cache[key]

    def refit_encoded(self, protocol: str = "loo") -> EncodedSplit:
        """The split with its valid part moved into training (``tuning.refit: train+valid``): a final fit
        on everything before the test part; the valid part is then empty (no early stopping on it)."""
        return self.merged_encoded(protocol, ("train", "valid"))

    def merged_split(self, protocol: str, parts: tuple[str, ...]) -> Split:
        """The split with ``parts`` (``train`` and any of ``valid``, ``test``) merged into its training part
        and emptied where they were: ``("train", "valid", "test")`` is every interaction, a fit "up to the
        last day" (the end of training, the "now" of every time window, is then the end of the data).
        Not cached (the caller keeps what it needs); the split it is made from is, as :meth:`split`."""
        if parts[0] != "train" or not set(parts) <= {"train", "valid", "test"}:
            raise InputError(f"parts to fit on must start with train and name only valid and test after it (got {parts})")
        split = self.split(protocol)
        frames = {p: split.part(p) for p in ("train", "valid", "test")}
        try:  # categoricals are global in polars >= 1.32: H&M's 64-character ids stay codes, not strings per row
            train = pl.concat([frames[p] for p in parts], how="vertical_relaxed")
        except pl.exceptions.PolarsError:  # older polars (categoricals of two files) or mixed types: strings
            ids = [pl.col(c).cast(pl.Utf8) for c in ("user_id", "item_id")]
            frames = {p: f.with_columns(ids) for p, f in frames.items()}
            train = pl.concat([frames[p] for p in parts], how="vertical_relaxed")
        rest = {p: frames[p].head(0) if p in parts else frames[p] for p in ("valid", "test")}
        return Split(protocol, train, rest["valid"], rest["test"], {**split.info, "refit": "+".join(parts)})

    def merged_encoded(self, protocol: str, parts: tuple[str, ...]) -> EncodedSplit:
        """:meth:`merged_split` encoded (cached)."""
        key = f"merged-encoded:{protocol}:{'+'.join(parts)}"
        if key not in self._cache:
            read_here = f"split:{protocol}" not in self._cache
            merged = self.merged_split(protocol, parts)
            if read_here:  # the parts were read for this merge only: not kept twice (at H&M size, GBs)
                del self._cache[f"split:{protocol}"]
            self._cache[key] = EncodedSplit.from_split(merged, self.items)
        return self._cache[key]

    def tuning_split(self, protocol: str = "loo") -> Split:
        """The split without its test part: train and valid read from their files, the test file never
        opened (an empty test part). Everything tuning reads comes from here, so test data cannot leak
        into the choice of parameters whatever the caller does with it."""
        key = f"tuning-split:{protocol}"
        if key not in self._cache:
            self._check_protocol(protocol)
            self._cache[key] = Split.read(self.directory, self.name, protocol, parts=("train", "valid"))
        return self._cache[key]

    def tuning_encoded(self, protocol: str = "loo") -> EncodedSplit:
        """:meth:`tuning_split` encoded: its test matrix is empty, and its user vocabulary is that of
        train and valid only (a user seen only in the test part does not exist here)."""
        key = f"tuning-encoded:{protocol}"
        if key not in self._cache:
            self._cache[key] = EncodedSplit.from_split(self.tuning_split(protocol), self.items)
        return self._cache[key]

    def tuning_files(self, protocol: str = "loo") -> list[Path]:
        """The files :meth:`tuning_encoded` reads (train, valid and the item catalogue if any): what a
        tuning study's data fingerprint covers."""
        train, valid, _ = file_suffixes(protocol)
        files = [self.directory / f"{self.name}.{train}.inter", self.directory / f"{self.name}.{valid}.inter"]
        catalogue = self.directory / f"{self.name}.item"
        return files + ([catalogue] if catalogue.is_file() else [])


def load_dataset(directory: str | Path) -> PreparedDataset:
    """Open a prepared dataset directory (its name is the directory name)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory (expected ROOT/<name> written by `recsys-cl prepare`)")
    name = directory.name
    meta_path = directory / f"{name}.meta.json"
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        meta = read_json(meta_path, "dataset metadata")
        if not isinstance(meta, dict):
            raise InputError(f"{meta_path}: not the metadata `recsys-cl prepare` writes (a JSON object)")
    elif not (directory / f"{name}.train.inter").is_file():
        raise InputError(f"{directory}: no {name}.meta.json and no {name}.train.inter; is this a prepared dataset?")
    return PreparedDataset(directory, name, meta)


def split_summary(split: Split, n_catalogue: int | None = None) -> list[dict[str, Any]]:
    """One row per part: users, items, interactions, density, cold items (items absent from train)."""
    train_items = set(split.train["item_id"].unique().to_list())
    rows = []
    for part in PARTS:
        frame = split.part(part)
        users = frame["user_id"].n_unique() if frame.height else 0
        items = frame["item_id"].n_unique() if frame.height else 0
        part_items = set(frame["item_id"].unique().to_list()) if frame.height else set()
        rows.append(
            {
                "part": part,
                "users": users,
                "items": items,
                "interactions": frame.height,
                "density": frame.height / (users * items) if users and items else 0.0,
                "cold_items": len(part_items - train_items) if part != "train" else 0,
                "catalogue": n_catalogue,
            }
        )
    return rows
