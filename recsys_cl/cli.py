"""``recsys-cl``: a thin command line over the library. Each command parses, calls, prints."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from recsys_cl._cli_data import data_app, prepare_app
from recsys_cl._cli_support import (
    csv_list,
    err,
    field_option,
    int_list,
    key_values,
    out,
    print_table,
    progress_bar,
    progress_display,
    split_pair,
    summary_rows,
    summary_table,
)
from recsys_cl.data import PROTOCOLS, SPLIT_PROTOCOLS
from recsys_cl.errors import InputError, exit_status
from recsys_cl.evaluation import BeyondAccuracyConfig

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
retrieve_app = typer.Typer(help="Retrieval experiments that are not item embeddings.", no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")
app.add_typer(data_app, name="data")
app.add_typer(retrieve_app, name="retrieve")


# ---------------------------------------------------------------------------------------------- summary / demo
@app.command("summary")
def summary_command(
    data: list[Path] = typer.Argument(..., help="prepared dataset folders ROOT/<name>"),
    json_output: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Users, items, interactions, density and cold items per split part of prepared datasets."""
    rows = [row for path in data for row in summary_rows(path)]
    if json_output:
        out.print_json(json.dumps(rows))
    else:
        out.print(summary_table(rows))


@app.command("plugins")
def plugins_command(
    json_output: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """The models, embedding methods and data sources a config can name, and where each comes from
    (built in, or an installed plugin's distribution). A plugin that cannot be used: exit 2."""
    from recsys_cl.data import SOURCES
    from recsys_cl.embeddings import LEARNERS
    from recsys_cl.models import MODELS
    from recsys_cl.registry import listing
    from recsys_cl.reporting import Table

    rows = listing(MODELS, LEARNERS, SOURCES)
    if json_output:
        out.print_json(json.dumps([{"kind": r.kind, "name": r.name, "origin": str(r.origin), "builtin": r.origin.builtin,
                                    "distribution": r.origin.distribution, "problem": r.problem} for r in rows]))  # fmt: skip
    else:
        columns = ["kind", "name", "from", "problem"]
        table = Table("Registered names", columns, [[r.kind, r.name, str(r.origin), r.problem or ""] for r in rows], left=set(columns))
        out.print(table.to_rich())
    broken = [r for r in rows if r.problem and not r.problem.startswith("ignored:")]
    if broken:
        more = f" (and {len(broken) - 1} more plugin problem(s) listed above)" if len(broken) > 1 else ""
        raise InputError(f"{broken[0].problem}{more}")


@app.command("demo")
def demo_command(
    out_dir: Path = typer.Option(Path("datasets/demo"), "--out", help="where the demo writes raw and atomic files"),
    seed: int = typer.Option(0),
) -> None:
    """The embedded default: synthetic H&M sample + MovieLens-100K -> atomic files -> splits -> summary."""
    from recsys_cl.data import prepare

    protocols = list(SPLIT_PROTOCOLS)
    atomic = out_dir / "atomic"
    with progress_bar("demo: synth and prepare hm-synth") as progress:
        # the generator's demo sizes (recsys_cl.data.synth.HM_DEMO) are the source's defaults
        prepare("hm-synth", atomic, raw=out_dir / "raw" / "hm-synth",
                options={"name": "hm-synth", "protocols": protocols, "seed": seed, "synth": {"seed": seed}}, progress=progress)
    with progress_bar("demo: prepare ml-100k") as progress:
        prepare("ml-100k", atomic, options={"name": "ml-100k", "protocols": protocols}, progress=progress)
    rows = summary_rows(atomic / "hm-synth") + summary_rows(atomic / "ml-100k")
    out.print(summary_table(rows))
    out.print(f"atomic files in {atomic}/<dataset>/ (RecBole benchmark_filename: train/valid/test, "
              f"temporal-*, cold-item-*)")  # fmt: skip


# ---------------------------------------------------------------------------------------------- evaluate
@app.command("evaluate")
def evaluate_command(
    rankings: Path = typer.Option(..., help="TSV or Parquet with user_id, item_id and rank or score columns"),
    data: Path = typer.Option(..., help="prepared dataset folder ROOT/<name>"),
    split: str = typer.Option("test", help="part scored: test or valid"),
    protocol: str = typer.Option("loo", help=f"which prepared split: {', '.join(PROTOCOLS)}"),
    metrics: str = typer.Option(
        "hr,ndcg,recall,precision,mrr,map",
        help="comma list: accuracy (hr, ndcg, recall, precision, mrr, map) and beyond-accuracy (coverage, gini, "
        "novelty, avg_popularity, tail_share, seen_share, diversity, embedding_diversity; 'beyond' = all of "
        "those whose inputs are given)",
    ),
    k: str = typer.Option("10,12", help="comma list of cutoffs"),
    diversity_attribute: Optional[str] = typer.Option(
        None, "--diversity-attribute", help="column of the dataset's .item file for diversity (e.g. product_type_name)"
    ),
    embeddings: Optional[Path] = typer.Option(
        None, "--embeddings", help="item-embedding file (.itememb) for embedding_diversity (cosine distance)"
    ),
    tail_ratio: float = field_option(BeyondAccuracyConfig, "tail_ratio", "--tail-ratio"),
    json_output: bool = typer.Option(False, "--json", help="print the summary (and segments) as JSON"),
    exclude_seen: Optional[bool] = typer.Option(
        None, "--exclude-seen/--no-exclude-seen",
        help="drop each user's training items from the lists before scoring (the models' exclusion), or score "
        "repurchases as hits; default: the protocol's mode (exclude for loo and cold-item, not for temporal)",
    ),
) -> None:
    """Score a rankings file from any tool against a prepared split, on the same footing as every model."""
    from recsys_cl.errors import validated
    from recsys_cl.evaluation import evaluate_rankings_file

    beyond = validated(
        BeyondAccuracyConfig, {"diversity_attribute": diversity_attribute, "tail_ratio": tail_ratio}, "evaluate"
    )
    item_embeddings = None
    if embeddings is not None:
        from recsys_cl.embeddings import read_itememb

        item_embeddings = read_itememb(embeddings)
    result = evaluate_rankings_file(
        rankings, data, part=split, metrics=csv_list(metrics, "--metrics"), ks=int_list(k, "--k"), protocol=protocol,
        exclude_seen=exclude_seen, embeddings=item_embeddings, beyond=beyond,
    )  # fmt: skip
    if json_output:
        out.print_json(json.dumps(result.to_dict()))
        return
    from recsys_cl.reporting import evaluation_table

    print_table(evaluation_table(result, f"{result.name} on {data.name}/{protocol}/{split} ({result.n_users:,} users)"))


# ---------------------------------------------------------------------------------------------- embed
@app.command("embed")
def embed_command(
    data: Path = typer.Option(..., help="prepared dataset folder ROOT/<name> (its .item file has text / image_path)"),
    method: str = typer.Option(..., help="raw-text, raw-image, text-nce, text-triplet, copurchase, image-simclr, clip, "
                               "dataset-vectors (-o vectors=KEY), precomputed (vectors from files: -o file=... [-o ids=...]), "
                               "or a plugin's (recsys-cl plugins)"),
    out_file: Path = typer.Option(..., "--out", help="item-embedding file to write (<ds>.itememb); quality JSON beside it"),
    protocol: str = typer.Option("loo", help="split whose training part co-purchase pairs come from"),
    epochs: Optional[int] = typer.Option(None, help="training epochs"),
    seed: Optional[int] = typer.Option(None, help="seed"),
    text_model: Optional[str] = typer.Option(None, help="sentence-transformers model name, or tfidf"),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda"),
    finetune_layers: Optional[int] = typer.Option(
        None, "--finetune-layers", min=0,
        help="also train the encoder's last N layers with the head (text: transformer layers; image: EfficientNet "
        "blocks + conv head); slow without a GPU",
    ),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="any other option of the method as key=value (JSON values): the EmbedOptions "
        "fields, and text-nce's neighbours, image-simclr's simclr_views and colour_jitter",
    ),
    skip_bad_images: bool = typer.Option(
        False, "--skip-bad-images", help="an image that cannot be decoded (cut, damaged, too large) counts as missing "
        "(the count is printed) instead of stopping with its item row",
    ),
) -> None:
    """Learn contrastive item embeddings (or the raw base vectors) and write them with their quality metrics."""
    from recsys_cl.embeddings import embed
    from recsys_cl.reporting import embed_quality_table

    overrides = _embed_overrides(option, epochs=epochs, text_model=text_model, finetune_layers=finetune_layers,
                                 skip_bad_images=skip_bad_images or None)  # fmt: skip
    with progress_bar(f"embed {method}") as progress:
        emb, quality = embed(data, method, out_file, protocol=protocol, seed=seed, device=device, progress=progress,
                             **overrides)  # fmt: skip
    out.print(f"wrote {out_file} ({len(emb.item_ids):,} items x {emb.dim}) and {out_file}.quality.json")
    unreadable = quality.encoders.get("image", {}).get("unreadable")
    if unreadable:
        err.print(f"recsys-cl: warning: skipped {unreadable} unreadable image(s) (their items count as having no image)",
                  markup=False, highlight=False)  # fmt: skip
    if quality.inputs is not None:
        read = quality.inputs
        out.print(f"read {read.n_rows:,} vectors from {', '.join(read.files)}: {read.n_matched:,} matched the catalogue, "
                  f"{read.n_zero_filled:,} items zero-filled, {read.n_unused:,} rows unused", markup=False, highlight=False)
    print_table(embed_quality_table(quality))
    if quality.collapse is not None:
        collapse = quality.collapse
        out.print(f"collapse: {'YES, ' + str(collapse.kind) if collapse.collapsed else 'no'}", markup=False)


