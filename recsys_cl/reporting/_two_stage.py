"""The report's two-stage tables (the H&M competition's winning recipe): where the ranker's candidates come
from and how much of the truth they hold, what the ranker learned from (feature importances), and whether
it beats the generators it re-ranks and its own twin without embedding features (paired tests over users).

They read what the model reported about itself (``CellRecord.diagnostics``, see ``models/_two_stage.py``)
and the per-user scores every cell keeps; variants whose cells have no diagnostics are not two-stage.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from recsys_cl.evaluation import paired_family
from recsys_cl.reporting._records import CellRecord
from recsys_cl.reporting._results import Results, variants
from recsys_cl.reporting._table import Table, fmt

#: the competition's metric, which the ranker is early-stopped on
MAP_KEY = "map@12"
PARTS = ("valid", "test")


def two_stage_variants(results: Results, dataset: str, protocol: str) -> dict[str, list[CellRecord]]:
    """Label -> cells of the variants of (dataset, protocol) that are two-stage models with diagnostics."""
    return {label: group for label, group in variants(results.cells_of(dataset, protocol)).items()
            if all(c.diagnostics and "generators" in c.diagnostics for c in group)}  # fmt: skip


def _mean(values: list[Any]) -> float | None:
    """Mean over seeds; None when a seed has no value (a part without buyers)."""
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def candidate_table(results: Results, dataset: str, protocol: str) -> Table | None:
    """Per two-stage variant and part (valid at fit, test after the lists were made): the part's buyers,
    each generator's candidate recall and the union's (the ceiling of any re-ranking), MAP@12 of the
    ranker, of the best generator's own top-12, and the ranker's gain over it. Means over seeds."""
    found = two_stage_variants(results, dataset, protocol)
    if not found:
        return None
    generators = list(dict.fromkeys(g for group in found.values() for c in group for g in c.diagnostics["generators"]))  # type: ignore[index]
    rows = []
    for label, group in found.items():
        for part in PARTS:
            parts = [c.diagnostics.get(part) for c in group]  # type: ignore[union-attr]
            if any(p is None for p in parts):
                continue
            recall = [p["candidate_recall"] for p in parts]
            maps = [p.get(MAP_KEY) or {} for p in parts]
            best = [p.get("best_generator") for p in parts]
            best_name = best[0] if len(set(best)) == 1 else "varies"
            best_value = _mean([m.get(b) if b else None for m, b in zip(maps, best)])
            rows.append([
                label, part, f"{_mean([p['users'] for p in parts]) or 0:,.0f}",
                *[_pct(_mean([r.get(g) for r in recall])) if g in group[0].diagnostics["generators"] else "–"  # type: ignore[index]
                  for g in generators],
                _pct(_mean([r.get("combined") for r in recall])),
                fmt(_mean([m.get("ranker") for m in maps])), best_name or "–", fmt(best_value),
                _signed(_mean([p.get("gain_over_best_generator") for p in parts])),
            ])  # fmt: skip
    if not rows:
        return None
    seeds = sorted({c.seed for group in found.values() for c in group})
    return Table(
        f"{dataset} / {protocol}: two-stage candidates and ranker",
        ["model", "part", "buyers", *[f"recall: {g}" for g in generators], "recall: all candidates",
         f"{MAP_KEY} ranker", "best generator", f"{MAP_KEY} best generator", "ranker gain"],
        rows, left={"part", "best generator"},
        note="Candidate recall: the share of the part's (buyer, item) purchases among each generator's top-N candidates, "
        "and among all of them together: the ceiling no re-ranking can pass. MAP@12 over the part's buyers, of the "
        "ranker's lists and of each generator's own top-12 (the best shown); gain = ranker - best generator. Valid: "
        "measured at fit (the ranker was early-stopped on it); test: measured after the lists were made, never used to "
        f"make them. Means over seeds {seeds}.",
    )  # fmt: skip


def importance_table(results: Results, dataset: str, protocol: str, top: int = 12) -> Table | None:
    """The ranker's features by share of the total split gain (mean over seeds), the ``top`` of each
    variant; features a variant does not have are '–'. Also the boosting rounds run and kept."""
    found = two_stage_variants(results, dataset, protocol)
    if not found:
        return None
    shares: dict[str, dict[str, float]] = {}
    for label, group in found.items():
        per_seed = []
        for c in group:
            gain = c.diagnostics.get("feature_importance_gain") or {}  # type: ignore[union-attr]
            total = sum(gain.values())
            per_seed.append({k: (v / total if total > 0 else 0.0) for k, v in gain.items()})
        names = dict.fromkeys(k for s in per_seed for k in s)
        shares[label] = {k: float(np.mean([s.get(k, 0.0) for s in per_seed])) for k in names}
    shown = dict.fromkeys(k for s in shares.values() for k in sorted(s, key=lambda k: -s[k])[:top])
    first = next(iter(shares.values()))
    order = sorted(shown, key=lambda k: (-max(s.get(k, 0.0) for s in shares.values()), k not in first))
    rows = [[name, *[_pct(s[name]) if name in s else "–" for s in shares.values()]] for name in order]
    rounds = []
    for label, group in found.items():
        training = [c.diagnostics.get("training") or {} for c in group]  # type: ignore[union-attr]
        kept = [t.get("best_round") for t in training]
        rounds.append(f"{label}: {', '.join('–' if k is None else str(k) for k in kept)} of "
                      f"{', '.join(str(t.get('rounds', '–')) for t in training)}")  # fmt: skip
    return Table(
        f"{dataset} / {protocol}: two-stage ranker's features (share of total gain)",
        ["feature", *found], rows,
        note=f"LightGBM LambdaRank's split gain per feature, as a share of the model's total, mean over seeds; the {top} "
        "largest of each variant. A feature a variant lacks is '–' (without embedding features: the embedding "
        "similarity and the generators that read embeddings). Boosting rounds kept of run, per seed: " + "; ".join(rounds) + ".",
    )  # fmt: skip


def _generator_models(cell: CellRecord) -> list[str]:
    from recsys_cl.models import DEFAULT_GENERATORS

    specs = cell.params.get("generators")
    if not specs:
        return [s.model for s in DEFAULT_GENERATORS]
    return [s["model"] if isinstance(s, dict) else str(s) for s in specs]


def comparison_pairs(results: Results, dataset: str, protocol: str) -> list[tuple[str, str]]:
    """(two-stage variant, reference variant) pairs: each two-stage variant against every variant of the run
    that is one of its generators' models on its own (without an embedding or with the two-stage cell's own:
    the generator it ran), and against its twin with embedding features switched (the same generators, the
    other ``embedding_features``)."""
    found = two_stage_variants(results, dataset, protocol)
    groups = variants(results.cells_of(dataset, protocol))
    pairs = []
    for label, group in found.items():
        models = set(_generator_models(group[0]))
        pairs += [(label, other) for other, cells in groups.items() if other not in found and cells[0].model_name in models
                  and cells[0].embedding in ("none", group[0].embedding)]  # fmt: skip
        uses = group[0].diagnostics["embedding_features"]  # type: ignore[index]
        for other, cells in found.items():
            if (other != label and uses and not cells[0].diagnostics["embedding_features"]  # type: ignore[index]
                    and _generator_models(cells[0]) == _generator_models(group[0])):  # fmt: skip
                pairs.append((label, other))
    return pairs


def comparison_table(results: Results, dataset: str, protocol: str, n_resamples: int = 2000) -> Table | None:
    """Paired randomisation tests over users (seed-averaged scores) of each two-stage variant against its
    generators run alone and against its twin without embedding features, Holm-corrected over the table."""
    pairs = comparison_pairs(results, dataset, protocol)
    if not pairs:
        return None
    groups = variants(results.cells_of(dataset, protocol))
    metric = MAP_KEY if MAP_KEY in groups[pairs[0][0]][0].summary else results.significance.get("metric", "ndcg@10")
    scores = [(results.seed_averaged(groups[label], metric)["value"].to_numpy(),
               results.seed_averaged(groups[other], metric)["value"].to_numpy()) for label, other in pairs]  # fmt: skip
    alpha = results.significance.get("alpha", 0.05)
    rows = [[label, other, fmt(float(np.mean(x))), fmt(float(np.mean(y))), _signed(d), fmt(p),
             "–" if math.isnan(p) else ("yes" if p < alpha else "no")]
            for (label, other), (x, y), (d, p) in zip(pairs, scores, paired_family(scores, n_resamples=n_resamples))]  # fmt: skip
    return Table(
        f"{dataset} / {protocol}: two-stage against its parts",
        ["two-stage", "against", metric, "against", "difference", "p (Holm)", "significant"], rows, left={"against"},
        note="Each two-stage variant against each of its candidate generators run alone in this grid, and against the "
        "same two-stage model without embedding features (the winners' claim: content features add little): paired "
        f"randomisation tests over users on seed-averaged {metric}, Holm-corrected over the table's {len(rows)} "
        f"comparisons (alpha {alpha}).",
    )  # fmt: skip


def two_stage_tables(results: Results, n_resamples: int = 2000) -> list[Table]:
    """Every (dataset, protocol)'s two-stage tables (none when the run has no two-stage model)."""
    tables = []
    for dataset, protocol in results.groups():
        for table in (candidate_table(results, dataset, protocol), importance_table(results, dataset, protocol),
                      comparison_table(results, dataset, protocol, n_resamples)):  # fmt: skip
            if table is not None:
                tables.append(table)
    return tables


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _signed(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:+.4f}"
