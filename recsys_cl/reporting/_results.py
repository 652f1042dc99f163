"""Read a results folder written by the benchmark runner (``run.json``, ``cells/*.json``, per-user Parquet).

Only the cells ``run.json`` lists are read: a folder reused across configs keeps cells of earlier configs
(they are reused when a config comes back), and those are not part of this run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cl.embeddings import ComposedResult, EmbeddingQuality
from recsys_cl.errors import InputError
from recsys_cl.reporting._records import CellRecord, CellSummary, RunRecord, StudySummary, read_cell, read_run, read_study


@dataclasses.dataclass
class Results:
    directory: Path
    run: RunRecord
    cells: list[CellRecord]  # in grid order
    #: cells run.json lists whose records are not in the folder (only with ``load_results(allow_missing=True)``)
    missing: list[CellSummary] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run.name or self.directory.name

    @property
    def significance(self) -> dict[str, Any]:
        return self.run.config.get("significance", {"baseline": "pop", "metric": "ndcg@10", "alpha": 0.05})

    def groups(self) -> list[tuple[str, str]]:
        """(dataset, protocol) pairs in grid order."""
        return list(dict.fromkeys((c.dataset, c.protocol) for c in self.cells))

    def cells_of(self, dataset: str, protocol: str) -> list[CellRecord]:
        return [c for c in self.cells if c.dataset == dataset and c.protocol == protocol]

    def per_user(self, cell: CellRecord, metric: str, scope: str = "all") -> pl.DataFrame:
        """``user_id, value`` of one cell for ``metric`` like ``ndcg@10`` (scope: all / cold / rare / warm)."""
        name, _, k = metric.partition("@")
        path = self.directory / "cells" / f"{cell.key}.users.parquet"
        if not path.is_file():
            raise InputError(f"{path}: per-user scores missing")
        try:
            frame = pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(f"{path}: not a readable per-user score file ({str(exc).splitlines()[0]})") from None
        return (
            frame.filter((pl.col("metric") == name) & (pl.col("k") == int(k)) & (pl.col("scope") == scope))
            .select("user_id", "value")
            .sort("user_id")
        )

    def seed_averaged(self, cells: list[CellRecord], metric: str, scope: str = "all") -> pl.DataFrame:
        """Per-user values averaged over the seeds of one (model, embedding) variant."""
        frames = [self.per_user(c, metric, scope) for c in cells]
        return pl.concat(frames).group_by("user_id").agg(pl.col("value").mean()).sort("user_id")

    def locate(self, path: str) -> Path:
        """A path from run.json, which stores them as ``bench`` was given them (relative to its working
        directory, e.g. ``results/x/embeddings/...``, or absolute): found from any working directory, and after
        the results folder was moved, by what follows the folder's own name in it."""
        stored = Path(path)
        candidates = [stored if stored.is_absolute() else self.directory / stored]
        if self.directory.name in stored.parts:
            last = len(stored.parts) - 1 - stored.parts[::-1].index(self.directory.name)
            if stored.parts[last + 1 :]:
                candidates.append(self.directory.joinpath(*stored.parts[last + 1 :]))
        if not stored.is_absolute():
            candidates.append(stored)  # relative to this working directory
        return next((c for c in candidates if c.exists()), candidates[0])

    def embedding_quality(self) -> dict[str, EmbeddingQuality]:
        """``dataset/protocol/name[/seed-S]`` -> quality of every embedding the run learned."""
        found = {}
        for key, path in self.run.embeddings.items():
            quality = Path(f"{self.locate(path)}.quality.json")
            if quality.is_file():
                found[key] = EmbeddingQuality.read(quality)
        return found

    def composed_retrieval(self) -> dict[str, ComposedResult]:
        """``dataset`` -> composed retrieval result, for the datasets the run scored it on."""
        paths = {name: self.locate(path) for name, path in self.run.composed_retrieval.items()}
        return {name: ComposedResult.read(path) for name, path in paths.items() if path.is_file()}

    def studies(self) -> dict[str, StudySummary]:
        """Tuning study key -> its summary, for the studies this run's cells were tuned by."""
        paths = {key: self.locate(path) for key, path in self.run.studies.items()}
        return {key: read_study(path) for key, path in paths.items() if path.is_file()}

    def dataset_dir(self, dataset: str) -> Path | None:
        entry = self.run.datasets.get(dataset)
        return self.locate(entry.dir) if entry is not None else None


def variant_label(cell: CellRecord) -> str:
    return cell.variant


def variants(cells: list[CellRecord]) -> dict[str, list[CellRecord]]:
    """Cells grouped by (model, embedding) label, seeds together, grid order kept."""
    grouped: dict[str, list[CellRecord]] = {}
    for c in cells:
        grouped.setdefault(c.variant, []).append(c)
    return grouped


def load_results(directory: str | Path, *, allow_missing: bool = False) -> Results:
    """Open a results folder; a missing, truncated or foreign ``run.json`` or cell record is an InputError,
    and so is a cell run.json lists whose record is not there (a report or a baseline without it would
    silently lack a model), unless ``allow_missing`` (then ``Results.missing`` lists them)."""
    directory = Path(directory)
    run_path = directory / "run.json"
    if not run_path.is_file():
        raise InputError(f"{directory}: no run.json (is this a results folder from `recsys-cl bench`?)")
    run = read_run(run_path)
    cells, missing = [], []
    for entry in run.cells:
        path = directory / "cells" / f"{entry.key}.json"
        if path.is_file():
            cells.append(read_cell(path))
        else:
            missing.append(entry)
    if missing and not allow_missing:
        named = ", ".join(c.describe() for c in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(f"{directory}: {len(missing)} of the {len(run.cells)} cells run.json lists are missing: {named}; "
                         "re-run `recsys-cl bench` to finish them (report --allow-missing reports without them)")  # fmt: skip
    if not cells and not run.embeddings and not run.composed_retrieval:  # retrieval-only runs have no cells
        raise InputError(f"{directory}: no finished cells")
    return Results(directory, run, cells, missing)


def mean_ci_over_seeds(values: list[float | None]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds (NaN interval for a single seed)."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half
