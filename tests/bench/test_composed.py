"""Composed retrieval in the benchmark runner: asked for in the config, stored beside the
embeddings of retrieval-only datasets, reused while its inputs are unchanged."""

import json

import pytest

import recsys_cl.embeddings
from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.embeddings import ComposedResult
from recsys_cl.errors import InputError

CONFIG = """
name: t
datasets:
  - {name: s, source: styles-synth, synth: {products: 60, images: false}}
embeddings:
  - {name: raw-text, method: raw-text, options: {text_model: tfidf, use_cache: false}}
composed_retrieval: {enabled: true, options: {train: {epochs: 3}}}
"""


def write(tmp_path, text):
    path = tmp_path / "b.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def composed_calls(monkeypatch):
    """Stands in for composed_retrieval (its numbers are tested in tests/embeddings): records calls, writes JSON."""
    calls = []

    def fake(data_dir, out, *, progress=None, seed=None, device=None, **options):
        calls.append((data_dir.name, options, seed, device))
        scores = {"n_queries": 4, "recall@5": 0.25, "recall@10": 0.5, "ndcg@5": 0.125, "ndcg@10": 0.375}
        ComposedResult(dataset=data_dir.name, n_gallery=50, n_queries=8, n_heldout_queries=4, templates=[], encoders={},
                       text_only=scores, image_only=scores, fused_learner=scores, history=[],
                       options={"retrieval_ks": [5, 10]}, seconds=len(calls)).write(out)  # seconds: which call wrote it

    monkeypatch.setattr(recsys_cl.embeddings, "composed_retrieval", fake)
    return calls


def test_composed_result_stored_beside_the_embeddings_and_reused_until_inputs_change(tmp_path, composed_calls):
    out = tmp_path / "out"
    run = run_benchmark(load_config(write(tmp_path, CONFIG)), out)
    path = out / "embeddings" / "s" / "retrieval" / "composed.json"
    assert run.composed_retrieval == {"s": str(path)}
    assert composed_calls == [("s", {"train": {"epochs": 3}}, 0, "auto")]  # the run's first seed and its device
    assert json.loads(path.read_text())["seconds"] == 1
    assert (out / "embeddings" / "s" / "retrieval" / "seed-0" / "raw-text.itememb").is_file()
    assert not list(path.parent.glob(".*.tmp"))

    run_benchmark(load_config(write(tmp_path, CONFIG)), out)
    assert len(composed_calls) == 1  # same inputs: reused

    run_benchmark(load_config(write(tmp_path, CONFIG.replace("epochs: 3", "epochs: 4"))), out)
    assert len(composed_calls) == 2 and json.loads(path.read_text())["seconds"] == 2

    run_benchmark(load_config(write(tmp_path, CONFIG.replace("products: 60", "products: 61"))), out)
    assert len(composed_calls) == 3  # other data: run again


def test_bench_command_prints_the_composed_table_of_a_retrieval_only_run(tmp_path, composed_calls, capsys):
    from recsys_cl.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(write(tmp_path, CONFIG)), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "composed retrieval on s: 4 held-out queries" in out
    assert "│ fused learner │   0.2500 │    0.5000 │ 0.1250 │  0.3750 │" in out


def test_off_unless_enabled(tmp_path, composed_calls):
    run = run_benchmark(load_config(write(tmp_path, CONFIG.replace("enabled: true", "enabled: false"))), tmp_path / "out")
    assert run.composed_retrieval == {} and composed_calls == []


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("source: styles-synth, synth: {products: 60, images: false}", "source: ml-100k"),
         "b.yaml: composed_retrieval: needs a dataset with source styles or styles-synth"),
        (lambda t: t.replace("epochs: 3", "epoch: 3"), "b.yaml: composed_retrieval.options: composed retrieval option: train.epoch: Extra inputs"),
        (lambda t: t.replace("options: {train", "options: {text_model: tfidf, train"), "needs a sentence-transformers text model"),
        (lambda t: t.replace("enabled: true", "enabled: true, k: 5"), "b.yaml: composed_retrieval.k: Extra inputs are not permitted"),
    ],
)
def test_bad_composed_config_names_the_key(tmp_path, mutate, message):
    with pytest.raises(InputError) as caught:
        load_config(write(tmp_path, mutate(CONFIG)))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow  # the real thing: MiniLM + EfficientNet-Lite0 over ~115 synthetic images
def test_composed_retrieval_runs_for_real_in_the_runner(tmp_path):
    config = CONFIG.replace("products: 60, images: false", "products: 120, images: true")
    run = run_benchmark(load_config(write(tmp_path, config)), tmp_path / "out")
    result = json.loads(open(run.composed_retrieval["s"]).read())
    assert result["dataset"] == "s" and result["options"]["train"]["epochs"] == 3
    for method in ("text_only", "image_only", "fused_learner"):
        assert result[method]["n_queries"] == result["n_heldout_queries"] > 0
