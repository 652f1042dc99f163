"""GPU check: does this machine's CUDA give the lists the CPU gives, and at what time and memory?

    python benchmarks/perf/gpu_check.py                 # on a machine with a GPU
    python benchmarks/perf/gpu_check.py --json          # the same, one JSON object on the last line

Runs each step once on the CPU and once on CUDA (same inputs, same seeds) and compares what comes out:

* ``device: auto`` resolves to ``cuda``;
* the shared top-K (``recsys_cl.evaluation.topk_from_factors``: what every factor model ranks through) on
  random factors: at every rank the item is the same, or the two scores at that rank differ by at most
  ``TOPK_ATOL`` (a near-tie that float32 matmul summed in another order may swap); scores within ``TOPK_ATOL``;
* the encoders (MiniLM text vectors of MovieLens-100K titles, EfficientNet-Lite0 image features): cosine of each
  item's CPU and CUDA vector at least ``ENCODER_MIN_COSINE``;
* models trained on MovieLens-100K (loo) with the same seed: mean overlap of the top-10 lists at least
  ``MODEL_MIN_OVERLAP`` and nDCG@10 on test within ``MODEL_NDCG_ATOL``. Training is not bit-identical on a GPU
  (other kernels, other summation orders, nondeterministic atomics), so lists drift; these bounds say how far
  is still "the same model".

Beside each step it prints seconds and memory on both devices (CPU: the process's peak resident memory during
the step; CUDA: ``torch.cuda.max_memory_allocated``) and their ratio. Exit code 0 when every comparison is
within tolerance, 1 otherwise. Without CUDA it says so and exits 0 (nothing to compare). ``--device cpu`` runs
the whole comparison with the CPU on both sides: every list must then match exactly; it checks this script
where no GPU is at hand.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: tolerances (see the module docstring)
TOPK_ATOL = 1e-4
ENCODER_MIN_COSINE = 0.999
MODEL_MIN_OVERLAP = 0.9
MODEL_NDCG_ATOL = 0.01
#: models checked by default: implicit's CUDA ALS, a RecBole graph model, a sequential one
DEFAULT_MODELS = ("implicit-als", "lightgcn", "sasrec")
#: short schedules: the check compares devices, not models
MODEL_PARAMS: dict[str, dict[str, Any]] = {"implicit-als": {"epochs": 5}, "lightgcn": {"epochs": 3}, "sasrec": {"epochs": 3}}


def measure(device: str, work: Callable[[], Any], fit: Callable[[], Any] | None = None) -> tuple[Any, dict[str, float]]:
    """Run ``fit`` then ``work`` on ``device``; returns work's result with seconds, peak RSS and CUDA peak (MiB)."""
    import torch

    from recsys_cl.bench._cost import CostMeter

    meter = CostMeter(device, energy=False)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    started = time.perf_counter()
    with meter.stage("fit"):
        if fit is not None:
            fit()
        sync()
    with meter.stage("recommend"):
        result = work()
        sync()
    seconds = time.perf_counter() - started
    cost = meter.cost()
    peak_rss = max(cost.fit.peak_rss_mib or 0.0, cost.recommend.peak_rss_mib or 0.0)
    gpu = max(cost.fit.gpu_peak_mib or 0.0, cost.recommend.gpu_peak_mib or 0.0)
    return result, {"seconds": seconds, "peak_rss_mib": peak_rss, "cuda_peak_mib": gpu}


def row(step: str, cpu: dict[str, float], target: dict[str, float], agreement: str, ok: bool, tolerance: str) -> dict[str, Any]:
    return {"step": step, "ok": ok, "agreement": agreement, "tolerance": tolerance, "cpu": cpu, "target": target,
            "time_ratio": target["seconds"] / cpu["seconds"] if cpu["seconds"] else None}  # fmt: skip


