"""What each cell cost (seconds, peak memory, energy): ``costs.csv`` and the report's cost table.

Costs go to their own ``OUT/costs.csv`` (one row per cell), not into ``metrics.csv``: metrics.csv is the
table of what a model scored, per segment, with per-user values behind every number for the significance
tests and ``compare``; costs are per cell (no segments, no per-user values) and are not repeatable (they
move with the machine and its load), so a re-run of the same cells would change metrics.csv and every
consumer of it would have to tell costs from scores. Both files carry the same cell columns, so they join
on (dataset, protocol, model, label, embedding, seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cl.files import atomic_output
from recsys_cl.reporting._records import CellRecord
from recsys_cl.reporting._results import Results, mean_ci_over_seeds, variants
from recsys_cl.reporting._table import Table, fmt

COSTS_CSV_SCHEMA = {
    "dataset": pl.Utf8, "protocol": pl.Utf8, "model": pl.Utf8, "label": pl.Utf8, "embedding": pl.Utf8, "seed": pl.Int64,
    "fit_seconds": pl.Float64, "recommend_seconds": pl.Float64,
    "fit_rss_before_mib": pl.Float64, "fit_peak_rss_mib": pl.Float64, "fit_rss_added_mib": pl.Float64,
    "recommend_rss_before_mib": pl.Float64, "recommend_peak_rss_mib": pl.Float64, "recommend_rss_added_mib": pl.Float64,
    "fit_gpu_peak_mib": pl.Float64, "recommend_gpu_peak_mib": pl.Float64,
    "fit_energy_wh": pl.Float64, "recommend_energy_wh": pl.Float64, "energy_wh": pl.Float64, "co2e_g": pl.Float64,
    "memory_method": pl.Utf8, "cpu_power": pl.Utf8, "carbon_intensity_g_per_kwh": pl.Float64,
}  # fmt: skip


def cost_row(record: CellRecord) -> dict[str, Any]:
    """One row of costs.csv (cost columns None for a cell recorded before costs were measured)."""
    row: dict[str, Any] = {
        "dataset": record.dataset, "protocol": record.protocol, "model": record.model, "label": record.variant,
        "embedding": record.embedding, "seed": record.seed, "fit_seconds": record.fit_seconds,
        "recommend_seconds": record.recommend_seconds,
    }  # fmt: skip
    cost = record.cost
    for stage in ("fit", "recommend"):
        part = getattr(cost, stage) if cost is not None else None
        row[f"{stage}_rss_before_mib"] = part.rss_before_mib if part else None
        row[f"{stage}_peak_rss_mib"] = part.peak_rss_mib if part else None
        row[f"{stage}_rss_added_mib"] = part.rss_added_mib if part else None
        row[f"{stage}_gpu_peak_mib"] = part.gpu_peak_mib if part else None
        row[f"{stage}_energy_wh"] = part.energy_wh if part else None
    energy = cost.energy if cost is not None else None
    row.update(
        energy_wh=cost.energy_wh if cost else None, co2e_g=cost.co2e_g if cost else None,
        memory_method=cost.memory_method if cost else None, cpu_power=energy.cpu_power or None if energy else None,
        carbon_intensity_g_per_kwh=energy.carbon_intensity_g_per_kwh if energy else None,
    )  # fmt: skip
    return row


def cost_frame(records: list[CellRecord]) -> pl.DataFrame:
    """Every cell's cost as a frame (the rows of costs.csv): for plots of accuracy against cost."""
    return pl.DataFrame([cost_row(r) for r in records], schema=COSTS_CSV_SCHEMA, orient="row")


def write_costs_csv(records: list[CellRecord], path: str | Path) -> None:
    with atomic_output(Path(path)) as tmp:
        cost_frame(records).write_csv(tmp)


def cost_table(results: Results, dataset: str, protocol: str, metric: str | None = None) -> Table:
    """Per variant, means over seeds: ``metric`` (the significance spec's by default), fit and recommend
    seconds, peak RSS and what the stages added to it, GPU peak (when any cell used CUDA), energy and CO2e."""
    cells = results.cells_of(dataset, protocol)
    metric = metric or results.significance.get("metric", "ndcg@10")
    groups = variants(cells)
    costed = [c.cost for c in cells if c.cost is not None]
    gpu = any(s.gpu_peak_mib is not None for c in costed for s in (c.fit, c.recommend))
    columns = ["model", metric, "fit s", "recommend s", "peak RSS MiB", "RSS added MiB", *(["GPU peak MiB"] * gpu),
               "energy Wh", "CO2e g"]  # fmt: skip
    rows = []
    for label, group in groups.items():
        with_cost = [c.cost for c in group if c.cost is not None]

        def mean(values: list[float | None]) -> float | None:
            present = [v for v in values if v is not None]
            return float(np.mean(present)) if present and len(present) == len(values) else None

        row = [
            label, fmt(mean_ci_over_seeds([c.summary.get(metric) for c in group])[0]),
            _sig(mean([c.fit_seconds for c in group])), _sig(mean([c.recommend_seconds for c in group])),
            _sig(mean([max(c.fit.peak_rss_mib, c.recommend.peak_rss_mib) for c in with_cost]) if with_cost else None),
            _sig(mean([max(c.fit.rss_added_mib, c.recommend.rss_added_mib) for c in with_cost]) if with_cost else None),
        ]  # fmt: skip
        if gpu:
            row.append(_sig(mean([_max_or_none(c.fit.gpu_peak_mib, c.recommend.gpu_peak_mib) for c in with_cost])
                            if with_cost else None))  # fmt: skip
        row += [_sig(mean([c.energy_wh for c in with_cost]) if with_cost else None),
                _sig(mean([c.co2e_g for c in with_cost]) if with_cost else None)]  # fmt: skip
        rows.append(row)
    return Table(f"{dataset} / {protocol}: cost per cell", columns, rows, note=_note(cells, costed))


def cost_tables(results: Results) -> list[Table]:
    """:func:`cost_table` for every (dataset, protocol) of the run."""
    return [cost_table(results, dataset, protocol) for dataset, protocol in results.groups()]


def _note(cells: list[CellRecord], costed: list[Any]) -> str:
    seeds = sorted({c.seed for c in cells})
    parts = [f"Means over seeds {seeds}. Peak RSS: the process's peak during fit or recommend; added: how far the "
             "stage raised it above its start (what the model needed)."]  # fmt: skip
    methods = sorted({c.memory_method for c in costed})
    if methods:
        parts.append(f"Memory method: {', '.join(methods)} (vmhwm = the kernel's exact high-water mark per stage).")
    setups = [c.energy for c in costed if c.energy is not None]
    notes = list(dict.fromkeys(s.note for s in setups if s.note))
    errors = list(dict.fromkeys(s.error for s in setups if s.error))
    if notes:
        tool = setups[0].tool
        parts.append(f"Energy: {tool}, fit + recommend, {setups[0].tracking_mode} mode; {notes[0]}"
                     + (f" ({len(notes) - 1} other setups among the cells)" if len(notes) > 1 else "") + ".")  # fmt: skip
    if errors:
        parts.append(f"No energy figure for some cells: {errors[0]}.")
    missing = len(cells) - len(costed)
    if missing:
        parts.append(f"{missing} cells were recorded before costs were measured ('–').")
    return " ".join(parts)


def _max_or_none(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _sig(x: float | None) -> str:
    """Three significant digits (costs span orders of magnitude: 0.002 Wh to 40 Wh), whole numbers from 100 up."""
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