def _embed_overrides(option: list[str], **typed: Any) -> dict[str, Any]:
    """Learner option overrides from ``-o key=value`` plus the typed options (None = not given)."""
    overrides: dict[str, Any] = key_values(option)
    train = dict(overrides.pop("train", {}) or {})
    train_keys = ("epochs", "finetune_layers")
    train.update({key: typed.pop(key) for key in train_keys if typed.get(key) is not None})
    if train:
        overrides["train"] = train
    overrides.update({key: value for key, value in typed.items() if value is not None})
    return overrides


@retrieve_app.command("composed")
def retrieve_composed_command(
    data: Path = typer.Option(..., help="prepared styles or H&M folder ROOT/<name> (items need images and attributes)"),
    out_file: Path = typer.Option(..., "--out", help="result JSON to write"),
    epochs: Optional[int] = typer.Option(None, help="training epochs of the fused learner"),
    seed: Optional[int] = typer.Option(None, help="seed of queries, held-out split and training"),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda"),
    option: list[str] = typer.Option([], "--option", "-o", help="any other EmbedOptions field as key=value (JSON values)"),
) -> None:
    """Composed retrieval (paper 003): reference image + "in red instead of black" -> the changed item.
    Fused learner vs text-only and image-only baselines, Recall@K / nDCG@K on held-out references."""
    from recsys_cl.embeddings import composed_retrieval
    from recsys_cl.reporting import composed_result_table

    overrides = _embed_overrides(option, epochs=epochs)
    with progress_bar("composed retrieval") as progress:
        result = composed_retrieval(data, out_file, seed=seed, device=device, progress=progress, **overrides)
    out.print(f"wrote {out_file}")
    print_table(composed_result_table(result))


