"""The report's figures: readable at the report's width (every text inside the figure, no two texts on
top of each other), and drawing the numbers the tables print."""

from unittest import mock

import numpy as np
import pytest
from matplotlib.text import Text

from recsys_cl.reporting import _plots, load_results
from recsys_cl.reporting._report import report_figures
from recsys_cl.reporting._results import mean_ci_over_seeds, variants
from recsys_cl.reporting._tables import baseline_label, main_table, variant_intervals

from .conftest import REALISTIC_VARIANTS

#: the report's content width in pixels (CSS max-width): a figure wider than this is scaled down on the page
PAGE_PX = 1160
MIN_POINTS = 7.5  # below this a label is not readable at 100 dpi


def drawn_texts(fig):
    """(text, window extent) of every non-empty text a draw of ``fig`` really renders (tick labels
    outside the view and invisible texts are never drawn, so they are not counted)."""
    drawn = []
    draw = Text.draw

    def record(self, renderer):
        draw(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append((self, Text.get_window_extent(self, renderer)))  # the text alone (an Annotation adds its leader line)

    with mock.patch.object(Text, "draw", record):
        fig.canvas.draw()
    return drawn


def text_problems(fig):
    """Why ``fig`` is not readable: a text that leaves the figure, two texts that overlap, a text too small."""
    texts = drawn_texts(fig)
    frame = fig.bbox
    problems = []
    for text, box in texts:
        if box.x0 < frame.x0 - 0.5 or box.y0 < frame.y0 - 0.5 or box.x1 > frame.x1 + 0.5 or box.y1 > frame.y1 + 0.5:
            problems.append(f"{text.get_text()!r} leaves the figure: {box.extents.round(1)} vs {frame.extents.round(1)}")
        if text.get_fontsize() < MIN_POINTS:
            problems.append(f"{text.get_text()!r} is set in {text.get_fontsize()} pt")
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1 :]:
            width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if width > 0.5 and height > 0.5:
                problems.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
    return problems


@pytest.fixture(scope="module")
def realistic(realistic_results):
    return load_results(realistic_results)


def test_the_check_finds_cut_and_overlapping_labels():
    """The check itself can fail: a label hanging off the left edge, and two labels drawn on each other."""
    fig = _plots._figure(4, 3)
    fig.set_layout_engine("none")  # keep the planted label where it is
    ax = fig.add_subplot()
    ax.text(-0.3, 0.5, "LightGCN + text-nce (fuse, no ID)", transform=ax.transAxes, ha="right")
    ax.annotate("NeuMF + text-nce (fuse)", (0.5, 0.5))
    ax.annotate("NeuMF + text-nce (fuse, dropout 0.5)", (0.51, 0.5))
    problems = text_problems(fig)
    assert any("'LightGCN + text-nce (fuse, no ID)' leaves the figure" in p for p in problems), problems
    assert any("'NeuMF + text-nce (fuse)' overlaps 'NeuMF + text-nce (fuse, dropout 0.5)'" in p for p in problems), problems


def test_every_report_figure_is_readable_at_the_report_width(realistic):
    """23 variants with labels up to 40 characters, 4 dataset x protocol panels, tuning studies and an
    embedding: no text leaves its figure, no two texts overlap, no figure is wider than the page."""
    seen = []
    for item in report_figures(realistic, n_resamples=50):
        fig = item.figure
        assert fig.get_figwidth() * fig.dpi <= PAGE_PX, f"{item.name} is {fig.get_figwidth() * fig.dpi:.0f} px wide"
        assert text_problems(fig) == [], item.name
        seen.append(item.name.split("-")[0])
    assert {"headline", "ranked", "segments", "cost", "tuning", "loss", "dist", "map"} <= set(seen), seen


def test_cost_plot_names_every_point_with_its_label(realistic):
    """On the realistic run every point gets its own short label (the numbered key is only the fallback)."""
    cells = realistic.cells_of("hm-synth", "loo")
    points = _plots.points(
        realistic, "hm-synth", "loo", {label: (0.05 + 0.001 * i, 0.04, 0.06) for i, label in enumerate(variants(cells))}
    )
    fig = _plots.accuracy_vs_cost(points, "hm-synth / loo", "ndcg@10", _plots.embedding_colours(p.embedding for p in points))
    annotations = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(annotations) == sorted(v[3] for v in REALISTIC_VARIANTS)
    assert text_problems(fig) == []