# ---------------------------------------------------------------------------------------------- steps
def check_topk(device: str, users: int, items: int, dim: int = 64, k: int = 12, seed: int = 0) -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp

    from recsys_cl.evaluation import topk_from_factors

    rng = np.random.default_rng(seed)
    user_factors = rng.standard_normal((users, dim)).astype(np.float32)
    item_factors = rng.standard_normal((items, dim)).astype(np.float32)
    seen = sp.random(users, items, density=min(1.0, 20 / items), format="csr", random_state=seed, dtype=np.float32)
    seen.data[:] = 1.0
    (cpu_items, cpu_scores), cpu = measure("cpu", lambda: topk_from_factors(user_factors, item_factors, k, exclude=seen, device="cpu"))
    (dev_items, dev_scores), target = measure(device, lambda: topk_from_factors(user_factors, item_factors, k, exclude=seen,
                                                                                device=device))  # fmt: skip
    score_gap = float(np.nanmax(np.abs(cpu_scores - dev_scores))) if cpu_scores.size else 0.0
    differ = cpu_items != dev_items
    unexplained = int(np.sum(differ & (np.abs(cpu_scores - dev_scores) > TOPK_ATOL)))
    agreement = (f"{1 - differ.mean():.6f} of (user, rank) items equal, {int(differ.sum())} swapped near-ties, "
                 f"max score gap {score_gap:.2e}")  # fmt: skip
    return row(f"top-K {users:,} users x {items:,} items, d={dim}, K={k}", cpu, target, agreement,
               unexplained == 0 and score_gap <= TOPK_ATOL, f"items equal unless scores within {TOPK_ATOL:g}")  # fmt: skip


def _cosines(a, b) -> "Any":
    import numpy as np

    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def check_text(device: str, texts: list[str]) -> dict[str, Any]:
    from recsys_cl.embeddings import encode_texts

    def encode(on: str):
        return lambda: encode_texts(texts, use_cache=False, device=on)[0]

    cpu_vectors, cpu = measure("cpu", encode("cpu"))
    dev_vectors, target = measure(device, encode(device))
    worst = float(_cosines(cpu_vectors, dev_vectors).min())
    return row(f"text encoder (MiniLM), {len(texts)} MovieLens-100K titles", cpu, target, f"min cosine {worst:.6f}",
               worst >= ENCODER_MIN_COSINE, f"cosine >= {ENCODER_MIN_COSINE}")  # fmt: skip


def check_image(device: str, n_images: int, seed: int = 0) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    from recsys_cl.embeddings import ImageEncoder

    rng = np.random.default_rng(seed)  # seeded colour fields with a block in them: inputs the net must tell apart
    images = []
    for _ in range(n_images):
        pixels = np.full((224, 224, 3), rng.integers(0, 256, 3), dtype=np.uint8)
        x, y = rng.integers(0, 150, 2)
        pixels[y : y + 70, x : x + 70] = rng.integers(0, 256, 3)
        images.append(Image.fromarray(pixels))
    cpu_vectors, cpu = measure("cpu", lambda: ImageEncoder(device="cpu").encode_images(images))
    dev_vectors, target = measure(device, lambda: ImageEncoder(device=device).encode_images(images))
    worst = float(_cosines(cpu_vectors, dev_vectors).min())
    return row(f"image encoder (EfficientNet-Lite0), {n_images} images", cpu, target, f"min cosine {worst:.6f}",
               worst >= ENCODER_MIN_COSINE, f"cosine >= {ENCODER_MIN_COSINE}")  # fmt: skip