# ---------------------------------------------------------------------------------------------- bench
@app.command("bench")
def bench_command(
    config_path: Path = typer.Argument(..., metavar="CONFIG", help="benchmark YAML (see benchmarks/)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="results folder (default results/<config name>)"),
    executor: str = typer.Option("local", help="local or ray"),
    ray_address: Optional[str] = typer.Option(None, help="address of an existing Ray cluster (default: start a local one)"),
    raw: list[str] = typer.Option([], help="NAME=PATH: raw folder for a dataset of the config"),
    resume: bool = typer.Option(True, help="reuse finished cells (always safe: cells are keyed by all their inputs)"),
    jobs: int = typer.Option(1, help="local executor: cells (and tuning studies) run at once, each in its own single-threaded process"),
    tune: Optional[bool] = typer.Option(
        None, "--tune/--no-tune", help="tune every model on the valid part first (default: when the config has a tuning section)"
    ),
    trials: Optional[int] = typer.Option(None, help="tuning: finished trials per study (overrides tuning.trials; turns tuning on)"),
    storage: Optional[str] = typer.Option(None, help="tuning: folder for journal files, or an RDB URL every worker reaches"),
    mlflow: Optional[str] = typer.Option(
        None, "--mlflow", metavar="URI",
        help="also log every cell run now to MLflow: sqlite:///PATH.db (local), http://HOST:PORT (a team's server), "
        "file:PATH (with MLFLOW_ALLOW_FILE_STORE=true); one experiment per config name; needs recsys-cl[tracking]",
    ),
    country: Optional[str] = typer.Option(
        None, "--country", metavar="ISO",
        help="3-letter country code whose grid carbon intensity turns energy into CO2e (default: CodeCarbon's "
        "setting, CODECARBON_COUNTRY_ISO_CODE, else its world average)",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="write into OUT even if it holds another config's results or files that are not results",
    ),
) -> None:
    """Run a benchmark grid: datasets x protocols x models x embeddings x seeds; resumable. With tuning, each
    model is tuned on the valid part (equal budgets), then refit and scored on test once per seed."""
    from recsys_cl.bench import check_energy_settings, check_results_folder, load_config, results_lock, set_country

    config = load_config(config_path)
    target = out_dir or Path("results") / config.name
    check_results_folder(target, config.name, overwrite=overwrite)
    set_country(country)  # before the run: workers inherit it
    check_energy_settings()
    tracker = _open_tracker(mlflow, config.name)  # an MLflow URI that cannot be opened stops here
    with results_lock(target, "bench"):
        _run_bench(config, target, resume, raw, executor, ray_address, jobs, tune, trials, storage, tracker, mlflow)


def _run_bench(config: Any, target: Path, resume: bool, raw: list[str], executor: str, ray_address: str | None, jobs: int,
               tune: bool | None, trials: int | None, storage: str | None, tracker: Any, mlflow: str | None) -> None:  # fmt: skip
    import shutil

    from recsys_cl.bench import run_benchmark

    if not resume and (target / "cells").exists():
        shutil.rmtree(target / "cells")
    raw_overrides = dict(split_pair(item, "--raw") for item in raw)
    with progress_display(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[stage]}"), TimeElapsedColumn(),
    ) as bar:  # fmt: skip
        cells_task = bar.add_task("grid", total=None, stage="")
        stage_task = bar.add_task("stage", total=1, stage="")

        def on_cell(cell: Any, index: int, total: int, status: str) -> None:
            statuses[index] = status
            done = sum(1 for s in statuses.values() if s in ("done", "cached"))
            bar.update(cells_task, total=total, completed=done, stage=f"{status}: {cell.describe()}")

        def on_stage(stage: str, done: int, total: int) -> None:
            bar.update(stage_task, completed=done, total=max(total, 1), stage=stage)

        studies: dict[str, Any] = {}

        def on_study(label: str, stage: str, done: int, total: int) -> None:  # one progress line per study
            if label not in studies:
                studies[label] = bar.add_task(f"tune {label}", total=total, stage="")
            bar.update(studies[label], completed=done, total=max(total, 1), stage=stage)

        statuses: dict[int, str] = {}
        with tracker or contextlib.nullcontext():
            run = run_benchmark(config, target, executor=executor, ray_address=ray_address, raw_overrides=raw_overrides,
                                on_cell=on_cell, progress=on_stage, jobs=jobs, tune=tune, trials=trials, storage_url=storage,
                                on_study=on_study, tracker=tracker)  # fmt: skip
    from recsys_cl.embeddings import ComposedResult
    from recsys_cl.reporting import composed_result_table, load_results, run_summary_table

    if run.cells:
        print_table(run_summary_table(load_results(target), config.significance.metric))
    for path in run.composed_retrieval.values():  # retrieval-only datasets: no cells, this is their result
        print_table(composed_result_table(ComposedResult.read(path)))
    out.print(f"{len(run.cells)} cells ({run.cells_run_now} run now) in {run.seconds:.0f} s -> {target}")
    if tracker is not None:
        _print_tracked(tracker, target)


