"""An item table's text and images as base vectors: what every learner and composed retrieval
encode first. ``source`` names the table in errors (the ``.item`` file when read from one)."""

from __future__ import annotations

from pathlib import Path, PurePath

import numpy as np
import polars as pl

from recsys_cl.embeddings import _encoders as enc
from recsys_cl.embeddings._options import EmbedOptions
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress, no_stage_progress


def item_texts(items: pl.DataFrame) -> list[str]:
    """The ``text`` column, missing values as empty strings."""
    return items["text"].fill_null("").to_list()


def encode_item_texts(
    items: pl.DataFrame, opts: EmbedOptions, source: str, progress: StageProgress = no_stage_progress
) -> tuple[np.ndarray, dict]:
    """(n, d) base text vectors of the items and the encoder's stats."""
    if "text" not in items.columns:
        raise InputError(f"{source}: no 'text' column (needed by text encoders)")
    return enc.encode_texts(
        item_texts(items), opts.text_model, cache_dir=opts.cache_dir, use_cache=opts.use_cache,
        device=opts.train.device, progress=lambda d, t: progress("encode text", d, t),
    )  # fmt: skip


def image_paths(items: pl.DataFrame, image_root: str | Path | None, source: str) -> list[Path | None]:
    """Each item's image file under ``image_root`` (None where ``image_path`` is empty).

    An item file is data, not a licence to read the machine: a path that is absolute or that
    resolves (symlinks followed) outside ``image_root`` is refused, naming the row.
    """
    if "image_path" not in items.columns:
        raise InputError(f"{source}: no 'image_path' column (needed by image encoders)")
    if image_root is None:
        raise InputError(f"{source}: image methods need the folder the image paths are relative to (image_root)")
    root = Path(image_root).resolve()
    ids = items["item_id"].cast(pl.String).to_list() if "item_id" in items.columns else [None] * len(items)
    out: list[Path | None] = []
    for row, (relative, item_id) in enumerate(zip(items["image_path"].fill_null("").to_list(), ids), start=1):
        if not relative:
            out.append(None)
            continue
        where = f"{source}: row {row}" + (f" (item {item_id})" if item_id is not None else "")
        if PurePath(relative).is_absolute():
            raise InputError(f"{where}: image_path {relative!r} is absolute; it must be relative to {root}")
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise InputError(f"{where}: image_path {relative!r} resolves to {path}, outside {root}")
        out.append(path)
    return out


def encode_item_images(
    paths: list[Path | None], opts: EmbedOptions, source: str, image_root: str | Path | None,
    progress: StageProgress = no_stage_progress,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(n, d) base image vectors of ``paths`` (from ``image_paths``), (n,) mask of items with a readable
    image, and the encoder's stats."""
    try:
        vectors, mask, stats = enc.encode_image_files(
            paths, opts.image_model, cache_dir=opts.cache_dir, use_cache=opts.use_cache, device=opts.train.device,
            progress=lambda d, t: progress("encode images", d, t), skip_bad=opts.skip_bad_images,
        )  # fmt: skip
    except enc.BadImage as exc:  # named by the item row whose image it is
        row = next((i for i, p in enumerate(paths, start=1) if p is not None and Path(p) == exc.path), None)
        raise InputError(f"{source}: row {row}: image {exc.path}: {exc.reason} (skip_bad_images: true / "
                         "--skip-bad-images counts such items as having no image)") from None  # fmt: skip
    if not mask.any():
        raise InputError(f"{source}: no item has a readable image under {image_root}")
    return vectors, mask, stats