def test_cost_plot_falls_back_to_a_numbered_key_when_labels_cannot_fit():
    """Forty points on one spot: no room for forty long labels, so each gets a number and the key maps it."""
    points = [_plots.Point(f"Model {i} + text-nce (fuse, dropout 0.{i})", "text-nce" if i % 2 else "none", 0.05, 0.04, 0.06, 10.0)
              for i in range(40)]  # fmt: skip
    fig = _plots.accuracy_vs_cost(points, "crowded", "ndcg@10", _plots.embedding_colours(["text-nce"]))
    numbers = sorted(int(t.get_text()) for t in fig.axes[0].texts)
    assert numbers == list(range(1, 41))
    key = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "7  Model 6 + text-nce (fuse, dropout 0.6)" in key
    assert text_problems(fig) == []


def test_headline_pairs_each_embedded_variant_with_its_plain_twin_at_the_table_intervals(realistic):
    intervals = variant_intervals(realistic, "hm-synth", "loo", n_resamples=50)  # the comparison report_figures made
    points = {p.label: p for p in _plots.points(realistic, "hm-synth", "loo", {k: v["ndcg@10"] for k, v in intervals.items()})}
    assert points["LightFM + text-nce (no ID)"].twin == "LightFM"  # item_identity only says how content is used
    assert points["LightGCN + text-nce (fuse)"].twin == "LightGCN"
    assert points["NeuMF + text-nce (fuse, dropout 0.5)"].twin == "NeuMF"  # id_dropout too: only with content
    assert points["content-kNN + text-nce"].twin is None and points["Pop"].twin is None

    fig = _plots.dumbbells({"hm-synth / loo": list(points.values())}, "ndcg@10", _plots.embedding_colours(["text-nce"]))
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == [p.label for p in points.values() if p.embedding != "none"]
    row = rows.index("LightGCN + text-nce (fuse)")
    drawn = {}
    for container in ax.containers:  # one errorbar per marker: its x and its CI segment
        x, y = container.lines[0].get_data()
        if y[0] == row:
            (segment,) = container.lines[2][0].get_segments()
            drawn[round(float(x[0]), 12)] = tuple(segment[:, 0])
    for label in ("LightGCN + text-nce (fuse)", "LightGCN"):
        mean, low, high = intervals[label]["ndcg@10"]
        assert drawn[round(mean, 12)] == pytest.approx((low, high))
    # the same interval the main table prints (mean ± half-width)
    table = main_table(realistic, "hm-synth", "loo", n_resamples=50)
    printed = next(r for r in table.rows if r[0] == "LightGCN")[table.columns.index("ndcg@10")]
    mean, low, high = intervals["LightGCN"]["ndcg@10"]
    assert printed.startswith(f"{mean:.4f} ± {(high - low) / 2:.4f}")


def test_intervals_over_several_seeds_are_the_bootstrap_over_users_the_table_prints(tmp_path):
    """Not a t-interval over seeds, which is zero-wide for a deterministic model."""
    from .conftest import write_realistic_run

    results = load_results(
        write_realistic_run(tmp_path / "run", seeds_of={("ml-100k", "loo"): [0, 1, 2]}, studies=False, embeddings=False)
    )
    intervals = variant_intervals(results, "ml-100k", "loo", ["ndcg@10"])
    group = variants(results.cells_of("ml-100k", "loo"))["ALS"]
    assert len(group) == 3
    mean, low, high = intervals["ALS"]["ndcg@10"]
    assert mean == pytest.approx(mean_ci_over_seeds([c.summary["ndcg@10"] for c in group])[0])
    assert low < mean < high
    table = main_table(results, "ml-100k", "loo", ["ndcg@10"])
    printed = next(r for r in table.rows if r[0] == "ALS")[table.columns.index("ndcg@10")]
    assert printed.startswith(f"{mean:.4f} ± ")
    assert f"[{low:.4f}, {high:.4f}]" in printed


def test_ranked_bars_are_sorted_best_first_with_the_baseline_marked(realistic):
    groups = variants(realistic.cells_of("ml-100k", "loo"))
    points = _plots.points(
        realistic, "ml-100k", "loo", {label: (float(i % 7), i % 7 - 0.5, i % 7 + 0.5) for i, label in enumerate(groups)}
    )
    baseline = baseline_label("pop", groups)
    assert baseline == "Pop"  # configs name the registry model; the variant is labelled
    fig = _plots.ranked_bars({"ml-100k / loo": points}, "ndcg@10", _plots.embedding_colours([]), {"ml-100k / loo": baseline})
    ax = fig.axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == sorted(widths, reverse=True) and len(widths) == len(groups)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert [next(p.mean for p in points if p.label == label) for label in labels] == widths
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [
        next(p.mean for p in points if p.label == "Pop")
    ]