def check_model(device: str, name: str, dataset: Any, seed: int = 0) -> dict[str, Any]:
    import numpy as np

    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    encoded = dataset.encoded("loo")

    def run(on: str):
        model = create(name, **{**MODEL_PARAMS.get(name, {}), "seed": seed, "device": on})
        outcome: dict[str, Any] = {}

        def rank():
            outcome["rankings"] = model.recommend(None, k=10, exclude_seen=True)
            return outcome["rankings"]

        return measure(on, rank, fit=lambda: model.fit(encoded, None))

    cpu_lists, cpu = run("cpu")
    dev_lists, target = run(device)
    overlap = float(np.mean([len(set(a[a >= 0]) & set(b[b >= 0])) / max(1, len(a[a >= 0]))
                             for a, b in zip(cpu_lists.items, dev_lists.items)]))  # fmt: skip

    def ndcg(rankings) -> float:
        return float(evaluate(rankings, encoded, part="test", metrics=["ndcg"], ks=[10]).summary["ndcg@10"])

    cpu_ndcg, dev_ndcg = ndcg(cpu_lists), ndcg(dev_lists)
    ok = overlap >= MODEL_MIN_OVERLAP and abs(cpu_ndcg - dev_ndcg) <= MODEL_NDCG_ATOL
    return row(f"model {name} on ml-100k (loo, {MODEL_PARAMS.get(name, {})})", cpu, target,
               f"top-10 overlap {overlap:.4f}, nDCG@10 {cpu_ndcg:.4f} vs {dev_ndcg:.4f}", ok,
               f"overlap >= {MODEL_MIN_OVERLAP}, |d nDCG@10| <= {MODEL_NDCG_ATOL}")  # fmt: skip


# ---------------------------------------------------------------------------------------------- main
def no_cuda_message() -> str | None:
    """Why there is nothing to compare here (None: torch sees a CUDA device)."""
    import torch

    if torch.cuda.is_available():
        return None
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return (f"no CUDA device: torch {torch.__version__} ({build}) sees no GPU, so device: auto picks cpu; "
            "nothing to compare on this machine")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="device compared with the CPU (default cuda; cpu checks the script)")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma list of models ('' for none)")
    parser.add_argument("--users", type=int, default=20_000, help="top-K: users")
    parser.add_argument("--items", type=int, default=20_000, help="top-K: items")
    parser.add_argument("--texts", type=int, default=512, help="text encoder: MovieLens-100K titles")
    parser.add_argument("--images", type=int, default=64, help="image encoder: images")
    parser.add_argument("--json", action="store_true", help="also print all figures as one JSON object (last line)")
    args = parser.parse_args(argv)

    import os
    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the encoders load from their pip packages
    warnings.filterwarnings("ignore", module=r"recbole(\.|$)")  # RecBole's own deprecated torch calls, as the CLI mutes them
    from recsys_cl.device import resolve_device

    if args.device.startswith("cuda"):
        why = no_cuda_message()
        if why:
            print(why)
            return 0
    rows = []
    if args.device.startswith("cuda"):
        auto = resolve_device("auto")
        rows.append({"step": "device: auto", "ok": auto == "cuda", "agreement": f"resolves to {auto}", "tolerance": "cuda"})
    rows.append(check_topk(args.device, args.users, args.items))
    from recsys_cl.data import load_dataset, prepare

    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        prepare("ml-100k", folder, options={"name": "ml-100k", "protocols": ["loo"]})
        dataset = load_dataset(Path(folder) / "ml-100k")
        if args.texts:
            rows.append(check_text(args.device, dataset.items["text"].to_list()[: args.texts]))
        if args.images:
            rows.append(check_image(args.device, args.images))
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            rows.append(check_model(args.device, name, dataset))
    for r in rows:
        line = f"{'ok  ' if r['ok'] else 'FAIL'} {r['step']}: {r['agreement']} (tolerance: {r['tolerance']})"
        if "cpu" in r:
            cpu, dev = r["cpu"], r["target"]
            line += (f"\n     cpu {cpu['seconds']:.2f} s, peak RSS {cpu['peak_rss_mib']:.0f} MiB | {args.device} {dev['seconds']:.2f} s "
                     f"({r['time_ratio']:.2f}x the CPU's time), peak RSS {dev['peak_rss_mib']:.0f} MiB, "
                     f"CUDA peak {dev['cuda_peak_mib']:.0f} MiB")  # fmt: skip
        print(line)
    failed = [r["step"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(failed)}/{len(rows)} within tolerance" + (f"; outside: {', '.join(failed)}" if failed else ""))
    if args.json:
        print(json.dumps({"device": args.device, "rows": rows}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
