"""``report.md`` + self-contained ``report.html`` (figures embedded) + optional LaTeX tables.

The page is laid out for a reader at 1200-1400 px: figures are drawn at the width they are shown
(``_plots.WIDE`` / ``_plots.HALF``), every table sits in its own horizontally scrolling box, so a wide
table never widens the page, and the headline figures come first.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from recsys_cl.files import staged_outputs
from recsys_cl.reporting import _plots
from recsys_cl.reporting._results import Results, load_results, variants
from recsys_cl.reporting._table import markdown_text
from recsys_cl.reporting._tables import MAIN_METRICS, Table, all_tables, baseline_label, variant_intervals

#: item column whose value colours the embedding map and defines "same category" pairs
CATEGORY_COLUMNS = ("product_group_name", "articleType", "class")

#: (key, title) in page order. Tables and figures name their section by key; a key not listed here
#: (a section added later) is still shown, after these, titled by its key.
SECTIONS = [
    ("glance", "At a glance"),
    ("main", "Main comparison"),
    ("published", "Published numbers beside ours"),
    ("contrastive", "Contrastive vs collaborative: item embeddings as a factor"),
    ("segments", "Cold start: sparse users, cold and rare items"),
    ("two-stage", "Two-stage: the H&M competition's winning recipe, candidates and ranker"),
    ("tuning", "Tuning: every model tuned alike on the valid part"),
    ("cost", "Cost: time, memory and energy per cell"),
    ("embeddings", "Item embeddings"),
    ("legend", "Legend: labels and the models they stand for"),
]

CSS = """
html { -webkit-text-size-adjust: 100%; }
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em auto; padding: 0 16px;
       max-width: 1160px; color: #222; line-height: 1.4; }
