"""Short labels for the variants of a run: what tables, plots, metrics.csv and ``compare`` call them.

A variant is one model entry of a config with one embedding. Its label is the entry's own ``label``
(``label: ...`` in the YAML, the embedding appended) or an automatic one of at most 40 characters:
the model family, ``+ embedding``, and in brackets what the entry sets differently from the other
entries of the same family (``NeuMF + text-nce (fuse, dropout 0.5)``). Parameters every entry of the
family shares (a short schedule, say) are left out: they are in the legend, which maps each label to
the full run name and parameters. Labels are unique within a run (a clash gets ``#2``).
"""

from __future__ import annotations

from typing import Any, Sequence

MAX_LABEL = 40

#: how model families are written in labels (registry names not listed are used as they are)
FAMILY_NAMES = {
    "random": "Random", "pop": "Pop", "recent-pop": "RecentPop", "itemknn": "ItemKNN", "rp3beta": "RP3beta", "ease": "EASE", "slim": "SLIM",
    "content-knn": "content-kNN",
    "implicit-als": "ALS", "implicit-bpr": "BPR", "lightfm": "LightFM", "bpr-recbole": "BPR-MF", "neumf": "NeuMF",
    "lightgcn": "LightGCN", "sgl": "SGL", "ncl": "NCL", "simplex": "SimpleX", "vbpr": "VBPR", "freedom": "FREEDOM",
    "bm3": "BM3", "repurchase": "Repurchase", "decayed-pop": "DecayedPop", "segment-pop": "SegmentPop",
    "product-variants": "Variants", "bought-together": "BoughtTogether", "two-stage": "TwoStage", "sasrec": "SASRec",
    "gru4rec": "GRU4Rec", "core": "CORE",
}  # fmt: skip

#: short forms of parameter values that say how a model uses content
_SHORT = {
    ("content", "fuse"): "fuse", ("content", "init"): "init", ("item_identity", False): "no ID",
    ("item_features", "embeddings"): "features", ("item_features", "categorical"): "categorical",
    ("item_features", "both"): "features+categorical",
    ("embedding_features", True): "content features", ("embedding_features", False): "no content features",
}  # fmt: skip
_KEY_NAMES = {"id_dropout": "dropout", "embedding_components": "components", "no_components": "dim"}


def _show(key: str, value: Any) -> str:
    if (key, value) in _SHORT:
        return _SHORT[(key, value)]
    if key == "model":  # the generic RecBole backend: its model's class name is what tells entries apart
        return str(value)
    return f"{_KEY_NAMES.get(key, key)} {value}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def variant_labels(
    entries: Sequence[tuple[str, dict[str, Any], str | None, str]], runs: Sequence[set[Any]] | None = None
) -> list[str]:
    """Labels for (model, params, label given in the config or None, embedding name) variants, in order.
    ``runs``: where each variant runs (e.g. its (dataset, protocol) pairs); two variants clash only where
    they share one (entries that split one model between protocols keep its plain label). None: everywhere."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for model, params, _, _ in entries:
        by_family.setdefault(model, []).append(params)
    shared: dict[str, dict[str, Any]] = {}
    for model, all_params in by_family.items():
        common = dict(all_params[0])
        for params in all_params[1:]:
            common = {k: v for k, v in common.items() if k in params and params[k] == v}
        shared[model] = common
    labels = []
    for model, params, given, embedding in entries:
        if given:
            base = given
        else:
            base = FAMILY_NAMES.get(model, model)
        text = base if embedding == "none" else f"{base} + {embedding}"
        if not given:
            own = [_show(k, v) for k, v in params.items() if k not in ("seed", "device") and shared[model].get(k, _MISSING) != v]
            if own:
                text = f"{text} ({', '.join(own)})"
        labels.append(_clip(text))
    everywhere: set[Any] = {None}
    placed: dict[str, list[set[Any]]] = {}
    unique = []
    for i, label in enumerate(labels):
        where = everywhere if runs is None else runs[i]
        n = 1 + sum(1 for other in placed.get(label, []) if other & where)
        placed.setdefault(label, []).append(where)
        unique.append(label if n == 1 else _clip(f"{label[: MAX_LABEL - 4]} #{n}"))
    return unique


_MISSING = object()
