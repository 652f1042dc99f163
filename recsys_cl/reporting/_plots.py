"""The report's figures (matplotlib). Each builder returns a :class:`~matplotlib.figure.Figure` drawn at
the size the report shows it (or None when the run has nothing to show); :func:`save` writes the PNG (and an SVG
for papers).

Figures are made at :data:`DPI` in inches that match the page (:data:`WIDE` = the report's content
width, :data:`HALF` = one of two columns), so a 9-point label is about 12 px on screen and no figure is
scaled down until its text cannot be read. Labels are the variants' short labels (``CellRecord.variant``);
long ones get the room they need from matplotlib's constrained layout instead of being cut.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from recsys_cl.embeddings import EmbeddingQuality
from recsys_cl.embeddings import principal_components
from recsys_cl.reporting._records import StudySummary
from recsys_cl.reporting._results import Results, mean_ci_over_seeds, variants

DPI = 100
#: inches: the report's content width (1160 px at DPI) and one of its two figure columns
WIDE, HALF = 11.6, 5.7
FONT, SMALL = 9.0, 8.5
PLAIN_COLOUR = "#8c8c8c"
#: one colour per embedding, in the run's order (Okabe-Ito: tells apart with colour-blind eyes too)
EMBEDDING_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
SEGMENT_MARKERS = ["o", "s", "D", "^", "v", "P", "X", "*"]
#: matplotlib's ten categorical colours, for lines with no meaning in their colour (tuning studies)
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


@dataclasses.dataclass(frozen=True)
class Point:
    """One variant of a (dataset, protocol) as the figures show it: mean and 95% CI of a metric
    (the main table's interval), mean fit seconds, and the label of its plain twin (the same model
    without an item embedding; None for plain variants and embedded ones without a twin)."""

    label: str
    embedding: str
    mean: float
    low: float
    high: float
    fit_seconds: float
    twin: str | None = None


def points(results: Results, dataset: str, protocol: str, intervals: dict[str, tuple[float, float, float]]) -> list[Point]:
    """The variants of one (dataset, protocol) in grid order; ``intervals``: label -> (mean, low, high) of one
    metric (``_tables.variant_intervals``). Twins pair as in the embeddings-as-a-factor table (``plain_twins``).
    Variants that declare they cannot rank new items (cold-item cells) are left out, as the tables print no
    number for them."""
    from recsys_cl.reporting._tuning import plain_twins

    cells = results.cells_of(dataset, protocol)
    groups = variants(cells)
    twins = plain_twins(results, cells)
    out = []
    for label, group in groups.items():
        if any(c.cannot_rank_new_items for c in group):  # the tables say why; a plotted number would read as a finding
            continue
        mean, low, high = intervals[label]
        twin = twins.get(label)
        fit = float(np.mean([c.fit_seconds for c in group]))
        out.append(Point(label, group[0].embedding, mean, low, high, fit, twin))
    return out


def embedding_colours(names: Iterable[str]) -> dict[str, str]:
    """Embedding name -> colour, the same in every figure of a report ("none" grey)."""
    colours = {"none": PLAIN_COLOUR}
    for name in dict.fromkeys(names):
        if name not in colours:
            colours[name] = EMBEDDING_COLOURS[(len(colours) - 1) % len(EMBEDDING_COLOURS)]
    return colours


def save(fig: Figure, path: Path, svg: bool = False) -> Path:
    """Write ``path`` .png (and .svg, for papers); returns the PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"), dpi=DPI)
    if svg:
        # The layout is in figure fractions and font sizes in points: the PNG's layout holds for the SVG
        # too, and solving it again would double the time spent in matplotlib.
        fig.set_layout_engine("none")
        fig.savefig(path.with_suffix(".svg"))
    return path.with_suffix(".png")


def slug(*parts: str) -> str:
    """A file stem from names (``hm-synth/loo`` -> ``hm-synth_loo``)."""
    return "-".join(p.replace("/", "_").replace(" ", "").replace("@", "-at-") for p in parts)


# ----------------------------------------------------------------------------------------------- helpers
def _figure(width: float, height: float) -> Figure:
    # a bare Figure on an Agg canvas (no pyplot): nothing global to close or leak between figures
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Any, x_ticks: int | None = None) -> None:
    """The figures' look; ``x_ticks``: at most that many x ticks (a half-width panel fits five or six numbers)."""
    ax.tick_params(labelsize=SMALL)
    if x_ticks is not None:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=x_ticks, steps=[1, 2, 2.5, 5, 10]))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e6e6e6", lw=0.8)
    ax.set_axisbelow(True)


