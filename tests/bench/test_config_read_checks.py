"""Class: what a config says is what runs. A key given twice (YAML keeps the last silently) and an
unknown option of an embedding learner are refused when the config is read, with their key path."""

import pytest

from recsys_cl.bench import load_config
from recsys_cl.errors import InputError

BASE = """name: t
datasets:
  - {name: ml, source: ml-100k}
"""


@pytest.mark.parametrize(
    "snippet, message",
    [
        ("models:\n  - {model: itemknn, params: {neighbours: 10, neighbours: 50}}\n", ":5: models.0.params.neighbours: key given twice (also on line 5)"),
        ("models: [{model: pop}]\nseeds: [0]\nseeds: [1]\n", ":6: seeds: key given twice (also on line 5)"),
        ("models: [{model: pop}]\nembeddings:\n  - {name: t, method: raw-text, options: {text_model: tfidf, trian: {epochs: 1}}}\n",
         "embeddings.0.options.trian: Extra inputs are not permitted"),
        ("models: [{model: pop}]\nembeddings:\n  - {name: t, method: text-nce, options: {train: {epohcs: 1}}}\n",
         "embeddings.0.options.train.epohcs: Extra inputs are not permitted"),
        ("models: [{model: pop}]\nembeddings:\n  - {name: t, method: raw-text, options: {simclr_views: 2}}\n",
         "embeddings.0.options.simclr_views: Extra inputs are not permitted"),  # another learner's option
    ],
)
def test_refused_when_the_config_is_read(tmp_path, cli, snippet, message):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + snippet)
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert message in str(caught.value)
    code, _, err = cli(["bench", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and message in err and not (tmp_path / "out").exists()  # before any data is prepared
