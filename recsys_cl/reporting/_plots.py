"""The report's figures (matplotlib, PNG + SVG). Each function writes one figure and returns its PNG path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from recsys_cl.embeddings._io import principal_components  # noqa: E402
from recsys_cl.embeddings._records import EmbeddingQuality  # noqa: E402
from recsys_cl.reporting._results import Results, mean_ci_over_seeds, variants  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)
    return path.with_suffix(".png")


def _slug(*parts: str) -> str:
    return "-".join(p.replace("/", "_").replace(" ", "").replace("@", "-at-") for p in parts)


def metric_at_k(results: Results, dataset: str, protocol: str, out: Path, metric: str = "ndcg") -> Path | None:
    cells = results.cells_of(dataset, protocol)
    ks = sorted({int(name.split("@")[1]) for name in cells[0].summary if name.startswith(f"{metric}@")})
    if not ks:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, group in variants(cells).items():
        ys = [mean_ci_over_seeds([c.summary[f"{metric}@{k}"] for c in group])[0] for k in ks]
        ax.plot(ks, ys, marker="o", label=label)
    ax.set_xlabel("K")
    ax.set_ylabel(f"{metric}@K")
    ax.set_title(f"{dataset} / {protocol}: {metric}@K")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out / _slug("curve", dataset, protocol, metric))


def bars_with_ci(results: Results, dataset: str, protocol: str, out: Path, metric: str) -> Path | None:
    cells = results.cells_of(dataset, protocol)
    if metric not in cells[0].summary:
        return None
    labels, means, errs = [], [], []
    rng = np.random.default_rng(0)
    for label, group in variants(cells).items():
        mean, low, high = mean_ci_over_seeds([c.summary[metric] for c in group])
        if math.isnan(low):  # one seed: bootstrap over users
            values = results.seed_averaged(group, metric)["value"].to_numpy()
            boot = values[rng.integers(0, len(values), (500, len(values)))].mean(axis=1) if len(values) else np.zeros(1)
            low, high = np.percentile(boot, [2.5, 97.5])
        labels.append(label)
        means.append(mean)
        errs.append([mean - low, high - mean])
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(labels)), 4.2))
    ax.bar(range(len(labels)), means, yerr=np.array(errs).T, capsize=3, color="#4C72B0")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(f"{dataset} / {protocol}: {metric} (95% CI)")
    return _save(fig, out / _slug("bars", dataset, protocol, metric))


def cold_vs_warm(results: Results, dataset: str, protocol: str, out: Path, metric: str = "ndcg@10") -> Path | None:
    cells = results.cells_of(dataset, protocol)
    labels_seg = list(cells[0].segments.get("item_popularity", {}))
    if not labels_seg:
        return None
    groups = variants(cells)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(groups)), 4.2))
    width = 0.8 / len(labels_seg)
    for s, seg in enumerate(labels_seg):
        ys = []
        for group in groups.values():
            vals = [c.segments["item_popularity"][seg].get(metric) for c in group]
            ys.append(mean_ci_over_seeds(vals)[0] if all(v is not None for v in vals) else 0.0)
        ax.bar(np.arange(len(groups)) + s * width, ys, width, label=f"{seg} test items")
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, list(groups), rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(f"{dataset} / {protocol}: {metric} on cold / rare / warm test items")
    ax.legend(fontsize=7)
    return _save(fig, out / _slug("coldwarm", dataset, protocol))


def fit_time_vs_quality(results: Results, dataset: str, protocol: str, out: Path, metric: str) -> Path | None:
    cells = results.cells_of(dataset, protocol)
    if metric not in cells[0].summary:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, group in variants(cells).items():
        x = float(np.mean([c.fit_seconds for c in group]))
        y = mean_ci_over_seeds([c.summary[metric] for c in group])[0]
        ax.scatter([max(x, 1e-3)], [y])
        ax.annotate(label, (max(x, 1e-3), y), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("fit seconds (log)")
    ax.set_ylabel(metric)
    ax.set_title(f"{dataset} / {protocol}: fit time vs {metric}")
    return _save(fig, out / _slug("time", dataset, protocol))


def training_curves(quality: EmbeddingQuality, key: str, out: Path) -> Path | None:
    history = quality.training.history if quality.training is not None else []
    if not history:
        return None
    epochs = [h.epoch for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(epochs, [h.train_loss for h in history], label="train loss")
    if any(h.valid_loss is not None for h in history):
        ax.plot(epochs, [h.valid_loss for h in history], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"{key}: {quality.method} training")
    ax.legend()
    return _save(fig, out / _slug("loss", key))


def distance_histograms(vectors: np.ndarray, categories: np.ndarray, key: str, out: Path, seed: int = 0) -> Path | None:
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
    fig, ax = plt.subplots(figsize=(6, 3.8))
    bins = np.linspace(0, 2, 41)
    ax.hist(dist[same], bins=bins, alpha=0.6, density=True, label=f"same category ({same.sum():,} pairs)")
    ax.hist(dist[~same], bins=bins, alpha=0.6, density=True, label=f"different category ({(~same).sum():,} pairs)")
    ax.set_xlabel("cosine distance")
    ax.set_title(f"{key}: positive vs negative distances")
    ax.legend(fontsize=7)
    return _save(fig, out / _slug("dist", key))


def embedding_map(vectors: np.ndarray, categories: np.ndarray, key: str, out: Path) -> Path | None:
    """2-D PCA map of the item vectors coloured by category (top 10 categories, the rest grey)."""
    if len(vectors) < 3:
        return None
    xy = principal_components(vectors, np.ones(len(vectors), dtype=bool), 2)
    values, counts = np.unique(categories, return_counts=True)
    top = values[np.argsort(-counts)][:10]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    other = ~np.isin(categories, top)
    ax.scatter(xy[other, 0], xy[other, 1], s=4, c="#cccccc", label="other")
    for cat in top:
        m = categories == cat
        ax.scatter(xy[m, 0], xy[m, 1], s=5, label=str(cat)[:25])
    ax.set_title(f"{key}: item embeddings (PCA), by category")
    ax.legend(fontsize=6, markerscale=2, loc="best")
    return _save(fig, out / _slug("map", key))