def _print_tracked(tracker: Any, results: Path) -> None:
    """What reached MLflow, and (on stderr) what did not and how to log it later."""
    from recsys_cl.bench._tracking import unlogged_message

    out.print(f"MLflow: {tracker.cells_logged} cells logged to {tracker.uri} (experiment {tracker.experiment!r})")
    for problem in tracker.errors:
        err.print(f"recsys-cl: warning: {problem}", markup=False, highlight=False, soft_wrap=True)
    left = unlogged_message(tracker, results)
    if left:
        err.print(f"recsys-cl: warning: {left}", markup=False, highlight=False, soft_wrap=True)


@app.command("track")
def track_command(
    results: Path = typer.Argument(..., help="results folder written by `recsys-cl bench --mlflow URI`"),
    mlflow: str = typer.Option(..., "--mlflow", metavar="URI", help="the store the cells were meant for"),
) -> None:
    """Log to MLflow the cells a `bench --mlflow URI` run finished but could not log (the store was down);
    they are listed in RESULTS/mlflow-pending.json. Exit code 1 if some still could not be logged."""
    from recsys_cl.bench._tracking import log_pending

    tracker = log_pending(results, mlflow)
    _print_tracked(tracker, results)
    if tracker.unlogged:
        raise typer.Exit(1)