h1 { font-size: 26px; margin-bottom: 0.2em; }
h2 { font-size: 21px; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 15px; margin: 1.2em 0 0.3em; }
.run { color: #444; font-size: 14px; margin-top: 0; }
nav { font-size: 14px; margin: 0.6em 0 1em; }
nav a { margin-right: 1.2em; color: #0b5cad; text-decoration: none; }
.table-box { max-width: 100%; overflow-x: auto; margin: 0.3em 0 0.9em; }
table { border-collapse: collapse; margin: 0.3em 0; font-size: 13px; }
th, td { border: 1px solid #d4d4d4; padding: 3px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; position: sticky; top: 0; }
tbody tr:nth-child(even) { background: #fafafa; }
.note { font-size: 12px; color: #555; margin-top: 0.2em; max-width: 1160px; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; margin: 0.6em 0 1em; }
figure { margin: 0; max-width: 100%; }
figure.wide { flex: 1 1 100%; }
figure.half { flex: 0 1 calc(50% - 8px); }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #444; margin-top: 0.3em; }
"""


@dataclasses.dataclass
class ReportFigure:
    """One figure of the report: the section it goes in, its caption, its file stem under ``figures/``,
    whether it spans the page (else half of it), the matplotlib figure itself, and the ``dataset /
    protocol`` it shows, if one (it then follows that pair's table of its section)."""

    section: str
    caption: str
    name: str
    wide: bool
    figure: Figure
    group: str = ""


class Shown(NamedTuple):
    """A saved figure as the page places it."""

    section: str
    caption: str
    wide: bool
    path: Path
    group: str


def write_report(results_dir: str | Path, out_dir: str | Path, *, latex: bool = False, n_resamples: int = 2000,
                 progress: Callable[[str, int, int], None] | None = None, svg: bool | None = None,
                 allow_missing: bool = False) -> dict[str, Path]:  # fmt: skip
    """Write the report for a results folder; returns the paths written. ``svg``: also write each figure as
    SVG (default: with ``latex``, the paper's tables and vector figures together). Every file is built in a
    staging folder and moved into ``out_dir`` only when all are done (a full disk leaves nothing half-written).
    A run whose cells are not all there is refused (InputError naming them) unless ``allow_missing``: then
    the report's first line says which cells it lacks."""
    from threadpoolctl import threadpool_limits

    svg = latex if svg is None else svg
    tick = progress or (lambda *_: None)
    results = load_results(results_dir, allow_missing=allow_missing)
    out_dir = Path(out_dir)
    with staged_outputs(out_dir) as staging:
        fig_dir = staging / "figures"
        # The report's matrix work is small (sign-flip products over a few thousand users, 2-D PCA maps): BLAS
        # threads cost more than they save, badly so on shared cores (quickstart report: 45 -> 20 CPU seconds).
        with threadpool_limits(1, "blas"):
            tick("tables", 0, 3)
            tables = all_tables(results, n_resamples=n_resamples)
            tick("figures", 1, 3)
            figures = [Shown(f.section, f.caption, f.wide, _plots.save(f.figure, fig_dir / f.name, svg), f.group)
                       for f in report_figures(results, n_resamples)]  # fmt: skip
        tick("write", 2, 3)
        staged = {"markdown": staging / "report.md", "html": staging / "report.html"}
        staged["markdown"].write_text(_markdown(results, tables, figures, staging), encoding="utf-8")
        staged["html"].write_text(_html(results, tables, figures), encoding="utf-8")
        if latex:
            staged["latex"] = staging / "tables.tex"
            staged["latex"].write_text("\n".join(t.to_latex() for _, t in tables), encoding="utf-8")
    tick("done", 3, 3)
    return {kind: out_dir / path.relative_to(staging) for kind, path in staged.items()}


def missing_cells_line(results: Results) -> str:
    """The report's first line for a run some of whose cells are missing ('' when none is)."""
    if not results.missing:
        return ""
    named = ", ".join(c.describe() for c in results.missing[:10]) + (" and more" if len(results.missing) > 10 else "")
    return f"INCOMPLETE: this report lacks {len(results.missing)} of {len(results.run.cells)} cells of the run ({named})"


def report_figures(results: Results, n_resamples: int = 2000) -> Iterator[ReportFigure]:
    """Every figure the report shows, in page order (built one at a time: a caller saves and drops each)."""
    metric = results.significance.get("metric", "ndcg@10")
    # the config's order first, so an embedding keeps its colour from one report of the same setup to the next
    configured = [e.get("name") for e in results.run.config.get("embeddings", []) if isinstance(e, dict)]
    colours = _plots.embedding_colours([*configured, *(c.embedding for c in results.cells)])
    # the main table's own intervals: its metrics, so the bootstrap seeds (and so the CIs) are the same
    metrics = list(dict.fromkeys([*MAIN_METRICS, metric]))
    points: dict[tuple[str, str], list[_plots.Point]] = {}
    for dataset, protocol in results.groups():
        intervals = variant_intervals(results, dataset, protocol, metrics, n_resamples=n_resamples)
        if all(metric in per_metric for per_metric in intervals.values()):
            points[(dataset, protocol)] = _plots.points(results, dataset, protocol, {k: v[metric] for k, v in intervals.items()})
    panels = {f"{dataset} / {protocol}": ps for (dataset, protocol), ps in points.items()}
    baselines = {f"{d} / {p}": baseline_label(results.significance.get("baseline", "pop"), variants(results.cells_of(d, p)))
                 for d, p in points}  # fmt: skip

    def make(section: str, caption: str, name: str, wide: bool, fig: Figure | None, group: str = "") -> Iterator[ReportFigure]:
        if fig is not None:
            yield ReportFigure(section, caption, name, wide, fig, group)

    yield from make("glance", f"Each model with each item embedding (coloured) against the same model without one (open "
                    f"grey): {metric}, 95% bootstrap CIs over users.", _plots.slug("headline", metric), True,
                    _plots.dumbbells(panels, metric, colours))  # fmt: skip
    yield from make("glance", f"All models ranked by {metric} (95% bootstrap CI over users), coloured by the item embedding they use.",
                    _plots.slug("ranked", metric), True,
                    _plots.ranked_bars(panels, metric, colours, baselines))  # fmt: skip
    for (dataset, protocol), ps in points.items():
        order = [p.label for p in sorted(ps, key=lambda p: -p.mean)]
        yield from make("segments", f"{dataset} / {protocol}: {metric} per segment (models ranked by all users' {metric}).",
                        _plots.slug("segments", dataset, protocol), True,
                        _plots.segment_dots(results, dataset, protocol, metric, order), f"{dataset} / {protocol}")  # fmt: skip
    for (dataset, protocol), ps in points.items():
        yield from make("cost", f"{dataset} / {protocol}: {metric} against mean fit seconds.", _plots.slug("cost", dataset, protocol),
                        True, _plots.accuracy_vs_cost(ps, f"{dataset} / {protocol}", metric, colours), f"{dataset} / {protocol}")  # fmt: skip
    studies: dict[tuple[str, str], list] = {}
    by_key = results.studies()
    # in the tables' order (the grid's; studies no cell names after them), one panel per study that searched
    order = dict.fromkeys([*(c.study for c in results.cells if c.study in by_key), *by_key])
    for study in (by_key[key] for key in order):
        if len(study.best_so_far) > 1:  # one trial: nothing was tuned, nothing to converge
            studies.setdefault((study.dataset, study.protocol), []).append(study)
    for (dataset, protocol), group in studies.items():
        yield from make("tuning", f"{dataset} / {protocol}: did each search converge? Best valid score so far by trial, "
                        "one panel per tuned variant.", _plots.slug("tuning", dataset, protocol), True,
                        _plots.tuning_convergence(f"{dataset} / {protocol}", group), f"{dataset} / {protocol}")  # fmt: skip
    for key, quality in results.embedding_quality().items():
        yield from make("embeddings", f"{key}: training and validation loss", _plots.slug("loss", key), False,
                        _plots.training_curves(quality, key))  # fmt: skip
        loaded = _embedding_with_categories(results, key)
        if loaded is not None:
            vectors, categories = loaded
            yield from make("embeddings", f"{key}: cosine distances, same vs different category", _plots.slug("dist", key), False,
                            _plots.distance_histograms(vectors, categories, key))  # fmt: skip
            yield from make("embeddings", f"{key}: 2-D map by category", _plots.slug("map", key), False,
                            _plots.embedding_map(vectors, categories, key))  # fmt: skip


def _embedding_with_categories(results: Results, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    from recsys_cl.data import load_dataset
    from recsys_cl.embeddings import read_itememb

    path = results.locate(results.run.embeddings[key])
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


def _headline(results: Results) -> str:
    """The run line, plain text: the name is the page's title already (as code it would need its own escaping)."""
    run = results.run
    return (
        f"Run {results.name}: {len(results.cells)} cells, {len(results.groups())} dataset/protocol pairs, "
        f"device {run.device}, executor {run.executor}, git {str(run.git_commit)[:10]}"
        f"{f' (at its end {run.git_commit_at_end[:10]})' if run.git_commit_at_end else ''}, "
        f"recsys-cl {run.recsys_cl_version}; report written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC."
    )


Block = Table | list[Shown]


def _sections(tables: list[tuple[str, Table]], figures: list[Shown]) -> Iterator[tuple[str, str, list[Block]]]:
    """(key, title, blocks) of every section that has something, in page order. Blocks are tables and runs
    of figures: a figure of one dataset / protocol follows that pair's table, the rest come after the
    tables (before them in "glance", which leads with its figures)."""
    titles = dict(SECTIONS)
    keys = [*titles, *dict.fromkeys(s for s, _ in tables), *dict.fromkeys(f.section for f in figures)]
    for key in dict.fromkeys(keys):
        sec_tables = [t for s, t in tables if s == key]
        left = [f for f in figures if f.section == key]
        if not sec_tables and not left:
            continue
        blocks: list[Block] = []
        for table in sec_tables:
            blocks.append(table)
            group = table.title.split(":")[0]
            mine = [f for f in left if f.group and f.group == group]
            left = [f for f in left if f not in mine]
            if mine:
                blocks.append(mine)
        if left:
            blocks = [left, *blocks] if key == "glance" else [*blocks, left]
        yield key, titles.get(key, key.replace("-", " ").replace("_", " ").capitalize()), blocks


def _markdown(results: Results, tables: list[tuple[str, Table]], figures: list[Shown], out_dir: Path) -> str:
    incomplete = missing_cells_line(results)
    parts = [f"**{markdown_text(incomplete)}**", ""] if incomplete else []
    parts += [f"# recsys-cl report: {markdown_text(results.name)}", "", markdown_text(_headline(results)), ""]
    for _, title, blocks in _sections(tables, figures):
        parts += [f"## {title}", ""]
        for block in blocks:
            if isinstance(block, Table):
                parts.append(block.to_markdown())
            else:
                parts += [f"![{markdown_text(f.caption)}]({quote(f.path.relative_to(out_dir).as_posix())})\n" for f in block]
        parts.append("")
    return "\n".join(parts) + "\n"


def _html(results: Results, tables: list[tuple[str, Table]], figures: list[Shown]) -> str:
    sections = list(_sections(tables, figures))
    nav = "".join(f'<a href="#{key}">{html.escape(title.split(":")[0])}</a>' for key, title, _ in sections)
    incomplete = missing_cells_line(results)
    body = [f'<p class="incomplete"><b>{html.escape(incomplete)}</b></p>'] if incomplete else []
    body += [f"<h1>recsys-cl report: {html.escape(results.name)}</h1>", f'<p class="run">{html.escape(_headline(results))}</p>',
            f"<nav>{nav}</nav>"]  # fmt: skip
    for key, title, blocks in sections:
        body.append(f'<section id="{html.escape(key)}"><h2>{html.escape(title)}</h2>')
        for block in blocks:
            body.append(f'<div class="table-box">{block.to_html()}</div>' if isinstance(block, Table) else _html_figures(block))
        body.append("</section>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>recsys-cl report: {html.escape(results.name)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>")  # fmt: skip


def _html_figures(figures: list[Shown]) -> str:
    out = ['<div class="figures">']
    for f in figures:
        data = base64.b64encode(f.path.read_bytes()).decode("ascii")
        out.append(f'<figure class="{"wide" if f.wide else "half"}"><img alt="{html.escape(f.caption)}" '
                   f'src="data:image/png;base64,{data}"/><figcaption>{html.escape(f.caption)}</figcaption></figure>')  # fmt: skip
    out.append("</div>")
    return "".join(out)
