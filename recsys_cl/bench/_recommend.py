"""Recommendations out: fit one model entry of a benchmark config on the data a user chooses and write its
top-K lists (``recsys-cl recommend``).

The model is the entry named by its label in tables (or its registry name, when one entry has it), fitted
with its configured parameters or, with ``best``, its study's best ones (read from ``RUN/tuning``). It is
fitted on the chosen protocol's split with ``fit_on``:

- ``train``: the training part, as a benchmark cell is fitted (its lists score exactly as the cell does);
- ``train+valid``: the valid part joins training, as ``tuning.refit: train+valid`` does;
- ``all``: the test part joins too, "to predict the future". The end of training (the "now" of every
  time window: recent popularity, repurchase and two-stage windows) is then the last day of the data.

The entry's item embeddings are learned on the same parts (``bench.learn_embedding(parts=...)``, cached in
the results folder). With no valid part left (``train+valid``, ``all``), a model that early-stops on it trains
for the epoch or round its study's best trial (``best``) or its benchmark cell kept (``kept_training_length``).

Lists are written in the long layout ``evaluate`` reads (``user_id, item_id, rank, score``) as Parquet and
TSV, or (``hm-submission``) as the H&M competition's ``customer_id,prediction`` file. Users are ranked in
chunks, each chunk appended to the files, so no more than one chunk's lists is in memory. Everything is
written into a temporary folder beside the output, checked, and renamed into place last.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import numpy as np
import polars as pl

from recsys_cl import __version__
from recsys_cl.bench._artifacts import CELLS_DIR, learn_embedding, prepare_dataset, read_variant
from recsys_cl.bench._config import BenchmarkConfig, ModelSpec, variant_parts
from recsys_cl.bench._plan import Cell, best_trial_epoch, configured_trial_epoch, final_params, labels, model_run_name, with_kept_length
from recsys_cl.bench._preflight import entry_refusal
from recsys_cl.bench._provenance import git_commit, resolved_device
from recsys_cl.bench._study import TUNING_DIR
from recsys_cl.errors import InputError
from recsys_cl.files import write_json
from recsys_cl.progress import StageProgress

FitOn = Literal["train", "train+valid", "all"]
#: what each ``fit_on`` choice merges into training
FIT_PARTS: dict[str, tuple[str, ...]] = {"train": ("train",), "train+valid": ("train", "valid"), "all": ("train", "valid", "test")}
Format = Literal["lists", "hm-submission"]
FORMATS = ("lists", "hm-submission")
#: the H&M competition's list length (MAP@12) and its article-id width
HM_K = 12
HM_ID_DIGITS = 10
#: the fallback for customers the model has no list for: the most bought articles of the last N days of the fitted data
FALLBACK_DAYS = 7.0
#: file names inside the output folder
LISTS_PARQUET, LISTS_TSV, SUBMISSION, RECORD = "recommendations.parquet", "recommendations.tsv", "submission.csv", "recommend.json"
_LIST_SCHEMA = {"user_id": pl.Utf8, "item_id": pl.Utf8, "rank": pl.Int32, "score": pl.Float32}


def find_variant(config: BenchmarkConfig, name: str, embedding: str | None = None) -> tuple[int, str, str]:
    """(entry index, embedding variant, label) of the entry called ``name``: its label in tables (``ALS``,
    ``LightFM + text-nce``), its ``label:`` in the YAML, or its registry name when one entry has it."""
    label_of = labels(config)
    by_label = [(i, emb) for (i, emb), text in label_of.items() if text == name]
    if not by_label:
        given = [(i, emb) for i, spec in enumerate(config.models) if spec.label == name for emb in spec.embeddings]
        registry = [(i, emb) for i, spec in enumerate(config.models) if spec.model == name for emb in spec.embeddings]
        by_label = given or registry
    if embedding is not None:
        by_label = [(i, emb) for i, emb in by_label if emb == embedding]
    entries = sorted({i for i, _ in by_label})
    if not by_label:
        known = ", ".join(repr(text) for text in label_of.values())
        suffix = f" with embedding {embedding!r}" if embedding is not None else ""
        raise InputError(f"--model {name!r}{suffix}: no model entry of config {config.name!r} is called so (labels: {known})")
    if len(entries) > 1:
        raise InputError(f"--model {name!r}: {len(entries)} entries of config {config.name!r} match; "
                         f"name one by its label ({', '.join(repr(label_of[v]) for v in by_label)})")  # fmt: skip
    variants = [emb for _, emb in by_label]
    if len(variants) > 1:
        raise InputError(f"--model {name!r}: the entry runs with embeddings {', '.join(variants)}; choose one with --embedding")
    return entries[0], variants[0], label_of[(entries[0], variants[0])]


def best_study(run_dir: Path, dataset: str, protocol: str, label: str) -> Any:
    """The study of (dataset, protocol, variant label) that ``recsys-cl tune``/``bench`` stored in
    ``run_dir/tuning``: the one its last ``summaries.json`` lists, else the newest study file."""
    from recsys_cl.reporting import read_study

    folder = run_dir / TUNING_DIR
    where = f"{dataset}/{protocol}/{label}"
    files = sorted((p for p in folder.glob("*.json") if p.name != "summaries.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    studies = [s for s in (read_study(p) for p in files) if (s.dataset, s.protocol, s.label) == (dataset, protocol, label)]
    if not studies:
        raise InputError(f"--best: {folder} holds no finished study of {where} (tune it first: recsys-cl tune CONFIG --out {run_dir})")
    listed: set[str] = set()
    summaries = folder / "summaries.json"
    if summaries.is_file():
        try:
            listed = {s.get("key") for s in json.loads(summaries.read_text()).get("studies", [])}
        except (json.JSONDecodeError, AttributeError) as exc:
            raise InputError(f"{summaries}: not a tuning summary ({exc})") from exc
    chosen = ([s for s in studies if s.key in listed] or studies)[-1]
    if chosen.best_value is None:
        raise InputError(f"--best: the study of {where} ({folder / chosen.key}.json) has no completed trial")
    return chosen


def read_user_list(path: Path) -> list[str]:
    """User ids, one a line (a first line ``user_id`` or ``customer_id`` is a header); blank lines skipped."""
    if not path.is_file():
        raise InputError(f"--users: file not found: {path}")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise InputError(f"--users {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    ids = [line for line in lines if line]
    if ids and ids[0] in ("user_id", "customer_id"):
        ids = ids[1:]
    if not ids:
        raise InputError(f"--users {path}: no user ids")
    seen: dict[str, int] = {}
    for number, uid in enumerate(ids, 1):
        if uid in seen:
            raise InputError(f"--users {path}: user {uid!r} is listed twice (entries {seen[uid]} and {number})")
        seen[uid] = number
    return ids


def read_customers(path: Path) -> pl.Series:
    """The ``customer_id`` column of an H&M ``customers.csv`` (every customer once), in file order: a polars
    string column (~80 bytes an id; a NumPy ``<U64`` copy would be 256, 350 MB for H&M's 1.37M customers)."""
    if not path.is_file():
        raise InputError(f"customers file not found: {path} (pass --customers PATH/customers.csv)")
    try:
        frame = pl.read_csv(path, columns=["customer_id"], infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read column customer_id ({str(exc).splitlines()[0]})") from exc
    ids = frame["customer_id"]
    if ids.null_count():
        line = int(ids.is_null().arg_true()[0]) + 2
        raise InputError(f"{path}:{line}: empty customer_id")
    again = ~ids.is_first_distinct()
    if again.any():
        row = int(again.arg_true()[0])
        raise InputError(f"{path}:{row + 2}: customer_id {ids[row]!r} occurs a second time")
    if ids.len() == 0:
        raise InputError(f"{path}: no customers")
    return ids


def recommend_for_config(
    config: BenchmarkConfig,
    out_dir: str | Path,
    *,
    model: str,
    run_dir: str | Path,
    dataset: str | None = None,
    protocol: str | None = None,
    embedding: str | None = None,
    seed: int | None = None,
    best: bool = False,
    fit_on: str = "train+valid",
    k: int = 12,
    users_file: str | Path | None = None,
    output_format: str = "lists",
    customers: str | Path | None = None,
    raw_overrides: Mapping[str, str] | None = None,
    chunk_users: int = 50_000,
    config_path: str | Path | None = None,
    progress: StageProgress | None = None,
) -> dict[str, Any]:
    """Fit the entry ``model`` of ``config`` on ``fit_on`` of ``dataset``'s ``protocol`` split and write its
    top-``k`` lists into ``out_dir`` (see the module docstring); returns the record also written there as
    ``recommend.json``. Data is prepared (or reused) in ``run_dir/data`` as ``bench`` does; ``best`` reads the
    entry's best tuned parameters from ``run_dir/tuning``. Every input is checked before the fit."""
    tick = progress or (lambda *_: None)
    out_dir, run_dir = Path(out_dir), Path(run_dir)
    if fit_on not in FIT_PARTS:
        raise InputError(f"--fit-on {fit_on!r}: choose one of {', '.join(FIT_PARTS)}")
    if output_format not in FORMATS:
        raise InputError(f"--format {output_format!r}: choose one of {', '.join(FORMATS)}")
    if output_format == "hm-submission" and k != HM_K:
        raise InputError(f"--k {k}: the H&M submission has exactly {HM_K} articles per customer")
    if k < 1:
        raise InputError(f"--k {k}: must be >= 1")
    if chunk_users < 1:
        raise InputError(f"--chunk-users {chunk_users}: must be >= 1")
    _check_out_dir(out_dir)
    index, embedding_name, label = find_variant(config, model, embedding)
    spec = config.models[index]
    data_spec = _dataset(config, spec, dataset)
    protocol = _protocol(config, spec, data_spec.name, protocol)
    seed = config.seeds[0] if seed is None else seed
    params, study, summary = dict(spec.params), None, None
    if best:
        summary = best_study(run_dir, data_spec.name, protocol, label)
        # as a tuned cell is fitted: early stopping on the tuned metric, or the best trial's epochs without a valid part
        params, study = final_params(summary, valid_part=fit_on == "train"), summary.key
    wanted_users = read_user_list(Path(users_file)) if users_file is not None else None
    customer_ids = None
    if output_format == "hm-submission":
        if users_file is not None:
            raise InputError("--users: the H&M submission lists every customer of customers.csv (use --customers)")
        if customers is not None:
            customer_ids = read_customers(Path(customers))

    tick("prepare data", 0, 4)
    atomic_dir, fingerprint = prepare_dataset(data_spec, config, run_dir / "data", (raw_overrides or {}).get(data_spec.name), progress)
    from recsys_cl.data import load_dataset

    prepared = load_dataset(atomic_dir)
    if protocol not in prepared.protocols:
        raise InputError(f"--protocol {protocol}: {atomic_dir} was prepared for {', '.join(prepared.protocols)} only")
    encoded = prepared.merged_encoded(protocol, FIT_PARTS[fit_on])
    refusal = entry_refusal(spec, params, encoded.n_users, encoded.n_items)  # before embeddings and the fit
    if refusal:
        raise InputError(f"models.{index} ({label}) on {data_spec.name}/{protocol}: {refusal}")
    if k > encoded.n_items:
        raise InputError(f"--k {k}: larger than the catalogue of {data_spec.name} ({encoded.n_items} items)")
    if output_format == "hm-submission":
        odd = [i for i in encoded.item_ids[:1000].tolist() if len(i) != HM_ID_DIGITS or not i.isdigit()]
        if odd:
            raise InputError(f"--format hm-submission: {data_spec.name}'s item {odd[0]!r} is not a {HM_ID_DIGITS}-digit H&M article id")
    if output_format == "hm-submission" and customer_ids is None:
        if prepared.raw_dir is None:
            raise InputError(f"{atomic_dir}: no raw folder recorded; pass --customers PATH/customers.csv")
        customer_ids = read_customers(prepared.raw_dir / "customers.csv")
    if wanted_users is not None:
        _check_users(wanted_users, encoded.user_ids, Path(users_file or ""))
    users = np.asarray(wanted_users, dtype=str) if wanted_users is not None else encoded.user_ids
    del prepared  # its cached tables (the item catalogue) are not needed past this point: not held while ranking

    specs = {e.name: e for e in config.embeddings}
    embedding_specs = tuple(specs[p] for p in variant_parts(embedding_name)) if embedding_name != "none" else ()
    configured_study = None
    if summary is None and fit_on != "train":  # untuned: the variant's study (if tuned) kept an epoch for these parameters
        try:
            configured_study = best_study(run_dir, data_spec.name, protocol, label)
        except InputError:
            pass
    params, training_length = kept_training_length(config, Cell(data_spec, protocol, spec, embedding_specs, seed), params, fit_on,
                                                   run_dir, fingerprint, summary, configured_study)  # fmt: skip
    embeddings, embedding_record = None, None
    if embedding_specs:  # learned on the parts the model is fitted on (a co-purchase embedding sees the same purchases)
        paths = [str(learn_embedding(e, atomic_dir, protocol, run_dir / "embeddings", progress, seed=seed, device=config.device,
                                     data_fingerprint=fingerprint, parts=FIT_PARTS[fit_on])) for e in embedding_specs]  # fmt: skip
        embeddings = read_variant(embedding_specs, paths[0] if len(paths) == 1 else paths)
        embedding_record = {"learned_on": list(FIT_PARTS[fit_on]), "files": paths}

    from recsys_cl.models import create

    exclude_seen = config.exclude_seen(protocol)
    fitted = create(spec.model, **{**params, "seed": seed, "device": config.device})
    tick(f"fit {label} on {fit_on}", 1, 4)
    # as a benchmark cell fits (bench.run_cell), so lists score as its cell does: validation in the protocol's mode
    fitted.fit(encoded, embeddings, exclude_seen=exclude_seen)

    record: dict[str, Any] = {
        "config": config.name, "config_file": str(config_path) if config_path else None,
        "entry": {"index": index, "label": label, "model": spec.model, "params": spec.params, "embedding": embedding_name},
        "model": model_run_name(spec.model, params), "params": params, "best_from_study": study,
        "training_length": training_length, "embedding": embedding_record,
        "dataset": data_spec.name, "data_dir": str(atomic_dir), "data_fingerprint": fingerprint, "protocol": protocol,
        "protocol_options": config.protocol_options.of(protocol).model_dump(), "fit_on": fit_on, "fit_parts": list(FIT_PARTS[fit_on]),
        "fitted": _fitted_data(encoded), "time_windows": _time_windows(fitted),
        "exclude_seen": exclude_seen,
        "exclude_seen_rule": f"protocol_options.{protocol}.exclude_seen of the config (as its benchmark cells rank): "
        + ("each user's fitted items are left out of their list" if exclude_seen else "items a user bought before may be recommended again"),
        "seed": seed, "device": resolved_device(config.device), "commit": git_commit(), "code_version": __version__,
        "k": k, "format": output_format, "fit_seconds": float(fitted.fit_seconds or 0.0),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        start = time.perf_counter()
        tick("recommend", 2, 4)
        if output_format == "lists":
            record["files"] = {"parquet": LISTS_PARQUET, "tsv": LISTS_TSV}
            record.update(_write_lists(fitted, users, k, exclude_seen, tmp, chunk_users, tick))
        else:
            assert customer_ids is not None
            record["files"] = {"submission": SUBMISSION}
            record.update(_write_submission(fitted, encoded, customer_ids, exclude_seen, tmp, chunk_users, tick))
        record["recommend_seconds"] = time.perf_counter() - start
        tick("check and move into place", 3, 4)
        write_json(tmp / RECORD, record)
        _move_into_place(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    tick("done", 4, 4)
    return record


# ---------------------------------------------------------------------------------------------- choices
def kept_training_length(config: BenchmarkConfig, cell: Cell, params: dict[str, Any], fit_on: str, run_dir: Path,
                         fingerprint: str, summary: Any | None, configured_study: Any | None = None,
                         ) -> tuple[dict[str, Any], dict[str, Any] | None]:  # fmt: skip
    """``params`` for a fit on ``fit_on``, and how long it trains: fitted on train+valid or all, no valid part is
    left to stop early on, so the model's training length (``epochs``; two-stage: ``num_trees``) is fixed at the
    epoch or round early stopping kept when fitted on train, as the benchmark's refit on train + valid does
    (``bench.final_params``): from the study's best trial (``best``), else from the benchmark cell of this entry,
    embedding and seed in ``run_dir/cells`` (the same cell key: same data, options and parameters), else from
    the configured trial of the variant's study (``configured_study``: the entry's own parameters, as the
    benchmark's ``[default]`` twin refit on train + valid uses). The record says which, or why the configured
    length is used. None: fitted on train (early stopping runs itself)."""
    from recsys_cl.models import MODELS
    from recsys_cl.reporting import read_cell

    backend = MODELS.get(cell.model.model)
    name = backend.training_length_param
    if fit_on == "train" or name is None:
        return params, None
    configured = getattr(backend.Config.model_validate(params), name)
    kept, source, missing = None, None, ""
    if summary is not None:
        kept = best_trial_epoch(summary)
        source = f"study {summary.key}: early stopping on the valid part kept {kept} in its best trial (#{summary.best_trial})"
        missing = f"study {summary.key}'s best trial recorded none"
    else:
        path = run_dir / CELLS_DIR / f"{cell.key(config, fingerprint)}.json"
        history = read_cell(path).history if path.is_file() else {}
        if history.get("valid_metric") and history.get("best_epoch"):  # the cell early-stopped on its valid part
            kept = int(history["best_epoch"])
            source = f"benchmark cell {path}: early stopping on the valid part kept {kept}"
        missing = (f"its benchmark cell {path} did not stop early" if path.is_file() else
                   f"no finished benchmark cell of this entry and seed in {run_dir / CELLS_DIR} (run bench, or use --best)")
        if kept is None and configured_study is not None and (epoch := configured_trial_epoch(configured_study)) is not None:
            kept = epoch
            source = (f"study {configured_study.key}: early stopping on the valid part kept {kept} in its configured trial "
                      f"(#{configured_study.configured_trial}), as the benchmark's [default] twin refit on train + valid")  # fmt: skip
    fixed = with_kept_length(cell.model.model, params, kept)
    if fixed is None:
        return params, {"param": name, "configured": configured, "fitted_with": configured, "kept_by": None,
                        "note": f"all {configured} {name}: no valid part to stop early on, and {missing}"}  # fmt: skip
    return fixed, {"param": name, "configured": configured, "fitted_with": fixed[name], "kept_by": source}


def _dataset(config: BenchmarkConfig, spec: ModelSpec, name: str | None) -> Any:
    usable = [d for d in config.datasets if not d.retrieval_only and (spec.datasets is None or d.name in spec.datasets)]
    if name is None:
        if not usable:
            raise InputError(f"config {config.name!r}: no dataset with users for this model entry")
        return usable[0]
    for d in usable:
        if d.name == name:
            return d
    raise InputError(f"--dataset {name!r}: not a dataset this entry runs on ({', '.join(d.name for d in usable)})")


def _protocol(config: BenchmarkConfig, spec: ModelSpec, dataset: str, name: str | None) -> str:
    usable = [p for p in config.protocols if spec.runs_on(dataset, p)]
    if name is None:
        return usable[0]
    if name not in usable:
        raise InputError(f"--protocol {name!r}: not a protocol this entry runs on ({', '.join(usable)})")
    return name


def _check_out_dir(out_dir: Path) -> None:
    """An output folder is new, empty, or an earlier ``recommend`` output (replaced whole); nothing else."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / RECORD).is_file():
        raise InputError(f"--out {out_dir}: folder exists and is not an earlier recommend output (no {RECORD}); choose another")
    out_dir.parent.mkdir(parents=True, exist_ok=True)


def _check_users(wanted: list[str], known: np.ndarray, path: Path) -> None:
    ids = np.asarray(wanted, dtype=str)
    pos = np.searchsorted(known, ids)
    ok = (pos < len(known)) & (known[np.minimum(pos, len(known) - 1)] == ids)
    if not ok.all():
        first = int(np.flatnonzero(~ok)[0])
        raise InputError(f"--users {path}: user {str(ids[first])!r} (entry {first + 1}) is not in the data "
                         f"({int((~ok).sum())} of {len(ids)} unknown)")  # fmt: skip


def _fitted_data(encoded: Any) -> dict[str, Any]:
    train = encoded.split.train
    end = float(train["timestamp"].max()) if train.height else None
    return {
        "users": int(encoded.n_users), "items": int(encoded.n_items), "interactions": int(train.height),
        "users_with_history": int((np.diff(encoded.train.indptr) > 0).sum()),
        "last_day": datetime.fromtimestamp(end, timezone.utc).date().isoformat() if end is not None else None,
    }  # fmt: skip


def _time_windows(model: Any) -> dict[str, Any]:
    """The model's time windows (its ``*_days`` parameters, defaults included): each counts back from the end of
    the fitted data, so a fit on ``all`` has the windows of the temporal protocol moved to the last day."""
    config = model.config.model_dump()
    windows: dict[str, Any] = {key: value for key, value in config.items() if key.endswith("_days")}
    training = (getattr(model, "diagnostics", None) or {}).get("training")
    if training is not None:  # the two-stage ranker: its label window and the boosting rounds it kept
        windows["ranker_training"] = training
    return windows


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished folder into place; an earlier output is moved aside first and removed after."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{time.time_ns()}")
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- writers
def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _write_lists(model: Any, users: np.ndarray, k: int, exclude_seen: bool, folder: Path, chunk_users: int,
                 tick: Callable[..., None]) -> dict[str, Any]:  # fmt: skip
    """Rank ``users`` chunk by chunk, appending each chunk to the Parquet and TSV files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("user_id", pa.string()), ("item_id", pa.string()), ("rank", pa.int32()), ("score", pa.float32())],
                       metadata={b"recsys_cl.name": str(model.run_name).encode(), b"recsys_cl.k": str(k).encode()})  # fmt: skip
    rows = short = 0
    chunks = _chunks(len(users), chunk_users)
    with pq.ParquetWriter(folder / LISTS_PARQUET, schema) as parquet, open(folder / LISTS_TSV, "w", encoding="utf-8", newline="") as tsv:
        tsv.write("user_id\titem_id\trank\tscore\n")
        for n, part in enumerate(chunks):
            tick(f"recommend: users {part.start:,}-{part.stop:,} of {len(users):,}", n, len(chunks))
            rankings = model.recommend(users[part], k=k, exclude_seen=exclude_seen)
            short += int(((rankings.items >= 0).sum(axis=1) < k).sum())
            frame = rankings.to_frame()
            rows += frame.height
            parquet.write_table(frame.to_arrow().cast(schema))
            frame.write_csv(tsv, separator="\t", include_header=False)
    return {"users": int(len(users)), "rows": rows, "users_with_fewer_than_k": short}


def fallback_items(encoded: Any, n: int, days: float = FALLBACK_DAYS) -> np.ndarray:
    """Indices of the ``n`` most bought items of the last ``days`` days of the fitted data (ties by all-time
    purchases, then by id: ``recent-pop``'s order)."""
    from recsys_cl.models import RecentPop

    recent = RecentPop(days=days)
    recent.fit(encoded)
    scores = recent.item_scores
    return np.lexsort((np.arange(len(scores)), -scores.astype(np.float64)))[:n]


def _write_submission(model: Any, encoded: Any, customers: pl.Series, exclude_seen: bool, folder: Path, chunk_users: int,
                      tick: Callable[..., None]) -> dict[str, Any]:  # fmt: skip
    """The competition's ``customer_id,prediction`` file: the model's 12 articles for customers in the fitted
    data, topped up (or, for customers it has never seen, replaced) by the fallback list; checked, then kept.
    Chunk by chunk of customers: their ids stay a polars column, looked up and written a chunk at a time."""
    fallback = fallback_items(encoded, 2 * HM_K)
    item_ids = pl.Series("item_id", encoded.item_ids, dtype=pl.Utf8)
    with_list = topped_up = 0
    chunks = _chunks(len(customers), chunk_users)
    with open(folder / SUBMISSION, "w", encoding="utf-8", newline="") as fh:
        fh.write("customer_id,prediction\n")
        for n, part in enumerate(chunks):
            tick(f"recommend: customers {part.start:,}-{part.stop:,} of {len(customers):,}", n, len(chunks))
            ids = customers.slice(part.start, part.stop - part.start)
            lists = np.tile(fallback[:HM_K], (len(ids), 1))
            mine = np.flatnonzero(_known(encoded.user_ids, ids))
            if mine.size:
                ranked = model.recommend(ids.gather(mine).to_numpy(), k=HM_K, exclude_seen=exclude_seen).items
                full = (ranked >= 0).all(axis=1)
                lists[mine[full]] = ranked[full]
                for row in np.flatnonzero(~full):  # a short list (few unseen items): fill with fallback items not in it
                    own = ranked[row][ranked[row] >= 0]
                    extra = fallback[~np.isin(fallback, own)][: HM_K - len(own)]
                    lists[mine[row]] = np.concatenate([own, extra])
                with_list += int(mine.size)
                topped_up += int((~full).sum())
            predictions = item_ids.gather(lists.ravel()).reshape((len(ids), HM_K)).arr.join(" ")
            pl.DataFrame({"customer_id": ids, "prediction": predictions}).write_csv(fh, include_header=False)
    check_submission(folder / SUBMISSION, customers, item_ids)
    return {
        "customers": int(len(customers)), "customers_with_model_list": with_list,
        "customers_filled_by_fallback": int(len(customers)) - with_list, "customers_topped_up_by_fallback": topped_up,
        "fallback": f"recent-pop: the {HM_K} most bought articles of the last {FALLBACK_DAYS:g} days of the fitted data",
        "fallback_articles": item_ids.gather(fallback[:HM_K]).to_list(),
    }  # fmt: skip


def _known(vocabulary: np.ndarray, ids: pl.Series) -> np.ndarray:
    """Which of ``ids`` (one chunk) are in the sorted ``vocabulary`` (binary search; only the chunk's ids
    are made fixed-width for it)."""
    if not len(vocabulary):
        return np.zeros(len(ids), dtype=bool)
    wanted = ids.to_numpy().astype(str)
    pos = np.minimum(np.searchsorted(vocabulary, wanted), len(vocabulary) - 1)
    return np.asarray(vocabulary[pos] == wanted)


#: rows of the submission file read back at a time by :func:`check_submission` (~7 MB of text)
_CHECK_ROWS = 50_000


def check_submission(path: Path, customers: Any, articles: Any) -> None:
    """The file has one row for each of ``customers`` in their order (so every customer exactly once) with 12
    distinct 10-digit article ids of ``articles`` each; else InputError naming the line. Read back
    ``_CHECK_ROWS`` lines at a time, so checking a full-size file (1.37M rows, 270 MB) holds one block, not the
    file (pyarrow's streaming CSV reader read ahead: ~400 MB for 8 MB blocks). Lines, not CSV records: the
    file is ours, its values have no quotes or line breaks."""
    import io
    import itertools

    expected = customers if isinstance(customers, pl.Series) else pl.Series("customer_id", customers, dtype=pl.Utf8)
    catalogue = pl.Series("article", articles if not isinstance(articles, set) else sorted(articles), dtype=pl.Utf8).implode()
    with open(path, "rb") as fh:
        header = fh.readline().rstrip(b"\r\n").decode("utf-8", "replace")
        if header != "customer_id,prediction":
            raise InputError(f"{path}: header is {header}, not customer_id,prediction")
        done = 0
        while lines := list(itertools.islice(fh, _CHECK_ROWS)):
            first_line = done + 2  # line 1 is the header
            try:
                frame = pl.read_csv(io.BytesIO(b"".join(lines)), has_header=False, new_columns=["customer_id", "prediction"],
                                    infer_schema=False).fill_null("")  # an empty field is a wrong value, not a gap  # fmt: skip
            except pl.exceptions.PolarsError as exc:
                raise InputError(f"{path}:{first_line}-{first_line + len(lines) - 1}: not two columns "
                                 f"customer_id,prediction ({str(exc).splitlines()[0]})") from exc  # fmt: skip
            del lines
            if frame.width != 2:
                raise InputError(f"{path}:{first_line}: {frame.width} columns, not customer_id,prediction")
            _check_rows(path, frame, expected, done, catalogue)
            done += frame.height
    if done < len(expected):
        raise InputError(f"{path}: {done} rows for {len(expected)} customers; customer {expected[done]!r} has no row")


def _check_rows(path: Path, frame: pl.DataFrame, expected: pl.Series, done: int, catalogue: pl.Series) -> None:
    """One block of :func:`check_submission`: rows ``done + 1 ...`` of the file."""
    first_line = done + 2
    if done + frame.height > len(expected):
        raise InputError(f"{path}:{len(expected) + 2}: a row beyond the {len(expected)} customers")
    differs = (frame["customer_id"] != expected.slice(done, frame.height)).arg_true()
    if differs.len():
        row = int(differs[0])
        raise InputError(f"{path}:{first_line + row}: customer {frame['customer_id'][row]!r} where "
                         f"{expected[done + row]!r} is due (each customer once, in customers.csv order)")  # fmt: skip
    ids = frame["prediction"].str.split(" ")
    wrong = (ids.list.len() != HM_K) | (ids.list.n_unique() != HM_K)
    if wrong.any():
        row = int(wrong.arg_true()[0])
        raise InputError(f"{path}:{first_line + row}: {ids[row].len()} ids, {ids[row].n_unique()} distinct; expected {HM_K} distinct")
    flat = ids.explode()
    known = flat.is_in(catalogue) & flat.str.contains(rf"^\d{{{HM_ID_DIGITS}}}$")
    if not known.all():
        position = int((~known).arg_true()[0])
        raise InputError(f"{path}:{first_line + position // HM_K}: {flat[position]!r} is not a {HM_ID_DIGITS}-digit "
                         "article id of the catalogue")  # fmt: skip
