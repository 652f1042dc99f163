"""``report.md`` + self-contained ``report.html`` (figures embedded) + optional LaTeX tables."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from recsys_cl.data._atomic import atomic_output
from recsys_cl.reporting import _plots
from recsys_cl.reporting._results import Results, load_results
from recsys_cl.reporting._tables import Table, all_tables

#: item column whose value colours the embedding map and defines "same category" pairs
CATEGORY_COLUMNS = ("product_group_name", "articleType", "class")

CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
.note { font-size: 12px; color: #555; margin-top: 0; }
img { max-width: 100%; border: 1px solid #eee; margin: 4px; }
.figures { display: flex; flex-wrap: wrap; }
.figures figure { width: 48%; margin: 0.5%; }
"""


def write_report(results_dir: str | Path, out_dir: str | Path, *, latex: bool = False, n_resamples: int = 2000,
                 progress: Callable[[str, int, int], None] | None = None) -> dict[str, Path]:  # fmt: skip
    """Write the report for a results folder; returns the paths written."""
    tick = progress or (lambda *_: None)
    results = load_results(results_dir)
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    tick("tables", 0, 3)
    tables = all_tables(results, n_resamples=n_resamples)
    tick("figures", 1, 3)
    figures = _figures(results, fig_dir)
    tick("write", 2, 3)
    written = {}
    with atomic_output(out_dir / "report.md") as tmp:
        tmp.write_text(_markdown(results, tables, figures, out_dir), encoding="utf-8")
    written["markdown"] = out_dir / "report.md"
    with atomic_output(out_dir / "report.html") as tmp:
        tmp.write_text(_html(results, tables, figures), encoding="utf-8")
    written["html"] = out_dir / "report.html"
    if latex:
        with atomic_output(out_dir / "tables.tex") as tmp:
            tmp.write_text("\n".join(t.to_latex() for _, t in tables), encoding="utf-8")
        written["latex"] = out_dir / "tables.tex"
    tick("done", 3, 3)
    return written


def _figures(results: Results, fig_dir: Path) -> list[tuple[str, str, Path]]:
    """(section, caption, png) for every figure."""
    sig_metric = results.significance.get("metric", "ndcg@10")
    figures: list[tuple[str, str, Path]] = []

    def add(section: str, caption: str, path: Path | None) -> None:
        if path is not None:
            figures.append((section, caption, path))

    for dataset, protocol in results.groups():
        where = f"{dataset} / {protocol}"
        add("main", f"{where}: nDCG@K", _plots.metric_at_k(results, dataset, protocol, fig_dir))
        add("main", f"{where}: {sig_metric} with 95% CI", _plots.bars_with_ci(results, dataset, protocol, fig_dir, sig_metric))
        add("segments", f"{where}: cold vs warm test items", _plots.cold_vs_warm(results, dataset, protocol, fig_dir))
        add("main", f"{where}: fit time vs quality", _plots.fit_time_vs_quality(results, dataset, protocol, fig_dir, sig_metric))
    for key, quality in results.embedding_quality().items():
        add("embeddings", f"{key}: training and validation loss", _plots.training_curves(quality, key, fig_dir))
        loaded = _embedding_with_categories(results, key)
        if loaded is not None:
            vectors, categories = loaded
            add("embeddings", f"{key}: cosine distances, same vs different category", _plots.distance_histograms(vectors, categories, key, fig_dir))
            add("embeddings", f"{key}: 2-D map by category", _plots.embedding_map(vectors, categories, key, fig_dir))
    return figures


def _embedding_with_categories(results: Results, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    from recsys_cl.data import load_dataset
    from recsys_cl.embeddings import read_itememb

    path = Path(results.run.embeddings[key])
    data_dir = results.dataset_dir(key.split("/")[0])
    if not path.is_file() or data_dir is None or not data_dir.is_dir():
        return None
    items = load_dataset(data_dir).items
    if items is None:
        return None
    emb = read_itememb(path)
    column = next((c for c in CATEGORY_COLUMNS if c in items.columns), None)
    if column is None:
        return None
    category = dict(zip(items["item_id"].to_list(), items[column].to_list()))
    # ml-100k's class is a genre list: its first genre is the category.
    cats = np.array([str(category.get(i, "")).split(" ")[0] for i in emb.item_ids.tolist()])
    return emb.vectors, cats


def _headline(results: Results) -> list[str]:
    run = results.run
    return [
        f"Run `{results.name}`: {len(results.cells)} cells, {len(results.groups())} dataset/protocol pairs, "
        f"device {run.device}, executor {run.executor}, git {str(run.git_commit)[:10]}, "
        f"recsys-cl {run.recsys_cl_version}; report written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
    ]


SECTIONS = [
    ("main", "Main comparison"),
    ("tuning", "Tuning: every model tuned alike on the valid part"),
    ("contrastive", "Contrastive vs collaborative: each model with and without item embeddings"),
    ("segments", "Cold start: sparse users, cold and rare items"),
    ("embeddings", "Item embeddings"),
    ("cost", "Cost: time, memory and energy per cell"),
]


def _markdown(results: Results, tables: list[tuple[str, Table]], figures: list[tuple[str, str, Path]], out_dir: Path) -> str:
    parts = [f"# recsys-cl report: {results.name}", "", *_headline(results), ""]
    for section, title in SECTIONS:
        sec_tables = [t for s, t in tables if s == section]
        sec_figs = [(c, p) for s, c, p in figures if s == section]
        if not sec_tables and not sec_figs:
            continue
        parts += [f"## {title}", ""]
        parts += [t.to_markdown() for t in sec_tables]
        parts += [f"![{c}]({p.relative_to(out_dir)})" for c, p in sec_figs]
        parts.append("")
    return "\n".join(parts) + "\n"


def _html(results: Results, tables: list[tuple[str, Table]], figures: list[tuple[str, str, Path]]) -> str:
    body = [f"<h1>recsys-cl report: {html.escape(results.name)}</h1>", *[f"<p>{html.escape(h)}</p>" for h in _headline(results)]]
    for section, title in SECTIONS:
        sec_tables = [t for s, t in tables if s == section]
        sec_figs = [(c, p) for s, c, p in figures if s == section]
        if not sec_tables and not sec_figs:
            continue
        body.append(f"<h2>{html.escape(title)}</h2>")
        body += [t.to_html() for t in sec_tables]
        if sec_figs:
            body.append('<div class="figures">')
            for caption, path in sec_figs:
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                body.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}"/>'
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip
            body.append("</div>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>recsys-cl report: {html.escape(results.name)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")  # fmt: skip