def _open_tracker(uri: str | None, experiment: str) -> Any:
    if uri is None:
        return None
    from recsys_cl.bench import open_tracker

    return open_tracker(uri, experiment)


# ---------------------------------------------------------------------------------------------- tune
@app.command("recommend")
def recommend_command(
    config_path: Path = typer.Argument(..., metavar="CONFIG", help="benchmark YAML whose model entry is fitted"),
    model: str = typer.Option(..., help="the entry's label in tables (e.g. ALS), its label:, or its registry name"),
    out_dir: Path = typer.Option(..., "--out", help="output folder (written whole, or not at all)"),
    run_dir: Optional[Path] = typer.Option(None, "--run", help="results folder whose data and studies are used (default results/<config name>)"),
    fit_on: str = typer.Option("train+valid", help="train | train+valid | all (all: the test part too, to predict the future)"),
    best: bool = typer.Option(False, "--best", help="fit with the entry's best tuned parameters (from RUN/tuning)"),
    k: int = typer.Option(12, help="list length"),
    users: Optional[Path] = typer.Option(None, help="file of user ids, one a line (default: every user of the data)"),
    output_format: str = typer.Option("lists", "--format", help="lists (Parquet + TSV for evaluate) or hm-submission"),
    customers: Optional[Path] = typer.Option(None, help="hm-submission: customers.csv (default: the dataset's raw folder)"),
    dataset: Optional[str] = typer.Option(None, help="dataset of the config (default: the entry's first)"),
    protocol: Optional[str] = typer.Option(None, help="split to fit on and its exclude_seen rule (default: the entry's first)"),
    embedding: Optional[str] = typer.Option(None, help="embedding variant of the entry, when it has several"),
    seed: Optional[int] = typer.Option(None, help="model seed (default: the config's first)"),
    raw: list[str] = typer.Option([], help="NAME=PATH: raw folder for a dataset of the config"),
    chunk_users: int = typer.Option(50_000, help="users ranked and written at a time (memory)"),
) -> None:
    """Fit one model entry of a config on the data you choose and write its top-K lists (or an H&M submission)."""
    from recsys_cl.bench import check_results_folder, load_config, recommend_for_config, results_lock

    config = load_config(config_path)
    target = run_dir or Path("results") / config.name
    check_results_folder(target, config.name)  # its data and studies must be this config's
    # one writer at a time in an existing results folder (recommend may prepare data there); a new one is not
    # made just to hold a lock, so an input error leaves nothing behind
    with results_lock(target, "recommend") if target.is_dir() else contextlib.nullcontext(), progress_bar(f"recommend {model}") as progress:
        record = recommend_for_config(
            config, out_dir, model=model, run_dir=target, dataset=dataset, protocol=protocol,
            embedding=embedding, seed=seed, best=best, fit_on=fit_on, k=k, users_file=users, output_format=output_format,
            customers=customers, raw_overrides=dict(split_pair(item, "--raw") for item in raw), chunk_users=chunk_users,
            config_path=config_path, progress=progress,
        )  # fmt: skip
    who = f"{record['customers']:,} customers ({record['customers_filled_by_fallback']:,} by the fallback)" if "customers" in record else f"{record['users']:,} users"
    out.print(f"{record['model']} fitted on {record['dataset']}/{record['protocol']} {record['fit_on']}: top-{record['k']} for {who} -> {out_dir}")
    if record["training_length"]:  # fitted without a valid part: how long it trained, and why
        length = record["training_length"]
        out.print(f"{length['param']} {length['fitted_with']}: {length['kept_by'] or length['note']}")