def _panel_grid(fig: Figure, n: int, columns: int, heights: Sequence[float] | None = None) -> list[Any]:
    """``n`` panels, ``columns`` a row; ``heights``: each grid row's relative height (default equal)."""
    axes = fig.subplots(math.ceil(n / columns), columns, squeeze=False,
                        gridspec_kw={"height_ratios": heights} if heights else None).ravel()  # fmt: skip
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def _row_heights(counts: Sequence[int], columns: int, per_row: float, fixed: float) -> list[float]:
    """Inches of each grid row of panels: its tallest panel's ``counts`` x ``per_row`` plus ``fixed`` (title,
    axis labels), so a panel of four rows is not drawn as tall as one of twenty."""
    return [per_row * max(counts[i:i + columns]) + fixed for i in range(0, len(counts), columns)]


def _xerr(ps: Sequence[Point]) -> np.ndarray:
    """Asymmetric error bars; an undefined interval (NaN) draws none."""
    low = np.array([p.mean - p.low for p in ps], dtype=float)
    high = np.array([p.high - p.mean for p in ps], dtype=float)
    return np.nan_to_num(np.vstack([low, high]).clip(min=0), nan=0.0)


def _finite(ps: Iterable[Point]) -> list[Point]:
    return [p for p in ps if not math.isnan(p.mean)]


# ----------------------------------------------------------------------------------------------- figures
def dumbbells(panels: dict[str, list[Point]], metric: str, colours: dict[str, str]) -> Figure | None:
    """The headline: each embedded variant beside its plain twin (a dumbbell), 95% CIs, one panel per
    dataset x protocol; the dashed line is the best variant without an embedding (what to beat)."""
    panels = {title: ps for title, ps in panels.items() if any(p.embedding != "none" for p in _finite(ps))}
    if not panels:
        return None
    columns = 2 if len(panels) > 1 else 1
    heights = _row_heights([sum(p.embedding != "none" for p in _finite(ps)) for ps in panels.values()], columns, 0.3, 1.1)
    fig = _figure(WIDE, sum(heights) + 0.5)
    for ax, (title, ps) in zip(_panel_grid(fig, len(panels), columns, heights), panels.items()):
        _style(ax, x_ticks=6)
        by_label = {p.label: p for p in ps}
        embedded = [p for p in _finite(ps) if p.embedding != "none"]
        for y, p in enumerate(embedded):
            twin = by_label.get(p.twin) if p.twin else None
            if twin is not None and not math.isnan(twin.mean):
                ax.plot([twin.mean, p.mean], [y, y], color="#bdbdbd", lw=3, solid_capstyle="round", zorder=1)
                ax.errorbar([twin.mean], [y], xerr=_xerr([twin]), fmt="o", ms=6, color=PLAIN_COLOUR, mfc="white",
                            mew=1.5, elinewidth=1, capsize=2, zorder=2)  # fmt: skip
            ax.errorbar([p.mean], [y], xerr=_xerr([p]), fmt="o", ms=6, color=colours.get(p.embedding, "k"),
                        elinewidth=1, capsize=2, zorder=3)  # fmt: skip
        plain = [p for p in _finite(ps) if p.embedding == "none"]
        if plain:
            ax.axvline(max(p.mean for p in plain), color="#555555", ls="--", lw=1, zorder=0)
        ax.set_yticks(range(len(embedded)), [p.label for p in embedded], fontsize=SMALL)
        ax.set_ylim(len(embedded) - 0.5, -0.5)  # first row on top
        ax.set_title(title, fontsize=FONT + 1, loc="left")
        ax.set_xlabel(f"{metric} (95% CI)", fontsize=FONT)
    handles = [Line2D([], [], marker="o", ls="", color=PLAIN_COLOUR, mfc="white", mew=1.5, label="same model, no embedding")]
    handles += [Line2D([], [], marker="o", ls="", color=c, label=f"with {name}") for name, c in colours.items()
                if name != "none" and any(p.embedding == name for ps in panels.values() for p in ps)]  # fmt: skip
    handles.append(Line2D([], [], color="#555555", ls="--", lw=1, label="best model without embedding"))
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=SMALL, frameon=False)
    return fig