def test_segment_dots_show_each_segment_mean(realistic):
    groups = variants(realistic.cells_of("hm-synth", "loo"))
    fig = _plots.segment_dots(realistic, "hm-synth", "loo", "ndcg@10", list(groups))
    items, users = fig.axes[:2]
    assert [t.get_text() for t in items.get_yticklabels()] == list(groups)  # rows shared by both panels
    cell = groups["ALS"][0]
    row = list(groups).index("ALS")
    by_label = {c.get_label(): c.get_offsets()[row] for c in users.collections if c.get_label().endswith("users)")}
    assert list(by_label) == ["1-2 (75 users)", "3-5 (75 users)", "6-10 (75 users)", "11+ (75 users)"]  # bins in order
    assert by_label["3-5 (75 users)"][0] == pytest.approx(cell.segments["user_activity"]["3-5"]["ndcg@10"])
    warm = {c.get_label(): c.get_offsets()[row] for c in items.collections if c.get_label().endswith("users)")}
    assert warm["warm (189 users)"][0] == pytest.approx(cell.segments["item_popularity"]["warm"]["ndcg@10"])


def test_tuning_convergence_draws_a_panel_per_study_with_its_best_so_far(realistic):
    studies = [s for s in realistic.studies().values() if (s.dataset, s.protocol) == ("hm-synth", "loo")]
    fig = _plots.tuning_convergence("hm-synth / loo", studies)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in panels] == [s.label for s in studies]
    for ax, study in zip(panels, studies):
        (step,) = [line for line in ax.lines if line.get_label() == "best so far"]
        expected = np.array([np.nan if v is None else v for v in study.best_so_far])
        np.testing.assert_array_equal(step.get_ydata()[: len(expected)], expected)
    assert _plots.tuning_convergence("x", []) is None


def _study(values: list[float | None], label: str = "m"):
    from recsys_cl.reporting import StudySummary, TrialRecord

    trials, so_far, best = [], [], None
    for i, v in enumerate(values):
        trials.append(TrialRecord(number=i, state="complete" if v is not None else "pruned", value=v, params={}, counted=True))
        best = v if best is None or (v is not None and v > best) else best
        so_far.append(best)
    return StudySummary(
        study_name=label, key=label, storage="-", dataset="d", protocol="loo", model="m", label=label, embedding="none",
        metric="ndcg@10", sampler="tpe", pruner="median", seed=0, refit="train", space={}, base_params={}, budget=len(values),
        trials_completed=len(values), trials_pruned=0, trials_failed=0, trials_run_now=len(values), best_params={},
        best_value=best, best_trial=0, best_so_far=so_far, trials=trials, stopped_by="budget", wall_seconds=1.0, trial_seconds=1.0,
    )  # fmt: skip


def test_a_best_trial_among_the_last_few_is_flagged_late():
    from recsys_cl.reporting._tuning import best_at_text, best_found_at, late_best

    early = _study([0.1, 0.3, 0.2, 0.2, 0.1, 0.25, 0.2, 0.3])  # 0.3 first at trial 2; trial 8 only ties it
    late = _study([0.1, 0.2, None, 0.2, 0.1, 0.25, 0.2, 0.31])  # the last of 8 trials is the best
    edge = _study([0.1, 0.2, 0.1, 0.1, 0.1, 0.3, 0.2, 0.2])  # best at 6 of 8: just before the last quarter (7-8)
    assert (best_found_at(early), late_best(early), best_at_text(early)) == (2, False, "2/8")
    assert (best_found_at(late), late_best(late), best_at_text(late)) == (8, True, "8/8 (late)")
    assert (best_found_at(edge), late_best(edge)) == (6, False)
    assert not late_best(_study([0.1, 0.2]))  # two trials: too few to say
    assert best_at_text(_study([None, None, None])) == "–"
    fig = _plots.tuning_convergence("d / loo", [early, late])
    early_ax, late_ax = fig.axes[0], fig.axes[1]

    def star(ax):
        (line,) = [line for line in ax.lines if line.get_marker() == "*"]
        return line.get_xdata()[0], line.get_color()

    assert star(early_ax) == (2, "#0072B2") and star(late_ax) == (8, _plots.LATE_COLOUR)
    assert len(late_ax.patches) == 1 and not early_ax.patches  # the last-trials window is shaded where late
    assert text_problems(fig) == []


def test_a_short_panel_row_is_drawn_shorter_than_a_long_one():
    from recsys_cl.reporting._plots import _row_heights

    # two panels of 11 rows side by side, then one of 4: the second grid row is sized for 4, not 11
    assert _row_heights([11, 11, 4], columns=2, per_row=0.3, fixed=1.1) == pytest.approx([4.4, 2.3])
    assert _row_heights([3, 20], columns=1, per_row=0.25, fixed=1.0) == pytest.approx([1.75, 6.0])
