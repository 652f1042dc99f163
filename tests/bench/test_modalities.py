"""A variant may give a model several item embeddings at once (``text+words``): models that take modalities
get a mapping name -> embeddings; the others are refused when the config is read."""

import pytest

from recsys_cl.bench import grid, load_config, run_benchmark
from recsys_cl.errors import InputError
from recsys_cl.reporting import load_results

CONFIG = """
name: mm
datasets:
  - {name: syn, source: hm-synth, synth: {customers: 120, articles: 80, weeks: 6, images: false}}
protocols: [loo]
embeddings:
  - {name: text, method: raw-text, options: {text_model: tfidf, use_cache: false}}
  - {name: words, method: raw-text, options: {text_model: tfidf, use_cache: false, max_queries: 50}}
models:
  - {model: vbpr, params: {epochs: 2, embedding_size: 8, content_embedding_size: 8, valid_users: 20}, embeddings: [text, text+words]}
seeds: [0]
ks: [10]
"""


def test_a_modalities_variant_gives_the_model_a_mapping(tmp_path, monkeypatch):
    path = tmp_path / "mm.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    cells = list(grid(config))
    assert [c.embedding_name for c in cells] == ["text", "text+words"]
    assert [c.label for c in cells] == ["VBPR + text", "VBPR + text+words"]
    given = []
    from recsys_cl.models import VBPR

    original = VBPR.fit

    def spy(self, split, item_embeddings=None, **kwargs):
        given.append(item_embeddings if not isinstance(item_embeddings, dict) else sorted(item_embeddings))
        return original(self, split, item_embeddings, **kwargs)

    monkeypatch.setattr(VBPR, "fit", spy)
    run_benchmark(config, tmp_path / "out")
    assert given[1] == ["text", "words"] and not isinstance(given[0], (dict, list))
    records = {c.embedding: c for c in load_results(tmp_path / "out").cells}
    assert records["text+words"].embedding_method == "raw-text+raw-text"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("{model: vbpr", "{model: lightfm").replace("params: {epochs: 2, embedding_size: 8, content_embedding_size: 8, valid_users: 20}", "params: {epochs: 2}"),
         "models.0.embeddings: 'text+words': lightfm takes one item embedding, not several modalities"),
        (lambda t: t.replace("text+words]", "text+img]"), "models.0.embeddings: 'img' is not one of the embeddings"),
        (lambda t: t.replace("{name: words,", "{name: a+b,"), "embeddings.1.name: 'a+b': an embedding name must not"),
    ],
)
def test_bad_modalities_variants_fail_at_load(tmp_path, mutate, message):
    path = tmp_path / "mm.yaml"
    path.write_text(mutate(CONFIG))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        load_config(path)