@app.command("tune")
def tune_command(
    config_path: Path = typer.Argument(..., metavar="CONFIG", help="benchmark YAML (its tuning: and models' search: keys)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="results folder (default results/<config name>)"),
    trials: Optional[int] = typer.Option(None, help="finished trials per study (overrides tuning.trials)"),
    executor: str = typer.Option("local", help="local, or ray: trials as Ray tasks against shared storage"),
    storage: Optional[str] = typer.Option(
        None, help="Optuna storage: an RDB URL (sqlite:///tune.db, postgresql://...) or a folder for journal files "
        "(default OUT/tuning); with --executor ray every node must reach it",
    ),
    ray_address: Optional[str] = typer.Option(None, help="address of an existing Ray cluster (default: start a local one)"),
    raw: list[str] = typer.Option([], help="NAME=PATH: raw folder for a dataset of the config"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="write into OUT even if it holds another config's results or files that are not results",
    ),
) -> None:
    """Tune every model of a benchmark config on the valid part: one resumable Optuna study per dataset x
    protocol x model x embedding variant, all with the same budget."""
    import optuna

    from recsys_cl.bench import check_results_folder, check_run_options, load_config, results_lock, tuning_with_trials

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one progress line per study instead of a log line per trial
    config = load_config(config_path)
    tuning = tuning_with_trials(config.tuning, trials)
    check_run_options(executor, storage)  # before the progress bars, so bad input is one line
    target = out_dir or Path("results") / config.name
    check_results_folder(target, config.name, overwrite=overwrite)
    with results_lock(target, "tune"):
        _run_tune(config, tuning, target, trials, executor, storage, ray_address, raw)


def _run_tune(config: Any, tuning: Any, target: Path, trials: int | None, executor: str, storage: str | None,
              ray_address: str | None, raw: list[str]) -> None:  # fmt: skip
    from recsys_cl.bench import study_plans, tune_benchmark

    raw_overrides = dict(split_pair(item, "--raw") for item in raw)
    with progress_display(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[stage]}"), TimeElapsedColumn(),
    ) as bar:  # fmt: skip
        stage_task = bar.add_task("prepare", total=1, stage="")
        tasks: dict[str, Any] = {}

        def on_stage(stage: str, done: int, total: int) -> None:
            bar.update(stage_task, completed=done, total=max(total, 1), stage=stage)

        def on_study(label: str, stage: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total, stage="")
            bar.update(tasks[label], completed=done, total=total, stage=stage)

        summaries = tune_benchmark(config, target, trials=trials, executor=executor, storage_url=storage,
                                   ray_address=ray_address, raw_overrides=raw_overrides, progress=on_stage,
                                   on_study=on_study)  # fmt: skip
    from recsys_cl.reporting import tuning_table

    print_table(tuning_table(summaries, tuning.metric, f"{config.name}: tuning on the valid part ({tuning.sampler}, "
                                                        f"pruner {tuning.pruner}, {tuning.trials} trials per study)"))  # fmt: skip
    run_now = sum(s.trials_run_now for s in summaries)
    out.print(f"{len(study_plans(config))} studies ({run_now} trials run now) -> {target / 'tuning'}")


