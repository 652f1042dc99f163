"""An item file's image_path stays inside the raw folder (issue 12, class 1): absolute paths, ``..`` and
symlinks out are refused with one line naming the item file and the row, before any image is read."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from recsys_cl.cli import main
from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.embeddings import embed
from recsys_cl.embeddings._catalogue import image_paths
from recsys_cl.errors import InputError

from conftest import build_styles


def _items(*paths: str) -> pl.DataFrame:
    return pl.DataFrame({"item_id": [f"i{n}" for n in range(len(paths))], "image_path": list(paths)})


def test_relative_paths_resolve_under_the_root_and_empty_is_none(tmp_path):
    (tmp_path / "images").mkdir()
    found = image_paths(_items("images/a.jpg", "", "images/../images/b.jpg"), tmp_path, "x.item")
    assert found == [tmp_path.resolve() / "images/a.jpg", None, tmp_path.resolve() / "images/b.jpg"]


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x.jpg", "images/../../x.jpg"])
def test_paths_leaving_the_root_are_refused_naming_file_and_row(tmp_path, bad):
    root = tmp_path / "raw"
    root.mkdir()
    with pytest.raises(InputError) as caught:
        image_paths(_items("images/a.jpg", bad), root, "data/x.item")
    message = str(caught.value)
    assert message.startswith("data/x.item: row 2 (item i1): image_path") and repr(bad) in message
    assert "\n" not in message


def test_a_symlink_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "raw"
    (root / "images").mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(b"not yours")
    os.symlink(tmp_path / "secret.jpg", root / "images" / "link.jpg")
    os.symlink(tmp_path, root / "up")
    for relative in ("images/link.jpg", "up/secret.jpg"):
        with pytest.raises(InputError, match="outside"):
            image_paths(_items(relative), root, "x.item")


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.jpg"])
def test_a_hand_edited_item_file_cannot_make_embed_read_another_file(tmp_path, capsys, bad):
    data_dir = build_styles(tmp_path, copies=1, images=True)
    (tmp_path / "outside.jpg").write_bytes((tmp_path / "raw" / "images" / "1000.jpg").read_bytes())  # a real image
    item_file = data_dir / "styles-mini.item"
    items = read_atomic(item_file)
    write_atomic(items.with_columns(pl.when(pl.col("item_id") == "1003").then(pl.lit(bad))
                                    .otherwise(pl.col("image_path")).alias("image_path")), item_file)  # fmt: skip
    with pytest.raises(InputError, match=f"{item_file}: row 4 \\(item 1003\\): image_path"):
        embed(data_dir, "raw-image", tmp_path / "x.itememb", use_cache=False)
    with pytest.raises(SystemExit) as exit_info:  # the CLI: one line, exit 2, nothing written
        main(["embed", "--data", str(data_dir), "--method", "clip", "--out", str(tmp_path / "x.itememb")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("recsys-cl: error:")]
    assert exit_info.value.code == 2 and len(errors) == 1 and "row 4 (item 1003)" in errors[0]
    assert not list(tmp_path.glob("x.itememb*"))


def test_image_methods_in_memory_need_an_image_root():
    with pytest.raises(InputError, match="image_root"):
        image_paths(_items("images/a.jpg"), None, "items")


def test_prepared_items_point_inside_their_raw_folder(tmp_path):
    """The adapters write paths that pass: relative, under the raw folder (the styles synth sample)."""
    from recsys_cl.data import prepare
    from recsys_cl.data.synth import generate_styles

    generate_styles(tmp_path / "raw", products=12, seed=1, images=True)
    prepare("styles", tmp_path / "atomic", raw=tmp_path / "raw", options={"name": "s"})
    items = read_atomic(tmp_path / "atomic" / "s" / "s.item")
    paths = [p for p in image_paths(items, tmp_path / "raw", "s.item") if p is not None]
    assert paths and all(Path(p).is_file() for p in paths)
