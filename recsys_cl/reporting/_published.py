"""Our test numbers beside the ones a paper or framework published (``published:`` in a benchmark config).

The published table is a CSV kept in the repository (``benchmarks/published/mmrec.csv``): one row per
dataset and model, with ``dataset``, ``model``, metric columns (``recall@10``, ...) and ``source`` naming
where each number comes from. A run's variant is matched by dataset and by its label up to `` + `` (the
embedding), so ``VBPR + mmrec-image+mmrec-text`` meets the published ``VBPR``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cl.errors import InputError
from recsys_cl.reporting._results import Results, mean_ci_over_seeds, variants
from recsys_cl.reporting._table import Table, fmt

REQUIRED = ("dataset", "model", "source")


def read_published(path: str | Path) -> pl.DataFrame:
    """The published table, checked: the required columns, numbers in the metric columns, one row per (dataset, model)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: published numbers not found")
    try:
        table = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise InputError(f"{path}:1: missing column(s) {', '.join(missing)}")
    metrics = [c for c in table.columns if c not in REQUIRED]
    for metric in metrics:
        values = table[metric].cast(pl.Float64, strict=False)
        bad = values.is_null() & table[metric].is_not_null()
        if bad.any():
            row = int(bad.arg_max())
            raise InputError(f"{path}:{row + 2}: column {metric}: {table[metric][row]!r} is not a number")
    repeated = table.select("dataset", "model").is_duplicated()
    if repeated.any():
        raise InputError(f"{path}:{int(repeated.arg_max()) + 2}: dataset and model repeat an earlier row")
    return table.with_columns([pl.col(m).cast(pl.Float64, strict=False) for m in metrics])


def published_table(results: Results) -> Table | None:
    """Test numbers of the run (mean over seeds) beside the published ones; None when the config names none."""
    path = results.run.config.get("published")
    if not path:
        return None
    if not Path(path).is_file():  # a results folder read elsewhere: say so rather than fail the whole report
        return Table(f"Published numbers beside ours ({Path(path).name})", ["published"], [],
                     note=f"{path}: not found where this report was written; the published numbers are not shown.")  # fmt: skip
    published = read_published(path)
    metrics = [c for c in published.columns if c not in REQUIRED]
    rows, sources = [], {}
    for dataset, protocol in results.groups():
        for label, group in variants(results.cells_of(dataset, protocol)).items():
            model = label.split(" + ")[0]
            match = published.filter((pl.col("dataset") == dataset) & (pl.col("model") == model))
            if match.height == 0:
                continue
            row = match.row(0, named=True)
            sources.setdefault(row["source"], len(sources) + 1)
            cells = [dataset, protocol, label]
            for metric in metrics:
                ours = mean_ci_over_seeds([cell.summary.get(metric) for cell in group])[0]
                theirs = row[metric]
                cells += [fmt(ours), fmt(theirs) if theirs is not None else "–"]
            rows.append([*cells, f"[{sources[row['source']]}]"])
    if not rows:
        return None
    columns = ["dataset", "protocol", "model"] + [f"{m} {who}" for m in metrics for who in ("ours", "published")] + ["source"]
    note = " ".join(f"[{n}] {source}." for source, n in sources.items()) + (
        " Published numbers are the configuration that scored best on the test part; ours are one fixed "
        "configuration (tuned, if at all, on the valid part) scored on test once: see docs/literature-datasets.md."
    )
    return Table(f"Published numbers beside ours ({Path(path).name})", columns, rows, note=note, left={"protocol", "source"})
