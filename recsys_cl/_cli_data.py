"""The ``prepare`` and ``data synth`` commands of ``recsys-cl`` (raw files in, atomic files or raw samples out),
kept apart from ``cli.py`` so that no module passes 600 lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from recsys_cl._cli_support import (
    field_option,
    jsonable,
    key_values,
    out,
    print_dataset_summary,
    print_replaced_bytes,
    progress_bar,
    protocol_list,
    validated_options,
)
from recsys_cl.data import SPLIT_PROTOCOLS, HMOptions, ML100KOptions, StylesOptions
from recsys_cl.errors import InputError

prepare_app = typer.Typer(help="Convert raw downloads into RecBole atomic files and splits.", no_args_is_help=True)
data_app = typer.Typer(help="Embedded default data.", no_args_is_help=True)
synth_app = typer.Typer(help="Generate synthetic data in the exact Kaggle layouts.", no_args_is_help=True)
data_app.add_typer(synth_app, name="synth")


# ---------------------------------------------------------------------------------------------- prepare
@prepare_app.command("hm")
def prepare_hm_command(
    raw: Path = typer.Option(..., help="folder with articles.csv, customers.csv, transactions_train.csv [, images/]"),
    out_root: Path = typer.Option(Path("datasets/atomic"), "--out", help="ROOT: files go to ROOT/<name>/"),
    name: str = typer.Option("hm", help="dataset name"),
    protocols: str = typer.Option("loo", help=f"comma list of {', '.join(SPLIT_PROTOCOLS)}"),
    weeks: Optional[int] = field_option(HMOptions, "weeks"),
    min_user: int = field_option(HMOptions, "min_user_interactions", "--min-user"),
    min_item: int = field_option(HMOptions, "min_item_interactions", "--min-item"),
    sample_users: Optional[float] = field_option(HMOptions, "sample_users"),
    dedupe: bool = field_option(HMOptions, "dedupe", "--dedupe/--no-dedupe"),
    test_days: int = field_option(HMOptions, "test_days"),
    valid_days: int = field_option(HMOptions, "valid_days"),
    cold_item_share: float = field_option(HMOptions, "cold_item_share"),
    seed: int = field_option(HMOptions, "seed"),
    replace_bad_bytes: bool = field_option(HMOptions, "replace_bad_bytes", "--replace-bad-bytes/--no-replace-bad-bytes"),
) -> None:
    """H&M Personalized Fashion Recommendations -> ROOT/<name>/ atomic files, splits and metadata."""
    from recsys_cl.data import prepare

    options = validated_options(
        HMOptions, name=name, protocols=protocol_list(protocols), weeks=weeks, min_user_interactions=min_user,
        min_item_interactions=min_item, sample_users=sample_users, dedupe=dedupe, test_days=test_days,
        valid_days=valid_days, cold_item_share=cold_item_share, seed=seed, replace_bad_bytes=replace_bad_bytes,
    )  # fmt: skip
    with progress_bar(f"prepare {name}") as progress:
        meta = prepare("hm", out_root, raw=raw, options=options, progress=progress)
    print_replaced_bytes(meta)
    print_dataset_summary(out_root / name, meta)


@prepare_app.command("styles")
def prepare_styles_command(
    raw: Path = typer.Option(..., help="folder with styles.csv [, images/]"),
    out_root: Path = typer.Option(Path("datasets/atomic"), "--out", help="ROOT: files go to ROOT/<name>/"),
    name: str = typer.Option("styles", help="dataset name"),
    max_relevant: Optional[int] = field_option(StylesOptions, "max_relevant"),
    seed: int = field_option(StylesOptions, "seed"),
    replace_bad_bytes: bool = field_option(StylesOptions, "replace_bad_bytes", "--replace-bad-bytes/--no-replace-bad-bytes"),
) -> None:
    """Fashion Product Images styles.csv -> ROOT/<name>/<name>.item and item-to-item relevance."""
    from recsys_cl.data import prepare

    options = validated_options(StylesOptions, name=name, max_relevant=max_relevant, seed=seed, replace_bad_bytes=replace_bad_bytes)
    with progress_bar(f"prepare {name}") as progress:
        meta = prepare("styles", out_root, raw=raw, options=options, progress=progress)
    print_replaced_bytes(meta)
    out.print(f"wrote {out_root / name}: {json.dumps(meta['counts'])}")


@prepare_app.command("ml-100k")
def prepare_ml100k_command(
    out_root: Path = typer.Option(Path("datasets/atomic"), "--out", help="ROOT: files go to ROOT/<name>/"),
    name: str = typer.Option("ml-100k", help="dataset name"),
    protocols: str = typer.Option("loo", help=f"comma list of {', '.join(SPLIT_PROTOCOLS)}"),
    test_days: int = field_option(ML100KOptions, "test_days"),
    valid_days: int = field_option(ML100KOptions, "valid_days"),
    cold_item_share: float = field_option(ML100KOptions, "cold_item_share"),
    seed: int = field_option(ML100KOptions, "seed"),
) -> None:
    """MovieLens-100K from RecBole's package (real data, titles and genres as item text)."""
    from recsys_cl.data import prepare

    options = validated_options(ML100KOptions, name=name, protocols=protocol_list(protocols), test_days=test_days,
                       valid_days=valid_days, cold_item_share=cold_item_share, seed=seed)  # fmt: skip
    with progress_bar(f"prepare {name}") as progress:
        meta = prepare("ml-100k", out_root, options=options, progress=progress)
    print_dataset_summary(out_root / name, meta)


