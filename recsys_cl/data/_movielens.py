"""Adapter: MovieLens-100K as RecBole ships it inside its pip package (real data, no download).

Every rating counts as an interaction (implicit feedback, as in RecBole's own ml-100k BPR runs);
the rating is kept as a column. Item text = title, year and genres, for the text encoders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from recsys_cl.data._atomic import clean_text, read_atomic
from recsys_cl.data._csv import fingerprint
from recsys_cl.data._dataset import write_dataset
from recsys_cl.data._source import InteractionOptions, Source, register_source
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress

#: RecBole's own types for these files (its ml-100k.user has age as a token)
ML100K_TYPES = {"age": "token", "release_year": "token", "movie_title": "token_seq", "class": "token_seq"}


def recbole_ml100k_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        raise InputError("recbole is not installed; run `make setup`")
    path = Path(spec.origin).parent / "dataset_example" / "ml-100k"
    if not (path / "ml-100k.inter").is_file():
        raise InputError(f"{path}: RecBole's packaged MovieLens-100K not found")
    return path


class ML100KOptions(InteractionOptions):
    """What ``prepare ml-100k`` can be told: the name, protocols and their options."""

    name: str = "ml-100k"


def build_ml100k(raw: Path | None, out_dir: Path, options: ML100KOptions, progress: StageProgress) -> dict[str, Any]:
    """MovieLens-100K from ``raw`` (a folder with ml-100k.inter/.item/.user; default RecBole's packaged copy)."""
    src = raw if raw is not None else recbole_ml100k_dir()
    tick = progress
    tick("read", 0, 2)
    inter = read_atomic(src / "ml-100k.inter").select("user_id", "item_id", "timestamp", "rating")
    items = read_atomic(src / "ml-100k.item")
    users = read_atomic(src / "ml-100k.user")
    items = items.with_columns(
        pl.concat_str(
            [clean_text(pl.col("movie_title")), pl.lit(" ("), clean_text(pl.col("release_year")), pl.lit("). Genres: "),
             clean_text(pl.col("class"))]
        ).alias("text")
    )  # fmt: skip
    tick("split and write", 1, 2)
    return write_dataset(
        out_dir,
        options.name,
        inter,
        items=items,
        users=users,
        protocols=options.protocols,
        protocol_options=options.protocol_options(),
        types={**ML100K_TYPES, "text": "token_seq"},
        extra_meta={
            "source": "ml-100k (RecBole package copy)",
            "raw_dir": str(src.resolve()),
            "source_fingerprint": fingerprint([src / f"ml-100k.{s}" for s in ("inter", "item", "user")]),
            "timestamp_unit": "Unix seconds",
        },
        progress=None,
    )


def _ml100k_inputs(raw: Path | None, options: ML100KOptions) -> list[Path]:
    src = raw if raw is not None else recbole_ml100k_dir()
    return [src / f"ml-100k.{suffix}" for suffix in ("inter", "item", "user")]


register_source(Source("ml-100k", ML100KOptions, build_ml100k, raw="optional", has_interactions=True,
                       description="MovieLens-100K as RecBole ships it in its package (real data, no download)",
                       inputs=_ml100k_inputs))
