"""Pre-flight: every model entry that declares what it needs (:meth:`Recommender.cannot_fit`, e.g. EASE's
dense item x item matrix) is asked, with the prepared data's user and item counts, before any tuning study
or cell starts. A refusal then comes before hours of other work instead of at the entry's own turn.

The counts are the dataset's (``<name>.meta.json``, written by ``prepare``): every user and the larger of
the catalogue and the items bought, an upper bound of what any protocol's split holds; a model's own fit
checks again with its split's exact counts. Searched parameters are not known yet: an entry is asked with
its configured ``params`` (a searched ``max_items`` of EASE is the model's own check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from recsys_cl.bench._config import BenchmarkConfig, ModelSpec
from recsys_cl.bench._plan import labels
from recsys_cl.errors import InputError


def dataset_counts(directory: str | Path) -> tuple[int, int]:
    """(users, items) of a prepared dataset: from its metadata, or (a folder without any) its loo split."""
    from recsys_cl.data import load_dataset

    dataset = load_dataset(directory)
    counts = dataset.meta.get("counts") or {}
    if "users" in counts:
        return int(counts["users"]), int(max(counts.get("items_in_catalogue", 0), counts.get("items_with_interactions", 0)))
    encoded = dataset.encoded(dataset.protocols[0] if dataset.protocols else "loo")
    return encoded.n_users, encoded.n_items


def entry_refusal(spec: ModelSpec, params: Mapping[str, Any], n_users: int, n_items: int) -> str | None:
    """Why ``spec``'s model with ``params`` cannot be fitted on ``n_users`` x ``n_items`` here, or None."""
    from recsys_cl.models import create

    model = create(spec.model, **params)
    return type(model).cannot_fit(model.config, n_users, n_items)


def check_entries_fit(config: BenchmarkConfig, prepared: Mapping[str, tuple[Path, str]]) -> None:
    """InputError naming the first entry (``models.i``, its label, dataset and protocol) that refuses the
    prepared data (``prepared``: dataset name -> (folder, fingerprint), as ``prepare_dataset`` returns)."""
    label_of = labels(config)
    for dataset in config.datasets:
        if dataset.retrieval_only or dataset.name not in prepared:
            continue
        counts = dataset_counts(prepared[dataset.name][0])
        for index, spec in enumerate(config.models):
            protocols = [p for p in config.protocols if spec.runs_on(dataset.name, p)]
            if not protocols:
                continue
            refusal = entry_refusal(spec, spec.params, *counts)
            if refusal:
                label = label_of[(index, spec.embeddings[0])]
                raise InputError(f"models.{index} ({label}) on {dataset.name}/{'+'.join(protocols)}: {refusal}")