@prepare_app.command("table")
def prepare_table_command(
    raw: Path = typer.Option(..., help="folder the mapping's files are relative to"),
    mapping: Path = typer.Option(..., help="YAML with interactions: {file, user, item, time, ...} [items:, users:] and any "
                                           "other option of source table (docs/your-data.md)"),
    out_root: Path = typer.Option(Path("datasets/atomic"), "--out", help="ROOT: files go to ROOT/<name>/"),
    name: Optional[str] = typer.Option(None, help="dataset name (default: the mapping's name, else 'table')"),
    protocols: Optional[str] = typer.Option(None, help="comma list of loo, temporal, cold-item (default: the mapping's, else loo)"),
    option: list[str] = typer.Option([], "--option", "-o", help="any other option as key=value (JSON values)"),
) -> None:
    """Your own interactions (CSV, TSV or Parquet, gzip too) by a column mapping -> ROOT/<name>/."""
    values = _mapping_file(mapping)
    _prepare_source("table", raw, out_root, {**values, **key_values(option)}, name, protocols)


@prepare_app.command("recbole")
def prepare_recbole_command(
    raw: Path = typer.Option(..., help="a RecBole atomic folder: <dataset>.inter [.item .user] or benchmark files"),
    out_root: Path = typer.Option(Path("datasets/atomic"), "--out", help="ROOT: files go to ROOT/<name>/"),
    name: Optional[str] = typer.Option(None, help="dataset name (default: the raw folder's name)"),
    protocols: str = typer.Option("loo", help="comma list of loo, temporal, cold-item, given (benchmark files)"),
    option: list[str] = typer.Option([], "--option", "-o", help="any other option as key=value: dataset, user_field, item_field, "
                                                                "time_field, text_fields, vector_fields, unknown_items, ..."),
) -> None:
    """A RecBole atomic dataset folder (ml-1m, Amazon categories, Yelp, ...) -> ROOT/<name>/."""
    _prepare_source("recbole", raw, out_root, key_values(option), name or raw.name, protocols)


@prepare_app.command("mmrec")
def prepare_mmrec_command(
    raw: Path = typer.Option(..., help="an MMRec dataset folder: <dataset>.inter, i_id_mapping.csv, u_id_mapping.csv, *_feat.npy"),
    out_root: Path = typer.Option(Path("datasets/atomic"), "--out", help="ROOT: files go to ROOT/<name>/"),
    name: Optional[str] = typer.Option(None, help="dataset name (default: the raw folder's name)"),
    protocols: str = typer.Option("given", help="comma list of given (MMRec's split), loo, temporal, cold-item"),
    option: list[str] = typer.Option([], "--option", "-o", help="any other option as key=value: dataset, drop_cold_users"),
) -> None:
    """MMRec's multimodal Amazon datasets (Baby, Sports, Clothing) with their split and features -> ROOT/<name>/."""
    _prepare_source("mmrec", raw, out_root, key_values(option), name or raw.name, protocols)


def _mapping_file(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise InputError(f"{path}: mapping file not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"{path}{f':{mark.line + 1}' if mark else ''}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(values, dict):
        raise InputError(f"{path}: expected a mapping (interactions:, items:, users:, options)")
    return values


def _prepare_source(source: str, raw: Path, out_root: Path, values: dict[str, Any], name: str | None, protocols: str | None) -> None:
    from recsys_cl.data import prepare, source_options

    if name is not None:
        values["name"] = name
    if protocols is not None:
        values["protocols"] = protocol_list(protocols)
    options = source_options(source, values, f"prepare {source}")
    with progress_bar(f"prepare {options.name}") as progress:
        meta = prepare(source, out_root, raw=raw, options=options, progress=progress)
    print_replaced_bytes(meta)
    if meta.get("time_column"):
        out.print(f"time column: {meta['time_column']}")
    if meta.get("content"):
        out.print(f"item content: {meta['content']}")
    print_dataset_summary(out_root / options.name, meta)


# ---------------------------------------------------------------------------------------------- data synth
@synth_app.command("hm")
def synth_hm_command(
    out_dir: Path = typer.Option(Path("datasets/raw/hm-synth"), "--out", help="folder for the raw H&M-layout files"),
    customers: int = typer.Option(2000, help="number of customers"),
    articles: int = typer.Option(1000, help="number of articles"),
    weeks: int = typer.Option(16, help="weeks of transactions"),
    transactions: Optional[int] = typer.Option(None, help="number of transactions (default: derived from customers)"),
    seed: int = typer.Option(0),
    images: bool = typer.Option(False, help="also draw images/0XX/0XXXXXXXXX.jpg"),
) -> None:
    """Synthetic H&M-shaped raw files (articles.csv, customers.csv, transactions_train.csv [, images/])."""
    from recsys_cl.data.synth import generate_hm

    with progress_bar("synth hm") as progress:
        summary = generate_hm(
            out_dir, customers=customers, articles=articles, weeks=weeks, transactions=transactions, seed=seed,
            images=images, progress=progress,
        )  # fmt: skip
    out.print(f"wrote {out_dir}: {json.dumps(jsonable(summary))}")


@synth_app.command("styles")
def synth_styles_command(
    out_dir: Path = typer.Option(Path("datasets/raw/styles-synth"), "--out", help="folder for styles.csv [, images/]"),
    products: int = typer.Option(2000, help="number of products"),
    seed: int = typer.Option(0),
    images: bool = typer.Option(False, help="also draw images/{id}.jpg"),
) -> None:
    """Synthetic styles.csv (Fashion Product Images layout, quirks included)."""
    from recsys_cl.data.synth import generate_styles

    with progress_bar("synth styles") as progress:
        summary = generate_styles(out_dir, products=products, seed=seed, images=images, progress=progress)
    out.print(f"wrote {out_dir}: {json.dumps(jsonable(summary))}")
