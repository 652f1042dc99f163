"""Cold items vs warm accuracy of the content variants, on synthetic H&M (TF-IDF item text as content).

    .venv/bin/python benchmarks/perf/bench_cold_items.py                 # generator seeds 0 1 2
    .venv/bin/python benchmarks/perf/bench_cold_items.py --seeds 0 --models neumf

Issue 4: content-aware models must rank items never seen in training above Pop and random under the
cold-item protocol. Each content-aware RecBole backend runs with content ``fuse`` (ID + content), with
``id_dropout 0.5`` (DropoutNet: half the ID parts hidden per batch) and with ``item_identity false``
(content alone), beside content-kNN and LightFM with content-only items; the same variants are scored
under leave-one-out on a larger sample to show what each costs on warm items. HR@12, full ranking over
all items, training items excluded; random is the exact expectation of a uniform ranking.
The generator's customers buy by category and colour, which the item text names: content carries signal
by construction, so this measures whether a model uses it, not whether real product text predicts sales.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from recsys_cl.data._dataset import load_dataset  # noqa: E402
from recsys_cl.data import HMOptions, prepare  # noqa: E402
from recsys_cl.data.synth import generate_hm  # noqa: E402
from recsys_cl.embeddings._encoders import tfidf_vectors  # noqa: E402
from recsys_cl.embeddings._io import ItemEmbeddings  # noqa: E402
from recsys_cl.evaluation import evaluate, expected_random_hit_rate  # noqa: E402
from recsys_cl.models import create  # noqa: E402
import recsys_cl.models.recbole  # noqa: E402,F401  (registers the RecBole backends)

K = 12
SCHEDULE = {"epochs": 30, "stopping_step": 5, "learning_rate": 0.01}
VARIANTS = {
    "fuse": {"content": "fuse"},
    "fuse, id_dropout 0.5": {"content": "fuse", "id_dropout": 0.5},
    "fuse, item_identity false": {"content": "fuse", "item_identity": False},
}
RECBOLE = ["bpr-recbole", "neumf", "lightgcn", "sgl"]


def runs(models: list[str]) -> list[tuple[str, str, dict, bool]]:
    out = [("random", "", {}, False), ("pop", "", {}, False)]
    if "content-knn" in models:
        out.append(("content-knn", "", {}, True))
    if "lightfm" in models:
        out.append(("lightfm", "content-only items", {"item_features": "embeddings", "item_identity": False}, True))
    for name in (m for m in models if m in RECBOLE):
        out.append((name, "no content", dict(SCHEDULE), False))
        out += [(name, label, {**SCHEDULE, **params}, True) for label, params in VARIANTS.items()]
    return out


def synthetic(root: Path, protocol: str, customers: int, articles: int, seed: int):
    generate_hm(root / "raw", customers=customers, articles=articles, weeks=20, seed=seed)
    prepare("hm", root / "out", raw=root / "raw", options=HMOptions(protocols=[protocol]))
    dataset = load_dataset(root / "out" / "hm")
    items = dataset.items
    vectors = tfidf_vectors(items["text"].to_list()).astype(np.float32)
    return dataset.encoded(protocol), ItemEmbeddings(items["item_id"].to_numpy().astype(str), vectors, "tfidf")


def hit_rate(model, encoded) -> float:
    result = evaluate(model.recommend(k=K), encoded, metrics=["hr"], ks=[K])
    return float(result.summary[f"hr@{K}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["content-knn", "lightfm", *RECBOLE])
    parser.add_argument("--skip-loo", action="store_true", help="cold-item protocol only")
    args = parser.parse_args()
    protocols = [("cold-item", 600, 300)] + ([] if args.skip_loo else [("loo", 1500, 600)])
    table: dict[tuple[str, str], dict[str, list[float]]] = {}
    for seed in args.seeds:
        for protocol, customers, articles in protocols:
            with tempfile.TemporaryDirectory() as tmp:
                encoded, embeddings = synthetic(Path(tmp), protocol, customers, articles, seed)
                print(f"seed {seed} {protocol}: {encoded.n_users} users, {encoded.n_items} items, "
                      f"random HR@{K} {expected_random_hit_rate(encoded, K):.3f}", flush=True)
                for name, label, params, content in runs(args.models):
                    model = create(name, **params).fit(encoded, embeddings if content else None)
                    hr = hit_rate(model, encoded)
                    table.setdefault((name, label), {}).setdefault(protocol, []).append(hr)
                    print(f"  {name:12s} {label:28s} HR@{K} {hr:.3f}  fit {model.fit_seconds:5.1f} s", flush=True)
    print(f"\nHR@{K}, seeds {' '.join(map(str, args.seeds))} (one figure per seed)")
    print(f"{'model':12s} {'variant':28s} {'cold-item':>24s} {'loo':>24s}")
    for (name, label), by_protocol in table.items():
        cells = [" / ".join(f"{v:.3f}" for v in by_protocol.get(p, [])) for p in ("cold-item", "loo")]
        print(f"{name:12s} {label:28s} {cells[0]:>24s} {cells[1]:>24s}")
    print(json.dumps({f"{n} [{lab}]": v for (n, lab), v in table.items()}))


if __name__ == "__main__":
    main()
