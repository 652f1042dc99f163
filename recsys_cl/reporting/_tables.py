"""The report's tables: main comparison, contrastive vs collaborative, cold-start segments.

Each builder returns a :class:`Table` (strings plus which cells are best), rendered to Markdown,
HTML or LaTeX by the same code, so the three formats never disagree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from recsys_cl.embeddings import (
    COMPOSED_METHODS,
    RETRIEVAL_TASKS,
    ComposedResult,
    EmbeddingQuality,
    SpaceQuality,
)
from recsys_cl.evaluation import compare_to_baseline, paired_family
from recsys_cl.reporting._records import CellRecord
from recsys_cl.reporting._table import DOWN, UP, Table, fmt, significance_mark
from recsys_cl.reporting._results import (
    Results,
    mean_ci_over_seeds,
    variant_label,
    variants,
)

MAIN_METRICS = ["hr@10", "ndcg@10", "recall@10", "mrr@10", "map@12"]
def _metrics_present(cells: list[CellRecord], wanted: list[str]) -> list[str]:
    have = set(cells[0].summary) if cells else set()
    return [m for m in wanted if m in have]


def _scores(results: Results, groups: dict[str, list[CellRecord]], metrics: list[str], scope: str = "all") -> dict[str, dict[str, np.ndarray]]:
    """Seed-averaged per-user values, aligned by user id across variants."""
    scores: dict[str, dict[str, np.ndarray]] = {}
    for label, cells in groups.items():
        scores[label] = {m: results.seed_averaged(cells, m, scope)["value"].to_numpy() for m in metrics}
    return scores


def main_table(results: Results, dataset: str, protocol: str, metrics: list[str] | None = None, n_resamples: int = 2000) -> Table:
    """Models x metrics: mean over seeds ± sd over seeds [95% bootstrap CI over users] (one seed: ± the bootstrap
    interval's half-width), best in bold,
    ▲/▼ = significantly above/below the baseline (paired randomisation test, Holm-corrected), W/T/L vs baseline."""
    cells = results.cells_of(dataset, protocol)
    metrics = _metrics_present(cells, metrics or MAIN_METRICS)
    groups = variants(cells)
    sig = results.significance
    baseline, comparison = _comparison(results, groups, metrics, n_resamples)
    key_metric = sig["metric"] if sig["metric"] in metrics else metrics[0]
    base_scores = results.seed_averaged(groups[baseline], key_metric)["value"].to_numpy()
    columns = ["model", *metrics, f"W/T/L vs {baseline} ({key_metric})", "fit s"]
    rows: list[list[str]] = []
    means: dict[tuple[int, int], float] = {}
    for r, (label, group) in enumerate(groups.items()):
        row = [label]
        if cannot_rank_reason(group):  # no number that would read as a finding about the method
            rows.append([label, *([CANNOT_RANK] * len(metrics)), "–", fmt(float(np.mean([cell.fit_seconds for cell in group])), 1)])
            continue
        for c, metric in enumerate(metrics, start=1):
            values = [cell.summary.get(metric) for cell in group]
            mean = mean_ci_over_seeds(values)[0]
            stats_row = comparison.filter((pl.col("model") == label) & (pl.col("metric") == metric)).row(0, named=True)
            mark = ""
            if label != baseline and stats_row["significant"]:
                mark = UP if stats_row["diff"] > 0 else DOWN
            if len(values) > 1:  # several seeds: sd over seeds beside the CI over users of seed-averaged scores
                sd = float(np.std([v for v in values if v is not None], ddof=1))
                row.append(f"{fmt(mean)} ± {fmt(sd)} [{fmt(stats_row['ci_low'])}, {fmt(stats_row['ci_high'])}]{mark}")
            else:  # one seed: half-width of the bootstrap interval over users
                half = (stats_row["ci_high"] - stats_row["ci_low"]) / 2
                row.append(f"{fmt(mean)} ± {fmt(half)}{mark}")
            means[(r, c)] = mean
        mine = results.seed_averaged(group, key_metric)["value"].to_numpy()
        if label == baseline:
            row.append("–")
        else:
            row.append(f"{int((mine > base_scores).sum())}/{int((mine == base_scores).sum())}/{int((mine < base_scores).sum())}")
        row.append(fmt(float(np.mean([cell.fit_seconds for cell in group])), 1))
        rows.append(row)
    bold = set()
    for c in range(1, len(metrics) + 1):
        column = {rc: v for rc, v in means.items() if rc[1] == c and not math.isnan(v)}
        if column:
            best = max(column.values())
            bold |= {rc for rc, v in column.items() if v == best}
    seeds = sorted({cell.seed for cell in cells})
    n_users = cells[0].n_users
    spread = (
        "± = sd over seeds, [ ] = 95% bootstrap CI over users of the seed-averaged scores"
        if len(seeds) > 1 else "± = half-width of the 95% bootstrap CI over users"
    )
    note = (
        f"{n_users:,} test users; seeds {seeds}; {spread}; {UP}/{DOWN}: significantly higher/lower than {baseline} "
        f"(paired randomisation test on seed-averaged per-user scores, Holm-corrected over models, alpha {sig['alpha']}). "
        + evaluation_mode_note(cells, metrics)
    )
    unable = {label: cannot_rank_reason(group) for label, group in groups.items() if cannot_rank_reason(group)}
    if unable:
        note += f" {CANNOT_RANK.capitalize()}: " + "; ".join(f"{label}: {reason}" for label, reason in unable.items()) + "."
    return Table(f"{dataset} / {protocol}", columns, rows, bold, note)


def evaluation_mode_note(cells: list[CellRecord], metrics: list[str]) -> str:
    """How the protocol's test was scored: whether users' training items were left out of the lists, the share
    of test items that repeat a training item of their user, and the best score any list reaches with training
    items left out (the ceiling every model under exclusion is held to)."""
    modes = {cell.exclude_seen for cell in cells}
    if modes == {True}:
        text = "Evaluation: exclude-seen (each user's training items are left out of their list)."
    elif modes == {False}:
        text = "Evaluation: no-exclude-seen (lists scored as given: a repurchase counts as a hit)."
    else:
        text = "Evaluation: mixed exclude-seen settings across these cells (compare with care)."
    summary = cells[0].summary
    if summary.get("repeat_share") is not None:
        ceilings = ", ".join(f"{m} {summary[f'ceiling_{m}']:.4f}" for m in metrics if summary.get(f"ceiling_{m}") is not None)
        text += f" {summary['repeat_share']:.1%} of test items repeat a training item of their user"
        text += f"; best reachable with training items excluded: {ceilings}." if ceilings else "."
    return text


def _comparison(
    results: Results, groups: dict[str, list[CellRecord]], metrics: list[str], n_resamples: int
) -> tuple[str, pl.DataFrame]:
    """The baseline's label and every variant vs it (``compare_to_baseline``: bootstrap CIs, paired tests).

    Kept on ``results`` for the run's lifetime: the main table and the figures ask for the same comparison,
    which is most of the report's time."""
    sig = results.significance
    baseline = baseline_label(sig["baseline"], groups)
    key = (tuple(c.key for cells in groups.values() for c in cells), tuple(metrics), baseline, sig["alpha"], n_resamples)
    cache = vars(results).setdefault("_comparisons", {})
    if key not in cache:
        cache[key] = compare_to_baseline(_scores(results, groups, metrics), baseline, alpha=sig["alpha"], n_resamples=n_resamples)
    return baseline, cache[key]


def baseline_label(name: str, groups: dict[str, list[CellRecord]]) -> str:
    """The variant ``significance.baseline`` names: by label, else by run or registry name (configs say
    ``baseline: pop`` while the variant is labelled ``Pop``), else the first variant."""
    if name in groups:
        return name
    named = [label for label, cells in groups.items() if name in (cells[0].model, cells[0].model_name)]
    return named[0] if len(named) == 1 else next(iter(groups))


def _interval(group: list[CellRecord], metric: str, stats_row: dict[str, Any]) -> tuple[float, float, float]:
    """Mean over seeds and the 95% bootstrap CI over users of the seed-averaged scores (``stats_row``): the
    table's brackets. Not a t-interval over seeds: three seeds of a deterministic model (EASE, ItemKNN) give a
    zero-width interval, which would draw a test-set estimate as if it were exact."""
    mean = mean_ci_over_seeds([cell.summary.get(metric) for cell in group])[0]
    return mean, stats_row["ci_low"], stats_row["ci_high"]


def variant_intervals(results: Results, dataset: str, protocol: str, metrics: list[str] | None = None,
                      n_resamples: int = 2000) -> dict[str, dict[str, tuple[float, float, float]]]:  # fmt: skip
    """label -> metric -> (mean, 95% CI low, high), the very intervals :func:`main_table` prints (same metrics,
    same bootstrap seeds), for the figures."""
    cells = results.cells_of(dataset, protocol)
    metrics = _metrics_present(cells, metrics or MAIN_METRICS)
    groups = variants(cells)
    _, comparison = _comparison(results, groups, metrics, n_resamples)
    rows = {(r["model"], r["metric"]): r for r in comparison.iter_rows(named=True)}
    return {label: {m: _interval(group, m, rows[(label, m)]) for m in metrics} for label, group in groups.items()}


#: parameters that only say how a model uses item embeddings; variants differing only in them are one model


def segment_table(results: Results, dataset: str, protocol: str, metric: str = "ndcg@10") -> Table:
    """``metric`` per user-activity segment and per test-item popularity segment (n users in brackets)."""
    cells = results.cells_of(dataset, protocol)
    groups = variants(cells)
    first = cells[0].segments
    # JSON written with sorted keys puts "11+" before "3-5": order bins by their lower bound.
    user_labels = sorted(first.get("user_activity", {}), key=lambda s: int(s.split("-")[0].rstrip("+")))
    item_labels = list(first.get("item_popularity", {}))
    columns = ["model", *[f"users {u}" for u in user_labels], *[f"items {i}" for i in item_labels]]
    rows = []
    for label, group in groups.items():
        row = [label]
        for kind, labels in (("user_activity", user_labels), ("item_popularity", item_labels)):
            for seg in labels:
                values = [c.segments[kind][seg].get(metric) for c in group]
                n = group[0].segments[kind][seg].get("n_users", 0)
                if not n:
                    row.append("empty")
                else:
                    row.append(f"{fmt(mean_ci_over_seeds(values)[0])} ({n:,})")
        rows.append(row)
    return Table(
        f"{dataset} / {protocol}: {metric} by segment", columns, rows,
        note="users by number of training interactions; items by training popularity (cold = never in training). "
        "Item segments score each user on the test items of that segment only.",
    )  # fmt: skip


#: what a cold-item table shows instead of numbers for a model that declares it has no score for new items
CANNOT_RANK = "cannot rank new items"


def cannot_rank_reason(group: list[CellRecord]) -> str | None:
    """The reason a variant's cells give for having no principled score of a new item (None: they have one)."""
    return next((c.cannot_rank_new_items for c in group if c.cannot_rank_new_items), None)


def placement_table(results: Results, dataset: str, protocol: str) -> Table | None:
    """Where each variant puts the held-out items in its full ranking (cold-item cells; None without any):
    the median rank of the test items among a user's candidates, that rank as a share of the candidates
    (Random about 0.5; near 1 = under every warm item), and the share of top-k slots holding items without a
    training interaction against their share of the catalogue (lift 0: no new item in any list)."""
    cells = [c for c in results.cells_of(dataset, protocol) if c.placement]
    if not cells:
        return None
    k = min(int(key.split("@")[1]) for key in cells[0].placement if key.startswith("cold_share@"))
    columns = ["model", "median test rank", "rank / candidates", f"new items in top {k}", "in catalogue", "lift",
               f"ndcg@{k} among new items", "vs the best"]
    rows, bold = [], set()
    marks, against_best = new_items_tests(results, variants(cells), f"new_items_ndcg@{k}")
    for label, group in variants(cells).items():
        reason = cannot_rank_reason(group)
        if reason:
            rows.append([label, CANNOT_RANK, "", "", "", "", "", ""])
            continue

        def mean(key: str) -> float:
            return mean_ci_over_seeds([(c.placement or {}).get(key) for c in group])[0]

        lift = mean(f"cold_lift@{k}")
        rows.append([label, fmt(mean("test_rank_median"), 0), fmt(mean("test_rank_share_median"), 3),
                     fmt(mean(f"cold_share@{k}"), 3), fmt(mean("cold_catalogue_share"), 3), fmt(lift, 2),
                     fmt(mean(f"new_items_ndcg@{k}")) + marks.get(label, ""), against_best.get(label, "–")])  # cells from before it: None -> NaN -> "–"
        if lift == 0:  # no new item in any list: visible at a glance
            bold.add((len(rows) - 1, 5))
    reasons = {label: cannot_rank_reason(group) for label, group in variants(cells).items() if cannot_rank_reason(group)}
    note = ("Full rankings of every test user (or a seeded sample of 2,000): ranks are 1-based, ties at their mid-rank; "
            "rank / candidates is about 0.5 for Random and near 1 when a model ranks new items under every warm one. "
            f"New items = items without a training interaction; lift = their share of the top-{k} slots / their share "
            "of the catalogue (1: as often as chance, 0 in bold: in no list). "
            f"ndcg@{k} among new items: the same lists with every item that has a training interaction taken out, "
            "so it scores which new items a model picks and not how it places them against warm ones (Random's row "
            "is chance)" + (f"; {UP}/{DOWN} = significantly above/below Random's (paired randomisation test over users "
                            "on seed-averaged scores, Holm-corrected over the table)" if marks else "")
            + (f"; vs the best: the difference to the variant with the highest ndcg@{k} among new items, {DOWN} where "
               "significantly below it (the same test, Holm-corrected over the table)." if against_best else "."))
    if reasons:
        note += " " + " ".join(f"{label}: {reason}." for label, reason in reasons.items())
    return Table(f"{dataset} / {protocol}: where the held-out items land", columns, rows, bold, note)


def new_items_tests(results: Results, groups: dict[str, list[CellRecord]], metric: str, n_resamples: int = 2000,
                    alpha: float | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Paired randomisation tests over users of the per-user ``new_items_ndcg@k`` (seed-averaged), each family
    Holm-corrected:

    - against Random's (chance among new items): label -> ▲/▼ where significant ({} without a Random variant);
    - against the variant with the highest mean: label -> its difference, ▼ where significantly below, and
      "best" for that variant itself (which new items a model picks, compared between models).

    Users are paired by id (a sample of users may differ by seed). Variants without per-user values (cells
    written before they were kept) or that cannot rank new items are left out of both."""
    alpha = results.significance.get("alpha", 0.05) if alpha is None else alpha
    frames: dict[str, pl.DataFrame] = {}
    for label, group in groups.items():
        if cannot_rank_reason(group) or not all(c.placement for c in group):
            continue
        frame = results.seed_averaged(group, metric, scope="placement")
        if frame.height:
            frames[label] = frame

    def tested(reference: str, labels: list[str]) -> dict[str, tuple[float, str]]:
        scores = []
        for label in labels:
            paired = frames[label].join(frames[reference], on="user_id", suffix="_reference")
            scores.append((paired["value"].to_numpy(), paired["value_reference"].to_numpy()))
        return {label: (diff, significance_mark(diff, p, alpha))
                for label, (diff, p) in zip(labels, paired_family(scores, n_resamples=n_resamples))}  # fmt: skip

    chance = next((label for label, group in groups.items() if label in frames and group[0].model_name == "random"), None)
    against_chance = {} if chance is None else {
        label: mark for label, (_, mark) in tested(chance, [lb for lb in frames if lb != chance]).items()}  # fmt: skip
    if not frames:
        return against_chance, {}
    best = max(frames, key=lambda label: float(frames[label]["value"].mean()))
    against_best = {label: f"{diff:+.4f}{mark}" for label, (diff, mark) in tested(best, [lb for lb in frames if lb != best]).items()}
    return against_chance, {best: "best", **against_best}


def quality_table(results: Results) -> Table | None:
    """What contrastive training added or lost: raw base vectors vs trained, per learned embedding."""
    qualities = results.embedding_quality()
    if not qualities:
        return None
    retrieval = sorted(task for task in RETRIEVAL_TASKS if any(
        "recall@10" in part.retrieval(task) for q in qualities.values() for part in (q.base, q.trained) if part is not None))  # fmt: skip
    columns = ["embedding", "method", "triplet acc. raw", "trained", "pos/neg gap raw", "trained", "collapsed"]
    for task in retrieval:
        columns += [f"{task.replace('_to_', '→')} R@10 raw", "trained"]
    rows = []
    for key, q in qualities.items():
        trained = q.trained or SpaceQuality()
        training = q.training
        before = training.heldout_before if training is not None else None
        after = training.heldout_after if training is not None else None
        row = [key, q.method, fmt(q.base.triplet_accuracy_all, 3), fmt(trained.triplet_accuracy_all, 3),
               fmt(before.gap if before else None, 3), fmt(after.gap if after else None, 3),
               "–" if q.collapse is None else ("YES" if q.collapse.collapsed else "no")]  # fmt: skip
        for task in retrieval:
            row += [fmt(q.base.retrieval(task).get("recall@10"), 3), fmt(trained.retrieval(task).get("recall@10"), 3)]
        rows.append(row)
    return Table(
        "Embedding quality: raw base vectors vs after contrastive training", columns, rows,
        note="Triplet accuracy on held-out attribute triplets; gap = mean cosine distance of held-out negative minus "
        "positive pairs; retrieval relevance = same type, colour and gender. '–' = not applicable to the method.",
    )  # fmt: skip


def embed_quality_table(quality: EmbeddingQuality) -> Table:
    """One embedding run, raw base vectors vs trained, for each quality measure it has ('–' where it has
    none: raw-* methods are not trained; held-out pairs/triplets of the training are the learner's own)."""
    base, trained, training = quality.base, quality.trained or SpaceQuality(), quality.training
    rows: list[tuple[str, float | None, float | None]] = []
    if base.triplet_accuracy is not None:
        rows.append(("attribute triplet accuracy", base.triplet_accuracy_all, trained.triplet_accuracy_all))
    if base.copurchase_gap is not None:
        learned_gap = trained.copurchase_gap.gap if trained.copurchase_gap is not None else None
        rows.append(("co-purchase pos/neg gap", base.copurchase_gap.gap, learned_gap))
    k = max(quality.retrieval_ks, default=10)
    for task in RETRIEVAL_TASKS:
        for metric in (f"recall@{k}", f"ndcg@{k}"):
            if metric in base.retrieval(task) or metric in trained.retrieval(task):
                label = f"{task.replace('_to_', '→')} {metric}"
                rows.append((label, base.retrieval(task).get(metric), trained.retrieval(task).get(metric)))
    if training is not None and training.heldout_after is not None:  # the learner's own held-out pairs, raw vs trained
        before = training.heldout_before.gap if training.heldout_before is not None else None
        rows.append(("training pairs: pos/neg cosine-distance gap", before, training.heldout_after.gap))
    if training is not None and training.heldout_triplet_accuracy_after is not None:
        rows.append(("training triplets: accuracy", (training.heldout_triplet_accuracy_before or {}).get("all"),
                     training.heldout_triplet_accuracy_after.get("all")))  # fmt: skip
    return Table(f"{quality.method} on {quality.dataset or 'the items'}: held-out quality", ["measure", "raw", "trained"],
                 [[label, fmt(raw), fmt(learned)] for label, raw, learned in rows])  # fmt: skip


def _composed_rows(result: ComposedResult, metrics: list[str], first_row: int, first_column: int,
                   lead: list[str], methods: tuple[str, ...] = COMPOSED_METHODS) -> tuple[list[list[str]], set[tuple[int, int]]]:  # fmt: skip
    """One row per method of ``methods`` (``lead`` cells, then ``metrics``); the best per metric in bold."""
    rows = [[*lead, method.replace("_", " "), *[fmt(result.scores(method).get(m)) for m in metrics]]
            for method in methods]
    bold = set()
    for c, metric in enumerate(metrics, start=first_column):
        values = {r: result.scores(method).get(metric) for r, method in enumerate(methods, start=first_row)}
        best = max((v for v in values.values() if v is not None), default=None)
        bold |= {(r, c) for r, v in values.items() if v is not None and v == best}
    return rows, bold


def composed_result_table(result: ComposedResult) -> Table:
    """One composed retrieval run: Recall@K / nDCG@K of every method it has; the note names each fused
    method that scores below a single-modality one, by how much (or says none does)."""
    metrics = [f"{m}@{k}" for m in ("recall", "ndcg") for k in result.retrieval_ks]
    rows, bold = _composed_rows(result, metrics, 0, 1, [], result.methods)
    by_method: dict[str, list[str]] = {}
    for s in result.shortfalls(metrics):
        by_method.setdefault(s.fused, []).append(
            f"{s.metric} {s.fused_value:.4f} vs {s.single.replace('_', ' ')} {s.single_value:.4f} (-{s.gap:.4f})")
    if by_method:
        note = "Fused methods that lose to a single modality: " + "; ".join(
            f"{fused.replace('_', ' ')}: {', '.join(parts)}" for fused, parts in by_method.items()) + "."
    else:
        note = "Every fused method matches or beats every single-modality method on every metric."
    return Table(f"composed retrieval on {result.dataset or 'the items'}: {result.n_heldout_queries:,} held-out queries, "
                 f"{result.n_gallery:,} items in the gallery", ["method", *metrics], rows, bold, note=note)  # fmt: skip


def composed_table(results: Results) -> Table | None:
    """Composed retrieval (paper 003) per dataset: every query learner against the text-only and image-only
    baselines, and a note naming each fused method that loses to a single modality (and by how much)."""
    composed = results.composed_retrieval()
    if not composed:
        return None
    ks = sorted({k for result in composed.values() for k in result.retrieval_ks})
    metrics = [f"{m}@{k}" for m in ("recall", "ndcg") for k in ks]
    rows: list[list[str]] = []
    bold: set[tuple[int, int]] = set()
    losses = []
    for dataset, result in composed.items():
        part, part_bold = _composed_rows(result, metrics, len(rows), 3, [dataset], result.methods)
        for row, method in zip(part, result.methods):  # queries after the method name
            row.insert(2, f"{int(result.scores(method)['n_queries']):,}")
        rows += part
        bold |= part_bold
        losses += [f"{dataset}: {s.fused.replace('_', ' ')} {s.metric} {s.fused_value:.4f} vs {s.single.replace('_', ' ')} "
                   f"{s.single_value:.4f} (-{s.gap:.4f})" for s in result.shortfalls(metrics)]  # fmt: skip
    verdict = ("Fused methods that lose to a single modality: " + "; ".join(losses) + ".") if losses else (
        "Every fused method matches or beats every single-modality method on every metric.")
    return Table(
        "Composed retrieval: reference image + modification text", ["dataset", "method", "queries", *metrics], rows, bold,
        note="Held-out reference items; relevant = items with the target's type, colour and gender. Text only / image "
        "only: the modification text against item texts / the reference image alone; the learners map (image, text) "
        "queries into the item text space (text and image learners: one modality; fused, TIRG-style, combiner: both). "
        + verdict,
    )  # fmt: skip


def legend_table(results: Results) -> Table | None:
    """Each short label with what it stands for: the model's full run name, its embedding(s) and the
    parameters it was fitted with (per dataset and protocol: tuned parameters may differ between them)."""
    rows, seen = [], set()
    for cell in results.cells:
        key = (cell.variant, cell.dataset, cell.protocol)
        if key in seen:
            continue
        seen.add(key)
        params = ", ".join(f"{k}={_short_value(v)}" for k, v in sorted(cell.params.items())) or "defaults"
        rows.append([cell.variant, f"{cell.dataset} / {cell.protocol}", cell.model, cell.embedding, params,
                     "tuned" if cell.study else "as configured"])  # fmt: skip
    if not rows:
        return None
    return Table("Labels", ["label", "dataset / protocol", "run name", "embedding", "parameters", "parameters from"], rows,
                 left={"dataset / protocol", "run name", "embedding", "parameters", "parameters from"},
                 note="Labels are short names for the tables and figures: the model family, its embedding, and what its "
                 "config entry sets differently from the family's other entries; the full parameters are here.")  # fmt: skip


def _short_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def all_tables(results: Results, n_resamples: int = 2000) -> list[tuple[str, Table]]:
    """(section, table) for every (dataset, protocol) of the run."""
    tables: list[tuple[str, Table]] = []
    for dataset, protocol in results.groups():
        tables.append(("main", main_table(results, dataset, protocol, n_resamples=n_resamples)))
        tables.append(("segments", segment_table(results, dataset, protocol)))
        placed = placement_table(results, dataset, protocol)
        if placed is not None:
            tables.append(("segments", placed))
    from recsys_cl.reporting._tuning import embedding_factor_table, tuning_study_table

    metric = results.significance.get("metric", "ndcg@10")
    for dataset, protocol in results.groups():
        study_table = tuning_study_table(results, dataset, protocol, n_resamples)
        if study_table is not None:
            tables.append(("tuning", study_table))
        factor = embedding_factor_table(results, dataset, protocol, metric, n_resamples)
        if factor is not None:
            tables.append(("contrastive", factor))
    from recsys_cl.reporting._two_stage import two_stage_tables

    tables += [("two-stage", table) for table in two_stage_tables(results, n_resamples)]
    from recsys_cl.reporting._cost import cost_tables

    tables += [("cost", table) for table in cost_tables(results)]
    quality = quality_table(results)
    if quality is not None:
        tables.append(("embeddings", quality))
    legend = legend_table(results)
    if legend is not None:
        tables.append(("legend", legend))
    composed = composed_table(results)
    if composed is not None:
        tables.append(("embeddings", composed))
    from recsys_cl.reporting._published import published_table

    published = published_table(results)
    if published is not None:
        tables.append(("published", published))
    return tables


def variant_names(cells: list[CellRecord]) -> list[str]:
    return list(dict.fromkeys(variant_label(c) for c in cells))