# ---------------------------------------------------------------------------------------------- report / compare
@app.command("report")
def report_command(
    results: Path = typer.Argument(..., help="results folder written by `recsys-cl bench`"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="report folder (default reports/<results name>)"),
    latex: bool = typer.Option(False, "--latex", help="also write tables.tex"),
    resamples: int = typer.Option(2000, min=1, max=1_000_000, help="resamples of the paired randomisation tests"),
    mlflow: Optional[str] = typer.Option(
        None, "--mlflow", metavar="URI", help="attach the report to the MLflow run of `bench --mlflow URI` for this results folder",
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="report a run some of whose cells are missing (its first line lists them) instead of refusing",
    ),
) -> None:
    """Write report.md and a self-contained report.html (tables, significance, plots) for a results folder."""
    from recsys_cl.reporting import write_report

    target = out_dir or Path("reports") / results.name
    mlflow_run = None
    if mlflow is not None:  # found before the report is written: a wrong URI or folder is one line, nothing written
        from recsys_cl.bench import find_report_run
        from recsys_cl.reporting import load_results

        mlflow_run = find_report_run(mlflow, load_results(results, allow_missing=allow_missing).name, results)
    with progress_bar("report") as progress:
        written = write_report(results, target, latex=latex, n_resamples=resamples, progress=progress, allow_missing=allow_missing)
    if allow_missing:
        from recsys_cl.reporting import load_results, missing_cells_line

        incomplete = missing_cells_line(load_results(results, allow_missing=True))
        if incomplete:
            err.print(f"recsys-cl: warning: {incomplete}", markup=False, highlight=False, soft_wrap=True)
    for kind, path in written.items():
        out.print(f"{kind}: {path}")
    if mlflow_run is not None:
        mlflow_run.attach(written)
        out.print(f"MLflow: report attached to run {mlflow_run.run_id}")


baseline_app = typer.Typer(help="Baselines for regression tracking.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("save")
def baseline_save_command(
    results: Path = typer.Argument(..., help="results folder written by `recsys-cl bench`"),
    out_file: Path = typer.Option(..., "--out", help="baseline JSON, e.g. results/baselines/NAME.json"),
    metrics: str = typer.Option("ndcg@10,hr@10,map@12", help="tracked metrics (comma list)"),
    per_user: bool = typer.Option(True, help="keep per-user scores so compare can test drops against noise"),
) -> None:
    """Save a run's tracked metrics (and per-user scores) as a baseline."""
    from recsys_cl.reporting import save_baseline

    baseline = save_baseline(results, out_file, metrics=csv_list(metrics, "--metrics"), per_user=per_user)
    out.print(f"wrote {out_file}: {len(baseline.entries)} tracked values")


@app.command("compare")
def compare_command(
    current: Path = typer.Argument(..., help="results folder of the run to check"),
    baseline: Path = typer.Option(..., help="baseline JSON from `recsys-cl baseline save`"),
    rtol: float = typer.Option(0.02, help="relative drop tolerated"),
    metrics: Optional[str] = typer.Option(None, help="tracked metrics (default: the baseline's)"),
    alpha: float = typer.Option(0.05, help="significance level of the paired test on per-user scores"),
    allow_mismatch: bool = typer.Option(
        False, "--allow-mismatch", help="compare even when the runs were made from another config, seeds or data"
    ),
) -> None:
    """Diff a run against a baseline; exit 1 if a tracked metric fell beyond tolerance (and beyond noise).

    Exit codes: 0 no regression, 1 regression found, 2 bad input (including runs that are not the same
    experiment, unless --allow-mismatch)."""
    from recsys_cl.reporting import compare_to_baseline_file, regression_table

    rows, regressed, differences = compare_to_baseline_file(
        current, baseline, rtol=rtol, metrics=csv_list(metrics, "--metrics") if metrics else None, alpha=alpha,
        allow_mismatch=allow_mismatch,
    )  # fmt: skip
    for note in differences:
        err.print(f"recsys-cl: note: {note}", markup=False, highlight=False, soft_wrap=True)
    print_table(regression_table(rows, f"{current} vs {baseline} (rtol {rtol})"))
    if regressed:
        err.print("recsys-cl: regression: a tracked metric fell beyond tolerance (or is missing)")
        raise typer.Exit(1)
    out.print("no regression")


def main(argv: list[str] | None = None) -> None:
    """Entry point. Bad input -> one line on stderr and exit code 2 (usage errors: typer's own message, 2)."""
    # RecBole 1.2.1 warns about its own use of deprecated torch APIs on every fit: noise for users.
    warnings.filterwarnings("ignore", module=r"recbole(\.|$)")
    try:
        app(args=argv, prog_name="recsys-cl")
    except Exception as exc:
        status = exit_status(exc)  # bad input, bad files, a full disk: one line and exit 2; else a bug
        if status is None:
            raise
        code, message = status
        err.print(f"recsys-cl: error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(code)


if __name__ == "__main__":
    main()
