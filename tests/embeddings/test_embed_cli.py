"""``recsys-cl embed``: the printed quality summary is the quality JSON's numbers, raw vs trained."""

from __future__ import annotations

import json



FAST = ["-o", "text_model=tfidf", "-o", "use_cache=false", "--epochs", "5"]


def table_row(out: str, label: str) -> list[str]:
    """Cells of the rich table row whose first cell starts with ``label``."""
    line = next(line for line in out.splitlines() if line.startswith(f"│ {label}"))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_trained_method_prints_the_heldout_gap_and_collapse_verdict_of_the_json(styles_dir, tmp_path, cli):
    out_file = tmp_path / "nce.itememb"
    code, out, _ = cli(["embed", "--data", str(styles_dir), "--method", "text-nce", "--out", str(out_file), *FAST])
    quality = json.loads((tmp_path / "nce.itememb.quality.json").read_text())
    assert code == 0
    training = quality["training"]
    _, raw, trained = table_row(out, "training pairs: pos/neg cosine-distance gap")
    assert (raw, trained) == (f"{training['heldout_before']['gap']:.4f}", f"{training['heldout_after']['gap']:.4f}")
    _, raw, trained = table_row(out, "item→item recall@10")
    assert (raw, trained) == (f"{quality['base']['item_to_item']['recall@10']:.4f}",
                              f"{quality['trained']['item_to_item']['recall@10']:.4f}")  # fmt: skip
    assert quality["collapse"]["collapsed"] is False and "collapse: no" in out.splitlines()


def test_raw_method_prints_base_metrics_and_no_trained_column_values(styles_dir, tmp_path, cli):
    code, out, _ = cli(["embed", "--data", str(styles_dir), "--method", "raw-text", "--out", str(tmp_path / "raw.itememb"), *FAST])
    quality = json.loads((tmp_path / "raw.itememb.quality.json").read_text())
    assert code == 0 and quality["trained"] is None and "training" not in quality
    assert table_row(out, "attribute triplet accuracy")[1:] == [f"{quality['base']['triplet_accuracy']['all']:.4f}", "–"]
    assert "training pairs" not in out and "collapse" not in out
