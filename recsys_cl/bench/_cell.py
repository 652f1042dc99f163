"""One cell: fit a model on its split, rank, score. A task of the executor (picklable inputs, returned
outputs: the driver stores them)."""

from __future__ import annotations

import io
from typing import Any

import polars as pl

from recsys_cl.bench._artifacts import read_variant
from recsys_cl.bench._config import BenchmarkConfig
from recsys_cl.bench._cost import CostMeter
from recsys_cl.bench._plan import Cell, cell_record_base
from recsys_cl.bench._provenance import resolved_device
from recsys_cl.bench._ray import current_node
from recsys_cl.errors import ModelDiverged, shown
from recsys_cl.progress import StageProgress
from recsys_cl.reporting import CellRecord


def run_cell(
    cell: Cell, config_json: str, atomic_dir: str, embedding_path: str | list[str] | None, progress: StageProgress | None = None
) -> tuple[CellRecord, bytes]:
    """Fit, recommend and evaluate one cell; returns its record (without its key, which the caller knows)
    and its per-user scores (Parquet bytes).

    Pure with respect to the results store (the caller writes), so it can run in a Ray worker.
    """
    from recsys_cl.data import load_dataset
    from recsys_cl.evaluation import evaluate
    from recsys_cl.evaluation import check_attribute
    from recsys_cl.models import create

    config = BenchmarkConfig.model_validate_json(config_json)
    tick = progress or (lambda *_: None)
    tick("load data", 0, 4)
    dataset = load_dataset(atomic_dir)
    # tuned with train+valid (and its [default] twin): the valid part joins training for the final fit (test untouched)
    encoded = dataset.refit_encoded(cell.protocol) if cell.refit_on_valid else dataset.encoded(cell.protocol)
    if config.beyond.diversity_attribute is not None:  # a missing column fails before the fit, naming the file
        check_attribute(dataset.items, config.beyond.diversity_attribute, f"{dataset.directory / dataset.name}.item")
    embeddings = read_variant(cell.embeddings, embedding_path)
    params = {**cell.fit_params, "seed": cell.seed, "device": config.device}
    model = create(cell.model.model, **params)
    meter = CostMeter(resolved_device(config.device))  # peak memory and energy per stage (bench._cost)
    exclude_seen = config.exclude_seen(cell.protocol)
    tick("fit", 1, 4)
    try:
        with meter.stage("fit"):  # early stopping validates in the mode the test is scored in (as tuning does)
            model.fit(encoded, embeddings, exclude_seen=exclude_seen)
        tick("recommend", 2, 4)
        with meter.stage("recommend"):
            rankings = model.recommend(None, k=max(config.ks), exclude_seen=exclude_seen)
    except ModelDiverged as exc:  # name the cell and what it was fitted with: the message alone names no model
        raise ModelDiverged(f"{cell.dataset.name}/{cell.protocol}/{cell.label or cell.model.model} seed {cell.seed}: {exc} "
                            f"(fitted with {shown(cell.fit_params)})") from None  # fmt: skip
    recommend_seconds = float(model.recommend_seconds or 0.0)
    tick("evaluate", 3, 4)
    result = evaluate(
        rankings, encoded, part="test", metrics=config.metrics, ks=config.ks, segments=config.segments,
        exclude_seen=exclude_seen, item_table=dataset.items, beyond=config.beyond,
    )  # fmt: skip
    scored = result.to_dict()
    frames = [result.to_frame()]
    placed = None
    if cell.protocol == "cold-item":  # where the new items land in the full ranking (evaluation.placement)
        placed = cold_item_placement(model, encoded, config.ks, exclude_seen, cell.seed)
        frames.append(placed.to_frame())
    record = CellRecord(
        **cell_record_base(cell),
        run_name=model.run_name,
        exclude_seen=exclude_seen,
        summary=scored["summary"],
        segments=scored["segments"],
        n_users=int(len(rankings.users)),
        fit_seconds=float(model.fit_seconds or 0.0),
        recommend_seconds=recommend_seconds,
        history=model.history.to_dict(),
        cost=meter.cost(),
        diagnostics=getattr(model, "diagnostics", None),
        node=current_node(),
        placement=None if placed is None else placed.to_dict(),
        cannot_rank_new_items=model.cannot_rank_new_items if cell.protocol == "cold-item" else None,
    )
    buffer = io.BytesIO()
    pl.concat(frames).write_parquet(buffer)
    tick("done", 4, 4)
    return record, buffer.getvalue()


#: users whose full rankings the placement diagnostic reads (a seeded sample beyond this: each full
#: ranking is n_items entries, 105k per user on H&M)
PLACEMENT_USERS = 2_000
#: scored entries per chunk of full rankings (users x items; ~100 MB of item ids and scores)
PLACEMENT_ENTRIES_PER_CHUNK = 4_000_000


def cold_item_placement(model: Any, encoded: Any, ks: list[int], exclude_seen: bool, seed: int) -> Any:
    """Placement of the test items in ``model``'s full rankings (``recsys_cl.evaluation.placement``), on
    every test user or a seeded sample of ``PLACEMENT_USERS``, ranked a chunk of users at a time."""
    from recsys_cl.evaluation import placement, placement_users

    users = placement_users(encoded, "test", PLACEMENT_USERS, seed)
    step = max(1, PLACEMENT_ENTRIES_PER_CHUNK // max(encoded.n_items, 1))
    chunks = (
        model.recommend(encoded.user_ids[users[start : start + step]], k=encoded.n_items, exclude_seen=exclude_seen)
        for start in range(0, len(users), step)
    )
    return placement(chunks, encoded, "test", ks, exclude_seen=exclude_seen)
