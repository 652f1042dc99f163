"""Short tables the command line prints (``Table.to_rich()``): a run's metrics, split sizes, one
evaluation, a regression comparison. Built here so the CLI only parses, calls and prints, and the same
numbers can go into a report or a notebook."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from recsys_cl.reporting._results import Results, mean_ci_over_seeds
from recsys_cl.reporting._table import Table, fmt

_RUN_METRICS = ("hr", "ndcg", "recall", "map")


def run_summary_table(results: Results, significance_metric: str = "ndcg@10") -> Table:
    """One row per grid entry of the run: HR, nDCG, Recall and MAP at the significance metric's cutoff
    (mean over seeds) and mean fit seconds; the report has every metric and cutoff with CIs."""
    cells = results.cells
    have = {name for c in cells for name in c.summary}
    ks = sorted({int(name.partition("@")[2]) for name in have if name.partition("@")[2].isdigit()})
    cutoff = int(significance_metric.partition("@")[2] or 10)
    if ks and cutoff not in ks:
        cutoff = ks[-1]
    shown = [m for m in _RUN_METRICS if f"{m}@{cutoff}" in have]
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for cell in cells:  # grid order
        groups.setdefault((cell.dataset, cell.protocol, cell.variant), []).append(cell)
    rows = []
    for (dataset, protocol, variant), group in groups.items():
        values = [fmt(mean_ci_over_seeds([c.summary.get(f"{m}@{cutoff}") for c in group])[0]) for m in shown]
        rows.append([dataset, protocol, variant, *values, fmt(float(np.mean([c.fit_seconds for c in group])), 1)])
    return Table(
        f"{results.name}: test metrics @{cutoff} (mean over seeds)",
        ["dataset", "protocol", "model", *shown, "fit s"],
        rows,
        left={"protocol", "model"},
    )


def splits_table(rows: Iterable[dict[str, Any]]) -> Table:
    """Users, items, interactions, density and cold items per split part (rows of ``split_summary``)."""
    out = [
        [r["dataset"], r["protocol"], r["part"], f"{r['users']:,}", f"{r['items']:,}", f"{r['interactions']:,}",
         f"{r['density']:.5f}", f"{r['cold_items']:,}"]
        for r in rows
    ]  # fmt: skip
    return Table("splits", ["dataset", "protocol", "part", "users", "items", "interactions", "density", "cold items"], out,
                 left={"protocol", "part"})  # fmt: skip


def evaluation_table(result: Any, title: str) -> Table:
    """One :class:`~recsys_cl.evaluation.EvaluationResult`: a row per metric, a column per cutoff; the note
    says how seen items were treated, how many test items repeat a training item and the ceiling under
    exclusion."""
    rows = [[metric, *[fmt(result.summary.get(f"{metric}@{k}")) for k in result.ks]] for metric in result.metrics]
    summary, top = result.summary, max(result.ks)
    notes = []
    if result.config.get("exclude_seen"):
        notes.append(f"exclude-seen: {int(summary.get('seen_dropped') or 0):,} training items of their users were dropped "
                     "from the lists before scoring (the rest moved up).")  # fmt: skip
    elif summary.get(f"seen_share@{top}") is not None:
        notes.append(f"no-exclude-seen: lists scored as given, repurchases count as hits ({summary[f'seen_share@{top}']:.1%} "
                     f"of the listed top-{top} places hold a training item of the user).")  # fmt: skip
    if summary.get("repeat_share") is not None:
        ceilings = ", ".join(f"{m}@{top} {summary[f'ceiling_{m}@{top}']:.4f}" for m in result.metrics
                             if summary.get(f"ceiling_{m}@{top}") is not None)  # fmt: skip
        notes.append(f"{result.part} items repeating a training item: {summary['repeat_share']:.1%}; best reachable with "
                     f"training items excluded: {ceilings}.")  # fmt: skip
    return Table(title, ["metric", *[f"@{k}" for k in result.ks]], rows, note=" ".join(notes))


def regression_table(rows: list[dict[str, Any]], title: str) -> Table:
    """Rows of ``compare_to_baseline_file``: baseline vs current value of each tracked metric and its status."""
    out = [
        [r["dataset"], r["protocol"], r["variant"], r["metric"], fmt(r["baseline"]),
         fmt(r["current"]), "–" if r["change"] is None else f"{r['change']:+.2%}",
         "–" if r["p"] is None else f"{r['p']:.3f}", r["status"]]
        for r in rows
    ]  # fmt: skip
    columns = ["dataset", "protocol", "model", "metric", "baseline", "current", "change", "p (drop)", "status"]
    return Table(title, columns, out, left={"protocol", "model", "metric", "status"})


def tuning_table(summaries: Iterable[Any], metric: str, title: str) -> Table:
    """One row per study (``StudySummary`` of ``recsys_cl.bench``): trials done of the budget, pruned and failed
    trials, the best validation value and parameters, and the seconds its trials took."""
    rows = []
    for s in summaries:
        params = ", ".join(f"{k}={_short(v)}" for k, v in s.best_params.items()) or "–"
        rows.append([
            s.dataset, s.protocol, s.label, s.embedding, f"{s.trials_completed + s.trials_pruned}/{s.budget}",
            str(s.trials_pruned), str(s.trials_failed), fmt(s.best_value), params, f"{s.trial_seconds:.0f}",
        ])  # fmt: skip
    columns = ["dataset", "protocol", "model", "embedding", "done", "pruned", "failed", f"best {metric}", "best parameters", "s"]
    return Table(title, columns, rows, left={"protocol", "model", "embedding", "best parameters"})


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
