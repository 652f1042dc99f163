"""The report's tuning tables: what each study searched and found, default vs tuned on test, the
valid->test gap; and item embeddings as a factor (none vs the raw base vectors vs each contrastive
method, every variant tuned alike), with paired tests over users and Holm's correction.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from recsys_cl.evaluation import paired_family
from recsys_cl.reporting._records import CellRecord, StudySummary
from recsys_cl.reporting._results import Results, mean_ci_over_seeds, variants
from recsys_cl.reporting._table import CONTENT_PARAMS, DOWN, UP, Table, fmt, significance_mark

DEFAULT_SUFFIX = " [default]"
#: a study's best trial is "late" when it is among the last LATE_SHARE of its counted trials (at least
#: LATE_MINIMUM of them): the search was still improving when the budget ran out, so it may not have converged
LATE_SHARE, LATE_MINIMUM = 0.25, 2


def best_found_at(study: StudySummary) -> int | None:
    """1-based position, among the study's counted trials, of the first trial that reached its best valid
    value (None when no trial completed)."""
    final = next((v for v in reversed(study.best_so_far) if v is not None), None)
    if final is None:
        return None
    return next(i for i, v in enumerate(study.best_so_far, start=1) if v == final)


def late_best(study: StudySummary) -> bool:
    """Whether the best trial is among the last few (:data:`LATE_SHARE` of the trials, at least
    :data:`LATE_MINIMUM`) of a study with more trials than that: the budget may be too small."""
    n = len(study.best_so_far)
    window = max(LATE_MINIMUM, math.ceil(LATE_SHARE * n))
    found = best_found_at(study)
    return found is not None and n > window and found > n - window


def best_at_text(study: StudySummary) -> str:
    """``7/16``, or ``15/16 (late)`` where :func:`late_best` holds; ``–`` when no trial completed."""
    found = best_found_at(study)
    if found is None:
        return "–"
    return f"{found}/{len(study.best_so_far)}" + (" (late)" if late_best(study) else "")


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _space_text(space: dict[str, dict[str, Any]]) -> str:
    from recsys_cl.models import ParamSpace

    return "; ".join(f"{name} {ParamSpace(**spec).describe()}" for name, spec in space.items()) or "nothing to tune"


def tuning_study_table(results: Results, dataset: str, protocol: str, n_resamples: int = 2000) -> Table | None:
    """One row per tuned variant: space, budget, trials done / pruned, best parameters and valid value, the
    tuned model's test value (mean over seeds) and the valid->test gap, the untuned twin's test value, and
    tuned minus twin on test with a paired randomisation test over users (Holm over the table's rows)."""
    studies = results.studies()
    cells = results.cells_of(dataset, protocol)
    tuned = [c for c in cells if c.study is not None]
    if not tuned or not studies:
        return None
    groups = variants(cells)
    rows = []
    late = []
    paired: list[tuple[int, np.ndarray, np.ndarray]] = []  # row, tuned and default per-user scores
    metric = next(iter(studies.values())).metric
    for label, group in groups.items():
        if group[0].study is None or group[0].study not in studies:
            continue
        study: StudySummary = studies[group[0].study]
        test = mean_ci_over_seeds([c.summary.get(metric) for c in group])[0]
        default = groups.get(label + DEFAULT_SUFFIX)
        default_test = mean_ci_over_seeds([c.summary.get(metric) for c in default])[0] if default else float("nan")
        gap = test - study.best_value if study.best_value is not None and not math.isnan(test) else float("nan")
        params = ", ".join(f"{k}={_short(v)}" for k, v in study.best_params.items()) or "–"
        if late_best(study):
            late.append(label)
        if default and metric in group[0].summary:
            paired.append((len(rows), results.seed_averaged(group, metric)["value"].to_numpy(),
                           results.seed_averaged(default, metric)["value"].to_numpy()))  # fmt: skip
        rows.append([
            label, _space_text(study.space), f"{study.trials_completed + study.trials_pruned}/{study.budget}",
            str(study.trials_pruned), best_at_text(study), params, fmt(study.configured_value), fmt(study.best_value), fmt(test),
            "–" if math.isnan(gap) else f"{gap:+.4f}", fmt(default_test) if default else "–", "–",
        ])  # fmt: skip
    if not rows:
        return None
    alpha = results.significance.get("alpha", 0.05)
    for (row, _, _), (diff, p) in zip(paired, paired_family([(x, y) for _, x, y in paired], n_resamples=n_resamples)):
        rows[row][-1] = "–" if math.isnan(diff) else f"{diff:+.4f}" + significance_mark(diff, p, alpha)
    sample = next(iter(studies.values()))
    # a model with nothing to tune (Random, Pop) has a budget of one trial: the title gives the others'
    budget = max(study.budget for study in studies.values())
    columns = ["model", "space", "trials", "pruned", "best at trial", "best parameters", f"default: valid {metric}", f"best: valid {metric}",
               f"best: test {metric}", "test - valid", f"default: test {metric}", "tuned - default"]  # fmt: skip
    return Table(
        f"{dataset} / {protocol}: tuning ({sample.sampler}, pruner {sample.pruner}"
        f"{f' after {sample.pruner_warmup} epochs' if sample.pruner != 'none' and sample.pruner_warmup else ''}, {budget} trials per study)",
        columns, rows, left={"space", "best parameters"},
        note=f"Every study had the same budget and objective ({metric} on the valid part; the test part was never read "
        "while tuning); trial 0 of each study is the configured (default) parameters, so the search never ends below "
        "them on the valid part. Test values are means over seeds of the refits with the best parameters; 'default' "
        "is the same variant with the parameters the config gives it, untuned, fitted on the same parts; 'tuned - "
        f"default': on test, {UP}/{DOWN} where significant (paired randomisation test over users on seed-averaged "
        f"scores, Holm-corrected over the table's rows, alpha {alpha}). 'best at trial': where the best valid "
        f"value was first reached among the counted trials; 'late' = among the last {LATE_SHARE:.0%} of them (at least "
        f"{LATE_MINIMUM}), so the search was still improving when the budget ran out"
        + (f": a larger budget may find better parameters for {', '.join(late)}." if late else ".")
    )  # fmt: skip


def plain_twins(results: Results, cells: list[CellRecord]) -> dict[str, str]:
    """Embedded variant label -> the label of its plain twin: the variant without an embedding of the config
    entry of the same model whose parameters, apart from how content is used, are the same (tuned variants
    pair with tuned ones, ``[default]`` with ``[default]``)."""

    entries = results.run.config.get("models", [])

    def base(cell: CellRecord) -> tuple[str, str, bool] | None:
        if cell.model_index is None or cell.model_index >= len(entries):
            return None
        entry = entries[cell.model_index]
        params = {k: v for k, v in sorted((entry.get("params") or {}).items()) if k not in CONTENT_PARAMS and k != "id_dropout"}
        return entry["model"], repr(params), cell.variant.endswith(DEFAULT_SUFFIX)

    by_variant = variants(cells)
    plain: dict[tuple[str, str, bool], str] = {}
    for label, group in by_variant.items():
        key = base(group[0])
        if group[0].embedding == "none" and key is not None:
            plain.setdefault(key, label)
    twins = {}
    for label, group in by_variant.items():
        key = base(group[0])
        if group[0].embedding != "none" and key is not None and key in plain:
            twins[label] = plain[key]
    return twins


def _comparisons(results: Results, cells: list[CellRecord]) -> list[tuple[str, list[CellRecord], str, list[CellRecord]]]:
    """(variant, its cells, reference variant, its cells) pairs: each embedded variant against its model's
    plain twin (the entry of the same model whose config parameters, apart from how content is used, are
    the same, run without an embedding) and each contrastive embedding against the raw base vectors of its
    encoder run by the same entry."""

    by_variant = variants(cells)
    twins = plain_twins(results, cells)
    pairs = []
    for label, group in by_variant.items():
        first = group[0]
        if first.embedding == "none":
            continue
        twin = twins.get(label)
        if twin is not None:
            pairs.append((label, group, twin, by_variant[twin]))
        method = first.embedding_method or ""
        if method.startswith("raw-"):
            continue
        for other, other_group in by_variant.items():
            raw = other_group[0]
            if raw.model_index != first.model_index or not (raw.embedding_method or "").startswith("raw-"):
                continue
            image_learner, text_learner = method == "image-simclr", method in ("text-nce", "text-triplet", "copurchase")
            if (raw.embedding_method == "raw-image" and text_learner) or (raw.embedding_method == "raw-text" and image_learner):
                continue  # a learner against the other encoder's vectors is not its own baseline
            pairs.append((label, group, other, other_group))
    return pairs


def embedding_factor_table(
    results: Results, dataset: str, protocol: str, metric: str = "ndcg@10", n_resamples: int = 2000,
    others: tuple[str, ...] = ("hr@10", "map@12"),
) -> Table | None:
    """Embeddings as a factor: each embedded variant against its model without an embedding, and each
    contrastive embedding against the raw base vectors of its encoder (``raw-text``, ``raw-image``) run by
    the same model entry, by paired randomisation tests over users (seed-averaged), Holm-corrected over all
    the comparisons of the table (per metric). The question the seed papers leave open: does contrastive
    training beat the pretrained encoder it starts from? ``metric`` in full (means, difference, p), the
    ``others`` as differences with ▲/▼ where significant."""
    cells = [c for c in results.cells_of(dataset, protocol) if not c.variant.endswith(DEFAULT_SUFFIX)]
    if not cells or metric not in cells[0].summary:
        return None
    others = tuple(m for m in others if m in cells[0].summary and m != metric)
    pairs = _comparisons(results, cells)
    if not pairs:
        return None
    found: dict[str, list[tuple[float, float, float, float]]] = {}  # metric -> per pair: mean x, mean y, diff, p (Holm)
    for m in (metric, *others):
        scores = [(results.seed_averaged(group, m)["value"].to_numpy(), results.seed_averaged(ref_group, m)["value"].to_numpy())
                  for _, group, _, ref_group in pairs]  # fmt: skip
        tested = paired_family(scores, n_resamples=n_resamples)
        found[m] = [(float(np.mean(x)), float(np.mean(y)), diff, p) for (x, y), (diff, p) in zip(scores, tested)]
    seeds = len({c.seed for c in cells})
    alpha = results.significance.get("alpha", 0.05)
    rows = []
    for i, (label, group, reference, ref_group) in enumerate(pairs):
        mean_x, mean_y, diff, p = found[metric][i]
        row = [
            label, reference,
            _with_sd(mean_x, _sd([c.summary.get(metric) for c in group]), seeds),
            _with_sd(mean_y, _sd([c.summary.get(metric) for c in ref_group]), seeds),
            f"{diff:+.4f}", fmt(p, 4), "–" if math.isnan(p) else ("yes" if p < alpha else "no"),
        ]  # fmt: skip
        for m in others:
            d, q = found[m][i][2], found[m][i][3]
            row.append(f"{d:+.4f}{significance_mark(d, q, alpha)}")
        rows.append(row)
    return Table(
        f"{dataset} / {protocol}: item embeddings as a factor",
        ["model with embedding", "against", f"{metric} with", "against", "difference", "p (Holm)", "significant",
         *[f"{m} difference" for m in others]],
        rows,
        left={"against"},
        note="Each embedded variant against the same model without an embedding, and each contrastive embedding against "
        "the raw base vectors of its encoder (raw-text / raw-image) in the same model entry: paired randomisation tests "
        f"over users on seed-averaged scores, Holm-corrected over the table's {len(rows)} comparisons per metric"
        + (f"; ± = sd over {seeds} seeds" if seeds > 1 else "") + f"; {UP}/{DOWN} = significant (alpha {alpha}).",
    )  # fmt: skip


def _sd(values: list[float | None]) -> float:
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return float(x.std(ddof=1)) if len(x) > 1 else float("nan")


def _with_sd(mean: float, sd: float, seeds: int) -> str:
    return fmt(mean) if seeds < 2 or math.isnan(sd) else f"{fmt(mean)} ± {fmt(sd)}"


def tuning_tables(results: Results, n_resamples: int = 2000) -> list[Table]:
    """Every dataset x protocol's tuning table and embeddings-as-a-factor table (the ones that apply)."""
    tables = []
    metric = results.significance.get("metric", "ndcg@10")
    for dataset, protocol in results.groups():
        for table in (tuning_study_table(results, dataset, protocol, n_resamples),
                      embedding_factor_table(results, dataset, protocol, metric, n_resamples)):  # fmt: skip
            if table is not None:
                tables.append(table)
    return tables