def ranked_bars(panels: dict[str, list[Point]], metric: str, colours: dict[str, str],
                baselines: dict[str, str] | None = None) -> Figure | None:  # fmt: skip
    """Every variant as a horizontal bar, best on top, 95% CI whiskers; one panel per dataset x protocol;
    bars coloured by the item embedding they use; ``baselines``: panel -> label of its baseline (dotted line)."""
    baselines = baselines or {}
    panels = {title: _finite(ps) for title, ps in panels.items() if _finite(ps)}
    if not panels:
        return None
    columns = 2 if len(panels) > 1 else 1
    heights = _row_heights([len(ps) for ps in panels.values()], columns, 0.24, 1.0)
    fig = _figure(WIDE, sum(heights) + 0.4)
    for ax, (title, ps) in zip(_panel_grid(fig, len(panels), columns, heights), panels.items()):
        _style(ax, x_ticks=6)
        ranked = sorted(ps, key=lambda p: -p.mean)
        ax.barh(range(len(ranked)), [p.mean for p in ranked], xerr=_xerr(ranked), height=0.7,
                color=[colours.get(p.embedding, "k") for p in ranked], error_kw={"elinewidth": 0.9, "capsize": 2, "ecolor": "#333333"})  # fmt: skip
        baseline = next((p for p in ranked if p.label == baselines.get(title)), None)
        if baseline is not None:
            ax.axvline(baseline.mean, color="#555555", ls=":", lw=1)
        ax.set_yticks(range(len(ranked)), [p.label for p in ranked], fontsize=SMALL)
        ax.set_ylim(len(ranked) - 0.5, -0.6)
        ax.set_title(title, fontsize=FONT + 1, loc="left")
        ax.set_xlabel(f"{metric} (95% CI)", fontsize=FONT)
    used = {p.embedding for ps in panels.values() for p in ps}
    handles = [Line2D([], [], marker="s", ms=8, ls="", color=c, label="no embedding" if name == "none" else name)
               for name, c in colours.items() if name in used]  # fmt: skip
    shown = {baselines[t] for t in panels if t in baselines}
    if shown:
        handles.append(Line2D([], [], color="#555555", ls=":", lw=1, label=f"baseline ({', '.join(sorted(shown))})"))
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=SMALL, frameon=False)
    return fig


def accuracy_vs_cost(ps: list[Point], title: str, metric: str, colours: dict[str, str]) -> Figure | None:
    """Mean fit seconds (log) against the metric with its 95% CI, one point per variant, each labelled
    where its label collides with no other label or point (a numbered key when they cannot all fit)."""
    ps = _finite(ps)
    if not ps:
        return None
    for numbered in (False, True):
        fig = _figure(WIDE, 5.0)
        ax = fig.add_subplot()
        _style(ax)
        ax.grid(axis="y", color="#e6e6e6", lw=0.8)
        xs = np.array([max(p.fit_seconds, 1e-3) for p in ps])  # instant fits (Pop) still get a place on a log axis
        ys = np.array([p.mean for p in ps])
        for name in dict.fromkeys(p.embedding for p in ps):
            mine = [i for i, p in enumerate(ps) if p.embedding == name]
            bars = ax.errorbar(xs[mine], ys[mine], yerr=_xerr([ps[i] for i in mine]), fmt="o", ms=6, zorder=3,
                               color=colours.get(name, "k"), elinewidth=0.8, label="no embedding" if name == "none" else name)  # fmt: skip
            for line in bars.lines[2]:
                line.set_alpha(0.35)  # the CIs stay readable without hiding the labels
        ax.set_xscale("log")
        lo, hi = np.log10(xs.min()), np.log10(xs.max())
        pad = max(0.25, 0.08 * (hi - lo))
        ax.set_xlim(10 ** (lo - pad), 10 ** (hi + pad))
        y_lo = min(p.low if not math.isnan(p.low) else p.mean for p in ps)
        y_hi = max(p.high if not math.isnan(p.high) else p.mean for p in ps)
        span = (y_hi - y_lo) or max(abs(y_hi), 1e-3)
        ax.set_ylim(y_lo - 0.08 * span, y_hi + 0.12 * span)
        ax.set_xlabel("fit seconds (log scale; mean over seeds)", fontsize=FONT)
        ax.set_ylabel(f"{metric} (95% CI)", fontsize=FONT)
        ax.set_title(f"{title}: {metric} vs fit time", fontsize=FONT + 1, loc="left")
        key = [f"{i + 1}  {p.label}" for i, p in enumerate(ps)] if numbered else []
        handles, labels = ax.get_legend_handles_labels()
        if key:
            blank = [Line2D([], [], ls="", marker="") for _ in key]
            fig.legend(handles + blank, labels + key, loc="outside right upper", fontsize=SMALL, frameon=False,
                       ncols=1 + len(key) // 24)  # fmt: skip
        else:
            fig.legend(handles, labels, loc="outside upper center", ncols=len(handles), fontsize=SMALL, frameon=False)
        fig.canvas.draw()  # settle the layout: labels are placed in its pixel coordinates
        fig.set_layout_engine("none")
        texts = [str(i + 1) for i in range(len(ps))] if numbered else [p.label for p in ps]
        if _place_labels(ax, xs, ys, texts) or numbered:
            return fig
    raise AssertionError("unreachable")  # pragma: no cover


def _place_labels(ax: Any, xs: np.ndarray, ys: np.ndarray, texts: list[str], fontsize: float = SMALL) -> bool:
    """Label each point at the nearest free spot inside the axes (no overlap with another label or
    marker), with a thin leader line when it sits away from its point; False when a label found no spot.

    Written here rather than with adjustText: that library pushes labels apart iteratively and leaves
    overlaps in dense clusters, where this search either finds a free box or says it could not.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer).padded(-2)
    centres = ax.transData.transform(np.column_stack([xs, ys]))
    marker = 5.0  # px: half a marker plus a margin
    taken = [Bbox.from_extents(x - marker, y - marker, x + marker, y + marker) for x, y in centres]
    probe = ax.text(0, 0, "", fontsize=fontsize)
    # Crowded points first: they have the fewest free spots nearby.
    crowd = [int(np.sum(np.hypot(*(centres - c).T) < 60)) for c in centres]
    placed = True
    for i in sorted(range(len(texts)), key=lambda i: (-crowd[i], i)):
        probe.set_text(texts[i])
        box = probe.get_window_extent(renderer)
        w, h = box.width + 3, box.height + 2
        spot = _free_spot(centres[i], w, h, frame, taken)
        if spot is None:
            placed = False
            continue
        (x0, y0), far = spot
        taken.append(Bbox.from_extents(x0, y0, x0 + w, y0 + h))
        offset = (np.array([x0 + w / 2, y0 + h / 2]) - centres[i]) * 72.0 / fig.dpi  # pixels -> points
        ax.annotate(texts[i], (xs[i], ys[i]), xytext=offset, textcoords="offset points", ha="center", va="center",
                    fontsize=fontsize, zorder=4, bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
                    arrowprops={"arrowstyle": "-", "color": "#8a8a8a", "lw": 0.6, "shrinkA": 0, "shrinkB": 4} if far else None)  # fmt: skip
    probe.remove()
    return placed


#: where a label may go around its point: rings of growing radius (px), nearest first, each tried at these
#: angles (right and left of the point first: a label reads best beside its point)
_RADII = np.array([0, 4, 10, 18, 28, 40, 55, 75, 100, 130, 170, 220, 280, 350, 450, 600], dtype=float)
_ANGLES = np.deg2rad([0, 180, 30, 150, -30, -150, 60, 120, -60, -120, 90, -90])


def _free_spot(centre: np.ndarray, w: float, h: float, frame: Bbox, taken: list[Bbox]) -> tuple[tuple[float, float], bool] | None:
    """Lower-left corner of the nearest w x h box around ``centre`` inside ``frame`` clear of ``taken``,
    and whether it is far enough from the point to need a leader line."""
    radius = np.repeat(_RADII, len(_ANGLES))
    dx, dy = np.cos(np.tile(_ANGLES, len(_RADII))), np.sin(np.tile(_ANGLES, len(_RADII)))
    # the box touches the ring on the side facing the point
    x0 = centre[0] + radius * dx + np.where(dx > 0.3, 4, np.where(dx < -0.3, -w - 4, -w / 2))
    y0 = centre[1] + radius * dy + np.where(dy > 0.3, 3, np.where(dy < -0.3, -h - 3, -h / 2))
    x1, y1 = x0 + w, y0 + h
    inside = (x0 >= frame.x0) & (x1 <= frame.x1) & (y0 >= frame.y0) & (y1 <= frame.y1)
    boxes = np.array([b.extents for b in taken]).reshape(-1, 4)
    clash = (
        (x0[:, None] <= boxes[:, 2]) & (boxes[:, 0] <= x1[:, None]) & (y0[:, None] <= boxes[:, 3]) & (boxes[:, 1] <= y1[:, None])
    ).any(axis=1)
    free = np.flatnonzero(inside & ~clash)
    if not len(free):
        return None
    first = free[0]
    return (float(x0[first]), float(y0[first])), bool(radius[first] >= 10)


def segment_dots(results: Results, dataset: str, protocol: str, metric: str, order: list[str]) -> Figure | None:
    """``metric`` per segment for every variant (rows in ``order``): test items by training popularity
    (cold / rare / warm) and users by number of training interactions, one marker per segment."""
    cells = results.cells_of(dataset, protocol)
    groups = {label: group for label, group in variants(cells).items() if not any(c.cannot_rank_new_items for c in group)}
    order = [label for label in order if label in groups] + [label for label in groups if label not in order]
    kinds = []
    for kind, title in (
        ("item_popularity", "test items by training popularity"),
        ("user_activity", "users by training interactions"),
    ):
        segments = list(cells[0].segments.get(kind, {}))
        if kind == "user_activity":  # "11+" sorts before "3-5" as text
            segments.sort(key=lambda s: int(s.split("-")[0].rstrip("+")) if s.split("-")[0].rstrip("+").isdigit() else 0)
        counts = {s: int(cells[0].segments[kind][s].get("n_users") or 0) for s in segments}
        segments = [s for s in segments if counts[s]]
        if segments:
            kinds.append((kind, title, segments, counts))
    if not kinds:
        return None
    fig = _figure(WIDE, 0.24 * len(order) + 1.6)
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False).ravel()
    for ax, (kind, title, segments, counts) in zip(axes, kinds):
        _style(ax, x_ticks=6)
        values = np.full((len(order), len(segments)), np.nan)
        for r, label in enumerate(order):
            for s, seg in enumerate(segments):
                vals = [c.segments.get(kind, {}).get(seg, {}).get(metric) for c in groups[label]]
                if all(v is not None for v in vals):
                    values[r, s] = mean_ci_over_seeds(vals)[0]
        for r in range(len(order)):
            row = values[r][~np.isnan(values[r])]
            if len(row) > 1:
                ax.plot([row.min(), row.max()], [r, r], color="#d0d0d0", lw=2, zorder=1)
        for s, seg in enumerate(segments):
            ax.scatter(values[:, s], range(len(order)), marker=SEGMENT_MARKERS[s % len(SEGMENT_MARKERS)], s=30, zorder=2,
                       color=EMBEDDING_COLOURS[s % len(EMBEDDING_COLOURS)], label=f"{seg} ({counts[seg]:,} users)")  # fmt: skip
        ax.set_yticks(range(len(order)), order, fontsize=SMALL)
        ax.set_ylim(len(order) - 0.5, -0.6)
        ax.set_xlabel(metric, fontsize=FONT)
        ax.set_title(title, fontsize=FONT, loc="left")
        # below the panels, each kind's key under its own panel (above them they would run into each other)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower left" if ax is axes[0] else "outside lower right",
                   ncols=2, fontsize=SMALL, frameon=False, handletextpad=0.2, columnspacing=1.0)  # fmt: skip
    fig.suptitle(f"{dataset} / {protocol}: {metric} by segment", fontsize=FONT + 1, x=0.01, ha="left")
    return fig


#: panels a row in the tuning small multiples (a panel ~2.8 inches wide fits five trial ticks)
TUNING_COLUMNS = 4
LATE_COLOUR = "#D55E00"


def tuning_convergence(title: str, studies: Sequence[StudySummary]) -> Figure | None:
    """Small multiples, one panel per study of one dataset x protocol: its best-so-far valid score by trial
    (step line), each completed trial's own value (dots), the best trial marked (star). A panel whose best
    trial is among the last few (``reporting._tuning.late_best``) has its title and the last-trials window
    in orange: the search was still improving when the budget ran out."""
    from recsys_cl.reporting._tuning import LATE_MINIMUM, LATE_SHARE, best_found_at, late_best

    studies = [s for s in studies if any(v is not None for v in s.best_so_far)]
    if not studies:
        return None
    columns = min(TUNING_COLUMNS, len(studies))
    rows = math.ceil(len(studies) / columns)
    fig = _figure(WIDE, 0.5 + 1.9 * rows)
    for ax, study in zip(_panel_grid(fig, len(studies), columns), studies):
        _style(ax, x_ticks=5)
        ax.grid(axis="y", color="#e6e6e6", lw=0.8)
        best = np.array([np.nan if v is None else v for v in study.best_so_far], dtype=float)
        n = len(best)
        x = np.arange(1, n + 1)
        late = late_best(study)
        if late:
            window = max(LATE_MINIMUM, math.ceil(LATE_SHARE * n))
            ax.axvspan(n - window + 0.5, n + 0.5, color=LATE_COLOUR, alpha=0.10, lw=0)
        counted = [t for t in study.trials if t.counted]
        values = [(i, t.value) for i, t in enumerate(counted, start=1) if t.value is not None]
        if values:
            ax.plot(*zip(*values), ls="none", marker="o", ms=3, color="#9a9a9a", label="trial")
        ax.step(x, best, where="post", color="#0072B2", lw=1.4, label="best so far")
        found = best_found_at(study)
        if found is not None:
            ax.plot([found], [best[found - 1]], marker="*", ms=9, color=LATE_COLOUR if late else "#0072B2", ls="none")
        ax.set_title(study.label or study.model, fontsize=SMALL, loc="left", color=LATE_COLOUR if late else "black")
        ax.set_xlim(0.5, n + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    fig.supxlabel("trial", fontsize=FONT)
    fig.supylabel(f"valid {studies[0].metric}", fontsize=FONT)
    fig.suptitle(f"{title}: best valid {studies[0].metric} so far by trial (star: best trial; orange: best among the "
                 "last trials, the search may not have converged)", fontsize=FONT, x=0.01, ha="left")  # fmt: skip
    return fig


def training_curves(quality: EmbeddingQuality, key: str) -> Figure | None:
    """Train (and validation) loss per epoch of a contrastive embedding."""
    history = quality.training.history if quality.training is not None else []
    if not history:
        return None
    epochs = [h.epoch for h in history]
    fig = _figure(HALF, 3.6)
    ax = fig.add_subplot()
    _style(ax)
    ax.plot(epochs, [h.train_loss for h in history], label="train loss")
    if any(h.valid_loss is not None for h in history):
        ax.plot(epochs, [np.nan if h.valid_loss is None else h.valid_loss for h in history], label="validation loss")
    ax.set_xlabel("epoch", fontsize=FONT)
    ax.set_ylabel("loss", fontsize=FONT)
    ax.set_title(f"{key}: {quality.method} training", fontsize=FONT, loc="left")
    ax.legend(fontsize=SMALL, frameon=False)
    return fig


def distance_histograms(vectors: np.ndarray, categories: np.ndarray, key: str, seed: int = 0) -> Figure | None:
    """Cosine distances of same-category pairs vs random pairs of the learned item vectors."""
    if len(vectors) < 4:
        return None
    rng = np.random.default_rng(seed)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    n = min(20000, len(vectors) * 10)
    a, b = rng.integers(0, len(vectors), n), rng.integers(0, len(vectors), n)
    keep = a != b
    a, b = a[keep], b[keep]
    dist = 1.0 - np.sum(unit[a] * unit[b], axis=1)
    same = categories[a] == categories[b]
    if same.sum() < 2 or (~same).sum() < 2:
        return None
    fig = _figure(HALF, 3.6)
    ax = fig.add_subplot()
    _style(ax)
    bins = np.linspace(0, 2, 41)
    ax.hist(dist[same], bins=bins, alpha=0.6, density=True, label=f"same category ({same.sum():,} pairs)")
    ax.hist(dist[~same], bins=bins, alpha=0.6, density=True, label=f"different category ({(~same).sum():,} pairs)")
    ax.set_xlabel("cosine distance", fontsize=FONT)
    ax.set_title(f"{key}: positive vs negative distances", fontsize=FONT, loc="left")
    ax.legend(fontsize=SMALL, frameon=False)
    return fig


def embedding_map(vectors: np.ndarray, categories: np.ndarray, key: str) -> Figure | None:
    """2-D PCA map of the item vectors coloured by category (top 10 categories, the rest grey)."""
    if len(vectors) < 3:
        return None
    xy = principal_components(vectors, np.ones(len(vectors), dtype=bool), 2)
    values, counts = np.unique(categories, return_counts=True)
    top = values[np.argsort(-counts)][:10]
    fig = _figure(HALF, 3.9)
    ax = fig.add_subplot()
    _style(ax)
    other = ~np.isin(categories, top)
    ax.scatter(xy[other, 0], xy[other, 1], s=4, c="#cccccc", label="other")
    for cat in top:
        m = categories == cat
        ax.scatter(xy[m, 0], xy[m, 1], s=5, label=str(cat)[:22])
    ax.set_title(f"{key}: item embeddings (PCA)", fontsize=FONT, loc="left")
    fig.legend(fontsize=7.5, markerscale=2, loc="outside right upper", frameon=False)
    return fig
